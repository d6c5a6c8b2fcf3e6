//! History: each try of each analysis step of each subrun (LSTOSA's history file, queryable).

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::history;
use super::{BATCH_ROWS, Db, DbError, per_backend, stored_night};
use crate::model::Stage;
use crate::night::NightDate;

#[derive(Clone, Debug, PartialEq)]
pub struct HistoryRecord {
    pub night: NightDate,
    pub run: u32,
    /// The run's sequence, or the closing stage whose job ran the step.
    pub stage: Stage,
    /// 0 for the calibration job (a single task).
    pub subrun: u32,
    pub attempt: u32,
    pub step: String,
    /// 1 for the first try of the step within the task.
    pub try_number: u32,
    pub program: String,
    pub prod_id: String,
    pub config: Option<String>,
    pub input: Option<String>,
    pub output: Option<String>,
    pub return_code: i64,
    pub started_at: NaiveDateTime,
    pub ended_at: NaiveDateTime,
    /// Last lines of the step's stdout/stderr (kept for failed steps).
    pub log_tail: Option<String>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = history)]
struct HistoryRow {
    night: String,
    run: i64,
    subrun: i64,
    attempt: i64,
    step: String,
    try_number: i64,
    program: String,
    prod_id: String,
    config: Option<String>,
    input: Option<String>,
    output: Option<String>,
    return_code: i64,
    started_at: NaiveDateTime,
    ended_at: NaiveDateTime,
    log_tail: Option<String>,
    stage: Stage,
    production: String,
}

impl Db {
    /// Appends history lines, batched; the same (night, run, subrun, attempt, step, try)
    /// written twice is stored once.
    pub fn record_history(&self, records: &[HistoryRecord]) -> Result<(), DbError> {
        let rows: Vec<HistoryRow> = records
            .iter()
            .map(|h| HistoryRow {
                night: h.night.to_string(),
                run: i64::from(h.run),
                subrun: i64::from(h.subrun),
                attempt: i64::from(h.attempt),
                step: h.step.clone(),
                try_number: i64::from(h.try_number),
                program: h.program.clone(),
                prod_id: h.prod_id.clone(),
                config: h.config.clone(),
                input: h.input.clone(),
                output: h.output.clone(),
                return_code: h.return_code,
                started_at: h.started_at,
                ended_at: h.ended_at,
                log_tail: h.log_tail.clone(),
                stage: h.stage.clone(),
                production: self.production.clone(),
            })
            .collect();
        self.transaction(
            || format!("storing {} history line(s)", rows.len()),
            |c| {
                for chunk in rows.chunks(BATCH_ROWS) {
                    per_backend!(&mut *c, |c| diesel::replace_into(history::table).values(chunk).execute(c))?;
                }
                Ok(())
            },
        )
    }

    /// How many history rows each (run, subrun) of a night has, counting only rows started
    /// after `since(run)` (a rerun's time): what the closer compares with the files.
    pub fn history_counts(&self, night: NightDate, since: impl Fn(u32) -> Option<NaiveDateTime>) -> Result<HashMap<(u32, u32), usize>, DbError> {
        self.transaction(
            || format!("counting table history for night {night}"),
            |c| {
                let rows: Vec<(i64, i64, NaiveDateTime)> = history::table
                    .filter(history::production.eq(&self.production))
                    .filter(history::night.eq(night.to_string()).and(history::stage.eq(Stage::SEQUENCE)))
                    .select((history::run, history::subrun, history::started_at))
                    .load(c)?;
                let mut counts = HashMap::new();
                for (run, subrun, started) in rows {
                    if since(run as u32).is_none_or(|at| started > at) {
                        *counts.entry((run as u32, subrun as u32)).or_insert(0) += 1;
                    }
                }
                Ok(counts)
            },
        )
    }

    /// History of one task (all attempts): a subrun of the run's sequence (0 for the
    /// calibration job) or a closing stage's job, in the order it happened.
    pub fn history_of_task(&self, night: NightDate, run: u32, stage: &Stage, subrun: u32) -> Result<Vec<HistoryRecord>, DbError> {
        self.transaction(
            || format!("reading the history of night {night} run {run} {stage} subrun {subrun}"),
            |c| {
                let rows = history::table
                    .filter(history::production.eq(&self.production))
                    .filter(
                        history::night
                            .eq(night.to_string())
                            .and(history::run.eq(i64::from(run)))
                            .and(history::stage.eq(stage.as_str()))
                            .and(history::subrun.eq(i64::from(subrun))),
                    )
                    .order((history::attempt.asc(), history::started_at.asc(), history::try_number.asc()))
                    .select(HistoryRow::as_select())
                    .load(c)?;
                rows.into_iter()
                    .map(|r| {
                        Ok(HistoryRecord {
                            night: stored_night("history.night", &r.night)?,
                            run: r.run as u32,
                            stage: r.stage,
                            subrun: r.subrun as u32,
                            attempt: r.attempt as u32,
                            step: r.step,
                            try_number: r.try_number as u32,
                            program: r.program,
                            prod_id: r.prod_id,
                            config: r.config,
                            input: r.input,
                            output: r.output,
                            return_code: r.return_code,
                            started_at: r.started_at,
                            ended_at: r.ended_at,
                            log_tail: r.log_tail,
                        })
                    })
                    .collect()
            },
        )
    }
}
