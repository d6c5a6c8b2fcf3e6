//! Applying a plan: the effects around the pure planner. One cycle for a night:
//! 1. load the summary into the database (runs, R0 verdicts stored once per run);
//! 2. ONE poll of the executor; store every task state; complete intents whose job the
//!    scheduler knows (by comment key), so nothing is submitted twice after a crash;
//! 3. plan; then for each sequence to submit: write the script, write the intent, submit
//!    (transient errors: reconcile by comment, then retry with backoff), store the job id;
//!    cancel children left pending because their parent failed, and record them blocked.
//!
//! `OSA_TEST_CRASH_AT=after-intent|after-sbatch|after-sbatch:<stage>` aborts the process at
//! that point (the last: right after a closing stage's `sbatch`): the crash tests use it to
//! prove a restart submits nothing twice.

use std::collections::{BTreeMap, HashMap};

use crate::config::Config;
use crate::db::{Db, DbError, JobIntent, RunRecord, SequenceRecord, TaskRecord};
use crate::executor::{Executor, ExecutorError, JobKey, JobSpec, Snapshot, TaskStatus, comment_key, parse_array_spec, parse_comment_key};
use crate::model::{CalibrationRuns, JobOutcome, NightState, SequenceKind, Stage, TaskState};
use crate::night::NightDate;
use crate::paths::Layout;
use crate::sequencer::known::{NightRows, known_state, known_state_of};
use crate::sequencer::plan::{
    self, Action, Calibration, EarlierCalibration, InputGaps, KnownState, NightPlan, PlanInput, PlannedSequence, PreStages, action_of,
};
use crate::sequencer::script::{OsaCommand, ScriptInput, job_script, log_patterns};
use crate::summary::classify::classify_run;
use crate::summary::{self, NightSummary, Run, SummaryError};

#[derive(Debug, thiserror::Error)]
pub enum SequencerError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Summary(#[from] SummaryError),
    #[error("night {night}: cannot write {path}: {source}")]
    Io { night: NightDate, path: std::path::PathBuf, source: std::io::Error },
    #[error("night {night} run {run}: {source}")]
    Executor { night: NightDate, run: u32, source: ExecutorError },
    #[error(transparent)]
    Outside(#[from] crate::paths::OutsideDataRoot),
}

/// What one cycle did and saw.
#[derive(Debug)]
pub struct Cycle {
    /// `None` while the night has no summary.
    pub summary: Option<NightSummary>,
    /// The plan after this cycle's submissions.
    pub plan: Option<NightPlan>,
    /// The poll of this cycle; `None` if the executor did not answer (states unknown).
    pub snapshot: Option<Snapshot>,
    /// (run, job id) submitted in this cycle.
    pub submitted: Vec<(u32, String)>,
}

pub struct Sequencer<'a> {
    pub config: &'a Config,
    pub layout: Layout,
    pub db: &'a Db,
    pub executor: &'a dyn Executor,
    pub osa: OsaCommand,
}

pub(crate) fn crash_point(name: &str) {
    if std::env::var("OSA_TEST_CRASH_AT").is_ok_and(|v| v == name) {
        eprintln!("osa: OSA_TEST_CRASH_AT={name}: aborting here");
        std::process::abort();
    }
}

/// An interrupted or unanswered submission is resubmitted only once its intent is this old:
/// longer than slurmctld takes to register a job whose `sbatch` timed out (MessageTimeout,
/// 10 s by default).
const LATE_JOB_SECONDS: i64 = 30;

/// One job to submit: its intent (stored before `sbatch`), its spec and its script.
pub struct Submission {
    pub intent: JobIntent,
    pub spec: JobSpec,
    pub script_text: String,
    /// Submitting an intent recorded earlier (interrupted): it is expected to exist.
    pub resume: bool,
}

/// How a retry differs from the first submission: only some subruns, more time or memory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resubmission {
    pub subruns: Option<Vec<u32>>,
    pub time: Option<String>,
    pub mem_per_cpu: Option<String>,
    /// Submitting an intent recorded earlier (interrupted): it is expected to exist.
    pub resume: bool,
}

