//! `osa veto lift`: a human fixed what stopped a run; the closer may retry it, with a fresh
//! budget of tries (`sequencer::known`). Audited.

use super::OperatorError;
use crate::db::{AuditEntry, Db};
use crate::model::AuditAction;
use crate::night::NightDate;
use crate::sequencer::known::{NightRows, known_state};

/// Lifts the veto of `run`; refuses a run that is not vetoed (a typo would otherwise give a
/// fresh budget of tries to the wrong run).
pub fn lift(db: &Db, night: NightDate, run: u32, reason: &str) -> Result<AuditEntry, OperatorError> {
    let rows = NightRows { jobs: db.jobs_of_night(night)?, tasks: Vec::new(), audit: db.audit_of_night(night)? };
    if !known_state(&rows, None).vetoed.contains(&run) {
        return Err(OperatorError::NotVetoed { night, run });
    }
    Ok(db.record_audit(night, Some(run), AuditAction::Unveto, &crate::account::user_name(), reason)?)
}
