//! Runs of a night: the summary's type, the R0 verdict (stored so the planner never re-reads
//! R0 files) and whether the two disagree.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::runs;
use super::{BATCH_ROWS, Db, DbError, now, per_backend, stored_night};
use crate::model::RunType;
use crate::night::NightDate;

/// A run as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRecord {
    pub night: NightDate,
    pub run: u32,
    /// Type as the summary says it.
    pub summary_type: RunType,
    /// Type from the first R0 subrun file, once classified.
    pub r0_type: Option<RunType>,
    /// Why the R0 verdict is ERROR.
    pub r0_reason: Option<String>,
    pub type_mismatch: bool,
    pub subruns: u32,
    pub source: Option<String>,
    pub start: Option<DateTime<Utc>>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = runs)]
struct RunRow {
    night: String,
    run: i64,
    summary_type: RunType,
    r0_type: Option<RunType>,
    r0_reason: Option<String>,
    type_mismatch: i64,
    subruns: i64,
    source: Option<String>,
    start_at: Option<NaiveDateTime>,
    updated_at: NaiveDateTime,
    production: String,
}

// ---- Local methods ----

impl RunRow {
    fn from_record(r: &RunRecord, at: NaiveDateTime, production: &str) -> Self {
        Self {
            night: r.night.to_string(),
            run: i64::from(r.run),
            summary_type: r.summary_type,
            r0_type: r.r0_type,
            r0_reason: r.r0_reason.clone(),
            type_mismatch: i64::from(r.type_mismatch),
            subruns: i64::from(r.subruns),
            source: r.source.clone(),
            start_at: r.start.map(|s| s.naive_utc()),
            updated_at: at,
            production: production.to_string(),
        }
    }

    fn into_record(self) -> QueryResult<RunRecord> {
        Ok(RunRecord {
            night: stored_night("runs.night", &self.night)?,
            run: self.run as u32,
            summary_type: self.summary_type,
            r0_type: self.r0_type,
            r0_reason: self.r0_reason,
            type_mismatch: self.type_mismatch != 0,
            subruns: self.subruns as u32,
            source: self.source,
            start: self.start_at.map(|s| s.and_utc()),
        })
    }
}

// ---- Database methods ----

impl Db {
    /// Stores the runs of a night (insert or replace, keyed by night and run).
    pub fn upsert_runs(&self, records: &[RunRecord]) -> Result<(), DbError> {
        let at = now();
        let rows: Vec<RunRow> = records.iter().map(|r| RunRow::from_record(r, at, &self.production)).collect();
        self.transaction(
            || format!("storing {} run(s)", rows.len()),
            |c| {
                for chunk in rows.chunks(BATCH_ROWS) {
                    per_backend!(&mut *c, |c| diesel::replace_into(runs::table).values(chunk).execute(c))?;
                }
                Ok(())
            },
        )
    }

    /// Records the R0 verdict of one run.
    pub fn set_r0_verdict(&self, night: NightDate, run: u32, r0_type: RunType, reason: Option<&str>, mismatch: bool) -> Result<(), DbError> {
        self.transaction(
            || format!("recording the R0 type of night {night} run {run}"),
            |c| {
                let n = diesel::update(runs::table.find((&self.production, night.to_string(), i64::from(run))))
                    .set((
                        runs::r0_type.eq(r0_type),
                        runs::r0_reason.eq(reason),
                        runs::type_mismatch.eq(i64::from(mismatch)),
                        runs::updated_at.eq(now()),
                    ))
                    .execute(c)?;
                if n == 0 { Err(diesel::result::Error::NotFound) } else { Ok(()) }
            },
        )
    }

    pub fn runs_of_night(&self, night: NightDate) -> Result<Vec<RunRecord>, DbError> {
        self.transaction(
            || format!("reading table runs for night {night}"),
            |c| {
                let rows = runs::table
                    .filter(runs::production.eq(&self.production))
                    .filter(runs::night.eq(night.to_string()))
                    .order(runs::run.asc())
                    .select(RunRow::as_select())
                    .load(c)?;
                rows.into_iter().map(RunRow::into_record).collect()
            },
        )
    }
}
