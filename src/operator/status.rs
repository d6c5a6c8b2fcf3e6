//! The night as a shifter sees it: each run's action in words (`blocked: no calibration`,
//! `failed: a task timed out`), subruns done, tries, the last job, DL1 progress, its DL2 and
//! run data check (closing stages); the night's long-term data check, state and what needs a
//! human. Built from the same plan and the same rows the sequencer and the closer act on.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::PathBuf;

use super::OperatorError;
use crate::config::{StageConfig, StageKind, StageScope};
use crate::executor::{Snapshot, expand_pattern};
use crate::model::{NIGHT_WIDE, Stage};
use crate::model::{NightState, RunType, SequenceKind, TaskState};
use crate::night::NightDate;
use crate::sequencer::known::{NightRows, known_state, known_state_of};
use crate::sequencer::plan::{Action, KnownState, PlannedSequence, action_of};
use crate::sequencer::script::log_patterns;
use crate::sequencer::submit::Sequencer;

/// One night for the shifters.
#[derive(Clone, Debug, PartialEq)]
pub struct NightView {
    pub night: NightDate,
    pub state: NightState,
    pub runs: Vec<RunView>,
    /// What a human should look at, one line each.
    pub problems: Vec<String>,
    /// The night's long-term data check in words (`None`: not submitted yet, or none).
    pub longterm: Option<String>,
    pub totals: Totals,
}

/// A night in one line: how many runs are where, and how far its products are (`osa status
/// --json` prints it as it is).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Totals {
    pub runs: u32,
    pub done: u32,
    /// In the executor's hands (pending or running).
    pub running: u32,
    /// Not submitted yet (or being resubmitted).
    pub waiting: u32,
    pub failed: u32,
    pub vetoed: u32,
    pub blocked: u32,
    /// DL1 files present over all DATA subruns, in percent (`None`: no DATA run).
    pub dl1_percent: Option<u32>,
    /// DATA runs whose DL2 stage is done, in percent (`None`: no DL2 stage or no DATA run).
    pub dl2_percent: Option<u32>,
}

impl Totals {
    fn of(runs: &[RunView]) -> Self {
        let mut totals = Self { runs: runs.len() as u32, ..Self::default() };
        for r in runs {
            match r.action {
                Action::Done => totals.done += 1,
                Action::Submitted { .. } | Action::PreStages { .. } => totals.running += 1,
                Action::Submit { .. } | Action::Reconcile { .. } | Action::Waiting { .. } => totals.waiting += 1,
                Action::Failed { .. } => totals.failed += 1,
                Action::Vetoed => totals.vetoed += 1,
                Action::Blocked { .. } => totals.blocked += 1,
            }
        }
        let data: Vec<&RunView> = runs.iter().filter(|r| r.kind == SequenceKind::Data).collect();
        let subruns: u32 = data.iter().map(|r| r.subruns).sum();
        let found: u32 = data.iter().map(|r| r.dl1_percent.unwrap_or(0) * r.subruns / 100).sum();
        totals.dl1_percent = (subruns > 0).then(|| 100 * found / subruns);
        let dl2: Vec<u32> = data.iter().filter_map(|r| r.dl2_percent).collect();
        totals.dl2_percent = (!dl2.is_empty()).then(|| dl2.iter().sum::<u32>() / dl2.len() as u32);
        totals
    }
}

/// Where a run's job is, as this call's poll sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobPhase {
    /// Queued: no task started yet.
    Pending,
    /// At least one task running.
    Running,
    /// Every task ended (the database has the outcome).
    Finished,
}

impl JobPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Finished => "finished",
        }
    }
}

/// What failed in a run that needs a human, and where to read more.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailureView {
    pub subrun: u32,
    /// The analysis step that failed (`r0_to_dl1`, ...), from the task's history.
    pub step: Option<String>,
    /// The task's error log.
    pub log: PathBuf,
    /// Its last lines that are not blank.
    pub tail: Vec<String>,
}

/// Lines of a failed task's log shown by `osa status`.
const TAIL_LINES: usize = 5;

impl NightView {
    /// Where each failed run failed, as `osa status` and the warning mail say it: the step
    /// and the log on one line, then the log's last lines.
    pub fn failure_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for r in &self.runs {
            if let Some(f) = &r.failure {
                let step = f.step.as_deref().map(|s| format!("step {s}")).unwrap_or_else(|| "the task".to_string());
                lines.push(format!("run {:05} subrun {}: {step} failed; log {}", r.run, f.subrun, f.log.display()));
                lines.extend(f.tail.iter().map(|l| format!("    | {l}")));
            }
        }
        lines
    }
}

