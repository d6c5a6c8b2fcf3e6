//! `osa veto lift`: a human fixed what stopped a run (or one closing stage of it, its DL2);
//! the closer may retry it, with a fresh budget of tries (`sequencer::known`). Audited.

use super::OperatorError;
use crate::db::{AuditEntry, Db};
use crate::model::{AuditAction, Stage};
use crate::night::NightDate;
use crate::sequencer::known::{NightRows, known_state_of};

/// Lifts the veto of `run`'s `stage` (its sequence, or a closing stage); refuses one that is
/// not vetoed (a typo would otherwise give a fresh budget of tries to the wrong run).
pub fn lift(db: &Db, night: NightDate, run: u32, stage: &Stage, reason: &str) -> Result<AuditEntry, OperatorError> {
    let rows = NightRows { jobs: db.jobs_of_night(night)?, tallies: db.task_tallies(night)?, audit: db.audit_of_night(night)? };
    if !known_state_of(&rows, None, stage).vetoed.contains(&run) {
        return Err(OperatorError::NotVetoed { night, run, stage: stage.clone() });
    }
    Ok(db.record_stage_audit(night, Some(run), stage, AuditAction::Unveto, &crate::account::user_name(), reason)?)
}