impl Sequencer<'_> {
    /// Reads the night's summary and stores its runs, keeping stored R0 verdicts and
    /// classifying (once) the runs that have none. `write: false` stores nothing.
    pub fn load_night(&self, night: NightDate, write: bool) -> Result<Option<NightSummary>, SequencerError> {
        let Some(file) = summary::locate(&self.config.summary_dirs(), night) else { return Ok(None) };
        summary::refuse_foreign_link(&file, self.layout.data_root())?;
        let mut summary = summary::load_with_catalog(&file, Some(&self.config.resolve(&self.config.paths.run_catalog_dir)), &self.config.limits)?;
        let stored: HashMap<u32, RunRecord> = self.db.runs_of_night(night)?.into_iter().map(|r| (r.run, r)).collect();
        let r0_dir = self.layout.r0_night_dir(night);
        let mut records = Vec::new();
        for run in &mut summary.runs {
            // A verdict from events read is final; "no file" or "unreadable" may only mean the
            // file is not there yet, so it is kept out of the database and tried again.
            let (r0_type, reason) = match stored.get(&run.run).and_then(|s| s.r0_type.map(|t| (Some(t), s.r0_reason.clone()))) {
                Some(known) => known,
                None => {
                    let verdict = classify_run(&r0_dir, run.run);
                    let definitive = verdict.counts.read > 0;
                    (definitive.then_some(verdict.run_type), verdict.reason)
                }
            };
            if let Some(r0_type) = r0_type {
                run.set_r0_type(r0_type);
            }
            records.push(RunRecord {
                night,
                run: run.run,
                summary_type: run.run_type,
                r0_type,
                r0_reason: reason,
                type_mismatch: run.type_mismatch,
                subruns: run.subruns,
                source: run.source.clone(),
                start: run.start,
            });
        }
        if write {
            let sha = crate::hashing::sha256_file(&file).map_err(|source| SequencerError::Io { night, path: file.clone(), source })?;
            self.db.record_summary(night, &file.display().to_string(), &sha)?;
            self.db.upsert_runs(&records)?;
        }
        Ok(Some(summary))
    }

    /// One poll; a failure is logged and means "unknown", never "failed".
    pub fn poll(&self) -> Option<Snapshot> {
        match self.executor.poll() {
            Ok(snapshot) => Some(snapshot),
            Err(e) => {
                tracing::warn!("executor poll failed, states unknown this cycle: {e}");
                None
            }
        }
    }

    /// Stores the state of every task of the snapshot that belongs to osa.
    pub fn record_states(&self, snapshot: &Snapshot) -> Result<(), SequencerError> {
        // Comment keys are alike across installations of one SLURM user (a test database, a
        // second data root): keep only the jobs this database submitted, or is submitting.
        let nights: std::collections::BTreeSet<NightDate> =
            snapshot.tasks.iter().filter_map(|t| parse_comment_key(&t.comment)).map(|k| k.night).collect();
        let mut ours: std::collections::HashSet<String> = std::collections::HashSet::new();
        for night in nights {
            for job in self.db.jobs_of_night(night)? {
                ours.insert(job.job_id.unwrap_or(job.intent.comment_key));
            }
        }
        let records: Vec<TaskRecord> = snapshot
            .tasks
            .iter()
            .filter(|t| ours.contains(&t.job_id) || ours.contains(&t.comment))
            .filter_map(|t| Some(task_record(parse_comment_key(&t.comment)?, t)))
            .collect();
        if !records.is_empty() {
            self.db.upsert_tasks(&records)?;
        }
        Ok(())
    }

    /// Completes intents without job id whose job the scheduler knows by comment key.
    pub fn reconcile(&self, snapshot: &Snapshot) -> Result<(), SequencerError> {
        for pending in self.db.pending_submissions()? {
            if let Some(job_id) = snapshot.job_with_comment(&pending.intent.comment_key) {
                let i = &pending.intent;
                tracing::info!(night.date = %i.night, run.id = i.run, stage = %i.stage, job.id = job_id, "found the job of an interrupted submission");
                self.db.complete_submission(i.night, i.run, &i.stage, i.attempt, job_id)?;
            }
        }
        Ok(())
    }

    /// The night's jobs, task counts and audit log, read once for the pure folds.
    pub fn night_rows(&self, night: NightDate) -> Result<NightRows, SequencerError> {
        Ok(read_night_rows(self.db, night)?)
    }

    /// Finished calibrations within the lookback: those of nights osa closed, and the Cat-A
    /// files on disk of nights osa has no record of (a site's history from LSTOSA).
    pub fn earlier_calibrations(&self, night: NightDate) -> Result<Vec<EarlierCalibration>, SequencerError> {
        let mut found = Vec::new();
        let mut earlier = night;
        for _ in 0..self.config.calibration.lookback_nights {
            earlier = earlier.previous();
            let Some(record) = self.db.night(earlier)? else {
                for (drs4_run, pedcal_run) in self.layout.cat_a_calibrations(earlier) {
                    let file = self.layout.existing_calibration_file(earlier, pedcal_run);
                    found.push(EarlierCalibration {
                        runs: CalibrationRuns { night: earlier, drs4_run, pedcal_run },
                        on_disk: Some(file.display().to_string()),
                    });
                }
                continue;
            };
            if !record.closed {
                continue;
            }
            let runs = self.db.runs_of_night(earlier)?;
            let known = known_state(&self.night_rows(earlier)?, None);
            for sequence in self.db.sequences_of_night(earlier)?.into_iter().filter(|s| s.kind == SequenceKind::Calibration) {
                let drs4 = runs
                    .iter()
                    .filter(|r| r.summary_type.effective(r.r0_type) == Some(crate::model::RunType::Drs4) && r.run < sequence.run)
                    .map(|r| r.run)
                    .max();
                // Made by this production's job, or (no job of its own) another production's
                // files used as they were.
                let done = match known.attempts.get(&sequence.run).and_then(|a| a.last()) {
                    Some(last) => last.outcome == JobOutcome::Completed,
                    None => drs4.is_some_and(|d| {
                        self.layout.drs4_file(earlier, d).is_file() && self.layout.calibration_file(earlier, sequence.run).is_file()
                    }),
                };
                if let (Some(drs4_run), true) = (drs4, done) {
                    found.push(EarlierCalibration { runs: CalibrationRuns { night: earlier, drs4_run, pedcal_run: sequence.run }, on_disk: None });
                }
            }
        }
        Ok(found)
    }

    pub fn plan(&self, night: NightDate, runs: &[Run], snapshot: Option<&Snapshot>) -> Result<NightPlan, SequencerError> {
        let rows = self.night_rows(night)?;
        let known = known_state(&rows, snapshot);
        self.plan_known(night, runs, &rows, snapshot, &known)
    }

    /// As [`Sequencer::plan`], for a caller that already read the rows and folded them.
    pub fn plan_known(
        &self,
        night: NightDate,
        runs: &[Run],
        rows: &NightRows,
        snapshot: Option<&Snapshot>,
        known: &KnownState,
    ) -> Result<NightPlan, SequencerError> {
        let earlier = self.earlier_calibrations(night)?;
        let inputs = self.input_gaps(night, runs, known);
        let pre_stages = self.pre_stages(night, rows, snapshot, known)?;
        Ok(plan::plan(&PlanInput {
            night,
            runs,
            known,
            earlier: &earlier,
            lookback_nights: self.config.calibration.lookback_nights,
            max_tries: self.config.retries.max_tries_per_run,
            inputs: &inputs,
            pre_stages: &pre_stages,
        }))
    }

    /// Where each DATA run's pre-stages stand. A pre-stage counts as done once its job
    /// completed and the closer found its outputs right after that job was submitted (a run's
    /// second part reads them). Only the runs the planner asks about are looked at (their first part is their last
    /// submission): the others cost no query at each poll.
    fn pre_stages(&self, night: NightDate, rows: &NightRows, snapshot: Option<&Snapshot>, known: &KnownState) -> Result<PreStages, SequencerError> {
        let Some(before) = self.config.analysis.first_part_stops_before() else { return Ok(PreStages::default()) };
        let max_tries = self.config.retries.max_tries_per_run;
        let stages: Vec<_> = self
            .config
            .analysis
            .active_pre_stages()
            .map(|s| (s, Stage::closing(&s.name), known_state_of(rows, snapshot, &Stage::closing(&s.name))))
            .collect();
        let mut pending = BTreeMap::new();
        let asked = known.attempts.iter().filter(|(_, attempts)| attempts.last().is_some_and(plan::Attempt::first_part_done)).map(|(run, _)| *run);
        for run in asked {
            let mut waiting = Vec::new();
            let mut gave_up = None;
            for (config, stage, known) in &stages {
                let name = &config.name;
                if !known.attempts.contains_key(&run) && !known.vetoed.contains(&run) {
                    waiting.push(format!("{name}: not submitted yet"));
                    continue;
                }
                match action_of(known, run, max_tries).0 {
                    Action::Done => {
                        let submitted = rows.current_jobs_of(run, stage).filter_map(|j| j.submitted_at).max();
                        let kinds: Vec<String> = config.outputs.iter().map(|t| t.trim_matches(['{', '}']).to_string()).collect();
                        let verified = self.db.outputs_of_kinds(night, run, &kinds)?;
                        let right = |kind: &String| {
                            verified.iter().any(|o| o.kind == *kind && o.verdict == "ok" && submitted.is_none_or(|at| o.verified_at >= at))
                        };
                        if !kinds.iter().all(right) {
                            waiting.push(format!("{name}: outputs not verified yet"));
                        }
                    }
                    action @ (Action::Vetoed | Action::Blocked { .. }) => gave_up = Some(format!("{name}: {action}")),
                    action => waiting.push(format!("{name}: {action}")),
                }
            }
            match gave_up {
                Some(why) => {
                    pending.insert(run, Err(why));
                }
                None if !waiting.is_empty() => {
                    pending.insert(run, Ok(waiting.join(", ")));
                }
                None => {}
            }
        }
        Ok(PreStages { before: Some(before.to_string()), pending })
    }

    /// What the night's runs still lack on disk (`[inputs]`). Runs submitted before are not
    /// looked at: only a first submission waits for its inputs.
    fn input_gaps(&self, night: NightDate, runs: &[Run], known: &KnownState) -> InputGaps {
        let mut gaps = InputGaps::default();
        for run in runs {
            let file = match run.run_type {
                crate::model::RunType::Drs4 => self.layout.drs4_file(night, run.run),
                crate::model::RunType::Pedcalib => self.layout.calibration_file(night, run.run),
                _ => continue,
            };
            if file.is_file() {
                gaps.calibrated.insert(run.run);
            }
        }
        let flag = self.layout.gain_selection_flag(night);
        let r0_dir = self.layout.r0_night_dir(night);
        if self.config.inputs.gain_selection && !flag.is_file() {
            gaps.night = Some(format!("the gain selection ({} missing)", flag.display()));
        } else if self.config.inputs.r0_files && !r0_dir.is_dir() {
            gaps.night = Some(format!("the R0 folder {}", r0_dir.display()));
        } else if self.config.inputs.r0_files {
            for run in runs.iter().filter(|r| !known.attempts.contains_key(&r.run)) {
                let missing: Vec<u32> = (0..run.subruns).filter(|s| !self.layout.r0_file(night, 1, run.run, *s).is_file()).collect();
                if let Some(first) = missing.first() {
                    let more = if missing.len() > 1 { format!(" and {} more", missing.len() - 1) } else { String::new() };
                    gaps.runs.insert(run.run, format!("R0 subrun {first:04}{more} ({})", self.layout.r0_file(night, 1, run.run, *first).display()));
                }
            }
        }
        if self.layout.tailcuts_from_finder() {
            // A DATA run's cleaning is the finder's: without a readable file, its DL1b would
            // land under the wrong level. Looked at until its steps from the DL1b on are
            // submitted (its second part, with pre-stages).
            let all_steps = |run: u32| known.attempts.get(&run).is_some_and(|a| a.iter().any(|a| a.stops_before.is_none()));
            for run in runs.iter().filter(|r| r.run_type == crate::model::RunType::Data && !all_steps(r.run)) {
                let file = self.layout.tailcuts_file(run.run);
                let missing = match self.layout.finder_prod_id(run.run) {
                    Ok(_) => continue,
                    Err(crate::rf_models::RfModelError::Unreadable { .. }) if !file.exists() => format!("its tail cuts ({} missing)", file.display()),
                    Err(e) => format!("readable tail cuts ({e})"),
                };
                gaps.cleaning.insert(run.run, missing);
            }
        }
        gaps
    }

    /// One full cycle for a night. `simulate`: read and plan only, nothing written or submitted.
    pub fn cycle(&self, night: NightDate, simulate: bool) -> Result<Cycle, SequencerError> {
        self.cycle_inner(night, simulate, None)
    }

    /// The daemon's poll cycle: ONE poll for every night given, states stored and interrupted
    /// submissions reconciled once, then each night planned and applied with that snapshot.
    /// Also returns whether the executor answered the poll.
    #[allow(clippy::type_complexity)]
    pub fn cycle_nights(&self, nights: &[NightDate]) -> Result<(Vec<(NightDate, Result<Cycle, SequencerError>)>, bool), SequencerError> {
        let night = nights.first().copied().unwrap_or_else(NightDate::current);
        self.executor.tend().map_err(|source| SequencerError::Executor { night, run: 0, source })?;
        let snapshot = self.poll();
        if let Some(snapshot) = &snapshot {
            self.record_states(snapshot)?;
            self.reconcile(snapshot)?;
        }
        let results = nights.iter().map(|n| (*n, self.cycle_inner(*n, false, Some(snapshot.as_ref())))).collect();
        Ok((results, snapshot.is_some()))
    }

    /// `polled`: the snapshot of a poll already made (and recorded) by the caller.
    fn cycle_inner(&self, night: NightDate, simulate: bool, polled: Option<Option<&Snapshot>>) -> Result<Cycle, SequencerError> {
        // One writer per night at a time: a second `osa sequencer` (or the daemon) waits here
        // instead of submitting the same runs.
        let _lock = if simulate { None } else { Some(self.lock_night(night)?) };
        if !simulate && polled.is_none() {
            self.executor.tend().map_err(|source| SequencerError::Executor { night, run: 0, source })?;
        }
        // A closed night is read, never changed: a run appended to its summary afterwards is
        // refused with a note (`osa rerun` reopens the night), never half-processed.
        let closed = self.db.night(night)?.is_some_and(|n| n.closed);
        let loaded = self.load_night(night, !simulate && !closed);
        if let Err(SequencerError::Summary(SummaryError::Rejected { .. } | SummaryError::FileName { .. })) = &loaded
            && !simulate
            && !closed
        {
            // Refused input is a night a human must look at (`osa status` shows why); the
            // other nights go on.
            self.db.set_night_state(night, NightState::NeedsHuman)?;
        }
        // No summary, no row: nights without observations (moon, weather) leave no trace.
        let Some(summary) = loaded? else {
            return Ok(Cycle { summary: None, plan: None, snapshot: None, submitted: Vec::new() });
        };
        let own;
        let snapshot: Option<&Snapshot> = match polled {
            Some(snapshot) => snapshot,
            None => {
                own = self.poll();
                if !simulate && let Some(snapshot) = &own {
                    self.record_states(snapshot)?;
                    self.reconcile(snapshot)?;
                }
                own.as_ref()
            }
        };
        let mut plan = self.plan(night, &summary.runs, snapshot)?;
        if closed && let Some(note) = plan.refuse_late_runs() {
            tracing::warn!(night.date = %night, "{note}");
        }
        if simulate || closed {
            return Ok(Cycle { summary: Some(summary), plan: Some(plan), snapshot: snapshot.cloned(), submitted: Vec::new() });
        }
        let submitted = self.apply(&plan, snapshot)?;
        self.db.replace_sequences(night, &sequence_records(&plan))?;
        let active = plan.sequences.iter().any(|s| s.action.is_active());
        let state = self.db.night(night)?.map(|n| n.state);
        // Never move a night back from closing or closed; the closer and operators do that.
        if (active || !submitted.is_empty()) && !matches!(state, Some(NightState::Closing | NightState::Closed)) {
            self.db.set_night_state(night, NightState::Running)?;
        }
        let plan = if submitted.is_empty() { plan } else { self.plan(night, &summary.runs, snapshot)? };
        Ok(Cycle { summary: Some(summary), plan: Some(plan), snapshot: snapshot.cloned(), submitted })
    }

    pub(crate) fn lock_night(&self, night: NightDate) -> Result<nix::fcntl::Flock<std::fs::File>, SequencerError> {
        let path = self.layout.contain(&self.layout.night_lock(night))?;
        let io = |source| SequencerError::Io { night, path: path.clone(), source };
        std::fs::create_dir_all(path.parent().expect("lock files have a folder")).map_err(io)?;
        let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(io)?;
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive).map_err(|(_, e)| io(e.into()))
    }

    fn apply(&self, plan: &NightPlan, snapshot: Option<&Snapshot>) -> Result<Vec<(u32, String)>, SequencerError> {
        let mut job_ids: HashMap<u32, String> = HashMap::new();
        let mut submitted = Vec::new();
        for sequence in &plan.sequences {
            let (attempt, after_parent) = match &sequence.action {
                Action::Submit { attempt, after_parent } => (*attempt, *after_parent),
                // Without a poll we cannot know the interrupted job does not exist: wait.
                Action::Reconcile { .. } if snapshot.is_none() => continue,
                Action::Reconcile { attempt, after_parent } => (*attempt, *after_parent),
                Action::Submitted { job_id } => {
                    job_ids.insert(sequence.seq, job_id.clone());
                    continue;
                }
                Action::Blocked { .. } => {
                    self.cancel_blocked(plan.night, sequence, snapshot)?;
                    continue;
                }
                _ => continue,
            };
            let after = match (after_parent, sequence.parent) {
                (true, Some(parent)) => match job_ids.get(&parent) {
                    Some(id) => Some(id.clone()),
                    None => {
                        tracing::warn!(night.date = %plan.night, run.id = sequence.run, "parent sequence {parent} has no job: not submitting its child this cycle");
                        continue;
                    }
                },
                _ => None,
            };
            let retry = match &sequence.action {
                // Resubmit an interrupted intent as it was planned (subruns, time, memory).
                Action::Reconcile { .. } => {
                    match self
                        .db
                        .jobs_of_night(plan.night)?
                        .into_iter()
                        .find(|j| j.intent.run == sequence.run && j.intent.stage.is_sequence() && j.intent.attempt == attempt)
                    {
                        Some(job) => Resubmission {
                            subruns: (sequence.kind == SequenceKind::Data).then(|| parse_array_spec(&job.intent.array_range)),
                            time: Some(job.intent.time_limit),
                            mem_per_cpu: Some(job.intent.mem_per_cpu),
                            resume: true,
                        },
                        None => Resubmission { resume: true, ..Resubmission::default() },
                    }
                }
                _ => Resubmission::default(),
            };
            if let Some(job_id) = self.submit(plan, sequence, attempt, after, &retry)? {
                job_ids.insert(sequence.seq, job_id.clone());
                submitted.push((sequence.run, job_id));
            }
        }
        Ok(submitted)
    }

    /// A child left pending because its parent failed: cancelled and recorded as blocked.
    fn cancel_blocked(&self, night: NightDate, sequence: &PlannedSequence, snapshot: Option<&Snapshot>) -> Result<(), SequencerError> {
        let (Some(snapshot), Some(job_id)) = (snapshot, &sequence.last_job_id) else { return Ok(()) };
        let stuck: Vec<&TaskStatus> = snapshot.tasks_of(job_id).filter(|t| !t.state.is_finished()).collect();
        if stuck.is_empty() {
            return Ok(());
        }
        tracing::warn!(night.date = %night, run.id = sequence.run, job.id = %job_id, "parent failed: cancelling the job left pending and recording it blocked");
        if let Err(e) = self.executor.cancel(job_id) {
            // It may have ended between the poll and now; the next cycle looks again.
            tracing::warn!(night.date = %night, run.id = sequence.run, job.id = %job_id, "cannot cancel: {e}");
            return Ok(());
        }
        let records: Vec<TaskRecord> = stuck
            .iter()
            .filter_map(|t| {
                let mut record = task_record(parse_comment_key(&t.comment)?, t);
                record.state = TaskState::Blocked;
                Some(record)
            })
            .collect();
        self.db.upsert_tasks(&records)?;
        Ok(())
    }

    /// Submits one sequence as `attempt` (writes the script, the intent, then submits).
    pub fn submit(
        &self,
        plan: &NightPlan,
        sequence: &PlannedSequence,
        attempt: u32,
        after: Option<String>,
        retry: &Resubmission,
    ) -> Result<Option<String>, SequencerError> {
        let night = plan.night;
        let Some(calibration) = plan.calibration.runs(night) else { return Ok(None) };
        let workdir = self.layout.contain(&self.layout.analysis_dir(night))?;
        let script = self.layout.contain(&self.layout.job_script(night, sequence.run, attempt))?;
        let resources = match sequence.kind {
            SequenceKind::Calibration => &self.config.slurm.calibration,
            SequenceKind::Data => &self.config.slurm.data,
        };
        let time = retry.time.clone().unwrap_or_else(|| resources.time.clone());
        let mem_per_cpu = retry.mem_per_cpu.clone().unwrap_or_else(|| resources.mem_per_cpu.clone());
        let indices: Option<Vec<u32>> =
            (sequence.kind == SequenceKind::Data).then(|| retry.subruns.clone().unwrap_or_else(|| (0..sequence.tasks.max(1)).collect()));
        let array = indices.as_deref().map(crate::executor::array_spec);
        let text = job_script(
            self.config,
            &ScriptInput {
                night,
                run: sequence.run,
                attempt,
                kind: sequence.kind,
                array: array.clone(),
                time: &time,
                mem_per_cpu: &mem_per_cpu,
                job_name: &sequence.job_name,
                workdir: &workdir,
                calibration,
                osa: &self.osa,
                stops_before: sequence.stops_before.as_deref(),
            },
        );
        let comment = comment_key(&self.config.analysis.prod_id, night, sequence.run, &Stage::Sequence, attempt);
        let intent = JobIntent {
            night,
            run: sequence.run,
            stage: Stage::Sequence,
            attempt,
            executor: self.executor.kind(),
            job_name: sequence.job_name.clone(),
            comment_key: comment.clone(),
            array_range: array.clone().unwrap_or_else(|| "0".to_string()),
            partition: resources.partition.clone(),
            account: self.config.slurm.account.clone(),
            mem_per_cpu: mem_per_cpu.clone(),
            time_limit: time.clone(),
            script_path: script.display().to_string(),
            stops_before: sequence.stops_before.clone(),
        };
        let (output, error) = log_patterns(sequence.run, sequence.kind);
        let spec = JobSpec {
            name: sequence.job_name.clone(),
            comment,
            script,
            workdir,
            array: indices,
            time_limit_seconds: crate::config::slurm_time_seconds(&time),
            after: after.into_iter().collect(),
            output,
            error,
        };
        self.submit_once(Submission { intent, spec, script_text: text, resume: retry.resume })
    }

    /// Submits one job exactly once: the intent is stored (and an attempt another writer
    /// recorded first is left alone), an interrupted one is looked for before it goes again
    /// (see ARCHITECTURE.md, "Exactly once"), the script is written whole, then `sbatch`.
    pub fn submit_once(&self, submission: Submission) -> Result<Option<String>, SequencerError> {
        let Submission { intent, spec, script_text: text, resume } = submission;
        let (night, run, stage, attempt) = (intent.night, intent.run, intent.stage.clone(), intent.attempt);
        let comment = spec.comment.clone();
        let log_dir = self.layout.log_dir(night);
        std::fs::create_dir_all(&log_dir).map_err(|source| SequencerError::Io { night, path: log_dir.clone(), source })?;
        let (existing, inserted) = self.db.record_submission_intent(&intent)?;
        if !inserted && !resume {
            // Another writer (a second closer, an operator) planned the same attempt first.
            tracing::warn!(night.date = %night, run.id = run, stage = %stage, attempt, "attempt already recorded by another process: not submitted again");
            return Ok(existing.job_id);
        }
        if let Some(job_id) = existing.job_id {
            return Ok(Some(job_id));
        }
        crash_point("after-intent");

        if resume {
            // An intent without job id: an earlier process may have died while its `sbatch`
            // ran, or an `sbatch` answered without saying whether it queued the job. Wait
            // until that `sbatch` has ended (the executor's submission lock) and slurmctld has
            // had time to register a late job, then look again: from then on its job, if it
            // made one, is in every poll.
            let age = crate::db::now() - existing.intent_at;
            if age < chrono::Duration::seconds(LATE_JOB_SECONDS) {
                tracing::info!(night.date = %night, run.id = run, stage = %stage, attempt, "interrupted submission {}s old: looked for again before resubmitting", age.num_seconds());
                return Ok(None);
            }
            if self.executor.submission_in_flight(&spec) {
                tracing::warn!(night.date = %night, run.id = run, stage = %stage, attempt, "an earlier sbatch of this attempt still runs: waiting for it");
                return Ok(None);
            }
            match self.executor.poll() {
                Ok(snapshot) => {
                    if let Some(job_id) = snapshot.job_with_comment(&comment) {
                        tracing::info!(night.date = %night, run.id = run, stage = %stage, job.id = job_id, "found the job of an interrupted submission");
                        self.db.complete_submission(night, run, &stage, attempt, job_id)?;
                        return Ok(Some(job_id.to_string()));
                    }
                }
                Err(e) => {
                    tracing::warn!(night.date = %night, run.id = run, stage = %stage, "no poll to look for an interrupted submission ({e}): left pending");
                    return Ok(None);
                }
            }
        }
        // Written only now, after the in-flight check, and whole (a rename): an earlier
        // `sbatch` still reading it never sees it change.
        let partial = spec.script.with_extension("sh.partial");
        std::fs::write(&partial, text).and_then(|()| std::fs::rename(&partial, &spec.script)).map_err(|source| SequencerError::Io {
            night,
            path: spec.script.clone(),
            source,
        })?;
        // One sbatch per call: after an answer that leaves its outcome unknown, the intent
        // waits for later cycles (see the resume path above), never an immediate retry that
        // could race a job slurmctld registers late.
        match self.executor.submit(&spec) {
            Ok(job_id) => {
                crash_point("after-sbatch");
                if let Stage::Closing(name) = &stage {
                    crash_point(&format!("after-sbatch:{name}"));
                }
                self.db.complete_submission(night, run, &stage, attempt, &job_id)?;
                tracing::info!(night.date = %night, run.id = run, stage = %stage, job.id = %job_id, attempt, "submitted");
                Ok(Some(job_id))
            }
            Err(e @ ExecutorError::InFlight { .. }) => {
                tracing::warn!(night.date = %night, run.id = run, stage = %stage, "{e}");
                Ok(None)
            }
            Err(e) if e.outcome_unknown() => {
                // The job may exist: look it up by its key at once; if it is not there (yet),
                // the intent stays pending for the next cycles.
                match self.executor.poll().map(|snapshot| snapshot.job_with_comment(&comment).map(str::to_string)) {
                    Ok(Some(job_id)) => {
                        self.db.complete_submission(night, run, &stage, attempt, &job_id)?;
                        Ok(Some(job_id))
                    }
                    Ok(None) => {
                        tracing::warn!(night.date = %night, run.id = run, stage = %stage, "submission outcome unknown ({e}): left pending, looked for again before any resubmission");
                        Ok(None)
                    }
                    Err(poll_error) => {
                        tracing::warn!(night.date = %night, run.id = run, stage = %stage, "submission outcome unknown ({e}) and no poll ({poll_error}): left pending");
                        Ok(None)
                    }
                }
            }
            Err(e) => {
                tracing::error!(night.date = %night, run.id = run, stage = %stage, "submission refused: {e}");
                self.db.fail_submission(night, run, &stage, attempt, &e.to_string())?;
                Ok(None)
            }
        }
    }
}

