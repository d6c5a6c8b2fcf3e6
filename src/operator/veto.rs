//! `osa veto lift`: a human fixed what stopped a run (or one closing stage of it, its DL2);
//! the closer may retry it, with a fresh budget of tries (`sequencer::known`). Audited.
//! `osa veto list`: what is vetoed now, and why.

use super::OperatorError;
use crate::db::{AuditEntry, Db};
use crate::model::{AuditAction, Stage};
use crate::night::NightDate;
use crate::sequencer::known::known_state_of;
use crate::sequencer::submit::read_night_rows;

/// Lifts the veto of `run`'s `stage` (its sequence, or a closing stage); refuses one that is
/// not vetoed (a typo would otherwise give a fresh budget of tries to the wrong run).
pub fn lift(db: &Db, night: NightDate, run: u32, stage: &Stage, reason: &str) -> Result<AuditEntry, OperatorError> {
    let rows = read_night_rows(db, night)?;
    if !known_state_of(&rows, None, stage).vetoed.contains(&run) {
        return Err(OperatorError::NotVetoed { night, run, stage: stage.clone() });
    }
    Ok(db.record_stage_audit(night, Some(run), stage, AuditAction::Unveto, &crate::account::operator_name(), reason)?)
}

/// A veto in force.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vetoed {
    pub night: NightDate,
    pub run: u32,
    pub stage: Stage,
    pub reason: Option<String>,
}

/// The vetoes in force in a night, for the run sequences and the given closing stages.
pub fn vetoes(db: &Db, night: NightDate, stages: &[Stage]) -> Result<Vec<Vetoed>, OperatorError> {
    let rows = read_night_rows(db, night)?;
    let mut found = Vec::new();
    for stage in stages {
        let mut runs: Vec<u32> = known_state_of(&rows, None, stage).vetoed.into_iter().collect();
        runs.sort_unstable();
        for run in runs {
            found.push(Vetoed { night, run, stage: stage.clone(), reason: rows.veto_reason(run, stage).map(str::to_string) });
        }
    }
    Ok(found)
}
