//! Outputs: every product the closer verified, with size, hash, event count and verdict.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::outputs;
use super::{BATCH_ROWS, Db, DbError, per_backend, stored_night};
use crate::night::NightDate;

#[derive(Clone, Debug, PartialEq)]
pub struct OutputRecord {
    pub night: NightDate,
    pub run: u32,
    pub subrun: u32,
    /// `dl1a`, `dl1b`, `datacheck`, `muons`, `calibration`, ...
    pub kind: String,
    pub path: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub events: Option<i64>,
    pub verified_at: NaiveDateTime,
    /// `ok` or what is wrong (`missing`, `unreadable`, `event_count`, ...).
    pub verdict: String,
    pub detail: Option<String>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = outputs)]
struct OutputRow {
    night: String,
    run: i64,
    subrun: i64,
    kind: String,
    path: String,
    size_bytes: i64,
    sha256: String,
    events: Option<i64>,
    verified_at: NaiveDateTime,
    verdict: String,
    detail: Option<String>,
    production: String,
}

impl Db {
    /// Stores verification results, batched; re-verifying a product replaces its row.
    pub fn upsert_outputs(&self, records: &[OutputRecord]) -> Result<(), DbError> {
        let rows: Vec<OutputRow> = records
            .iter()
            .map(|o| OutputRow {
                night: o.night.to_string(),
                run: i64::from(o.run),
                subrun: i64::from(o.subrun),
                kind: o.kind.clone(),
                path: o.path.clone(),
                size_bytes: o.size_bytes,
                sha256: o.sha256.clone(),
                events: o.events,
                verified_at: o.verified_at,
                verdict: o.verdict.clone(),
                detail: o.detail.clone(),
                production: self.production.clone(),
            })
            .collect();
        self.transaction(
            || format!("storing {} verified output(s)", rows.len()),
            |c| {
                for chunk in rows.chunks(BATCH_ROWS) {
                    per_backend!(&mut *c, |c| diesel::replace_into(outputs::table).values(chunk).execute(c))?;
                }
                Ok(())
            },
        )
    }

    pub fn outputs_of_run(&self, night: NightDate, run: u32) -> Result<Vec<OutputRecord>, DbError> {
        self.outputs_where(night, Some(run), None)
    }

    /// Every product recorded for the night.
    pub fn outputs_of_night(&self, night: NightDate) -> Result<Vec<OutputRecord>, DbError> {
        self.outputs_where(night, None, None)
    }

    /// The run's rows of these kinds only (a closing stage's few outputs among the run's
    /// subrun products).
    pub fn outputs_of_kinds(&self, night: NightDate, run: u32, kinds: &[String]) -> Result<Vec<OutputRecord>, DbError> {
        self.outputs_where(night, Some(run), Some(kinds))
    }

    fn outputs_where(&self, night: NightDate, run: Option<u32>, kinds: Option<&[String]>) -> Result<Vec<OutputRecord>, DbError> {
        self.transaction(
            || format!("reading the outputs of night {night}{}", run.map(|r| format!(" run {r}")).unwrap_or_default()),
            |c| {
                let mut query = outputs::table
                    .filter(outputs::production.eq(&self.production))
                    .filter(outputs::night.eq(night.to_string()))
                    .order((outputs::run.asc(), outputs::subrun.asc(), outputs::kind.asc()))
                    .select(OutputRow::as_select())
                    .into_boxed();
                if let Some(run) = run {
                    query = query.filter(outputs::run.eq(i64::from(run)));
                }
                if let Some(kinds) = kinds {
                    query = query.filter(outputs::kind.eq_any(kinds));
                }
                let rows = query.load(c)?;
                rows.into_iter()
                    .map(|r| {
                        Ok(OutputRecord {
                            night: stored_night("outputs.night", &r.night)?,
                            run: r.run as u32,
                            subrun: r.subrun as u32,
                            kind: r.kind,
                            path: r.path,
                            size_bytes: r.size_bytes,
                            sha256: r.sha256,
                            events: r.events,
                            verified_at: r.verified_at,
                            verdict: r.verdict,
                            detail: r.detail,
                        })
                    })
                    .collect()
            },
        )
    }
}
