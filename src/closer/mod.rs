//! The closer: what LSTOSA's closer, autocloser and provprocess do, in one pass per call.
//! 1. Nothing before `closer.not_before_hour` UTC of the next morning (unless forced); the
//!    clock is a parameter, so tests and the demo do not depend on the time of day.
//! 2. A sequencer cycle first (states polled, late runs submitted); still running → not yet.
//! 3. Failed runs go through the known-failure table ([`failures`]): resubmit the failed
//!    subruns (more time, more memory, stale outputs deleted) or veto for a human; tries are
//!    bounded per run and a vetoed run is never resubmitted until `osa veto lift`.
//! 4. Finished runs are verified ([`verify`]); a bad product sends its subrun back alone.
//! 5. Everything verified: per-run DL1 merge, provenance merge (PROV-JSON, SVG, database),
//!    the `NightFinished` flag, the night closed in the database, one mail.
//!
//! Every decision is logged and stored (audit log for vetoes, outputs table for verdicts).

mod closing;
pub mod failures;
pub mod mail;
pub mod moves;
pub mod stages;
pub mod verify;

use std::path::PathBuf;

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::db::{Db, JobIntent, OutputRecord, TaskRecord};
use crate::executor::{array_spec, expand_pattern};
use crate::model::{AuditAction, FailureCause, NightState, SequenceKind, Stage};
use crate::night::NightDate;
use crate::paths::Layout;
use crate::provenance::merge::{MergeOptions, MergeReport, merge_night};
use crate::sequencer::known::NightRows;
use crate::sequencer::plan::{Action, NightPlan, PlannedSequence};
use crate::sequencer::script::log_patterns;
use crate::sequencer::submit::{Resubmission, Sequencer, SequencerError};
use failures::{Decision, FailedTask};
use verify::{Checked, Verdict, calibration_products, data_products, verify};

/// Below this much room (MiB) on the analysis disk no run is resubmitted, whatever it failed
/// on (bounded by `closer.min_free_mib`).
const RESUBMIT_FLOOR_MIB: u64 = 64;

#[derive(Debug, thiserror::Error)]
pub enum CloserError {
    #[error(transparent)]
    Sequencer(#[from] SequencerError),
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    #[error(transparent)]
    Merge(#[from] crate::provenance::merge::MergeError),
    #[error("night {night}: {what}: {source}")]
    Io { night: NightDate, what: String, source: std::io::Error },
}

/// Where a night stands after a closer call.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    Closed,
    AlreadyClosed,
    TooEarly {
        not_before: DateTime<Utc>,
    },
    NoSummary,
    /// Jobs still queued or running.
    Running {
        sequences: usize,
    },
    /// Some runs were sent back (failures or bad products); try again later.
    Retrying {
        runs: Vec<u32>,
    },
    /// The closing stages (merges, DL2, data checks) are running.
    Stages {
        active: usize,
    },
    NeedsHuman,
}

impl Status {
    /// Exit codes of `osa closer`: 0 closed, 20 not yet (too early, running, retrying, no
    /// summary), 21 needs a human. Errors exit 1.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Closed | Self::AlreadyClosed => 0,
            Self::TooEarly { .. } | Self::NoSummary | Self::Running { .. } | Self::Retrying { .. } | Self::Stages { .. } => 20,
            Self::NeedsHuman => 21,
        }
    }
}

#[derive(Debug, serde::Serialize)]
pub struct Report {
    pub night: NightDate,
    pub status: Status,
    /// What was decided and why, one line each.
    pub decisions: Vec<String>,
    /// What needs a human.
    pub problems: Vec<String>,
    pub verified: usize,
    pub bad: usize,
    pub prov_json: Vec<PathBuf>,
    pub prov_svg: Vec<PathBuf>,
    pub night_prov_json: Option<PathBuf>,
    pub mail: Option<String>,
    /// The closing stages as planned in this pass.
    pub stages: Vec<stages::PlannedStage>,
}

impl Report {
    fn new(night: NightDate) -> Self {
        Self {
            night,
            status: Status::NoSummary,
            decisions: Vec::new(),
            problems: Vec::new(),
            verified: 0,
            bad: 0,
            prov_json: Vec::new(),
            prov_svg: Vec::new(),
            night_prov_json: None,
            mail: None,
            stages: Vec::new(),
        }
    }
}

