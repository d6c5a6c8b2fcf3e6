//! What operators and shifters do to a night, as library functions: the CLI commands (`osa
//! status`, `osa rerun`, `osa veto lift`) are thin wrappers around them, and the daemon uses the
//! same night view, so what a shifter reads and what the service acts on cannot differ.

pub mod rerun;
pub mod status;
pub mod veto;

use std::path::PathBuf;

use crate::db::DbError;
use crate::night::NightDate;
use crate::sequencer::submit::SequencerError;

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error(transparent)]
    Sequencer(#[from] SequencerError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("night {night}: run(s) {} still queued or running; wait for them, or cancel them (scancel), then rerun", runs.join(", "))]
    Busy { night: NightDate, runs: Vec<String> },
    #[error("night {night}: cannot move {path} aside: {source}")]
    MoveAside { night: NightDate, path: PathBuf, source: std::io::Error },
    #[error("night {night} run {run:05} ({stage}): not vetoed, nothing to lift")]
    NotVetoed { night: NightDate, run: u32, stage: crate::model::Stage },
    #[error("night {night}: osa has never seen it (no summary was planned for it); check the date")]
    UnknownNight { night: NightDate },
    #[error("night {night}: run {run:05} is not one of its runs ({known}); check the run number")]
    UnknownRun { night: NightDate, run: u32, known: String },
}
