//! The closing stages, applied: verified runs' products moved to the final layout
//! ([`super::moves`]), the stage plan ([`super::stages`]) submitted through the executor
//! like any job (intent first, exactly once), failed stages through the known-failure table,
//! finished stages' outputs verified, and the data-check links the web pages read.
//! The closer never runs an analysis program itself: every stage is a job.

use std::collections::HashMap;
use std::path::PathBuf;

use super::failures::{self, Decision, FailedTask};
use super::moves::{Moved, final_place, move_product};
use super::stages::{PlannedStage, StageInput, plan_stages};
use super::verify::{self, Checked, Product, Verdict};
use super::{Closer, CloserError, Report, tail_of};
use crate::config::{StageConfig, StageKind};
use crate::db::{JobIntent, OutputRecord};
use crate::executor::{JobSpec, Snapshot, comment_key, expand_pattern};
use crate::model::{AuditAction, CalibrationRuns, NIGHT_WIDE, Stage};
use crate::night::NightDate;
use crate::sequencer::known::{NightRows, known_state_of};
use crate::sequencer::plan::{Action, KnownState};
use crate::sequencer::script::{StageScriptInput, stage_job_name, stage_log_patterns, stage_script};
use crate::sequencer::submit::{Cycle, Submission};
use crate::steps::stage_context;
use crate::summary::Run;

/// Where the closing stages stand after one pass.
#[derive(Debug, Default)]
pub struct StagesProgress {
    /// Stage jobs queued or running (or submitted now).
    pub active: usize,
    /// Runs (0: the night) with a stage sent back this pass.
    pub retried: Vec<u32>,
    /// Every planned stage is done and its outputs verified.
    pub all_done: bool,
    pub planned: Vec<PlannedStage>,
}

/// How a stage's retry differs from its first submission.
#[derive(Default)]
struct StageRetry {
    time: Option<String>,
    mem_per_cpu: Option<String>,
    resume: bool,
}