/// DATA runs whose subrun products a long-running closer verified and moved to the final
/// layout, with the sequence job that made them. While the closing stages run, the daemon's
/// closer passes every few seconds; without this memory each pass would read every run's
/// output rows and `stat` every subrun product again (a 200-run night: 120 000 files a pass).
/// A run is trusted only for the same job (a retry or rerun makes a new one), and the pass
/// that would close the night forgets the night, so its products are all looked at once more.
#[derive(Debug, Default)]
pub struct Settled {
    runs: std::sync::Mutex<std::collections::HashMap<(NightDate, u32), String>>,
}

impl Settled {
    fn holds(&self, night: NightDate, run: u32, job_id: &str) -> bool {
        self.runs.lock().unwrap_or_else(|p| p.into_inner()).get(&(night, run)).is_some_and(|j| j == job_id)
    }

    fn remember(&self, night: NightDate, run: u32, job_id: String) {
        self.runs.lock().unwrap_or_else(|p| p.into_inner()).insert((night, run), job_id);
    }

    /// Forgets the night's runs; true if it knew any.
    fn forget(&self, night: NightDate) -> bool {
        let mut runs = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        let before = runs.len();
        runs.retain(|(n, _), _| *n != night);
        runs.len() != before
    }
}

pub struct Closer<'a> {
    config: &'a Config,
    layout: Layout,
    db: &'a Db,
    /// Plans the night (one poll) and submits the retries.
    sequencer: Sequencer<'a>,
    now: DateTime<Utc>,
    settled: Option<&'a Settled>,
}

impl<'a> Closer<'a> {
    pub fn new(sequencer: Sequencer<'a>, now: DateTime<Utc>) -> Self {
        Self { config: sequencer.config, layout: sequencer.layout.clone(), db: sequencer.db, sequencer, now, settled: None }
    }

    /// A closer that remembers the runs it settled across passes (the daemon's).
    pub fn remembering(self, settled: &'a Settled) -> Self {
        Self { settled: Some(settled), ..self }
    }

