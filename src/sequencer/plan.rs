//! The pure planner: a night's summary plus what is already known (submissions, their states,
//! vetoes, earlier calibrations) in, a [`NightPlan`] out. No I/O here: everything it needs is
//! an argument, which is what makes every case testable.
//!
//! Rules (LSTOSA's, minus its failure modes, see `known-issues.md`):
//! - One calibration sequence (seq 1): the night's last PEDCALIB run, paired with the last DRS4
//!   run taken before it. Without both, the last closed calibration of at most
//!   `lookback_nights` earlier nights is used (said in the plan), with no SLURM dependency;
//!   without that either, DATA sequences are blocked.
//! - One DATA sequence per DATA run, in run order (seq 2, 3, ...; 1, 2, ... without a
//!   calibration sequence of tonight), parent = the calibration sequence.
//! - A run's type is the summary's; where the summary says ERROR or something unknown, the
//!   stored R0 verdict decides. Operator-excluded runs are never planned.
//! - Each sequence gets one action: submit, reconcile (an intent without a job id), submitted,
//!   done, failed, vetoed, blocked or waiting. A child of a failed or blocked parent is
//!   blocked, never submitted.
//! - Input gates: a run that would be submitted waits while its inputs are not there (the
//!   night's gain-selection flag, its R0 folder, each R0 subrun file the summary announces;
//!   the calibration sequence also needs its DRS4 run's), saying what is missing; the
//!   children of a waiting calibration wait for it. [`InputGaps`] is what the effects side
//!   found missing.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;

use serde::Serialize;

use crate::model::{BlockReason, CalibrationRuns, FailureCause, JobOutcome, RunType, SequenceKind, TaskState};
use crate::night::NightDate;
use crate::summary::Run;

/// One submission of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    pub attempt: u32,
    pub job_id: Option<String>,
    /// The executor refused the submission.
    pub submit_error: Option<String>,
    pub outcome: JobOutcome,
    /// A DATA run's first part: the data step its tasks stop before.
    pub stops_before: Option<String>,
}

impl Attempt {
    /// A first part that completed: the run's pre-stages may run.
    pub fn first_part_done(&self) -> bool {
        self.stops_before.is_some() && self.outcome == JobOutcome::Completed
    }
}

/// What the database and the scheduler know about the night's runs.
#[derive(Clone, Debug, Default)]
pub struct KnownState {
    /// Submissions per run, oldest first.
    pub attempts: HashMap<u32, Vec<Attempt>>,
    pub vetoed: HashSet<u32>,
    /// Attempts made before the run's veto was last lifted: they no longer count as tries.
    pub attempts_before_unveto: HashMap<u32, u32>,
    /// The highest attempt number of submissions before an `osa rerun` (left out of
    /// `attempts`): new attempts are numbered after it.
    pub attempt_floor: HashMap<u32, u32>,
    /// Attempts that ended on a full disk: not counted as tries.
    pub disk_full_attempts: HashMap<u32, u32>,
    /// Runs whose last subruns were dropped (`drop_subrun` in the audit log): how many
    /// subruns they keep.
    pub subruns: HashMap<u32, u32>,
}

pub struct PlanInput<'a> {
    pub night: NightDate,
    /// Runs of the night's summary, with stored R0 verdicts.
    pub runs: &'a [Run],
    pub known: &'a KnownState,
    /// Finished calibrations of earlier nights, any order.
    pub earlier: &'a [EarlierCalibration],
    pub lookback_nights: u32,
    /// Refused submissions are retried up to this many attempts.
    pub max_tries: u32,
    /// What is missing on disk before runs may be submitted.
    pub inputs: &'a InputGaps,
    pub pre_stages: &'a PreStages,
}

/// DATA runs in two parts around their pre-stages (`analysis.pre_stages`): where those
/// stand, as the effects side found them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PreStages {
    /// The data step a run's first part stops before; `None`: runs have one part.
    pub before: Option<String>,
    /// Runs whose first part is their last submission and whose pre-stages are not all done:
    /// what they wait for, in words, or (`Err`) why they never will be (a pre-stage vetoed or
    /// blocked).
    pub pending: BTreeMap<u32, Result<String, String>>,
}

/// A calibration of an earlier night the DATA runs may use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EarlierCalibration {
    pub runs: CalibrationRuns,
    /// Found on disk only (a night osa has no record of, e.g. LSTOSA's history): its charge
    /// calibration file.
    pub on_disk: Option<String>,
}

/// What a night's runs still lack on disk, found by the effects side (see the module doc).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InputGaps {
    /// Missing for every run: the gain-selection flag, the R0 folder.
    pub night: Option<String>,
    /// Missing per run: its R0 subrun files.
    pub runs: BTreeMap<u32, String>,
    /// Missing per DATA run before its DL1b steps: the tail-cut finder's file naming its
    /// cleaning (with pre-stages, its second part waits for it).
    pub cleaning: BTreeMap<u32, String>,
    /// Not missing: the DRS4 and PEDCALIB runs whose Cat-A file is already where tonight's
    /// calibration job would write it (made by another production, or the earlier pipeline).
    pub calibrated: BTreeSet<u32>,
}

