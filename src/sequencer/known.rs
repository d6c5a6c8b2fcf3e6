//! What the planner knows about a night, folded from rows already loaded: submissions (jobs),
//! the tasks' last stored states (counted per attempt), the operators' audit log, and this
//! cycle's poll. Pure, like
//! [`super::plan`]: the caller reads the rows once ([`NightRows`]) and both the sequencer and
//! the closer fold the same rows.
//!
//! Rules:
//! - `osa rerun` starts a night (or a run) over: submissions before it stay recorded but no
//!   longer count; attempt numbers go on after the last one (the floor).
//! - A veto holds until `osa veto lift`; a lift gives the run a fresh budget of tries; an
//!   attempt that ended on a full disk is not counted as a try.
//! - A job's outcome comes from the poll when the scheduler still knows it, else from the
//!   states stored at earlier polls.

use std::collections::HashMap;

use chrono::NaiveDateTime;

use super::plan::{Attempt, KnownState};
use crate::db::{AuditEntry, JobRecord, TaskTally};
use crate::executor::{Snapshot, parse_array_spec};
use crate::model::{AuditAction, JobOutcome, Stage, TASK_DISK_FULL, TaskState};

/// The rows of one night the planner and the closer fold, read once.
#[derive(Clone, Debug, Default)]
pub struct NightRows {
    /// Submissions, by run then attempt.
    pub jobs: Vec<JobRecord>,
    /// Task states as last stored, counted per attempt (every attempt).
    pub tallies: Vec<TaskTally>,
    /// Operator actions, oldest first.
    pub audit: Vec<AuditEntry>,
}

impl NightRows {
    /// When the run (or its whole night) was last rerun.
    pub fn rerun_at(&self, run: u32) -> Option<NaiveDateTime> {
        self.audit.iter().filter(|e| e.reruns(run)).map(|e| e.at).max()
    }

    /// Why the run's stage was last vetoed (the closer's words, or the operator's).
    pub fn veto_reason(&self, run: u32, stage: &Stage) -> Option<&str> {
        self.audit
            .iter()
            .rev()
            .find(|e| e.run == Some(run) && &e.stage == stage && matches!(e.action, AuditAction::Veto | AuditAction::Cancel))
            .map(|e| e.reason.as_str())
    }

    /// The run's last subrun drop that still holds (made after its last rerun): the audit
    /// entry gives the subruns kept, who and why.
    pub fn subrun_override(&self, run: u32) -> Option<&AuditEntry> {
        let rerun = self.rerun_at(run);
        self.audit
            .iter()
            .rev()
            .find(|e| e.run == Some(run) && e.action == AuditAction::DropSubrun && e.subruns.is_some())
            .filter(|e| rerun.is_none_or(|at| e.at > at))
    }

    /// Every run's subrun drop that still holds, by run.
    pub fn subrun_overrides(&self) -> std::collections::BTreeMap<u32, &AuditEntry> {
        let runs: std::collections::BTreeSet<u32> = self.audit.iter().filter(|e| e.action == AuditAction::DropSubrun).filter_map(|e| e.run).collect();
        runs.into_iter().filter_map(|run| Some((run, self.subrun_override(run)?))).collect()
    }

    /// The submissions of a run's sequence that still count (made after its last rerun),
    /// oldest first.
    pub fn current_jobs(&self, run: u32) -> impl Iterator<Item = &JobRecord> {
        self.current_jobs_of(run, &Stage::Sequence)
    }

    /// As [`NightRows::current_jobs`], for one stage of the run.
    pub fn current_jobs_of<'s>(&'s self, run: u32, stage: &'s Stage) -> impl Iterator<Item = &'s JobRecord> {
        let rerun = self.rerun_at(run);
        self.jobs.iter().filter(move |j| j.intent.run == run && j.intent.stage == *stage && rerun.is_none_or(|at| j.intent_at > at))
    }