    pub fn close(&self, night: NightDate, simulate: bool, force: bool) -> Result<Report, CloserError> {
        let mut report = Report::new(night);
        if self.db.night(night)?.is_some_and(|n| n.closed) {
            report.status = Status::AlreadyClosed;
            return Ok(report);
        }
        let started = crate::db::now();
        let hour = self.config.closer.not_before_hour;
        let not_before = night.next().date().and_hms_opt(hour, 0, 0).expect("validated hour").and_utc();
        if self.now < not_before && !force {
            report.status = Status::TooEarly { not_before };
            return Ok(report);
        }
        let cycle = self.sequencer.cycle(night, simulate)?;
        if !simulate {
            let pre = self.pre_stages(night, &cycle)?;
            report.decisions.extend(pre.decisions);
            report.problems.extend(pre.problems);
        }
        let Some(plan) = cycle.plan else { return Ok(report) };
        let running = plan.sequences.iter().filter(|s| s.action.is_active()).count();
        if running > 0 {
            report.status = Status::Running { sequences: running };
            return Ok(report);
        }

        // Read once: the failed runs' decisions and retries all look at them (tasks of the
        // failed runs only: a night has tens of thousands of others, done).
        let mut failed_run_tasks = Vec::new();
        for sequence in plan.sequences.iter().filter(|s| matches!(s.action, Action::Failed { .. })) {
            failed_run_tasks.extend(self.db.tasks_of_run(night, sequence.run)?.into_iter().filter(|t| t.stage.is_sequence()));
        }
        let rows = self.sequencer.night_rows(night)?;
        let mut retried = Vec::new();
        for sequence in &plan.sequences {
            match &sequence.action {
                Action::Failed { cause } => {
                    let failed = self.failed_tasks(night, sequence, cause, &rows, &failed_run_tasks);
                    let time = last_intent(&rows, sequence).map(|i| i.time_limit.clone()).unwrap_or_else(|| self.config.slurm.data.time.clone());
                    let last_subrun = (sequence.kind == SequenceKind::Data).then(|| sequence.subruns.saturating_sub(1));
                    let decision = failures::decide(&self.config.retries, &failed, sequence.attempts, &time, last_subrun);
                    self.apply(&plan, sequence, decision, simulate, &rows, &mut report, &mut retried)?;
                }
                Action::Vetoed => {
                    let why = rows.veto_reason(sequence.run, &Stage::Sequence).map(|r| format!(": {r}")).unwrap_or_default();
                    report
                        .problems
                        .push(format!("run {:05} is vetoed{why} (`osa veto lift --date {night} --run {}` to retry it)", sequence.run, sequence.run))
                }
                Action::Blocked { reason } => report.problems.push(format!("run {:05} is blocked: {reason}", sequence.run)),
                // The closer's hour has come and its inputs have not: a human must find out why.
                Action::Waiting { missing } => report.problems.push(format!("run {:05} is still waiting for {missing}", sequence.run)),
                _ => {}
            }
        }
        for note in &plan.notes {
            report.decisions.push(format!("note: {note}"));
        }

        // Verify what finished, one run at a time; the runs found right are kept for the
        // final layout.
        let calibration = plan.calibration.runs(night);
        // (run, subruns) of the DATA runs found right.
        let mut verified: Vec<(u32, u32)> = Vec::new();
        // The sequence job of each DATA run settled in an earlier pass and trusted in this one.
        let mut trusted: std::collections::HashSet<u32> = std::collections::HashSet::new();
        for sequence in plan.sequences.iter().filter(|s| s.action == Action::Done) {
            let Some(calibration) = calibration else { continue };
            if sequence.kind == SequenceKind::Data
                && let (Some(settled), Some(job_id)) = (self.settled, last_job_id(&rows, sequence.run))
                && settled.holds(night, sequence.run, job_id)
            {
                verified.push((sequence.run, sequence.subruns));
                trusted.insert(sequence.run);
                continue;
            }
            let products = match sequence.kind {
                SequenceKind::Calibration => calibration_products(self.config, &self.layout, night, calibration),
                SequenceKind::Data => {
                    let subruns: Vec<u32> = (0..sequence.subruns).collect();
                    data_products(self.config, &self.layout, night, sequence.run, &subruns, calibration)
                }
            };
            let (mut checked, known) = self.verify_once(night, sequence.run, products)?;
            if !simulate {
                self.store_outputs(night, &checked)?;
            }
            checked.extend(known);
            report.verified += checked.len();
            let mut bad: Vec<&Checked> = checked.iter().filter(|c| c.verdict != Verdict::Ok).collect();
            bad.sort_by_key(|c| c.product.subrun);
            report.bad += bad.len();
            if bad.is_empty() {
                if sequence.kind == SequenceKind::Data {
                    verified.push((sequence.run, sequence.subruns));
                }
                continue;
            }
            let mut subruns: Vec<u32> = bad.iter().map(|c| c.product.subrun).collect();
            subruns.dedup();
            let first = bad[0];
            let why = format!(
                "{} is {}{}",
                first.product.path.display(),
                first.verdict.label(),
                first.verdict.detail().map(|d| format!(" ({d})")).unwrap_or_default()
            );
            let decision = if sequence.kind == SequenceKind::Calibration && sequence.last_job_id.is_none() {
                // Files another production made (used as they were): never deleted nor remade here.
                Decision::Veto { reason: format!("the calibration found on disk is not right: {why}; needs a human") }
            } else if sequence.attempts >= self.config.retries.max_tries_per_run {
                Decision::Veto { reason: format!("bad products after {} tries: {why}", sequence.attempts) }
            } else {
                Decision::Resubmit { subruns, time: None, mem_per_cpu: None, clean: true, reason: format!("verification: {why}") }
            };
            self.apply(&plan, sequence, decision, simulate, &rows, &mut report, &mut retried)?;
        }
        if !retried.is_empty() {
            report.status = Status::Retrying { runs: retried };
            return Ok(report);
        }
        // Only once nothing is sent back: it reads every finished task's history file.
        self.check_history(night, &plan, &rows, &mut report)?;
        let job_ids: std::collections::HashMap<u32, String> =
            verified.iter().filter_map(|(run, _)| Some((*run, last_job_id(&rows, *run)?.to_string()))).collect();
        // The subruns' rows are not needed further: the stage plan reads its own.
        drop(rows);
        if simulate {
            report.status = if report.problems.is_empty() || force { Status::Closed } else { Status::NeedsHuman };
            report.decisions.push("simulate: the closing stages would run now, then the night be closed".to_string());
            return Ok(report);
        }
        if self.rerun_since(night, started)? {
            report.decisions.push("an operator asked for a rerun while the closer worked: not closing".to_string());
            report.status = Status::Retrying { runs: Vec::new() };
            return Ok(report);
        }
        // The closing stages and the closing itself are under the night's lock: of closers
        // running at once, one submits, closes and mails; the others wait, then find it done.
        let _lock = self.sequencer.lock_night(night)?;
        if self.db.night(night)?.is_some_and(|n| n.closed) {
            report.status = Status::AlreadyClosed;
            return Ok(report);
        }
        let Some(calibration) = calibration else {
            report.problems.push("no calibration: nothing to close".to_string());
            report.status = Status::NeedsHuman;
            self.db.set_night_state(night, NightState::NeedsHuman)?;
            return Ok(report);
        };
        self.db.set_night_state(night, NightState::Closing)?;
        let to_move: Vec<(u32, u32)> = verified.iter().copied().filter(|(run, _)| !trusted.contains(run)).collect();
        let mut ready = self.finalize_layout(night, calibration, &to_move, &mut report)?;
        if let Some(settled) = self.settled {
            for run in &ready {
                if let Some(job_id) = job_ids.get(run) {
                    settled.remember(night, *run, job_id.clone());
                }
            }
        }
        ready.extend(trusted.iter().copied());
        ready.sort_unstable();
        let settled = plan
            .sequences
            .iter()
            .filter(|s| s.kind == SequenceKind::Data)
            .all(|s| ready.contains(&s.run) || matches!(s.action, Action::Vetoed | Action::Blocked { .. } | Action::Waiting { .. }));
        // The runs as planned: a run whose last subrun was dropped closes without it.
        let mut runs = cycle.summary.as_ref().map(|s| s.runs.clone()).unwrap_or_default();
        for run in &mut runs {
            if let Some(s) = plan.sequences.iter().find(|s| s.run == run.run && s.kind == SequenceKind::Data) {
                run.subruns = s.subruns;
            }
        }
        let (planned, stage_rows) = self.plan_stages(night, &runs, &ready, settled, cycle.snapshot.as_ref())?;
        let progress = self.apply_stages(night, calibration, planned, &stage_rows, &runs, cycle.snapshot.as_ref(), &mut report)?;
        report.stages = progress.planned;
        self.link_datacheck(night, &ready)?;
        if !progress.retried.is_empty() {
            report.status = Status::Retrying { runs: progress.retried };
            return Ok(report);
        }
        // What still runs finishes first: the night's last word (closed, or what needs a
        // human) comes once nothing is in the scheduler's hands.
        if progress.active > 0 {
            report.status = Status::Stages { active: progress.active };
            return Ok(report);
        }
        if !report.problems.is_empty() && !force {
            report.status = Status::NeedsHuman;
            self.db.set_night_state(night, NightState::NeedsHuman)?;
            return Ok(report);
        }
        // `--force` closes what could not be finished (it is audited with the problems).
        if !force && (!settled || !progress.all_done) {
            report.status = Status::Stages { active: progress.active };
            return Ok(report);
        }
        if !trusted.is_empty() && self.settled.is_some_and(|s| s.forget(night)) {
            report.decisions.push("every product is looked at once more before the night closes".to_string());
            report.status = Status::Stages { active: 0 };
            return Ok(report);
        }
        let merged = self.merge_provenance(night, &plan)?;
        report.prov_json = merged.runs.iter().map(|(_, json, _)| json.clone()).collect();
        report.prov_svg = merged.runs.iter().map(|(_, _, svg)| svg.clone()).collect();
        report.night_prov_json = merged.night_json.clone();
        for problem in merged.problems.iter().take(20) {
            report.decisions.push(format!("provenance line skipped: {problem}"));
        }
        if let Some(first) = merged.problems.first() {
            // A skipped line is a record missing from the night's provenance: never closed
            // as complete without a human saying so.
            report.problems.push(format!(
                "{} line(s) of {} could not be read, their records are missing (first: {first})",
                merged.problems.len(),
                self.layout.provenance_log(night).display()
            ));
            if !force {
                report.status = Status::NeedsHuman;
                self.db.set_night_state(night, NightState::NeedsHuman)?;
                return Ok(report);
            }
        }

        if self.rerun_since(night, started)? {
            report.decisions.push("an operator asked for a rerun while the closer worked: not closing".to_string());
            report.status = Status::Retrying { runs: Vec::new() };
            return Ok(report);
        }
        let flag = self.layout.night_finished_flag(night);
        let io = |what: &str| {
            let what = what.to_string();
            move |source| CloserError::Io { night, what, source }
        };
        std::fs::create_dir_all(flag.parent().expect("flag has a folder")).map_err(io("creating the closer folder"))?;
        std::fs::write(&flag, format!("night {night} closed by osa at {}\n", self.now.format("%Y-%m-%d %H:%M:%S UTC")))
            .map_err(io("writing NightFinished"))?;
        self.db.set_night_state(night, NightState::Closed)?;
        if force {
            let actor = crate::account::operator_name();
            self.db.record_audit(
                night,
                None,
                AuditAction::Close,
                &actor,
                &format!("closed with --force; {} problem(s) open", report.problems.len()),
            )?;
        }
        report.status = Status::Closed;
        let retries: Vec<String> = self
            .db
            .audit_of_night(night)?
            .into_iter()
            .filter(|e| e.action == AuditAction::Retry)
            .map(|e| {
                let run = e.run.map(|r| format!("run {r:05}")).unwrap_or_default();
                let stage = if e.stage.is_sequence() { String::new() } else { format!(" {}", e.stage) };
                format!("{} {run}{stage}: {}", e.at.format("%H:%M"), e.reason)
            })
            .collect();
        match mail::send(self.config, &report, &plan, &retries) {
            Ok(sent) => report.mail = sent,
            Err(e) => {
                tracing::warn!(night.date = %night, "closing mail not sent: {e}");
                report.decisions.push(format!("closing mail NOT sent: {e}"));
            }
        }
        Ok(report)
    }