impl InputGaps {
    /// What `run` waits for, if anything.
    pub fn of(&self, run: u32) -> Option<&str> {
        self.night.as_deref().or_else(|| self.runs.get(&run).map(String::as_str))
    }
}

/// A run about to be submitted waits while `missing` is missing.
fn gate(action: &mut Action, missing: Option<&str>) {
    if let (Action::Submit { .. }, Some(missing)) = (&action, missing) {
        *action = Action::Waiting { missing: missing.to_string() };
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum Calibration {
    Tonight { drs4_run: u32, pedcal_run: u32 },
    Earlier(CalibrationRuns),
    Missing,
}

impl Calibration {
    /// The runs (and their night) the jobs of `night` are calibrated with.
    pub fn runs(&self, night: NightDate) -> Option<CalibrationRuns> {
        match *self {
            Self::Tonight { drs4_run, pedcal_run } => Some(CalibrationRuns { night, drs4_run, pedcal_run }),
            Self::Earlier(runs) => Some(runs),
            Self::Missing => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Submit as `attempt`; `after_parent`: with `afterok` on the parent's job.
    Submit {
        attempt: u32,
        after_parent: bool,
    },
    /// An intent without a job id that the last poll did not find either: submit it again
    /// under the same attempt (`after_parent` as for `Submit`).
    Reconcile {
        attempt: u32,
        after_parent: bool,
    },
    /// In the scheduler's hands.
    Submitted {
        job_id: String,
    },
    Done,
    /// Failed: the closer's retry rules decide what next.
    Failed {
        cause: FailureCause,
    },
    Vetoed,
    Blocked {
        reason: BlockReason,
    },
    /// Not submitted yet: an input is not there (the daemon looks again every cycle).
    Waiting {
        missing: String,
    },
    /// Its first part is done and its pre-stages run (or are about to); the rest is
    /// submitted once they are done.
    PreStages {
        pending: String,
    },
}

impl Action {
    pub fn label(&self) -> &'static str {
        match self {
            Self::Submit { .. } => "submit",
            Self::Reconcile { .. } => "reconcile",
            Self::Submitted { .. } => "submitted",
            Self::Done => "done",
            Self::Failed { .. } => "failed",
            Self::Vetoed => "vetoed",
            Self::Blocked { .. } => "blocked",
            Self::Waiting { .. } => "waiting",
            Self::PreStages { .. } => "pre_stages",
        }
    }

    /// Still in the scheduler's hands, or about to be.
    pub fn is_active(&self) -> bool {
        matches!(self, Self::Submit { .. } | Self::Reconcile { .. } | Self::Submitted { .. } | Self::PreStages { .. })
    }
}

/// What operators read: the label, and why where it matters (`blocked: no calibration`,
/// `failed: a task timed out`).
impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Failed { cause } => write!(f, "failed: {cause}"),
            Self::Blocked { reason } => write!(f, "blocked: {reason}"),
            Self::Waiting { missing } => write!(f, "waiting for {missing}"),
            Self::PreStages { pending } => write!(f, "waiting for its pre-stages ({pending})"),
            other => f.write_str(other.label()),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlannedSequence {
    pub seq: u32,
    pub parent: Option<u32>,
    pub kind: SequenceKind,
    pub run: u32,
    /// Array tasks: the run's subruns, 1 for the calibration job.
    pub tasks: u32,
    pub subruns: u32,
    pub source: Option<String>,
    /// `LST1_{run:05d}`
    pub job_name: String,
    pub run_type: RunType,
    pub type_mismatch: bool,
    /// Submissions that reached the scheduler.
    pub tries: u32,
    /// Number of the latest attempt (0 before any): a retry is `last_attempt + 1`.
    pub last_attempt: u32,
    /// Attempts (refused ones included) since the run's veto was last lifted: what the
    /// retry limit counts.
    pub attempts: u32,
    pub last_job_id: Option<String>,
    pub action: Action,
    /// A DATA run's next submission is its first part: the data step it stops before.
    pub stops_before: Option<String>,
    /// A DATA run's first part is done: its pre-stages may run.
    pub first_part_done: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NightPlan {
    pub night: NightDate,
    pub calibration: Calibration,
    pub sequences: Vec<PlannedSequence>,
    /// What a human should know: runs left out and why, calibration choices (and everything
    /// in `needs_human`).
    pub notes: Vec<String>,
    /// The notes a human must act on: type mismatches, DATA runs without any calibration.
    pub needs_human: Vec<String>,
}

impl NightPlan {
    /// For a closed night: runs its summary gained afterwards are refused, never planned. Adds
    /// the note (also for a human) and returns it, if there are such runs.
    pub fn refuse_late_runs(&mut self) -> Option<String> {
        let late: Vec<String> = self
            .sequences
            .iter()
            .filter(|s| s.action.is_active() || matches!(s.action, Action::Waiting { .. }))
            .map(|s| format!("{:05}", s.run))
            .collect();
        if late.is_empty() {
            return None;
        }
        let night = self.night;
        let note = format!("run(s) {} appeared after the night closed: not processed (`osa rerun --date {night}` reopens it)", late.join(", "));
        self.needs_human.push(note.clone());
        self.notes.push(note.clone());
        Some(note)
    }
}

pub fn job_name(run: u32) -> String {
    format!("LST1_{run:05}")
}

pub fn plan(input: &PlanInput) -> NightPlan {
    let mut notes = Vec::new();
    let mut needs_human = Vec::new();
    let typed: Vec<(&Run, RunType)> = input.runs.iter().map(|r| (r, r.effective_type())).collect();
    for (run, kind) in &typed {
        match kind {
            RunType::Excluded => notes.push(format!("run {} excluded by an operator ({}): not processed", run.run, run.type_as_written)),
            RunType::Error | RunType::Unknown => {
                notes.push(format!("run {} has type {} in the summary and no usable R0 verdict: not processed", run.run, run.type_as_written))
            }
            _ => {}
        }
        if run.type_mismatch {
            needs_human.push(format!(
                "run {}: summary says {}, R0 says {} (check by hand; the summary is followed)",
                run.run,
                run.run_type,
                run.r0_type.map(|t| t.to_string()).unwrap_or_default()
            ));
        }
    }
    let runs_of = |kind: RunType| typed.iter().filter(move |(_, k)| *k == kind).map(|(r, _)| *r);

    let tonight = runs_of(RunType::Pedcalib).max_by_key(|r| r.run).and_then(|pedcal| {
        let drs4 = runs_of(RunType::Drs4).filter(|d| d.run < pedcal.run).max_by_key(|d| d.run);
        match drs4 {
            Some(drs4) => Some((drs4, pedcal)),
            None => {
                notes.push(format!("PEDCALIB run {} has no DRS4 run before it tonight", pedcal.run));
                None
            }
        }
    });
    for extra in runs_of(RunType::Pedcalib).filter(|r| Some(r.run) != tonight.map(|t| t.1.run)) {
        notes.push(format!("PEDCALIB run {} not used: one calibration per night, the last one", extra.run));
    }

    let earliest = NightDate::new(input.night.date() - chrono::Duration::days(i64::from(input.lookback_nights)));
    let calibration = match tonight {
        Some((drs4, pedcal)) => Calibration::Tonight { drs4_run: drs4.run, pedcal_run: pedcal.run },
        None => match input
            .earlier
            .iter()
            .filter(|c| c.runs.night < input.night && c.runs.night >= earliest)
            .max_by_key(|c| (c.runs.night, c.runs.pedcal_run))
        {
            Some(earlier) => {
                let c = earlier.runs;
                let found = earlier.on_disk.as_ref().map(|file| format!(", found on disk: {file}")).unwrap_or_default();
                notes.push(format!(
                    "no calibration tonight: using night {}'s (DRS4 run {}, PEDCALIB run {}){found}",
                    c.night, c.drs4_run, c.pedcal_run
                ));
                Calibration::Earlier(c)
            }
            None => {
                needs_human.push(format!("no calibration tonight nor in the {} nights before: DATA runs blocked", input.lookback_nights));
                Calibration::Missing
            }
        },
    };

    let mut sequences = Vec::new();
    if let Some((drs4, pedcal)) = tonight {
        let (mut action, tries, last_job_id) = action_for(input, pedcal.run);
        // Never made again over files another production uses: they are used as they are.
        if !input.known.attempts.contains_key(&pedcal.run)
            && matches!(action, Action::Submit { .. })
            && [drs4.run, pedcal.run].iter().all(|r| input.inputs.calibrated.contains(r))
        {
            action = Action::Done;
            notes.push(format!(
                "calibration of DRS4 run {:05} and PEDCALIB run {:05} already on disk (another production's, or the earlier pipeline's): used as it is",
                drs4.run, pedcal.run
            ));
        }
        gate(&mut action, input.inputs.of(pedcal.run).or_else(|| input.inputs.of(drs4.run)));
        sequences.push(PlannedSequence {
            seq: 1,
            parent: None,
            kind: SequenceKind::Calibration,
            run: pedcal.run,
            tasks: 1,
            subruns: pedcal.subruns,
            source: None,
            job_name: job_name(pedcal.run),
            run_type: RunType::Pedcalib,
            type_mismatch: pedcal.type_mismatch,
            tries,
            last_attempt: last_attempt(input, pedcal.run),
            attempts: attempts_counted(input, pedcal.run),
            last_job_id,
            action,
            stops_before: None,
            first_part_done: false,
        });
    }
    let parent = sequences.first().map(|s| (s.seq, s.action.clone()));
    let mut data: Vec<&Run> = runs_of(RunType::Data).collect();
    data.sort_by_key(|r| r.run);
    for run in data {
        let (mut action, tries, last_job_id) = action_for(input, run.run);
        let parent_state = match (&calibration, &parent) {
            (Calibration::Missing, _) => Some(Action::Blocked { reason: BlockReason::NoCalibration }),
            (_, Some((_, parent_action))) => match parent_action {
                Action::Failed { .. } => Some(Action::Blocked { reason: BlockReason::ParentFailed }),
                Action::Vetoed => Some(Action::Blocked { reason: BlockReason::ParentVetoed }),
                Action::Blocked { .. } => Some(Action::Blocked { reason: BlockReason::ParentBlocked }),
                Action::Waiting { .. } => Some(Action::Waiting {
                    missing: input
                        .inputs
                        .night
                        .clone()
                        .unwrap_or_else(|| format!("its calibration (run {:05})", tonight.map(|t| t.1.run).unwrap_or_default())),
                }),
                _ => None,
            },
            (_, None) => None,
        };
        let parent_pending = parent.as_ref().is_some_and(|(_, a)| a.is_active());
        match &mut action {
            Action::Submit { after_parent, .. } | Action::Reconcile { after_parent, .. } => match parent_state {
                Some(blocked) => action = blocked,
                None => *after_parent = parent_pending,
            },
            // A child cancelled because its parent failed is blocked, not failed.
            Action::Failed { cause: FailureCause::Task { state: TaskState::Cancelled } } if parent_state.is_some() => {
                action = parent_state.expect("checked");
            }
            // Its parent failed before and has since been retried successfully: the child goes
            // again. Only once the parent is done: while its state is unknown or pending, a
            // resubmission could race the block of the first attempt.
            Action::Blocked { reason: BlockReason::ParentFailed } if parent.as_ref().is_some_and(|(_, a)| *a == Action::Done) => {
                action = Action::Submit { attempt: last_attempt(input, run.run) + 1, after_parent: false };
            }
            _ => {}
        }
        let (stops_before, first_part_done) = two_parts(input, run.run, &mut action);
        // A dropped last subrun: the run is planned, verified and closed without it.
        let subruns = input.known.subruns.get(&run.run).map_or(run.subruns, |kept| (*kept).min(run.subruns));
        sequences.push(PlannedSequence {
            seq: sequences.len() as u32 + 1,
            parent: parent.as_ref().map(|p| p.0),
            kind: SequenceKind::Data,
            run: run.run,
            tasks: subruns.max(1),
            subruns,
            source: run.source.clone(),
            job_name: job_name(run.run),
            run_type: RunType::Data,
            type_mismatch: run.type_mismatch,
            tries,
            last_attempt: last_attempt(input, run.run),
            attempts: attempts_counted(input, run.run),
            last_job_id,
            action,
            stops_before,
            first_part_done,
        });
    }
    notes.extend(needs_human.iter().cloned());
    NightPlan { night: input.night, calibration, sequences, notes, needs_human }
}

/// A DATA run with pre-stages is submitted in two parts: its first part while none has
/// completed (nor any second part was made); once one has, the run waits for its pre-stages,
/// then its second part goes (the DL1b cleaning it needs gated there). Gates `action` and
/// returns (the step the next submission stops before, whether the first part is done).
fn two_parts(input: &PlanInput, run: u32, action: &mut Action) -> (Option<String>, bool) {
    let gaps = input.inputs;
    let Some(before) = &input.pre_stages.before else {
        gate(action, gaps.of(run).or_else(|| gaps.cleaning.get(&run).map(String::as_str)));
        return (None, false);
    };
    let attempts = input.known.attempts.get(&run).map(Vec::as_slice).unwrap_or_default();
    let first_part_done = attempts.iter().any(Attempt::first_part_done);
    if !first_part_done && attempts.iter().all(|a| a.stops_before.is_some()) {
        gate(action, gaps.of(run));
        return (Some(before.clone()), false);
    }
    if *action == Action::Done && attempts.last().is_some_and(Attempt::first_part_done) {
        *action = match input.pre_stages.pending.get(&run) {
            None => Action::Submit { attempt: last_attempt(input, run) + 1, after_parent: false },
            Some(Ok(pending)) => Action::PreStages { pending: pending.clone() },
            Some(Err(_)) => Action::Blocked { reason: BlockReason::StageFailed },
        };
    }
    gate(action, gaps.cleaning.get(&run).map(String::as_str));
    (None, first_part_done)
}

fn last_attempt(input: &PlanInput, run: u32) -> u32 {
    input.known.last_attempt(run)
}

fn attempts_counted(input: &PlanInput, run: u32) -> u32 {
    input.known.attempts_counted(run)
}

impl KnownState {
    /// Number of the run's latest attempt (0 before any; after an `osa rerun`, the floor).
    pub fn last_attempt(&self, run: u32) -> u32 {
        let floor = self.attempt_floor.get(&run).copied().unwrap_or(0);
        self.attempts.get(&run).and_then(|a| a.last()).map(|a| a.attempt).unwrap_or(0).max(floor)
    }

    /// Attempts that count against the retry limit (not before a veto lift, not a full disk).
    /// A completed first part is not a try either: it did what it was sent for.
    pub fn attempts_counted(&self, run: u32) -> u32 {
        let attempts = self.attempts.get(&run).map(Vec::as_slice).unwrap_or_default();
        let before_unveto = self.attempts_before_unveto.get(&run).copied().unwrap_or(0);
        let first_parts = attempts.iter().skip(before_unveto as usize).filter(|a| a.first_part_done()).count() as u32;
        (attempts.len() as u32)
            .saturating_sub(before_unveto)
            .saturating_sub(self.disk_full_attempts.get(&run).copied().unwrap_or(0))
            .saturating_sub(first_parts)
    }
}

fn action_for(input: &PlanInput, run: u32) -> (Action, u32, Option<String>) {
    action_of(input.known, run, input.max_tries)
}

/// The action of one run's job (its sequence, or one closing stage: `known` is that stage's)
/// from its submissions alone (parents are applied by the caller); with its tries and last
/// job id.
pub fn action_of(known: &KnownState, run: u32, max_tries: u32) -> (Action, u32, Option<String>) {
    let attempts = known.attempts.get(&run).map(Vec::as_slice).unwrap_or_default();
    let skip = known.attempts_before_unveto.get(&run).copied().unwrap_or(0) as usize;
    let tries = attempts.iter().skip(skip).filter(|a| a.job_id.is_some()).count() as u32;
    let last_job_id = attempts.iter().rev().find_map(|a| a.job_id.clone());
    if known.vetoed.contains(&run) {
        return (Action::Vetoed, tries, last_job_id);
    }
    let action = match attempts.last() {
        None => Action::Submit { attempt: known.last_attempt(run) + 1, after_parent: false },
        Some(a) => match (&a.job_id, &a.submit_error) {
            (None, None) => Action::Reconcile { attempt: a.attempt, after_parent: false },
            (None, Some(error)) if known.attempts_counted(run) >= max_tries => {
                Action::Failed { cause: FailureCause::Refused { error: error.clone() } }
            }
            (None, Some(_)) => Action::Submit { attempt: a.attempt + 1, after_parent: false },
            (Some(job_id), _) => match &a.outcome {
                JobOutcome::Completed => Action::Done,
                JobOutcome::Failed { state } => Action::Failed { cause: FailureCause::Task { state: *state } },
                JobOutcome::DependencyNeverSatisfied => Action::Blocked { reason: BlockReason::ParentFailed },
                JobOutcome::Unknown | JobOutcome::Pending | JobOutcome::Running => Action::Submitted { job_id: job_id.clone() },
            },
        },
    };
    (action, tries, last_job_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn night() -> NightDate {
        "2026-01-05".parse().unwrap()
    }

    fn run(n: u32, written: &str, subruns: u32) -> Run {
        let mut run = Run::new(n, written, subruns, n as usize);
        run.source = (written == "DATA").then(|| "Crab".to_string());
        run
    }

    fn standard_night() -> Vec<Run> {
        vec![run(100, "DRS4", 2), run(101, "PEDCALIB", 2), run(102, "DATA", 4), run(103, "DATA", 3)]
    }

    fn plan_of(runs: &[Run], known: &KnownState, earlier: &[EarlierCalibration]) -> NightPlan {
        plan(&PlanInput {
            night: night(),
            runs,
            known,
            earlier,
            lookback_nights: 7,
            max_tries: 3,
            inputs: &InputGaps::default(),
            pre_stages: &PreStages::default(),
        })
    }

    /// The standard night planned with what is (not) on disk.
    fn plan_with_inputs(known: &KnownState, inputs: &InputGaps) -> NightPlan {
        plan_standard(known, inputs, &PreStages::default())
    }

    fn plan_standard(known: &KnownState, inputs: &InputGaps, pre_stages: &PreStages) -> NightPlan {
        plan(&PlanInput { night: night(), runs: &standard_night(), known, earlier: &[], lookback_nights: 7, max_tries: 3, inputs, pre_stages })
    }

    /// The standard night whose DATA runs have pre-stages before their `dl1ab` step.
    fn plan_in_two_parts(known: &KnownState, inputs: &InputGaps, pending: &[(u32, Result<&str, &str>)]) -> NightPlan {
        let pre_stages = PreStages {
            before: Some("dl1ab".to_string()),
            pending: pending.iter().map(|(run, p)| (*run, p.map(str::to_string).map_err(str::to_string))).collect(),
        };
        plan_standard(known, inputs, &pre_stages)
    }

    fn first_part(n: u32, job: &str, outcome: JobOutcome) -> Attempt {
        Attempt { stops_before: Some("dl1ab".to_string()), ..attempt(n, Some(job), outcome) }
    }

    #[test]
    fn with_pre_stages_a_run_goes_in_two_parts_around_them() {
        let cleaning = InputGaps { cleaning: [(102, "its tail cuts".to_string())].into(), ..InputGaps::default() };
        let plan = plan_in_two_parts(&KnownState::default(), &cleaning, &[(102, Ok("find_tailcuts: not submitted yet"))]);
        let data = &plan.sequences[1];
        assert_eq!(data.action, Action::Submit { attempt: 1, after_parent: true }, "the first part needs no tail cuts");
        assert_eq!((data.stops_before.as_deref(), data.first_part_done), (Some("dl1ab"), false));

        let mut known = KnownState::default();
        known.attempts.insert(101, vec![attempt(1, Some("7"), JobOutcome::Completed)]);
        known.attempts.insert(102, vec![first_part(1, "8", JobOutcome::Completed)]);
        known.attempts.insert(103, vec![first_part(1, "9", JobOutcome::Failed { state: TaskState::Failed })]);
        let plan = plan_in_two_parts(&known, &InputGaps::default(), &[(102, Ok("find_tailcuts: job 10")), (103, Ok("x"))]);
        let (run102, run103) = (&plan.sequences[1], &plan.sequences[2]);
        assert_eq!(run102.action, Action::PreStages { pending: "find_tailcuts: job 10".to_string() });
        assert!(run102.action.is_active() && run102.first_part_done && run102.stops_before.is_none());
        assert_eq!(run102.attempts, 0, "a completed first part is not a try");
        assert!(matches!(run103.action, Action::Failed { .. }), "a failed first part goes to the closer");
        assert_eq!(run103.stops_before.as_deref(), Some("dl1ab"), "and is sent again as a first part");

        let plan = plan_in_two_parts(&known, &cleaning, &[(103, Ok("x"))]);
        assert_eq!(plan.sequences[1].action.to_string(), "waiting for its tail cuts", "the second part waits for its cleaning");
        let plan = plan_in_two_parts(&known, &InputGaps::default(), &[(103, Ok("x"))]);
        assert_eq!(plan.sequences[1].action, Action::Submit { attempt: 2, after_parent: false }, "pre-stages done: the rest goes");
        let plan = plan_in_two_parts(&known, &InputGaps::default(), &[(102, Err("find_tailcuts vetoed"))]);
        assert_eq!(plan.sequences[1].action, Action::Blocked { reason: BlockReason::StageFailed });

        known.attempts.get_mut(&102).unwrap().push(attempt(2, Some("11"), JobOutcome::Completed));
        let plan = plan_in_two_parts(&known, &InputGaps::default(), &[]);
        assert_eq!((plan.sequences[1].action.clone(), plan.sequences[1].first_part_done), (Action::Done, true));
    }

    fn summary(plan: &NightPlan) -> Vec<(u32, Option<u32>, u32, &'static str)> {
        plan.sequences.iter().map(|s| (s.seq, s.parent, s.run, s.action.label())).collect()
    }

    fn attempt(n: u32, job: Option<&str>, outcome: JobOutcome) -> Attempt {
        Attempt { attempt: n, job_id: job.map(str::to_string), submit_error: None, outcome, stops_before: None }
    }

    /// Another production (or LSTOSA) made tonight's calibration files where this one's job
    /// would write them: they are used, never made again over it.
    #[test]
    fn calibration_files_already_on_disk_are_used_as_they_are() {
        let inputs = InputGaps { calibrated: [100, 101].into(), ..InputGaps::default() };
        let known = KnownState::default();
        let plan = plan_with_inputs(&known, &inputs);
        assert_eq!(summary(&plan), [(1, None, 101, "done"), (2, Some(1), 102, "submit"), (3, Some(1), 103, "submit")]);
        assert_eq!(plan.sequences[1].action, Action::Submit { attempt: 1, after_parent: false }, "no job to wait for");
        assert!(plan.notes.iter().any(|n| n.contains("DRS4 run 00100 and PEDCALIB run 00101 already on disk")), "{:?}", plan.notes);

        let half = InputGaps { calibrated: [100].into(), ..InputGaps::default() };
        let plan = plan_with_inputs(&known, &half);
        assert_eq!(plan.sequences[0].action.label(), "submit", "only the DRS4 baseline there: the calibration is made");
    }

    #[test]
    fn a_standard_night_chains_data_on_calibration() {
        let plan = plan_of(&standard_night(), &KnownState::default(), &[]);
        assert_eq!(plan.calibration, Calibration::Tonight { drs4_run: 100, pedcal_run: 101 });
        assert_eq!(summary(&plan), [(1, None, 101, "submit"), (2, Some(1), 102, "submit"), (3, Some(1), 103, "submit")]);
        assert_eq!(plan.sequences[0].job_name, "LST1_00101");
        assert_eq!(plan.sequences[0].tasks, 1);
        assert_eq!(plan.sequences[1].tasks, 4);
        assert_eq!(plan.sequences[1].action, Action::Submit { attempt: 1, after_parent: true });
        assert!(plan.notes.is_empty(), "{:?}", plan.notes);
    }

    #[test]
    fn runs_wait_for_their_inputs_and_say_what_is_missing() {
        let all = |missing: &str| InputGaps { night: Some(missing.to_string()), ..InputGaps::default() };
        let planned = plan_with_inputs(&KnownState::default(), &all("the gain selection"));
        let words: Vec<String> = planned.sequences.iter().map(|s| s.action.to_string()).collect();
        assert_eq!(words, ["waiting for the gain selection", "waiting for the gain selection", "waiting for the gain selection"]);

        // The DRS4 run's R0 missing holds the calibration, and its children wait for it; a
        // DATA run missing a subrun waits alone.
        let mut gaps = InputGaps::default();
        gaps.runs.insert(100, "R0 subrun 0001 of run 00100".to_string());
        let planned = plan_with_inputs(&KnownState::default(), &gaps);
        let words: Vec<String> = planned.sequences.iter().map(|s| s.action.to_string()).collect();
        assert_eq!(
            words,
            ["waiting for R0 subrun 0001 of run 00100", "waiting for its calibration (run 00101)", "waiting for its calibration (run 00101)"]
        );

        let mut gaps = InputGaps::default();
        gaps.runs.insert(103, "R0 subrun 0002".to_string());
        let mut known = KnownState::default();
        known.attempts.insert(101, vec![attempt(1, Some("7"), JobOutcome::Completed)]);
        let planned = plan_with_inputs(&known, &gaps);
        assert_eq!(summary(&planned), [(1, None, 101, "done"), (2, Some(1), 102, "submit"), (3, Some(1), 103, "waiting")]);
    }

    #[test]
    fn a_calibration_only_night_plans_one_sequence() {
        let plan = plan_of(&standard_night()[..2], &KnownState::default(), &[]);
        assert_eq!(summary(&plan), [(1, None, 101, "submit")]);
    }

    #[test]
    fn data_without_calibration_uses_an_earlier_night_within_the_lookback() {
        let runs = vec![run(102, "DATA", 4)];
        let osa_closed = |night: &str, drs4_run, pedcal_run| EarlierCalibration {
            runs: CalibrationRuns { night: night.parse().unwrap(), drs4_run, pedcal_run },
            on_disk: None,
        };
        let earlier = [osa_closed("2025-12-20", 10, 11), osa_closed("2026-01-01", 50, 51), osa_closed("2026-01-06", 150, 151)];
        let plan = plan_of(&runs, &KnownState::default(), &earlier);
        assert_eq!(plan.calibration, Calibration::Earlier(earlier[1].runs), "the latest earlier one, never a later night");
        assert_eq!(summary(&plan), [(1, None, 102, "submit")]);
        assert_eq!(plan.sequences[0].action, Action::Submit { attempt: 1, after_parent: false }, "no SLURM dependency");
        assert_eq!(plan.notes, ["no calibration tonight: using night 2026-01-01's (DRS4 run 50, PEDCALIB run 51)"]);

        let on_disk = [earlier[1].clone(), EarlierCalibration { on_disk: Some("/cal/pro/c.h5".into()), ..osa_closed("2026-01-03", 70, 71) }];
        let plan = plan_of(&runs, &KnownState::default(), &on_disk);
        assert_eq!(plan.notes, ["no calibration tonight: using night 2026-01-03's (DRS4 run 70, PEDCALIB run 71), found on disk: /cal/pro/c.h5"]);

        let too_old = [earlier[0].clone()];
        let plan = plan_of(&runs, &KnownState::default(), &too_old);
        assert_eq!(plan.calibration, Calibration::Missing, "8 nights back is beyond the lookback of 7");
        assert_eq!(plan.sequences[0].action, Action::Blocked { reason: BlockReason::NoCalibration });
        assert_eq!(plan.sequences[0].action.to_string(), "blocked: no calibration", "what shifters read");
        assert!(plan.needs_human.iter().any(|n| n.contains("no calibration tonight")), "{:?}", plan.needs_human);
    }

    #[test]
    fn several_drs4_runs_pair_the_last_one_before_the_pedcalib() {
        let runs = vec![run(100, "DRS4", 1), run(103, "DRS4", 1), run(105, "PEDCALIB", 1), run(107, "DRS4", 1), run(108, "DATA", 2)];
        let plan = plan_of(&runs, &KnownState::default(), &[]);
        assert_eq!(plan.calibration, Calibration::Tonight { drs4_run: 103, pedcal_run: 105 });

        let runs = vec![run(104, "PEDCALIB", 1), run(107, "DRS4", 1), run(108, "DATA", 2)];
        let plan = plan_of(&runs, &KnownState::default(), &[]);
        assert_eq!(plan.calibration, Calibration::Missing, "a DRS4 taken after the PEDCALIB cannot calibrate it");
        assert!(plan.notes.iter().any(|n| n.contains("no DRS4 run before it")), "{:?}", plan.notes);
    }

    #[test]
    fn error_runs_follow_their_r0_verdict_or_are_left_out() {
        let mut runs = standard_night();
        let mut decided = run(104, "ERROR", 2);
        decided.set_r0_type(RunType::Data);
        runs.push(decided);
        runs.push(run(105, "ERROR", 2));
        runs.push(run(106, "EDATA", 2));
        let plan = plan_of(&runs, &KnownState::default(), &[]);
        let planned: Vec<u32> = plan.sequences.iter().map(|s| s.run).collect();
        assert_eq!(planned, [101, 102, 103, 104]);
        assert!(plan.notes.iter().any(|n| n.starts_with("run 105 has type ERROR")), "{:?}", plan.notes);
        assert!(plan.notes.iter().any(|n| n.starts_with("run 106 excluded")), "{:?}", plan.notes);
    }

    #[test]
    fn a_type_mismatch_is_shown_and_the_summary_followed() {
        let mut runs = standard_night();
        runs[2].set_r0_type(RunType::Pedcalib);
        let plan = plan_of(&runs, &KnownState::default(), &[]);
        assert!(plan.sequences[1].type_mismatch);
        assert_eq!(plan.sequences[1].kind, SequenceKind::Data);
        assert!(plan.notes.iter().any(|n| n.contains("run 102: summary says DATA, R0 says PEDCALIB")), "{:?}", plan.notes);
    }

    #[test]
    fn a_run_added_later_in_the_night_is_the_only_new_submission() {
        let mut known = KnownState::default();
        known.attempts.insert(101, vec![attempt(1, Some("7"), JobOutcome::Completed)]);
        known.attempts.insert(102, vec![attempt(1, Some("8"), JobOutcome::Running)]);
        known.attempts.insert(103, vec![attempt(1, Some("9"), JobOutcome::Pending)]);
        let mut runs = standard_night();
        runs.push(run(104, "DATA", 5));
        let plan = plan_of(&runs, &known, &[]);
        assert_eq!(
            summary(&plan),
            [(1, None, 101, "done"), (2, Some(1), 102, "submitted"), (3, Some(1), 103, "submitted"), (4, Some(1), 104, "submit")]
        );
        assert_eq!(plan.sequences[3].action, Action::Submit { attempt: 1, after_parent: false }, "the calibration is done: no dependency");
        assert_eq!(plan.sequences[1].tries, 1);
        assert_eq!(plan.sequences[1].last_job_id.as_deref(), Some("8"));
    }

    #[test]
    fn children_of_a_failed_calibration_are_blocked_not_submitted() {
        let mut known = KnownState::default();
        known.attempts.insert(101, vec![attempt(1, Some("7"), JobOutcome::Failed { state: TaskState::Failed })]);
        known.attempts.insert(102, vec![attempt(1, Some("8"), JobOutcome::DependencyNeverSatisfied)]);
        let plan = plan_of(&standard_night(), &known, &[]);
        assert_eq!(summary(&plan), [(1, None, 101, "failed"), (2, Some(1), 102, "blocked"), (3, Some(1), 103, "blocked")]);
        assert_eq!(plan.sequences[2].action, Action::Blocked { reason: BlockReason::ParentFailed });

        known.attempts.insert(103, vec![attempt(1, None, JobOutcome::Unknown)]);
        let plan = plan_of(&standard_night(), &known, &[]);
        assert_eq!(plan.sequences[2].action, Action::Blocked { reason: BlockReason::ParentFailed }, "an interrupted child of a failed parent");

        known.attempts.insert(102, vec![attempt(1, Some("8"), JobOutcome::Failed { state: TaskState::Cancelled })]);
        let plan = plan_of(&standard_night(), &known, &[]);
        assert_eq!(plan.sequences[1].action, Action::Blocked { reason: BlockReason::ParentFailed }, "cancelled because blocked stays blocked");

        known
            .attempts
            .insert(101, vec![attempt(1, Some("7"), JobOutcome::Failed { state: TaskState::Failed }), attempt(2, Some("20"), JobOutcome::Running)]);
        known.attempts.insert(102, vec![attempt(1, Some("8"), JobOutcome::DependencyNeverSatisfied)]);
        let plan = plan_of(&standard_night(), &known, &[]);
        assert_eq!(plan.sequences[1].action, Action::Blocked { reason: BlockReason::ParentFailed }, "not while the retried calibration runs");
        known
            .attempts
            .insert(101, vec![attempt(1, Some("7"), JobOutcome::Failed { state: TaskState::Failed }), attempt(2, Some("20"), JobOutcome::Completed)]);
        let plan = plan_of(&standard_night(), &known, &[]);
        assert_eq!(
            plan.sequences[1].action,
            Action::Submit { attempt: 2, after_parent: false },
            "the retried calibration is done: its blocked child goes again"
        );

        known.attempts.clear();
        known.vetoed.insert(101);
        let plan = plan_of(&standard_night(), &known, &[]);
        assert_eq!(plan.sequences[1].action, Action::Blocked { reason: BlockReason::ParentVetoed });
    }

    #[test]
    fn intents_without_job_ids_are_reconciled_before_anything_else() {
        let mut known = KnownState::default();
        known.attempts.insert(101, vec![attempt(1, None, JobOutcome::Unknown)]);
        let plan = plan_of(&standard_night(), &known, &[]);
        assert_eq!(plan.sequences[0].action, Action::Reconcile { attempt: 1, after_parent: false });
        assert_eq!(plan.sequences[1].action, Action::Submit { attempt: 1, after_parent: true });
    }

    #[test]
    fn refused_submissions_are_retried_up_to_the_limit() {
        let mut known = KnownState::default();
        let refused = |n| Attempt {
            attempt: n,
            job_id: None,
            submit_error: Some("Socket timed out".to_string()),
            outcome: JobOutcome::Unknown,
            stops_before: None,
        };
        known.attempts.insert(102, vec![refused(1)]);
        known.attempts.insert(103, vec![refused(1), refused(2), refused(3)]);
        let plan = plan_of(&standard_night(), &known, &[]);
        assert_eq!(plan.sequences[1].action, Action::Submit { attempt: 2, after_parent: true });
        assert!(matches!(plan.sequences[2].action, Action::Failed { .. }));
    }

    #[test]
    fn an_unknown_poll_is_never_a_failure_and_vetoes_hold() {
        let mut known = KnownState::default();
        known.attempts.insert(102, vec![attempt(1, Some("8"), JobOutcome::Unknown)]);
        known.vetoed.insert(103);
        let plan = plan_of(&standard_night(), &known, &[]);
        assert_eq!(plan.sequences[1].action, Action::Submitted { job_id: "8".to_string() });
        assert_eq!(plan.sequences[2].action, Action::Vetoed);
    }
}