    /// The stored task counts of one attempt of a stage of a run.
    pub fn tallies_of<'s>(&'s self, run: u32, stage: &'s Stage, attempt: u32) -> impl Iterator<Item = &'s TaskTally> {
        self.tallies.iter().filter(move |t| t.run == run && t.stage == *stage && t.attempt == attempt)
    }
}

/// Tasks in an `--array` range: `0-141` has 142, `3,7` two, `0` one.
pub fn tasks_in_range(range: &str) -> u32 {
    parse_array_spec(range).len().max(1) as u32
}

/// Stored counts say how many tasks ended in each state, not which subrun: the dropped
/// subruns' tasks are taken out of the failures (a subrun is dropped only when it alone
/// failed, see `closer::failures`).
fn without_dropped(mut states: Vec<(TaskState, Option<&str>)>, dropped: u32) -> Vec<(TaskState, Option<&str>)> {
    let mut left = dropped;
    states.retain(|(state, _)| {
        let drop = left > 0 && state.is_failure();
        left -= u32::from(drop);
        !drop
    });
    states
}

/// Folds the night's rows (and this cycle's poll, if the executor answered) into what the
/// planner knows of the runs' sequences.
pub fn known_state(rows: &NightRows, snapshot: Option<&Snapshot>) -> KnownState {
    known_state_of(rows, snapshot, &Stage::Sequence)
}