    /// The database is the record: every finished task's history file must have exactly its
    /// rows in the database (a database that refused writes, a file on a full disk). A
    /// disagreement is a problem for a human, never a night closed as complete.
    fn check_history(&self, night: NightDate, plan: &NightPlan, rows: &NightRows, report: &mut Report) -> Result<(), CloserError> {
        let counts = self.db.history_counts(night, |run| rows.rerun_at(run))?;
        let mut disagree = Vec::new();
        for s in plan.sequences.iter().filter(|s| s.action == Action::Done) {
            let tasks: Vec<Option<u32>> = match s.kind {
                SequenceKind::Calibration => vec![None],
                SequenceKind::Data => (0..s.subruns).map(Some).collect(),
            };
            for subrun in tasks {
                let file = self.layout.history_file(night, s.run, subrun);
                let on_disk = std::fs::read_to_string(&file).map(|t| t.lines().filter(|l| !l.trim().is_empty()).count()).unwrap_or(0);
                let in_db = counts.get(&(s.run, subrun.unwrap_or(0))).copied().unwrap_or(0);
                if on_disk != in_db {
                    disagree.push(format!("{} has {on_disk} line(s), the database {in_db} row(s)", file.display()));
                }
            }
        }
        if let Some(first) = disagree.first() {
            report.problems.push(format!(
                "history on disk and in the database disagree for {} task(s) (first: {first}); rerun those runs once the cause is fixed",
                disagree.len()
            ));
        }
        Ok(())
    }