/// One run (one sequence) of a night.
#[derive(Clone, Debug, PartialEq)]
pub struct RunView {
    pub run: u32,
    pub run_type: RunType,
    pub kind: SequenceKind,
    /// What the planner says of it; its `Display` is what shifters read.
    pub action: Action,
    pub subruns_done: u32,
    pub subruns: u32,
    pub tries: u32,
    /// The first non-zero exit code of its latest tasks.
    pub exit: Option<i64>,
    pub job_id: Option<String>,
    /// DL1 files present for its subruns, in percent (`None` for the calibration).
    pub dl1_percent: Option<u32>,
    /// 100 once its DL2 stage is done, else 0 (`None`: no DL2, or the calibration).
    pub dl2_percent: Option<u32>,
    /// Its run-wise data check stage in words (`None`: not submitted yet, or none).
    pub datacheck: Option<String>,
    /// Its job as the poll sees it (`None`: no job, or one the poll does not know).
    pub job_state: Option<JobPhase>,
    /// Seconds pending (since its submission) or running (since its first task started).
    pub elapsed_seconds: Option<i64>,
    /// For a failed or vetoed run: the failing step, its log and the log's last lines.
    pub failure: Option<FailureView>,
    /// Its last subrun dropped (`subrun 0007 dropped: ...`, by whom): it counts without it.
    pub dropped: Option<String>,
}

/// The night's view; `snapshot`: this call's poll, `None` if the executor did not answer
/// (states are then as last stored).
pub fn night_view(sequencer: &Sequencer, night: NightDate, snapshot: Option<&Snapshot>) -> Result<NightView, OperatorError> {
    let record = sequencer.db.night(night)?;
    let closed = record.as_ref().is_some_and(|r| r.closed);
    let mut problems = Vec::new();
    let summary = match sequencer.load_night(night, false) {
        Ok(summary) => summary,
        Err(e) => {
            problems.push(format!("summary unusable: {e}"));
            None
        }
    };
    let Some(summary) = summary else {
        // A refused summary needs a human; no summary yet is waiting.
        let state = match (closed, problems.is_empty()) {
            (true, _) => NightState::Closed,
            (false, false) => NightState::NeedsHuman,
            (false, true) => NightState::Waiting,
        };
        return Ok(NightView { night, state, runs: Vec::new(), problems, longterm: None, totals: Totals::default() });
    };
    let rows = sequencer.night_rows(night)?;
    let subruns = sequencer.db.subrun_states(night)?;
    let known = known_state(&rows, snapshot);
    // The closing stages, as the closer left them (its plan adds the dependencies).
    let max_tries = sequencer.config.retries.max_tries_per_run;
    let stages: Vec<(&StageConfig, KnownState)> =
        sequencer.config.closer.active_stages().map(|s| (s, known_state_of(&rows, snapshot, &Stage::closing(&s.name)))).collect();
    let stage_word = |kind: StageKind, run: u32| -> Option<(Action, String)> {
        let (config, known) = stages.iter().find(|(c, _)| c.kind == kind && (run == NIGHT_WIDE) == (c.scope == StageScope::Night))?;
        known.attempts.contains_key(&run).then(|| {
            let action = action_of(known, run, max_tries).0;
            (action.clone(), format!("{}: {action}", config.name))
        })
    };
    let mut plan = sequencer.plan_known(night, &summary.runs, &rows, snapshot, &known)?;
    if closed {
        plan.refuse_late_runs();
    }
    let layout = &sequencer.layout;
    let analysis: BTreeSet<OsString> =
        std::fs::read_dir(layout.analysis_dir(night)).map(|e| e.filter_map(|e| Some(e.ok()?.file_name())).collect()).unwrap_or_default();
    let mut runs = Vec::new();
    for s in &plan.sequences {
        // Per subrun, its latest attempt's task; attempts before an `osa rerun` no longer count.
        let floor = known.attempt_floor.get(&s.run).copied().unwrap_or(0);
        let mut latest: BTreeMap<u32, (u32, TaskState, Option<i64>)> = BTreeMap::new();
        // Subruns dropped from the run no longer count.
        for t in subruns.iter().filter(|t| t.run == s.run && t.attempt > floor && t.subrun < s.subruns.max(1)) {
            if latest.get(&t.subrun).is_none_or(|(a, _, _)| t.attempt >= *a) {
                latest.insert(t.subrun, (t.attempt, t.state, t.exit_code));
            }
        }
        let done = latest.values().filter(|(_, state, _)| *state == TaskState::Completed).count() as u32;
        match &s.action {
            Action::Vetoed => problems.push(format!("run {:05} vetoed: `osa veto lift --date {night} --run {}` after fixing", s.run, s.run)),
            Action::Blocked { reason } => problems.push(format!("run {:05} blocked: {reason}", s.run)),
            Action::Failed { cause } => problems.push(format!("run {:05} failed ({cause}); the closer retries known failures", s.run)),
            _ => {}
        }
        let calibration = s.kind == SequenceKind::Calibration;
        let (job_state, elapsed_seconds) = job_phase(s, &rows, snapshot);
        let failure = if matches!(s.action, Action::Failed { .. } | Action::Vetoed) {
            let failed = latest.iter().find(|(_, (_, state, _))| state.is_failure()).map(|(subrun, (attempt, _, _))| (*subrun, *attempt));
            failed.map(|(subrun, attempt)| failure_of(sequencer, night, s, subrun, attempt))
        } else {
            None
        };
        runs.push(RunView {
            run: s.run,
            run_type: s.run_type,
            kind: s.kind,
            action: s.action.clone(),
            subruns_done: if calibration { done.min(1) } else { done },
            subruns: if calibration { 1 } else { s.subruns },
            tries: s.tries,
            exit: latest.values().filter_map(|(_, _, e)| *e).find(|e| *e != 0),
            job_id: s.last_job_id.clone(),
            dl1_percent: (!calibration && s.subruns > 0).then(|| {
                let found = (0..s.subruns)
                    .filter(|sub| layout.dl1a_file(night, s.run, *sub).file_name().is_some_and(|name| analysis.contains(name)))
                    .count() as u32;
                100 * found / s.subruns
            }),
            dl2_percent: (!calibration && stages.iter().any(|(c, _)| c.kind == StageKind::Dl2))
                .then(|| if stage_word(StageKind::Dl2, s.run).is_some_and(|(a, _)| a == Action::Done) { 100 } else { 0 }),
            datacheck: if calibration { None } else { stage_word(StageKind::Datacheck, s.run).map(|(_, w)| w) },
            job_state,
            elapsed_seconds,
            failure,
            dropped: rows.subrun_override(s.run).map(|e| e.in_words()),
        });
    }
    problems.extend(plan.needs_human.iter().cloned());
    let state = if closed {
        NightState::Closed
    } else if record.as_ref().is_some_and(|r| r.state == NightState::NeedsHuman)
        || plan.sequences.iter().any(|s| matches!(s.action, Action::Vetoed | Action::Blocked { .. }))
    {
        NightState::NeedsHuman
    } else if plan.sequences.iter().all(|s| s.action == Action::Done) {
        NightState::Closing
    } else {
        NightState::Running
    };
    let longterm = stage_word(StageKind::Datacheck, NIGHT_WIDE).map(|(_, w)| w);
    let totals = Totals::of(&runs);
    Ok(NightView { night, state, runs, problems, longterm, totals })
}

