//! `osa cancel`: an operator stops a night's (or one run's) jobs. Every run touched is held
//! first (an audited `cancel`, which the planner reads like a veto), then its jobs still in
//! the executor's hands are cancelled: the closer does not retry what a human stopped, and a
//! cancel that fails half-way can be given again. `osa veto lift` or `osa rerun` resumes.

use super::OperatorError;
use crate::model::{AuditAction, NIGHT_WIDE, Stage};
use crate::night::NightDate;
use crate::sequencer::known::known_state_of;
use crate::sequencer::plan::{Action, action_of};
use crate::sequencer::submit::Sequencer;

/// What a cancel did.
#[derive(Debug, Default)]
pub struct Cancelled {
    /// Runs (and closing stages) held, `NIGHT_WIDE` for the night's own stages.
    pub held: Vec<(u32, Stage)>,
    /// Jobs cancelled in the executor: (run, stage, job id).
    pub jobs: Vec<(u32, Stage, String)>,
}

/// Holds and cancels `night` (or only `run`), with `reason` in the audit log.
pub fn cancel(sequencer: &Sequencer, night: NightDate, run: Option<u32>, reason: &str) -> Result<Cancelled, OperatorError> {
    super::check_known(sequencer, night, run)?;
    let _lock = sequencer.lock_night(night)?;
    // Which jobs are the night's is the executor's answer: without it nothing is cancelled.
    let snapshot = sequencer.poll().ok_or(OperatorError::ExecutorSilent { night })?;
    let rows = sequencer.night_rows(night)?;
    let mut found = Cancelled::default();
    if let Some(summary) = sequencer.load_night(night, false)? {
        let plan = sequencer.plan(night, &summary.runs, Some(&snapshot))?;
        for s in plan.sequences.iter().filter(|s| run.is_none_or(|r| r == s.run)) {
            if s.action == Action::Done {
                continue;
            }
            found.held.push((s.run, Stage::Sequence));
            if let Action::Submitted { job_id } = &s.action {
                found.jobs.push((s.run, Stage::Sequence, job_id.clone()));
            }
        }
    }
    let max_tries = sequencer.config.retries.max_tries_per_run;
    for config in sequencer.config.closer.stages.iter().chain(&sequencer.config.analysis.pre_stages) {
        let stage = Stage::closing(&config.name);
        let known = known_state_of(&rows, Some(&snapshot), &stage);
        for job_run in known.attempts.keys().filter(|r| run.is_none_or(|wanted| wanted == **r)) {
            if let (Action::Submitted { job_id }, _, _) = action_of(&known, *job_run, max_tries) {
                found.held.push((*job_run, stage.clone()));
                found.jobs.push((*job_run, stage.clone(), job_id));
            }
        }
    }
    let actor = crate::account::operator_name();
    for (held_run, stage) in &found.held {
        sequencer.db.record_stage_audit(night, Some(*held_run), stage, AuditAction::Cancel, &actor, reason)?;
    }
    for (job_run, stage, job_id) in &found.jobs {
        sequencer.executor.cancel(job_id).map_err(|source| OperatorError::Cancel {
            night,
            run: *job_run,
            stage: stage.clone(),
            job_id: job_id.clone(),
            source: Box::new(source),
        })?;
        let which = if *job_run == NIGHT_WIDE { "night-wide".to_string() } else { format!("run {job_run:05}") };
        tracing::info!(night.date = %night, job.id = %job_id, "cancelled {which} {stage} by {actor}");
    }
    Ok(found)
}