    /// Whether `osa rerun` touched the night since `since` (the closer then leaves it open).
    fn rerun_since(&self, night: NightDate, since: chrono::NaiveDateTime) -> Result<bool, CloserError> {
        Ok(self.db.audit_of_night(night)?.iter().any(|e| e.action == AuditAction::Rerun && e.at >= since))
    }

    /// Failed tasks of a run's last attempt, with their log tails.
    fn failed_tasks(
        &self,
        night: NightDate,
        sequence: &PlannedSequence,
        cause: &FailureCause,
        rows: &NightRows,
        tasks: &[TaskRecord],
    ) -> Vec<FailedTask> {
        let job_id = sequence.last_job_id.clone().unwrap_or_default();
        let attempt = rows
            .current_jobs(sequence.run)
            .find(|j| j.job_id.as_deref() == Some(job_id.as_str()))
            .map(|j| j.intent.attempt)
            .unwrap_or(sequence.last_attempt);
        let (_, error) = log_patterns(sequence.run, sequence.kind);
        let mut failed: Vec<FailedTask> = tasks
            .iter()
            .filter(|t| t.run == sequence.run && t.attempt == attempt && t.state.is_failure())
            .map(|t| {
                let task = (sequence.kind == SequenceKind::Data).then_some(t.subrun);
                let log = self.layout.analysis_dir(night).join(expand_pattern(&error, &job_id, task));
                let mut tail = tail_of(&log);
                if let Ok(history) = self.db.history_of_task(night, sequence.run, &Stage::Sequence, t.subrun) {
                    for row in history.into_iter().filter(|r| r.attempt == attempt) {
                        if let Some(log_tail) = row.log_tail {
                            tail.push('\n');
                            tail.push_str(&log_tail);
                        }
                    }
                }
                FailedTask { subrun: t.subrun, state: Some(t.state), exit_code: t.exit_code, log_tail: tail }
            })
            .collect();
        if failed.is_empty() {
            // No task ran (a refused submission): the whole job goes again.
            let subruns = if sequence.kind == SequenceKind::Data { 0..sequence.subruns.max(1) } else { 0..1 };
            failed.extend(subruns.map(|subrun| FailedTask { subrun, state: cause.task_state(), exit_code: None, log_tail: String::new() }));
        }
        failed
    }