fn task_record(key: JobKey, t: &TaskStatus) -> TaskRecord {
    TaskRecord {
        night: key.night,
        run: key.run,
        stage: key.stage,
        subrun: t.task.unwrap_or(0),
        attempt: key.attempt,
        state: t.state,
        exit_code: t.exit_code,
        cpu_seconds: t.cpu_seconds,
        max_rss_kb: t.max_rss_kb,
        node: t.node.clone(),
        started_at: t.started_at,
        ended_at: t.ended_at,
    }
}

fn sequence_records(plan: &NightPlan) -> Vec<SequenceRecord> {
    let calibration_night = match plan.calibration {
        Calibration::Earlier(e) => Some(e.night),
        _ => None,
    };
    plan.sequences
        .iter()
        .map(|s| SequenceRecord {
            night: plan.night,
            seq: s.seq,
            parent_seq: s.parent,
            run: s.run,
            kind: s.kind,
            job_name: s.job_name.clone(),
            calibration_night: if s.kind == SequenceKind::Data { calibration_night } else { None },
        })
        .collect()
}

/// A night's rows as stored now (jobs, task counts, audit log), for the pure folds of
/// [`super::known`].
pub fn read_night_rows(db: &Db, night: NightDate) -> Result<NightRows, DbError> {
    Ok(NightRows { jobs: db.jobs_of_night(night)?, tallies: db.task_tallies(night)?, audit: db.audit_of_night(night)? })
}
