//! Tasks: one row per subrun per attempt, as the executor last reported it.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::tasks;
use super::{BATCH_ROWS, Db, DbError, now, per_backend, stored_night};
use crate::model::{Stage, TaskState};
use crate::night::NightDate;

#[derive(Clone, Debug, PartialEq)]
pub struct TaskRecord {
    pub night: NightDate,
    pub run: u32,
    pub stage: Stage,
    pub subrun: u32,
    pub attempt: u32,
    pub state: TaskState,
    pub exit_code: Option<i64>,
    pub cpu_seconds: Option<i64>,
    pub max_rss_kb: Option<i64>,
    pub node: Option<String>,
    pub started_at: Option<NaiveDateTime>,
    pub ended_at: Option<NaiveDateTime>,
}

/// How many tasks of one attempt of a run's stage are in one state, with one exit code.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskTally {
    pub run: u32,
    pub stage: Stage,
    pub attempt: u32,
    pub state: TaskState,
    pub exit_code: Option<i64>,
    pub count: u32,
}

/// One subrun task of a run's sequence, as `osa status` reads it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SubrunState {
    pub run: u32,
    pub subrun: u32,
    pub attempt: u32,
    pub state: TaskState,
    pub exit_code: Option<i64>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = tasks)]
struct TaskRow {
    night: String,
    run: i64,
    subrun: i64,
    attempt: i64,
    state: TaskState,
    exit_code: Option<i64>,
    cpu_seconds: Option<i64>,
    max_rss_kb: Option<i64>,
    node: Option<String>,
    started_at: Option<NaiveDateTime>,
    ended_at: Option<NaiveDateTime>,
    updated_at: NaiveDateTime,
    stage: Stage,
    production: String,
}

impl Db {
    /// Stores task states, batched; a row with the same (night, run, stage, subrun, attempt) is
    /// replaced, so polling the same states twice changes nothing.
    pub fn upsert_tasks(&self, records: &[TaskRecord]) -> Result<(), DbError> {
        let at = now();
        let rows: Vec<TaskRow> = records
            .iter()
            .map(|t| TaskRow {
                night: t.night.to_string(),
                run: i64::from(t.run),
                subrun: i64::from(t.subrun),
                attempt: i64::from(t.attempt),
                state: t.state,
                exit_code: t.exit_code,
                cpu_seconds: t.cpu_seconds,
                max_rss_kb: t.max_rss_kb,
                node: t.node.clone(),
                started_at: t.started_at,
                ended_at: t.ended_at,
                updated_at: at,
                stage: t.stage.clone(),
                production: self.production.clone(),
            })
            .collect();
        self.transaction(
            || format!("storing {} task state(s)", rows.len()),
            |c| {
                for chunk in rows.chunks(BATCH_ROWS) {
                    per_backend!(&mut *c, |c| diesel::replace_into(tasks::table).values(chunk).execute(c))?;
                }
                Ok(())
            },
        )
    }

    /// Tasks of a run, every attempt, ordered by subrun then attempt.
    pub fn tasks_of_run(&self, night: NightDate, run: u32) -> Result<Vec<TaskRecord>, DbError> {
        self.transaction(
            || format!("reading table tasks for night {night} run {run}"),
            |c| {
                let rows = tasks::table
                    .filter(tasks::production.eq(&self.production))
                    .filter(tasks::night.eq(night.to_string()).and(tasks::run.eq(i64::from(run))))
                    .order((tasks::stage.asc(), tasks::subrun.asc(), tasks::attempt.asc()))
                    .select(TaskRow::as_select())
                    .load(c)?;
                rows.into_iter().map(TaskRow::into_record).collect()
            },
        )
    }

    /// The night's tasks counted per run, stage, attempt, state and exit code: all the
    /// planner folds, a few rows per run where the tasks are one per subrun (a night of 200
    /// runs has 30 000; the daemon reads this every cycle).
    pub fn task_tallies(&self, night: NightDate) -> Result<Vec<TaskTally>, DbError> {
        self.transaction(
            || format!("counting table tasks for night {night}"),
            |c| {
                let rows: Vec<(i64, Stage, i64, TaskState, Option<i64>, i64)> = tasks::table
                    .filter(tasks::production.eq(&self.production))
                    .filter(tasks::night.eq(night.to_string()))
                    .group_by((tasks::run, tasks::stage, tasks::attempt, tasks::state, tasks::exit_code))
                    .select((tasks::run, tasks::stage, tasks::attempt, tasks::state, tasks::exit_code, diesel::dsl::count_star()))
                    .order((tasks::run.asc(), tasks::stage.asc(), tasks::attempt.asc()))
                    .load(c)?;
                Ok(rows
                    .into_iter()
                    .map(|(run, stage, attempt, state, exit_code, count)| TaskTally {
                        run: run as u32,
                        stage,
                        attempt: attempt as u32,
                        state,
                        exit_code,
                        count: count as u32,
                    })
                    .collect())
            },
        )
    }

    /// Each subrun task of the runs' sequences, every attempt, without the accounting columns
    /// (what `osa status` shows per run, read every daemon cycle).
    pub fn subrun_states(&self, night: NightDate) -> Result<Vec<SubrunState>, DbError> {
        self.transaction(
            || format!("reading table tasks for the subruns of night {night}"),
            |c| {
                let rows: Vec<(i64, i64, i64, TaskState, Option<i64>)> = tasks::table
                    .filter(tasks::production.eq(&self.production))
                    .filter(tasks::night.eq(night.to_string()).and(tasks::stage.eq(Stage::SEQUENCE)))
                    .select((tasks::run, tasks::subrun, tasks::attempt, tasks::state, tasks::exit_code))
                    .order((tasks::run.asc(), tasks::subrun.asc(), tasks::attempt.asc()))
                    .load(c)?;
                Ok(rows
                    .into_iter()
                    .map(|(run, subrun, attempt, state, exit_code)| SubrunState {
                        run: run as u32,
                        subrun: subrun as u32,
                        attempt: attempt as u32,
                        state,
                        exit_code,
                    })
                    .collect())
            },
        )
    }

    /// Tasks of a night, every run and attempt, ordered by run, subrun, attempt.
    pub fn tasks_of_night(&self, night: NightDate) -> Result<Vec<TaskRecord>, DbError> {
        self.transaction(
            || format!("reading table tasks for night {night}"),
            |c| {
                let rows = tasks::table
                    .filter(tasks::production.eq(&self.production))
                    .filter(tasks::night.eq(night.to_string()))
                    .order((tasks::run.asc(), tasks::stage.asc(), tasks::subrun.asc(), tasks::attempt.asc()))
                    .select(TaskRow::as_select())
                    .load(c)?;
                rows.into_iter().map(TaskRow::into_record).collect()
            },
        )
    }
}

impl TaskRow {
    fn into_record(self) -> QueryResult<TaskRecord> {
        Ok(TaskRecord {
            night: stored_night("tasks.night", &self.night)?,
            run: self.run as u32,
            stage: self.stage,
            subrun: self.subrun as u32,
            attempt: self.attempt as u32,
            state: self.state,
            exit_code: self.exit_code,
            cpu_seconds: self.cpu_seconds,
            max_rss_kb: self.max_rss_kb,
            node: self.node,
            started_at: self.started_at,
            ended_at: self.ended_at,
        })
    }
}