    #[allow(clippy::too_many_arguments)]
    fn apply(
        &self,
        plan: &NightPlan,
        sequence: &PlannedSequence,
        decision: Decision,
        simulate: bool,
        rows: &NightRows,
        report: &mut Report,
        retried: &mut Vec<u32>,
    ) -> Result<(), CloserError> {
        let night = plan.night;
        match decision {
            Decision::Veto { reason } => {
                tracing::warn!(night.date = %night, run.id = sequence.run, "vetoed: {reason}");
                report.decisions.push(format!("run {:05}: vetoed: {reason}", sequence.run));
                report.problems.push(format!("run {:05} vetoed: {reason}", sequence.run));
                if !simulate {
                    self.db.record_audit(night, Some(sequence.run), AuditAction::Veto, "osa", &reason)?;
                }
            }
            Decision::DropLastSubrun { subrun, reason } => {
                tracing::warn!(night.date = %night, run.id = sequence.run, subrun, "subrun dropped: {reason}");
                report.decisions.push(format!("run {:05}: subrun {subrun:04} dropped: {reason}", sequence.run));
                retried.push(sequence.run);
                if !simulate {
                    let why = format!("subrun {subrun:04} dropped: {reason}");
                    self.db.record_subrun_override(night, sequence.run, subrun, "osa", &why)?;
                }
            }
            Decision::DiskFull { subruns } => {
                // A task that keeps failing "disk full" with room on the disk is something else.
                let waits = rows.audit.iter().filter(|e| e.action == AuditAction::DiskFull && e.run == Some(sequence.run)).count() as u32;
                if waits >= self.config.retries.max_tries_per_run {
                    let reason = format!("failed on a full disk {waits} times although room was there: check the data disk");
                    return self.apply(plan, sequence, Decision::Veto { reason }, simulate, rows, report, retried);
                }
                let free = crate::disk::free_bytes(&self.layout.analysis_dir(night)).unwrap_or(0);
                if self.waits_for_room(night, sequence.run, free, self.config.closer.min_free_mib, ", without counting the try", report) {
                    return Ok(());
                }
                if !simulate {
                    self.db.record_audit(
                        night,
                        Some(sequence.run),
                        AuditAction::DiskFull,
                        "osa",
                        "failed on a full disk; room again: not counted as a try",
                    )?;
                }
                let reason = "disk full, room again: resubmitting (not counted as a try)".to_string();
                return self.apply(
                    plan,
                    sequence,
                    Decision::Resubmit { subruns, time: None, mem_per_cpu: None, clean: true, reason },
                    simulate,
                    rows,
                    report,
                    retried,
                );
            }
            Decision::Resubmit { subruns, time, mem_per_cpu, clean, reason } => {
                if !simulate && clean {
                    self.delete_outputs(night, sequence, &subruns, plan);
                }
                // Whatever failed, a job sent onto a full disk fails again (or cannot even be
                // written): wait for room, without counting a try. The bar is the room a
                // subrun's products take, not the room wanted after a disk-full failure.
                let free = crate::disk::free_bytes(&self.layout.analysis_dir(night)).unwrap_or(u64::MAX);
                let floor_mib = self.config.closer.min_free_mib.min(RESUBMIT_FLOOR_MIB);
                if self.waits_for_room(night, sequence.run, free, floor_mib, &format!(" ({reason})"), report) {
                    return Ok(());
                }
                tracing::info!(night.date = %night, run.id = sequence.run, "resubmitting subruns {subruns:?}: {reason}");
                report.decisions.push(format!("run {:05}: resubmit subrun(s) {subruns:?}: {reason}", sequence.run));
                retried.push(sequence.run);
                if simulate {
                    return Ok(());
                }
                // Raised resources stay raised: start from the last attempt's.
                let last = last_intent(rows, sequence);
                let time = time.or_else(|| last.as_ref().map(|i| i.time_limit.clone()));
                let mem_per_cpu = mem_per_cpu.or_else(|| last.as_ref().map(|i| i.mem_per_cpu.clone()));
                let why = format!("subrun(s) {}: {reason}", array_spec(&subruns));
                self.db.record_audit(night, Some(sequence.run), AuditAction::Retry, "osa", &why)?;
                let retry = Resubmission { subruns: Some(subruns), time, mem_per_cpu, resume: false };
                self.sequencer.submit(plan, sequence, sequence.last_attempt + 1, None, &retry)?;
            }
        }
        Ok(())
    }

