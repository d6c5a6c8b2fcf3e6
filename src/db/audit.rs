//! The audit log of operator actions: who did what to which night, when and why.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::audit_log;
use super::{Db, DbError, now, stored_night};
use crate::model::{AuditAction, Stage};
use crate::night::NightDate;

#[derive(Clone, Debug, PartialEq)]
pub struct AuditEntry {
    pub night: NightDate,
    pub run: Option<u32>,
    /// A veto (and its lift) holds one stage of the run: its sequence, or a closing stage.
    pub stage: Stage,
    pub action: AuditAction,
    pub actor: String,
    pub reason: String,
    pub at: NaiveDateTime,
    /// `drop_subrun`: the run's subrun count from this entry on.
    pub subruns: Option<u32>,
}

impl AuditEntry {
    /// `<reason> (by <actor>, <when> UTC)`, as status and provenance show an entry.
    pub fn in_words(&self) -> String {
        format!("{} (by {}, {} UTC)", self.reason, self.actor, self.at.format("%Y-%m-%d %H:%M:%S"))
    }

    /// Whether this is an `osa rerun` of `run` (or of its whole night): work on the run from
    /// before it no longer counts.
    pub fn reruns(&self, run: u32) -> bool {
        self.action == AuditAction::Rerun && self.run.is_none_or(|r| r == run)
    }
}

/// A row without its id: inserted as is (the database numbers it), read back in id order.
#[derive(Insertable, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
struct AuditRow {
    night: String,
    run: Option<i64>,
    action: AuditAction,
    actor: String,
    reason: String,
    at: NaiveDateTime,
    stage: Stage,
    subruns: Option<i64>,
    production: String,
}

impl Db {
    /// Appends an operator action (stamped now) and returns it.
    pub fn record_audit(&self, night: NightDate, run: Option<u32>, action: AuditAction, actor: &str, reason: &str) -> Result<AuditEntry, DbError> {
        self.record_stage_audit(night, run, &Stage::Sequence, action, actor, reason)
    }

    /// As [`Db::record_audit`], for one stage of a run (a veto of its DL2 only).
    pub fn record_stage_audit(
        &self,
        night: NightDate,
        run: Option<u32>,
        stage: &Stage,
        action: AuditAction,
        actor: &str,
        reason: &str,
    ) -> Result<AuditEntry, DbError> {
        let entry =
            AuditEntry { night, run, stage: stage.clone(), action, actor: actor.to_string(), reason: reason.to_string(), at: now(), subruns: None };
        self.insert_audit(entry)
    }

    /// Records that `run` has `subruns` subruns from now on (its last ones dropped), audited;
    /// the RunSummary is left as it is.
    pub fn record_subrun_override(&self, night: NightDate, run: u32, subruns: u32, actor: &str, reason: &str) -> Result<AuditEntry, DbError> {
        let entry = AuditEntry {
            night,
            run: Some(run),
            stage: Stage::Sequence,
            action: AuditAction::DropSubrun,
            actor: actor.to_string(),
            reason: reason.to_string(),
            at: now(),
            subruns: Some(subruns),
        };
        self.insert_audit(entry)
    }

    fn insert_audit(&self, entry: AuditEntry) -> Result<AuditEntry, DbError> {
        let (night, actor, action) = (entry.night, entry.actor.clone(), entry.action);
        self.transaction(
            || format!("auditing {} of night {night} by {actor}", action.as_str()),
            |c| {
                let row = AuditRow {
                    night: night.to_string(),
                    run: entry.run.map(i64::from),
                    action,
                    actor: actor.clone(),
                    reason: entry.reason.clone(),
                    at: entry.at,
                    stage: entry.stage.clone(),
                    subruns: entry.subruns.map(i64::from),
                    production: self.production.clone(),
                };
                diesel::insert_into(audit_log::table).values(&row).execute(c)
            },
        )?;
        Ok(entry)
    }

    pub fn audit_of_night(&self, night: NightDate) -> Result<Vec<AuditEntry>, DbError> {
        self.transaction(
            || format!("reading the audit log of night {night}"),
            |c| {
                let rows = audit_log::table
                    .filter(audit_log::production.eq(&self.production))
                    .filter(audit_log::night.eq(night.to_string()))
                    .order(audit_log::id.asc())
                    .select(AuditRow::as_select())
                    .load(c)?;
                entries(rows)
            },
        )
    }

    /// The last `limit` operator actions of every night, oldest first.
    pub fn recent_audit(&self, limit: i64) -> Result<Vec<AuditEntry>, DbError> {
        self.transaction(
            || "reading the audit log".to_string(),
            |c| {
                let mut rows = audit_log::table
                    .filter(audit_log::production.eq(&self.production))
                    .order(audit_log::id.desc())
                    .limit(limit)
                    .select(AuditRow::as_select())
                    .load(c)?;
                rows.reverse();
                entries(rows)
            },
        )
    }
}

fn entries(rows: Vec<AuditRow>) -> QueryResult<Vec<AuditEntry>> {
    rows.into_iter()
        .map(|r| {
            Ok(AuditEntry {
                night: stored_night("audit_log.night", &r.night)?,
                run: r.run.map(|r| r as u32),
                stage: r.stage,
                action: r.action,
                actor: r.actor,
                reason: r.reason,
                at: r.at,
                subruns: r.subruns.map(|s| s as u32),
            })
        })
        .collect()
}
