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
                    .filter(tasks::night.eq(night.to_string()).and(tasks::run.eq(i64::from(run))))
                    .order((tasks::stage.asc(), tasks::subrun.asc(), tasks::attempt.asc()))
                    .select(TaskRow::as_select())
                    .load(c)?;
                rows.into_iter().map(TaskRow::into_record).collect()
            },
        )
    }

    /// Tasks of the closing stages' jobs of a night (not the runs' subruns: a night of 200
    /// runs has 30 000 of those, which the stage plan does not read).
    pub fn stage_tasks_of_night(&self, night: NightDate) -> Result<Vec<TaskRecord>, DbError> {
        self.transaction(
            || format!("reading table tasks for the closing stages of night {night}"),
            |c| {
                let rows = tasks::table
                    .filter(tasks::night.eq(night.to_string()).and(tasks::stage.ne(Stage::SEQUENCE)))
                    .order((tasks::run.asc(), tasks::stage.asc(), tasks::subrun.asc(), tasks::attempt.asc()))
                    .select(TaskRow::as_select())
                    .load(c)?;
                rows.into_iter().map(TaskRow::into_record).collect()
            },
        )
    }

    /// Tasks of a night, every run and attempt, ordered by run, subrun, attempt.
    pub fn tasks_of_night(&self, night: NightDate) -> Result<Vec<TaskRecord>, DbError> {
        self.transaction(
            || format!("reading table tasks for night {night}"),
            |c| {
                let rows = tasks::table
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