    /// With less than `wanted_mib` free on the analysis disk, reports the run as waiting for
    /// room (`why` ends the problem line) and says so.
    fn waits_for_room(&self, night: NightDate, run: u32, free: u64, wanted_mib: u64, why: &str, report: &mut Report) -> bool {
        if free >= wanted_mib << 20 {
            return false;
        }
        tracing::warn!(night.date = %night, run.id = run, free, "disk full: waiting for room before resubmitting");
        let dir = self.layout.analysis_dir(night);
        report.problems.push(format!(
            "run {run:05}: disk full on {} ({} MiB free, {wanted_mib} MiB wanted): it goes again once there is room{why}",
            dir.display(),
            free >> 20
        ));
        true
    }

    /// Removes the outputs of subruns about to be redone (lstchain refuses to overwrite).
    fn delete_outputs(&self, night: NightDate, sequence: &PlannedSequence, subruns: &[u32], plan: &NightPlan) {
        let (config, layout) = (self.config, &self.layout);
        let Some(calibration) = plan.calibration.runs(night) else { return };
        let products = match sequence.kind {
            SequenceKind::Calibration => calibration_products(config, layout, night, calibration),
            SequenceKind::Data => data_products(config, layout, night, sequence.run, subruns, calibration),
        };
        for product in products.iter().filter(|p| p.path.exists()) {
            match std::fs::remove_file(&product.path) {
                Ok(()) => tracing::info!(night.date = %night, run.id = sequence.run, "removed {} before the retry", product.path.display()),
                Err(e) => tracing::warn!("cannot remove {}: {e}", product.path.display()),
            }
        }
    }

    /// Verifies the products not verified yet: one found right at an earlier pass (its row
    /// says ok, for the same file, size and modification before the check) is not read again,
    /// so a closer passing every few minutes while the closing stages run costs `stat` calls.
    /// Returns (checked now, known from their rows).
    fn verify_once(&self, night: NightDate, run: u32, products: Vec<verify::Product>) -> Result<(Vec<Checked>, Vec<Checked>), CloserError> {
        let rows: std::collections::HashMap<(u32, String), OutputRecord> =
            self.db.outputs_of_run(night, run)?.into_iter().map(|o| ((o.subrun, o.kind.clone()), o)).collect();
        let mut known = Vec::new();
        let mut fresh = Vec::new();
        for product in products {
            let at = stored_path(&product.path);
            let row = rows.get(&(product.subrun, product.kind.trim_matches(['{', '}']).to_string()));
            let unchanged = row.is_some_and(|row| {
                let meta = std::fs::metadata(&product.path).ok();
                let modified = meta.as_ref().and_then(|m| m.modified().ok()).map(|t| chrono::DateTime::<Utc>::from(t).naive_utc());
                row.verdict == "ok"
                    && row.path == at.display().to_string()
                    && meta.is_some_and(|m| m.len() as i64 == row.size_bytes)
                    && modified.is_some_and(|m| m <= row.verified_at)
            });
            match row {
                Some(row) if unchanged => known.push(Checked {
                    size: row.size_bytes as u64,
                    sha256: row.sha256.clone(),
                    events: row.events.map(|e| e as u64),
                    verdict: Verdict::Ok,
                    product,
                }),
                _ => fresh.push(product),
            }
        }
        Ok((verify(fresh), known))
    }

