//! What operators and shifters do to a night, as library functions: the CLI commands (`osa
//! status`, `osa rerun`, `osa veto lift`) are thin wrappers around them, and the daemon uses the
//! same night view, so what a shifter reads and what the service acts on cannot differ.

pub mod cancel;
pub mod forget;
pub mod overview;
pub mod rerun;
pub mod status;
pub mod veto;

use std::path::PathBuf;

use crate::db::DbError;
use crate::executor::ExecutorError;
use crate::model::Stage;
use crate::night::NightDate;
use crate::sequencer::submit::{Sequencer, SequencerError};

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
    NotVetoed { night: NightDate, run: u32, stage: Stage },
    #[error("night {night}: osa has never seen it (no summary was planned for it); check the date")]
    UnknownNight { night: NightDate },
    #[error("night {night}: run {run:05} is not one of its runs ({known}); check the run number")]
    UnknownRun { night: NightDate, run: u32, known: String },
    #[error("night {night}: the executor did not answer, so which jobs are the night's is unknown; nothing was changed, try again")]
    ExecutorSilent { night: NightDate },
    #[error("night {night} run {run:05} ({stage}): cancelling job {job_id}: {source}; the run is held, give the command again")]
    Cancel { night: NightDate, run: u32, stage: Stage, job_id: String, source: Box<ExecutorError> },
    #[error("night {night}: its summary {} is still there and would be planned again; move it away first", file.display())]
    SummaryStillThere { night: NightDate, file: PathBuf },
    #[error("night {night}: it has files on disk (first found: {}); forget is for nights that left nothing: use `osa rerun`, or move its files away first", file.display())]
    HasProducts { night: NightDate, file: PathBuf },
}

/// Refuses nights (and runs) that osa never planned: a mistyped date or run number must not
/// become something the daemon acts on.
pub(crate) fn check_known(sequencer: &Sequencer, night: NightDate, run: Option<u32>) -> Result<(), OperatorError> {
    if sequencer.db.night(night)?.is_none() {
        return Err(OperatorError::UnknownNight { night });
    }
    if let Some(run) = run {
        let runs: Vec<u32> = sequencer.db.runs_of_night(night)?.iter().map(|r| r.run).collect();
        if !runs.contains(&run) {
            let known = runs.iter().map(|r| format!("{r:05}")).collect::<Vec<_>>().join(", ");
            return Err(OperatorError::UnknownRun { night, run, known });
        }
    }
    Ok(())
}