impl Closer<'_> {
    /// Moves the products of verified runs to the final layout; returns the runs whose
    /// products are all in place. A product that cannot move is a problem for a human.
    /// One run at a time (its products and their verified rows), so memory holds one run.
    pub(super) fn finalize_layout(
        &self,
        night: NightDate,
        calibration: CalibrationRuns,
        verified: &[(u32, u32)],
        report: &mut Report,
    ) -> Result<Vec<u32>, CloserError> {
        let mut ready = Vec::new();
        for (run, subruns) in verified {
            let rows: HashMap<(u32, String), OutputRecord> =
                self.db.outputs_of_run(night, *run)?.into_iter().map(|o| ((o.subrun, o.kind.clone()), o)).collect();
            let subruns: Vec<u32> = (0..*subruns).collect();
            let mut moved_rows = Vec::new();
            let mut moved = 0;
            let mut failed = None;
            for product in verify::data_products(self.config, &self.layout, night, *run, &subruns, calibration) {
                let Some(to) = final_place(&self.layout, night, &product.kind, product.run, product.subrun) else { continue };
                let Some(row) = rows.get(&(product.subrun, product.kind.trim_matches(['{', '}']).to_string())) else {
                    failed.get_or_insert(format!("{} has no verified row", product.path.display()));
                    continue;
                };
                match move_product(&product.path, &to) {
                    Ok(outcome) => {
                        if let Moved::Replaced { old_sha256 } = &outcome {
                            report.decisions.push(format!(
                                "{} replaced an older version (sha256 {old_sha256}) at {}",
                                product.path.display(),
                                to.display()
                            ));
                        }
                        if outcome != Moved::AlreadyThere {
                            moved += 1;
                            let record = OutputRecord { path: to.display().to_string(), ..row.clone() };
                            moved_rows.push((product.path.clone(), record));
                            crate::sequencer::submit::crash_point("mid-moves");
                        }
                    }
                    Err(e) => {
                        failed.get_or_insert(e.to_string());
                    }
                }
            }
            if !moved_rows.is_empty() {
                self.db.upsert_outputs(&moved_rows.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>())?;
                self.record_moves(night, *run, &moved_rows)?;
            }
            if moved > 0 {
                tracing::info!(night.date = %night, run.id = run, "{moved} product(s) moved to the final layout");
                report.decisions.push(format!("run {run:05}: {moved} product(s) moved to the final layout"));
            }
            match failed {
                Some(why) => report.problems.push(format!("run {run:05}: products not moved to the final layout: {why}")),
                None => ready.push(*run),
            }
        }
        Ok(ready)
    }

    /// A move in provenance: the entity keeps its hash and gets its new location.
    fn record_moves(&self, night: NightDate, run: u32, rows: &[(PathBuf, OutputRecord)]) -> Result<(), CloserError> {
        let prov = crate::provenance::ProvWriter::new(self.layout.provenance_log(night));
        let records: Vec<_> = rows
            .iter()
            .map(|(old, r)| {
                crate::provenance::record(vec![
                    ("moved_from", serde_json::json!(old.display().to_string())),
                    ("filepath", serde_json::json!(r.path)),
                    ("hash", serde_json::json!(r.sha256)),
                    ("hash_type", serde_json::json!("sha256")),
                    ("session_tag", serde_json::json!(format!("move:{run:05}"))),
                ])
            })
            .collect();
        prov.append(&records).map_err(|source| CloserError::Io { night, what: format!("writing {}", prov.path().display()), source })
    }

    /// The DATA runs' pre-stages (`analysis.pre_stages`) after a sequencer cycle: planned for
    /// the runs whose first part is done, then submitted, retried through the known-failure
    /// table and their outputs verified like the closing stages, with the cycle's poll. The
    /// daemon runs it at every poll, `osa sequencer` and the closer after their cycle; the
    /// sequencer's next cycle submits the second part of the runs whose pre-stages are done.
    /// Returns what it decided and what needs a human, and the pre-stages as planned.
    pub fn pre_stages(&self, night: NightDate, cycle: &Cycle) -> Result<Report, CloserError> {
        let mut report = Report::new(night);
        let (Some(plan), Some(summary)) = (&cycle.plan, &cycle.summary) else { return Ok(report) };
        let Some(calibration) = plan.calibration.runs(night) else { return Ok(report) };
        let ready: Vec<u32> = plan.sequences.iter().filter(|s| s.first_part_done).map(|s| s.run).collect();
        if ready.is_empty() {
            return Ok(report);
        }
        let _lock = self.sequencer.lock_night(night)?;
        let snapshot = cycle.snapshot.as_ref();
        let rows = self.sequencer.night_rows(night)?;
        let stages: Vec<&StageConfig> = self.config.analysis.active_pre_stages().collect();
        let known: HashMap<String, KnownState> =
            stages.iter().map(|s| (s.name.clone(), known_state_of(&rows, snapshot, &Stage::closing(&s.name)))).collect();
        let planned = plan_stages(&StageInput {
            stages,
            ready: &ready,
            night_settled: false,
            known: &known,
            rf_models: &HashMap::new(),
            max_tries: self.config.retries.max_tries_per_run,
        });
        let progress = self.apply_stages(night, calibration, planned, &rows, &summary.runs, snapshot, &mut report)?;
        report.stages = progress.planned;
        Ok(report)
    }

    /// The stage plan of the night, from fresh rows and this pass's poll.
    pub(super) fn plan_stages(
        &self,
        night: NightDate,
        runs: &[Run],
        ready: &[u32],
        settled: bool,
        snapshot: Option<&Snapshot>,
    ) -> Result<(Vec<PlannedStage>, NightRows), CloserError> {
        let rows = self.sequencer.night_rows(night)?;
        let stages: Vec<&StageConfig> = self.config.closer.active_stages().collect();
        let known: HashMap<String, KnownState> =
            stages.iter().map(|s| (s.name.clone(), known_state_of(&rows, snapshot, &Stage::closing(&s.name)))).collect();
        let mut rf_models = HashMap::new();
        if stages.iter().any(|s| s.kind == StageKind::Dl2) {
            for run in ready {
                let dec = runs.iter().find(|r| r.run == *run).and_then(|r| r.source_dec);
                rf_models.insert(*run, self.rf_models(*run, dec));
            }
        }
        let planned = plan_stages(&StageInput {
            stages,
            ready,
            night_settled: settled,
            known: &known,
            rf_models: &rf_models,
            max_tries: self.config.retries.max_tries_per_run,
        });
        Ok((planned, rows))
    }

    fn rf_models(&self, run: u32, dec: Option<f64>) -> Result<PathBuf, String> {
        let layout = &self.layout;
        crate::rf_models::read_conditions(layout.tailcuts_finder_dir(), run, dec)
            .and_then(|c| crate::rf_models::find(layout.rf_models_dir(), layout.mc_prod(), self.config.analysis.site_latitude, &c))
            .map_err(|e| format!("no RF models for run {run:05}: {e}"))
    }

    /// Submits, retries, verifies: one pass over the stage plan.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn apply_stages(
        &self,
        night: NightDate,
        calibration: CalibrationRuns,
        planned: Vec<PlannedStage>,
        rows: &NightRows,
        runs: &[Run],
        snapshot: Option<&Snapshot>,
        report: &mut Report,
    ) -> Result<StagesProgress, CloserError> {
        let mut progress = StagesProgress { all_done: true, ..StagesProgress::default() };
        let mut job_ids: HashMap<(u32, String), String> = HashMap::new();
        for s in &planned {
            let Some(config) = self.config.stage(&s.stage) else { continue };
            let key = (s.run, s.stage.clone());
            let what = stage_label(s);
            if s.action != Action::Done {
                progress.all_done = false;
            }
            match &s.action {
                Action::Submitted { job_id } => {
                    job_ids.insert(key, job_id.clone());
                    progress.active += 1;
                }
                Action::Reconcile { .. } if snapshot.is_none() => progress.active += 1,
                Action::Submit { attempt, after_parent } | Action::Reconcile { attempt, after_parent } => {
                    let mut after = Vec::new();
                    if *after_parent {
                        // Parents in the scheduler's hands: their job ids. One without an id
                        // yet (an interrupted submission) holds the child until next time.
                        let pending: Vec<&(u32, String)> = s.needs.iter().filter(|n| !self.stage_done(&planned, n)).collect();
                        after = pending.iter().filter_map(|n| job_ids.get(*n).cloned()).collect();
                        if after.len() < pending.len() {
                            progress.active += 1;
                            continue;
                        }
                    }
                    let retry = match s.action {
                        Action::Reconcile { .. } => {
                            match rows.current_jobs_of(s.run, &Stage::closing(&s.stage)).find(|j| j.intent.attempt == *attempt) {
                                Some(job) => StageRetry {
                                    time: Some(job.intent.time_limit.clone()),
                                    mem_per_cpu: Some(job.intent.mem_per_cpu.clone()),
                                    resume: true,
                                },
                                None => StageRetry { resume: true, ..StageRetry::default() },
                            }
                        }
                        _ => StageRetry::default(),
                    };
                    if let Some(job_id) = self.submit_stage(night, calibration, config, s, *attempt, after, retry)? {
                        report.decisions.push(format!("{what}: submitted as job {job_id}"));
                        job_ids.insert(key, job_id);
                    }
                    progress.active += 1;
                }
                Action::Failed { cause } => {
                    let failed = self.failed_stage(night, s, rows, cause);
                    let last = rows.current_jobs_of(s.run, &Stage::closing(&s.stage)).max_by_key(|j| j.intent.attempt).map(|j| j.intent.clone());
                    let time = last.as_ref().map(|i| i.time_limit.clone()).unwrap_or_else(|| self.stage_time(config));
                    let decision = failures::decide(&self.config.retries, &failed, s.attempts, &time, None);
                    self.apply_stage_decision(night, calibration, config, s, decision, last.as_ref(), report, &mut progress)?;
                }
                Action::Vetoed => {
                    let why = rows.veto_reason(s.run, &Stage::closing(&s.stage)).map(|r| format!(": {r}")).unwrap_or_default();
                    report
                        .problems
                        .push(format!("{what} is vetoed{why} (`osa veto lift --date {night} --run {} --stage {}` to retry it)", s.run, s.stage))
                }
                // Input gates hold run sequences only; a stage never waits on disk.
                Action::Waiting { missing } | Action::PreStages { pending: missing } => {
                    report.problems.push(format!("{what} is waiting for {missing}"))
                }
                Action::Blocked { reason } => {
                    let why = s.blocked_why.as_deref().map(|w| format!(" ({w})")).unwrap_or_default();
                    report.problems.push(format!("{what} is blocked: {reason}{why}"));
                    self.cancel_blocked_stage(night, s, snapshot)?;
                }
                Action::Done => {
                    let submitted = rows.current_jobs_of(s.run, &Stage::closing(&s.stage)).filter_map(|j| j.submitted_at).max();
                    if let Some(decision) = self.verify_stage(night, calibration, config, s, runs, submitted)? {
                        let last = rows.current_jobs_of(s.run, &Stage::closing(&s.stage)).max_by_key(|j| j.intent.attempt).map(|j| j.intent.clone());
                        progress.all_done = false;
                        self.apply_stage_decision(night, calibration, config, s, decision, last.as_ref(), report, &mut progress)?;
                    }
                }
            }
        }
        progress.planned = planned;
        Ok(progress)
    }

    fn stage_done(&self, planned: &[PlannedStage], need: &(u32, String)) -> bool {
        planned.iter().any(|p| p.run == need.0 && p.stage == need.1 && p.action == Action::Done)
    }

    fn stage_time(&self, config: &StageConfig) -> String {
        config.time.clone().unwrap_or_else(|| self.config.slurm.data.time.clone())
    }

    #[allow(clippy::too_many_arguments)]
    fn apply_stage_decision(
        &self,
        night: NightDate,
        calibration: CalibrationRuns,
        config: &StageConfig,
        s: &PlannedStage,
        decision: Decision,
        last: Option<&JobIntent>,
        report: &mut Report,
        progress: &mut StagesProgress,
    ) -> Result<(), CloserError> {
        let what = stage_label(s);
        match decision {
            // A stage has no subruns to drop (`decide` is given none): a veto either way.
            Decision::Veto { reason } | Decision::DropLastSubrun { reason, .. } => {
                tracing::warn!(night.date = %night, run.id = s.run, stage = %s.stage, "vetoed: {reason}");
                report.decisions.push(format!("{what}: vetoed: {reason}"));
                report.problems.push(format!("{what} vetoed: {reason}"));
                self.db.record_stage_audit(night, Some(s.run), &Stage::closing(&s.stage), AuditAction::Veto, "osa", &reason)?;
            }
            Decision::DiskFull { .. } => {
                let dir = self.layout.analysis_dir(night);
                let free = crate::disk::free_bytes(&dir).unwrap_or(0);
                if free < self.config.closer.min_free_mib << 20 {
                    report.problems.push(format!(
                        "{what}: disk full on {} ({} MiB free): it goes again once there is room",
                        dir.display(),
                        free >> 20
                    ));
                    return Ok(());
                }
                self.resubmit_stage(night, calibration, config, s, None, None, last, "disk full, room again", report, progress)?;
            }
            Decision::Resubmit { time, mem_per_cpu, reason, .. } => {
                self.resubmit_stage(night, calibration, config, s, time, mem_per_cpu, last, &reason, report, progress)?;
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn resubmit_stage(
        &self,
        night: NightDate,
        calibration: CalibrationRuns,
        config: &StageConfig,
        s: &PlannedStage,
        time: Option<String>,
        mem_per_cpu: Option<String>,
        last: Option<&JobIntent>,
        reason: &str,
        report: &mut Report,
        progress: &mut StagesProgress,
    ) -> Result<(), CloserError> {
        tracing::info!(night.date = %night, run.id = s.run, stage = %s.stage, "resubmitting: {reason}");
        report.decisions.push(format!("{}: resubmitted: {reason}", stage_label(s)));
        progress.retried.push(s.run);
        self.db.record_stage_audit(night, Some(s.run), &Stage::closing(&s.stage), AuditAction::Retry, "osa", reason)?;
        // lstchain refuses to overwrite: what the failed try left goes first.
        let context = stage_context(self.config, &self.layout, night, s.run, calibration, s.rf_models.as_deref());
        // A file another stage makes and this one updates in place (the transparency's
        // long-term file) is kept.
        let made_by_others = |template: &String| self.config.closer.stages.iter().any(|o| o.name != config.name && o.outputs.contains(template));
        for output in config.outputs.iter().filter(|o| !made_by_others(o)).map(|o| PathBuf::from(context.render(o))) {
            if output.exists() {
                if let Err(e) = std::fs::remove_file(&output) {
                    tracing::warn!("cannot remove {} before the retry: {e}", output.display());
                }
            }
        }
        // Raised resources stay raised: start from the last attempt's.
        let retry = StageRetry {
            time: time.or_else(|| last.map(|i| i.time_limit.clone())),
            mem_per_cpu: mem_per_cpu.or_else(|| last.map(|i| i.mem_per_cpu.clone())),
            resume: false,
        };
        self.submit_stage(night, calibration, config, s, s.last_attempt + 1, Vec::new(), retry)?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn submit_stage(
        &self,
        night: NightDate,
        calibration: CalibrationRuns,
        config: &StageConfig,
        s: &PlannedStage,
        attempt: u32,
        after: Vec<String>,
        retry: StageRetry,
    ) -> Result<Option<String>, CloserError> {
        let run = s.run;
        let layout = &self.layout;
        let workdir = layout.contain(&layout.analysis_dir(night)).map_err(crate::sequencer::submit::SequencerError::from)?;
        let script =
            layout.contain(&layout.stage_script(night, run, &config.name, attempt)).map_err(crate::sequencer::submit::SequencerError::from)?;
        let data = &self.config.slurm.data;
        let time = retry.time.unwrap_or_else(|| self.stage_time(config));
        let mem_per_cpu = retry.mem_per_cpu.unwrap_or_else(|| config.mem_per_cpu.clone().unwrap_or_else(|| data.mem_per_cpu.clone()));
        let partition = config.partition.clone().unwrap_or_else(|| data.partition.clone());
        let job_name = stage_job_name(run, &config.name);
        let text = stage_script(
            self.config,
            &StageScriptInput {
                night,
                run,
                stage: &config.name,
                attempt,
                partition: &partition,
                time: &time,
                mem_per_cpu: &mem_per_cpu,
                job_name: &job_name,
                workdir: &workdir,
                calibration,
                rf_models: s.rf_models.as_deref(),
                osa: &self.sequencer.osa,
            },
        );
        let stage = Stage::closing(&config.name);
        let comment = comment_key(&self.config.analysis.prod_id, night, run, &stage, attempt);
        let intent = JobIntent {
            night,
            run,
            stage,
            attempt,
            executor: self.sequencer.executor.kind(),
            job_name: job_name.clone(),
            comment_key: comment.clone(),
            array_range: "0".to_string(),
            partition,
            account: self.config.slurm.account.clone(),
            mem_per_cpu,
            time_limit: time.clone(),
            script_path: script.display().to_string(),
            stops_before: None,
        };
        let (output, error) = stage_log_patterns(run, &config.name);
        let spec = JobSpec {
            name: job_name,
            comment,
            script,
            workdir,
            array: None,
            time_limit_seconds: crate::config::slurm_time_seconds(&time),
            after,
            output,
            error,
        };
        Ok(self.sequencer.submit_once(Submission { intent, spec, script_text: text, resume: retry.resume })?)
    }

    /// The failed task of a stage's last attempt, with its log tail.
    fn failed_stage(&self, night: NightDate, s: &PlannedStage, rows: &NightRows, cause: &crate::model::FailureCause) -> Vec<FailedTask> {
        let stage = Stage::closing(&s.stage);
        let job_id = s.last_job_id.clone().unwrap_or_default();
        let attempt = rows
            .current_jobs_of(s.run, &stage)
            .find(|j| j.job_id.as_deref() == Some(job_id.as_str()))
            .map(|j| j.intent.attempt)
            .unwrap_or(s.last_attempt);
        let (_, error) = stage_log_patterns(s.run, &s.stage);
        let mut tail = tail_of(&self.layout.analysis_dir(night).join(expand_pattern(&error, &job_id, None)));
        if let Ok(history) = self.db.history_of_task(night, s.run, &stage, 0) {
            for row in history.into_iter().filter(|r| r.attempt == attempt) {
                if let Some(log_tail) = row.log_tail {
                    tail.push('\n');
                    tail.push_str(&log_tail);
                }
            }
        }
        let task = rows.tallies_of(s.run, &stage, attempt).find(|t| t.state.is_failure());
        vec![FailedTask {
            subrun: 0,
            state: task.map(|t| t.state).or_else(|| cause.task_state()),
            exit_code: task.and_then(|t| t.exit_code),
            log_tail: tail,
        }]
    }

    fn cancel_blocked_stage(&self, night: NightDate, s: &PlannedStage, snapshot: Option<&Snapshot>) -> Result<(), CloserError> {
        let (Some(snapshot), Some(job_id)) = (snapshot, &s.last_job_id) else { return Ok(()) };
        if !snapshot.tasks_of(job_id).any(|t| !t.state.is_finished()) {
            return Ok(());
        }
        tracing::warn!(night.date = %night, run.id = s.run, stage = %s.stage, job.id = %job_id, "a stage it waits for failed: cancelling the job left pending");
        if let Err(e) = self.sequencer.executor.cancel(job_id) {
            tracing::warn!(night.date = %night, run.id = s.run, job.id = %job_id, "cannot cancel: {e}");
        }
        Ok(())
    }

    /// Verifies a finished stage's outputs (once: a row verified since the stage's last
    /// submission, with the same size, is not read again); returns what to do if they are
    /// not right.
    fn verify_stage(
        &self,
        night: NightDate,
        calibration: CalibrationRuns,
        config: &StageConfig,
        s: &PlannedStage,
        runs: &[Run],
        submitted: Option<chrono::NaiveDateTime>,
    ) -> Result<Option<Decision>, CloserError> {
        let context = stage_context(self.config, &self.layout, night, s.run, calibration, s.rf_models.as_deref());
        let kinds: Vec<String> = config.outputs.iter().map(|t| t.trim_matches(['{', '}']).to_string()).collect();
        let known: HashMap<String, OutputRecord> = self.db.outputs_of_kinds(night, s.run, &kinds)?.into_iter().map(|o| (o.kind.clone(), o)).collect();
        let subruns = runs.iter().find(|r| r.run == s.run).map(|r| r.subruns).unwrap_or(0);
        let products: Vec<Product> = config
            .outputs
            .iter()
            .map(|template| {
                let r0_files = if template == "{dl1_run_file}" {
                    (0..subruns).map(|sub| self.layout.r0_file(night, 1, s.run, sub)).collect()
                } else {
                    Vec::new()
                };
                Product { run: s.run, subrun: 0, kind: template.clone(), path: PathBuf::from(context.render(template)), r0_files }
            })
            .filter(|p| {
                let kind = p.kind.trim_matches(['{', '}']);
                let size = std::fs::metadata(&p.path).map(|m| m.len() as i64).ok();
                !known.get(kind).is_some_and(|o| {
                    o.verdict == "ok"
                        && Some(o.size_bytes) == size
                        && o.path == p.path.display().to_string()
                        && submitted.is_none_or(|at| o.verified_at >= at)
                })
            })
            .collect();
        if products.is_empty() {
            return Ok(None);
        }
        let checked = verify::verify(products);
        let at = crate::db::now();
        let rows: Vec<OutputRecord> = checked.iter().map(|c| OutputRecord { verified_at: at, ..output_record(night, c, &c.product.path) }).collect();
        self.db.upsert_outputs(&rows)?;
        let Some(bad) = checked.iter().find(|c| c.verdict != Verdict::Ok) else { return Ok(None) };
        let why = format!(
            "{} is {}{}",
            bad.product.path.display(),
            bad.verdict.label(),
            bad.verdict.detail().map(|d| format!(" ({d})")).unwrap_or_default()
        );
        Ok(Some(if s.attempts >= self.config.retries.max_tries_per_run {
            Decision::Veto { reason: format!("bad output after {} tries: {why}", s.attempts) }
        } else {
            Decision::Resubmit { subruns: vec![0], time: None, mem_per_cpu: None, clean: true, reason: format!("verification: {why}") }
        }))
    }

    /// The data-check web folder: links to each run's data-check PDF and HDF5, the muon
    /// files, and the night's long-term check (LSTOSA's closer makes the same links).
    pub(super) fn link_datacheck(&self, night: NightDate, ready: &[u32]) -> Result<(), CloserError> {
        let web = self.layout.datacheck_web_dir(night);
        let io = |what: String| move |source| CloserError::Io { night, what, source };
        let mut links: Vec<(PathBuf, PathBuf)> = Vec::new();
        for run in ready {
            for file in
                [self.layout.datacheck_run_file(night, *run), self.layout.datacheck_run_pdf(night, *run), self.layout.muons_run_file(night, *run)]
            {
                let dir = if file.extension().is_some_and(|e| e == "fits") { web.join("muons") } else { web.clone() };
                links.push((file, dir));
            }
        }
        let longterm = self.layout.longterm_file(night);
        for file in [longterm.clone(), longterm.with_extension("log"), longterm.with_extension("html")] {
            // `datacheck_files/night_wise/DL1_datacheck_N.*`, as LSTOSA links the newest version.
            links.push((file, web.parent().map(|p| p.join("night_wise")).unwrap_or_else(|| web.join("night_wise"))));
        }
        for (file, dir) in links.into_iter().filter(|(f, _)| f.exists()) {
            let link = dir.join(file.file_name().expect("product files have names"));
            if std::fs::read_link(&link).is_ok_and(|t| t == file) {
                continue;
            }
            std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
            if std::fs::symlink_metadata(&link).is_ok() {
                std::fs::remove_file(&link).map_err(io(format!("replacing {}", link.display())))?;
            }
            std::os::unix::fs::symlink(&file, &link).map_err(io(format!("linking {}", link.display())))?;
        }
        Ok(())
    }
}

fn stage_label(s: &PlannedStage) -> String {
    if s.run == NIGHT_WIDE { format!("night stage {}", s.stage) } else { format!("run {:05} stage {}", s.run, s.stage) }
}

fn output_record(night: NightDate, c: &Checked, path: &std::path::Path) -> OutputRecord {
    OutputRecord {
        night,
        run: c.product.run,
        subrun: c.product.subrun,
        kind: c.product.kind.trim_matches(['{', '}']).to_string(),
        path: path.display().to_string(),
        size_bytes: c.size as i64,
        sha256: c.sha256.clone(),
        events: c.events.map(|e| e as i64),
        verified_at: crate::db::now(),
        verdict: c.verdict.label().to_string(),
        detail: c.verdict.detail(),
    }
}