    fn store_outputs(&self, night: NightDate, checked: &[Checked]) -> Result<(), CloserError> {
        let at = crate::db::now();
        let rows: Vec<OutputRecord> = checked
            .iter()
            .map(|c| OutputRecord {
                night,
                run: c.product.run,
                subrun: c.product.subrun,
                kind: c.product.kind.trim_matches(['{', '}']).to_string(),
                // A product moved to the final layout is recorded where it is, not at its link.
                path: std::fs::read_link(&c.product.path)
                    .ok()
                    .filter(|t| t.is_absolute())
                    .unwrap_or_else(|| c.product.path.clone())
                    .display()
                    .to_string(),
                size_bytes: c.size as i64,
                sha256: c.sha256.clone(),
                events: c.events.map(|e| e as i64),
                verified_at: at,
                verdict: c.verdict.label().to_string(),
                detail: c.verdict.detail(),
            })
            .collect();
        Ok(self.db.upsert_outputs(&rows)?)
    }

    fn merge_provenance(&self, night: NightDate, plan: &NightPlan) -> Result<MergeReport, CloserError> {
        let layout = &self.layout;
        let log = layout.provenance_log(night);
        if !log.exists() {
            return Ok(MergeReport::default());
        }
        let calibration_run = match plan.calibration {
            crate::sequencer::plan::Calibration::Tonight { pedcal_run, .. } => Some(pedcal_run),
            _ => None,
        };
        let options = merge_options(self.config, calibration_run, &self.sequencer.night_rows(night)?);
        Ok(merge_night(night, &log, &layout.provenance_records_dir(night), Some(self.db), &options)?)
    }
}

/// What the provenance merge of a night needs besides its log: its calibration run, the
/// configured DL2 steps and the runs' subrun drops (from the audit log).
pub fn merge_options(config: &Config, calibration_run: Option<u32>, rows: &NightRows) -> MergeOptions {
    MergeOptions {
        calibration_run,
        dl2_steps: config.closer.stages.iter().filter(|s| s.kind == crate::config::StageKind::Dl2).map(|s| s.name.clone()).collect(),
        production: config.analysis.prod_id.clone(),
        subrun_overrides: rows.subrun_overrides().into_iter().filter_map(|(run, e)| Some((run, (e.subruns?, e.in_words())))).collect(),
        descriptions: descriptions(config),
    }
}

/// The ProvDM description layer of every configured step and stage.
fn descriptions(config: &Config) -> crate::db::ProvDescriptions {
    use crate::provenance::StepShape;
    fn step<'a>(kind: &'static str, s: &'a crate::config::StepConfig) -> StepShape<'a> {
        StepShape { name: &s.name, program: &s.program, kind, inputs: &s.inputs, outputs: &s.outputs, config: s.config.is_some() }
    }
    fn stage<'a>(kind: &'static str, s: &'a crate::config::StageConfig) -> StepShape<'a> {
        StepShape { name: &s.name, program: &s.program, kind, inputs: &s.inputs, outputs: &s.outputs, config: s.config.is_some() }
    }
    let analysis = &config.analysis;
    let shapes: Vec<StepShape> = analysis
        .calibration_steps
        .iter()
        .map(|s| step("calibration step", s))
        .chain(analysis.data_steps.iter().map(|s| step("data step", s)))
        .chain(analysis.pre_stages.iter().map(|s| stage("pre-stage", s)))
        .chain(config.closer.stages.iter().map(|s| stage("closing stage", s)))
        .collect();
    crate::provenance::describe(&shapes)
}

/// The run's latest submission that still counts (its walltime and memory are where a retry
/// starts from).
fn last_intent<'r>(rows: &'r NightRows, sequence: &PlannedSequence) -> Option<&'r JobIntent> {
    last_job(rows, sequence.run).map(|j| &j.intent)
}

/// The job id of the run's latest submission that counts.
fn last_job_id(rows: &NightRows, run: u32) -> Option<&str> {
    last_job(rows, run).and_then(|j| j.job_id.as_deref())
}

fn last_job(rows: &NightRows, run: u32) -> Option<&crate::db::JobRecord> {
    rows.current_jobs(run).max_by_key(|j| j.intent.attempt)
}

/// Where a product is recorded: a product moved to the final layout where it is, not at its
/// link.
fn stored_path(path: &std::path::Path) -> PathBuf {
    std::fs::read_link(path).ok().filter(|t| t.is_absolute()).unwrap_or_else(|| path.to_path_buf())
}

/// The last 40 lines of a log (read from its last 64 KiB, any bytes).
pub(crate) fn tail_of(path: &std::path::Path) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = std::fs::File::open(path) else { return String::new() };
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(size.saturating_sub(64 * 1024)));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
