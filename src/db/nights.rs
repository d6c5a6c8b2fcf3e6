//! Nights: one row per night, its state and the summary it was planned from.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::nights;
use super::{Db, DbError, now, per_backend, stored_night};
use crate::model::NightState;
use crate::night::NightDate;

/// A night as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct NightRecord {
    pub night: NightDate,
    pub state: NightState,
    pub summary_file: Option<String>,
    pub summary_sha256: Option<String>,
    pub sequenced_at: Option<NaiveDateTime>,
    pub closed_at: Option<NaiveDateTime>,
    pub closed: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = nights)]
struct NightRow {
    night: String,
    state: NightState,
    summary_file: Option<String>,
    summary_sha256: Option<String>,
    sequenced_at: Option<NaiveDateTime>,
    closed_at: Option<NaiveDateTime>,
    closed: i64,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    production: String,
}

// ---- Local methods ----

impl NightRow {
    fn into_record(self) -> QueryResult<NightRecord> {
        Ok(NightRecord {
            night: stored_night("nights.night", &self.night)?,
            state: self.state,
            summary_file: self.summary_file,
            summary_sha256: self.summary_sha256,
            sequenced_at: self.sequenced_at,
            closed_at: self.closed_at,
            closed: self.closed != 0,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

// ---- Database methods ----

impl Db {
    /// Creates the night (state `waiting`) if it is not known yet; returns it either way.
    pub fn ensure_night(&self, night: NightDate) -> Result<NightRecord, DbError> {
        self.transaction(
            || format!("registering night {night}"),
            |c| {
                let at = now();
                let row = NightRow {
                    night: night.to_string(),
                    state: NightState::Waiting,
                    summary_file: None,
                    summary_sha256: None,
                    sequenced_at: None,
                    closed_at: None,
                    closed: 0,
                    created_at: at,
                    updated_at: at,
                    production: self.production.clone(),
                };
                // Insert-or-ignore, then read: two writers registering the same night both
                // succeed and see the same row (a read first would race the other's insert).
                per_backend!(&mut *c, |c| diesel::insert_or_ignore_into(nights::table).values(&row).execute(c))?;
                nights::table.find((&row.production, &row.night)).select(NightRow::as_select()).first(c)?.into_record()
            },
        )
    }

    pub fn night(&self, night: NightDate) -> Result<Option<NightRecord>, DbError> {
        self.transaction(
            || format!("reading table nights for night {night}"),
            |c| {
                nights::table
                    .find((&self.production, night.to_string()))
                    .select(NightRow::as_select())
                    .first(c)
                    .optional()?
                    .map(NightRow::into_record)
                    .transpose()
            },
        )
    }

    /// Records the summary a night is planned from; returns whether its content (by sha256)
    /// changed, i.e. whether the night must be planned again.
    pub fn record_summary(&self, night: NightDate, file: &str, sha256: &str) -> Result<bool, DbError> {
        self.ensure_night(night)?;
        self.transaction(
            || format!("recording summary {file} of night {night}"),
            |c| {
                let key = night.to_string();
                let old: Option<String> = nights::table.find((&self.production, &key)).select(nights::summary_sha256).first(c)?;
                if old.as_deref() == Some(sha256) {
                    return Ok(false);
                }
                diesel::update(nights::table.find((&self.production, &key)))
                    .set((nights::summary_file.eq(file), nights::summary_sha256.eq(sha256), nights::updated_at.eq(now())))
                    .execute(c)?;
                Ok(true)
            },
        )
    }

    pub fn set_night_state(&self, night: NightDate, state: NightState) -> Result<(), DbError> {
        self.ensure_night(night)?;
        self.transaction(
            || format!("setting night {night} to {}", state.as_str()),
            |c| {
                let at = now();
                let key = night.to_string();
                diesel::update(nights::table.find((&self.production, &key))).set((nights::state.eq(state), nights::updated_at.eq(at))).execute(c)?;
                if state == NightState::Running {
                    diesel::update(nights::table.find((&self.production, &key))).set(nights::sequenced_at.eq(at)).execute(c)?;
                }
                if state == NightState::Closed {
                    diesel::update(nights::table.find((&self.production, &key))).set((nights::closed.eq(1), nights::closed_at.eq(at))).execute(c)?;
                } else {
                    diesel::update(nights::table.find((&self.production, &key)))
                        .set((nights::closed.eq(0), nights::closed_at.eq(None::<NaiveDateTime>)))
                        .execute(c)?;
                }
                Ok(())
            },
        )
    }

    /// Nights not closed yet, oldest first: what the daemon and `osa status` look after.
    pub fn open_nights(&self) -> Result<Vec<NightRecord>, DbError> {
        self.transaction(
            || "reading table nights for the open nights".to_string(),
            |c| {
                let rows = nights::table
                    .filter(nights::production.eq(&self.production))
                    .filter(nights::closed.eq(0))
                    .order(nights::night.asc())
                    .select(NightRow::as_select())
                    .load(c)?;
                rows.into_iter().map(NightRow::into_record).collect()
            },
        )
    }

    /// Removes every row of a night that planning and running made (night, runs, sequences,
    /// submissions, tasks, history, outputs), in one transaction. The audit log is kept: it
    /// is the record of who did this. `osa night forget` checks first that nothing of the
    /// night exists on disk or in the executor.
    pub fn forget_night(&self, night: NightDate) -> Result<usize, DbError> {
        use super::schema::{history, jobs, outputs, runs, sequences, tasks};
        let key = night.to_string();
        self.transaction(
            || format!("forgetting night {night}"),
            |c| {
                let mut removed = 0;
                removed +=
                    diesel::delete(outputs::table.filter(outputs::production.eq(&self.production)).filter(outputs::night.eq(&key))).execute(c)?;
                removed +=
                    diesel::delete(history::table.filter(history::production.eq(&self.production)).filter(history::night.eq(&key))).execute(c)?;
                removed += diesel::delete(tasks::table.filter(tasks::production.eq(&self.production)).filter(tasks::night.eq(&key))).execute(c)?;
                removed += diesel::delete(jobs::table.filter(jobs::production.eq(&self.production)).filter(jobs::night.eq(&key))).execute(c)?;
                removed += diesel::delete(sequences::table.filter(sequences::production.eq(&self.production)).filter(sequences::night.eq(&key)))
                    .execute(c)?;
                removed += diesel::delete(runs::table.filter(runs::production.eq(&self.production)).filter(runs::night.eq(&key))).execute(c)?;
                removed += diesel::delete(nights::table.filter(nights::production.eq(&self.production)).filter(nights::night.eq(&key))).execute(c)?;
                Ok(removed)
            },
        )
    }
}