/// The run's current job as the poll sees it, and for how long it has been so.
fn job_phase(s: &PlannedSequence, rows: &NightRows, snapshot: Option<&Snapshot>) -> (Option<JobPhase>, Option<i64>) {
    let (Some(job_id), Some(snapshot)) = (&s.last_job_id, snapshot) else { return (None, None) };
    let tasks: Vec<_> = snapshot.tasks_of(job_id).collect();
    if tasks.is_empty() {
        return (None, None);
    }
    let now = chrono::Utc::now().naive_utc();
    if tasks.iter().any(|t| t.state == TaskState::Running) {
        let started = tasks.iter().filter(|t| t.state == TaskState::Running).filter_map(|t| t.started_at).min();
        return (Some(JobPhase::Running), started.map(|at| (now - at).num_seconds().max(0)));
    }
    if tasks.iter().any(|t| t.state == TaskState::Pending) {
        let submitted = rows.current_jobs(s.run).filter(|j| j.job_id.as_deref() == Some(job_id)).find_map(|j| j.submitted_at);
        return (Some(JobPhase::Pending), submitted.map(|at| (now - at).num_seconds().max(0)));
    }
    (Some(JobPhase::Finished), None)
}

/// The failing step of a run's failed task, its error log and the log's last lines.
fn failure_of(sequencer: &Sequencer, night: NightDate, s: &PlannedSequence, subrun: u32, attempt: u32) -> FailureView {
    let history = sequencer.db.history_of_task(night, s.run, &Stage::Sequence, subrun).unwrap_or_default();
    let failed = history.iter().filter(|h| h.attempt == attempt).find(|h| h.return_code != 0);
    let job_id = s.last_job_id.clone().unwrap_or_default();
    let task = (s.kind == SequenceKind::Data).then_some(subrun);
    let log = sequencer.layout.analysis_dir(night).join(expand_pattern(&log_patterns(s.run, s.kind).1, &job_id, task));
    let mut text = crate::closer::tail_of(&log);
    if text.trim().is_empty() {
        text = failed.and_then(|h| h.log_tail.clone()).unwrap_or_default();
    }
    let lines: Vec<String> = text.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect();
    let tail = lines[lines.len().saturating_sub(TAIL_LINES)..].to_vec();
    FailureView { subrun, step: failed.map(|h| h.step.clone()), log, tail }
}