/// As [`known_state`], for one stage: its submissions, vetoes and lifts (a rerun of the run
/// applies to all its stages).
pub fn known_state_of(rows: &NightRows, snapshot: Option<&Snapshot>, stage: &Stage) -> KnownState {
    let mut known = KnownState::default();
    if *stage == Stage::Sequence {
        known.subruns = rows.subrun_overrides().into_iter().filter_map(|(run, e)| Some((run, e.subruns?))).collect();
    }
    for job in rows.jobs.iter().filter(|j| j.intent.stage == *stage) {
        let run = job.intent.run;
        if rows.rerun_at(run).is_some_and(|at| job.intent_at <= at) {
            let floor = known.attempt_floor.entry(run).or_insert(0);
            *floor = (*floor).max(job.intent.attempt);
            continue;
        }
        // Tasks of dropped subruns no longer count: the run is judged on the ones it keeps.
        let kept = known.subruns.get(&run).copied();
        let dropped = kept.map_or(0, |kept| parse_array_spec(&job.intent.array_range).iter().filter(|t| **t >= kept).count() as u32);
        let expected = tasks_in_range(&job.intent.array_range) - dropped;
        let outcome = match &job.job_id {
            None => JobOutcome::Unknown,
            Some(_) if dropped > 0 && expected == 0 => JobOutcome::Completed,
            Some(id) => {
                let live: Vec<(TaskState, Option<&str>)> = snapshot
                    .map(|s| {
                        s.tasks_of(id)
                            .filter(|t| kept.is_none_or(|kept| t.task.is_none_or(|i| i < kept)))
                            .map(|t| (t.state, t.reason.as_deref()))
                            .collect()
                    })
                    .unwrap_or_default();
                if live.is_empty() {
                    let stored: Vec<(TaskState, Option<&str>)> = rows
                        .tallies_of(run, stage, job.intent.attempt)
                        .flat_map(|t| std::iter::repeat_n((t.state, None), t.count as usize))
                        .collect();
                    JobOutcome::from_tasks(&without_dropped(stored, dropped), expected)
                } else {
                    JobOutcome::from_tasks(&live, expected)
                }
            }
        };
        known.attempts.entry(run).or_default().push(Attempt {
            attempt: job.intent.attempt,
            job_id: job.job_id.clone(),
            submit_error: job.submit_error.clone(),
            outcome,
            stops_before: job.intent.stops_before.clone(),
        });
    }
    let mut lifted: HashMap<u32, NaiveDateTime> = HashMap::new();
    for entry in &rows.audit {
        let Some(run) = entry.run else { continue };
        // A rerun starts the run afresh: vetoes and lifts before it no longer apply.
        if rows.rerun_at(run).is_some_and(|at| entry.at <= at) || entry.stage != *stage {
            continue;
        }
        match entry.action {
            AuditAction::Veto | AuditAction::Cancel => {
                known.vetoed.insert(run);
            }
            AuditAction::Unveto => {
                known.vetoed.remove(&run);
                lifted.insert(run, entry.at);
            }
            AuditAction::Rerun | AuditAction::Close | AuditAction::DiskFull | AuditAction::Forget | AuditAction::Retry | AuditAction::DropSubrun => {}
        }
    }
    // A lifted veto gives the run a fresh budget of tries: attempts before the last lift no
    // longer count.
    for (run, at) in &lifted {
        let before = rows.current_jobs_of(*run, stage).filter(|j| j.intent_at <= *at).count() as u32;
        known.attempts_before_unveto.insert(*run, before);
    }
    // Nor does an attempt that ended on a full disk (its tasks' exit code says so).
    for job in rows.jobs.iter().filter(|j| j.intent.stage == *stage) {
        let run = job.intent.run;
        let counted = rows.rerun_at(run).is_none_or(|at| job.intent_at > at) && lifted.get(&run).is_none_or(|at| job.intent_at > *at);
        if counted && rows.tallies_of(run, stage, job.intent.attempt).any(|t| t.exit_code == Some(TASK_DISK_FULL)) {
            *known.disk_full_attempts.entry(run).or_insert(0) += 1;
        }
    }
    known
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::JobIntent;
    use crate::executor::TaskStatus;
    use crate::model::ExecutorKind;
    use crate::night::NightDate;

    fn night() -> NightDate {
        "2026-01-05".parse().unwrap()
    }

    fn at(minute: u32) -> NaiveDateTime {
        night().next().date().and_hms_opt(1, minute, 0).unwrap()
    }

    fn job(run: u32, attempt: u32, job_id: Option<&str>, minute: u32) -> JobRecord {
        JobRecord {
            intent: JobIntent {
                night: night(),
                run,
                stage: Stage::Sequence,
                attempt,
                executor: ExecutorKind::Slurm,
                job_name: format!("LST1_{run:05}"),
                comment_key: crate::executor::comment_key("v0.10", night(), run, &Stage::Sequence, attempt),
                array_range: "0-1".to_string(),
                partition: "short".to_string(),
                account: "dpps".to_string(),
                mem_per_cpu: "5G".to_string(),
                time_limit: "01:00:00".to_string(),
                script_path: "x.sh".to_string(),
                stops_before: None,
            },
            intent_at: at(minute),
            job_id: job_id.map(str::to_string),
            submitted_at: Some(at(minute)),
            submit_error: None,
        }
    }

    fn tally(run: u32, attempt: u32, state: TaskState, count: u32) -> TaskTally {
        TaskTally { run, stage: Stage::Sequence, attempt, state, exit_code: None, count }
    }

    /// A task as a poll reports it.
    fn polled(job_id: &str, run: u32, attempt: u32, task: u32, state: TaskState, reason: Option<&str>) -> TaskStatus {
        TaskStatus {
            job_id: job_id.to_string(),
            task: Some(task),
            name: format!("LST1_{run:05}"),
            comment: crate::executor::comment_key("v0.10", night(), run, &Stage::Sequence, attempt),
            state,
            reason: reason.map(str::to_string),
            exit_code: None,
            cpu_seconds: None,
            max_rss_kb: None,
            node: None,
            started_at: None,
            ended_at: None,
        }
    }

    fn audit(run: Option<u32>, action: AuditAction, minute: u32) -> AuditEntry {
        AuditEntry {
            night: night(),
            run,
            stage: Stage::Sequence,
            action,
            actor: "shifter".to_string(),
            reason: "test".to_string(),
            at: at(minute),
            subruns: None,
        }
    }

    fn failed_twice(run: u32) -> NightRows {
        NightRows {
            jobs: vec![job(run, 1, Some("10"), 1), job(run, 2, Some("11"), 3)],
            tallies: [1, 2].into_iter().flat_map(|a| [tally(run, a, TaskState::Failed, 1), tally(run, a, TaskState::Completed, 1)]).collect(),
            audit: Vec::new(),
        }
    }

    #[test]
    fn stored_states_decide_when_the_poll_says_nothing() {
        let known = known_state(&failed_twice(102), None);
        let outcomes: Vec<&JobOutcome> = known.attempts[&102].iter().map(|a| &a.outcome).collect();
        assert_eq!(outcomes, [&JobOutcome::Failed { state: TaskState::Failed }, &JobOutcome::Failed { state: TaskState::Failed }]);
    }

    #[test]
    fn a_live_poll_wins_over_stored_states() {
        let rows = failed_twice(102);
        let snapshot =
            Snapshot { tasks: vec![polled("11", 102, 2, 0, TaskState::Running, None), polled("11", 102, 2, 1, TaskState::Completed, None)] };
        let known = known_state(&rows, Some(&snapshot));
        assert_eq!(known.attempts[&102][1].outcome, JobOutcome::Running);
    }

    #[test]
    fn a_rerun_sets_the_floor_and_forgets_earlier_attempts() {
        let mut rows = failed_twice(102);
        rows.audit.push(audit(Some(102), AuditAction::Veto, 4));
        rows.audit.push(audit(Some(102), AuditAction::Rerun, 5));
        let known = known_state(&rows, None);
        assert!(!known.attempts.contains_key(&102), "attempts before the rerun no longer count");
        assert_eq!(known.attempt_floor.get(&102), Some(&2), "new attempts are numbered after the last one");
        assert!(!known.vetoed.contains(&102), "a veto before the rerun no longer applies");

        rows.jobs.push(job(102, 3, Some("12"), 6));
        let known = known_state(&rows, None);
        assert_eq!(known.attempts[&102].len(), 1);
        assert_eq!(known.attempts[&102][0].attempt, 3);

        let mut night_rerun = failed_twice(102);
        night_rerun.audit.push(audit(None, AuditAction::Rerun, 5));
        assert_eq!(known_state(&night_rerun, None).attempt_floor.get(&102), Some(&2), "a rerun of the night floors every run");
    }

    #[test]
    fn a_lifted_veto_gives_a_fresh_budget_of_tries() {
        let mut rows = failed_twice(102);
        rows.audit.push(audit(Some(102), AuditAction::Veto, 4));
        let known = known_state(&rows, None);
        assert!(known.vetoed.contains(&102));

        rows.audit.push(audit(Some(102), AuditAction::Unveto, 5));
        let known = known_state(&rows, None);
        assert!(!known.vetoed.contains(&102));
        assert_eq!(known.attempts_before_unveto.get(&102), Some(&2), "both earlier attempts are off the budget");

        rows.jobs.push(job(102, 3, Some("12"), 6));
        let known = known_state(&rows, None);
        assert_eq!(known.attempts_before_unveto.get(&102), Some(&2), "the attempt after the lift counts");

        rows.audit.push(audit(Some(102), AuditAction::Veto, 7));
        assert!(known_state(&rows, None).vetoed.contains(&102), "vetoed again after the lift");
    }

    /// An operator cancels the calibration job (scancel): its children wait on it forever in
    /// SLURM; the planner blocks them rather than submitting or failing them.
    #[test]
    fn children_of_a_cancelled_parent_are_blocked() {
        let rows = NightRows {
            jobs: vec![job(101, 1, Some("7"), 1), job(102, 1, Some("8"), 1)],
            tallies: vec![tally(101, 1, TaskState::Cancelled, 2)],
            audit: Vec::new(),
        };
        let waiting = Some(crate::model::DEPENDENCY_NEVER_SATISFIED);
        let snapshot =
            Snapshot { tasks: vec![polled("8", 102, 1, 0, TaskState::Pending, waiting), polled("8", 102, 1, 1, TaskState::Pending, waiting)] };
        let known = known_state(&rows, Some(&snapshot));
        assert_eq!(known.attempts[&101][0].outcome, JobOutcome::Failed { state: TaskState::Cancelled });
        assert_eq!(known.attempts[&102][0].outcome, JobOutcome::DependencyNeverSatisfied);

        let runs = [
            crate::summary::Run::new(100, "DRS4", 1, 1),
            crate::summary::Run::new(101, "PEDCALIB", 2, 2),
            crate::summary::Run::new(102, "DATA", 2, 3),
        ];
        let plan = crate::sequencer::plan::plan(&crate::sequencer::plan::PlanInput {
            night: night(),
            runs: &runs,
            known: &known,
            earlier: &[],
            lookback_nights: 7,
            max_tries: 3,
            inputs: &crate::sequencer::plan::InputGaps::default(),
            pre_stages: &crate::sequencer::plan::PreStages::default(),
        });
        let actions: Vec<String> = plan.sequences.iter().map(|s| s.action.to_string()).collect();
        assert_eq!(actions, ["failed: a task was cancelled", "blocked: calibration failed"]);
    }

    #[test]
    fn an_attempt_that_ended_on_a_full_disk_is_not_a_try() {
        let mut rows = failed_twice(102);
        for t in rows.tallies.iter_mut().filter(|t| t.attempt == 2 && t.state == TaskState::Failed) {
            t.exit_code = Some(TASK_DISK_FULL);
        }
        let known = known_state(&rows, None);
        assert_eq!(known.disk_full_attempts.get(&102), Some(&1), "only the disk-full attempt is forgiven");
        assert_eq!(known.attempts[&102].len(), 2);
    }

    #[test]
    fn a_child_blocked_by_its_failed_parent_waits_on_it() {
        let rows = NightRows {
            jobs: vec![job(101, 1, Some("7"), 1), job(102, 1, Some("8"), 1)],
            tallies: vec![tally(101, 1, TaskState::Failed, 2), tally(102, 1, TaskState::Blocked, 2)],
            audit: Vec::new(),
        };
        let known = known_state(&rows, None);
        assert_eq!(known.attempts[&101][0].outcome, JobOutcome::Failed { state: TaskState::Failed });
        assert_eq!(known.attempts[&102][0].outcome, JobOutcome::DependencyNeverSatisfied, "blocked, not failed");

        let mut cancelled = rows.clone();
        for t in cancelled.tallies.iter_mut().filter(|t| t.run == 102) {
            t.state = TaskState::Cancelled;
        }
        let known = known_state(&cancelled, None);
        assert_eq!(known.attempts[&102][0].outcome, JobOutcome::Failed { state: TaskState::Cancelled }, "the planner turns this into blocked");
    }

    /// Attempt 1 ran subruns 0-1 and the last failed; the closer dropped it: the run is
    /// complete with one subrun. A retry of that subrun alone counts as done too.
    #[test]
    fn a_dropped_last_subrun_no_longer_fails_its_run() {
        let mut rows = NightRows {
            jobs: vec![job(102, 1, Some("10"), 1)],
            tallies: vec![tally(102, 1, TaskState::Failed, 1), tally(102, 1, TaskState::Completed, 1)],
            audit: Vec::new(),
        };
        assert_eq!(known_state(&rows, None).attempts[&102][0].outcome, JobOutcome::Failed { state: TaskState::Failed });
        rows.audit.push(AuditEntry { subruns: Some(1), ..audit(Some(102), AuditAction::DropSubrun, 2) });
        let known = known_state(&rows, None);
        assert_eq!(known.subruns.get(&102), Some(&1));
        assert_eq!(known.attempts[&102][0].outcome, JobOutcome::Completed);

        let mut only_the_last = rows.clone();
        only_the_last.jobs[0].intent.array_range = "1".to_string();
        only_the_last.tallies = vec![tally(102, 1, TaskState::Failed, 1)];
        assert_eq!(known_state(&only_the_last, None).attempts[&102][0].outcome, JobOutcome::Completed);

        rows.audit.push(audit(Some(102), AuditAction::Rerun, 3));
        assert!(known_state(&rows, None).subruns.is_empty(), "a rerun brings the subrun back");
    }
}
