//! The job runner: what one array task executes (`osa job subrun`, `osa job calibration`),
//! and what a closing stage's job executes (`osa job stage`). It runs the configured steps in
//! order (steps are data: `analysis.data_steps`, `analysis.calibration_steps`, one stage of
//! `closer.stages`) with their `{placeholder}`s filled, and for each step:
//! - skips it if the history (file, and the database when reachable) shows it done with the
//!   same program, prod_id, input and config, and its outputs exist: a resubmitted task
//!   resumes where it failed;
//! - otherwise tries it up to `retries.tries_per_step` times (a closing stage: once),
//!   removing its partial outputs before each retry; every try writes a history line (file + database, with the tail of a
//!   failed try's stdout/stderr) and its provenance records (failed tries included).
//!
//! Exit codes of a task (the closer reads them):
//! - 0: every step done (or already done);
//! - 1: osa itself could not run the task (bad config, unwritable history or provenance);
//! - 2: bad command line;
//! - 6: the disk is full (a step said so, or no room is left, or a history or provenance
//!   write was refused): the closer resubmits once there is room, without counting the try
//!   (a code of its own: osa's command-line codes 3-5 mean other things);
//! - 10 + N: step N (0-based, config order) failed all its tries; with the default data
//!   steps 10 = r0_to_dl1, 11 = dl1ab, 12 = check_dl1; calibration 10 = drs4_baseline,
//!   11 = charge_calibration.

pub mod history;

use std::path::{Path, PathBuf};

use chrono::{NaiveDateTime, SubsecRound, Utc};
use serde_json::{Value, json};

use crate::config::{Config, StepConfig};
use crate::db::{Db, HistoryRecord};
use crate::hashing::sha256_file;
use crate::model::CalibrationRuns;
use crate::model::{NIGHT_WIDE, Stage};
use crate::night::NightDate;
use crate::paths::Layout;
use crate::program::{resolve_program, run_program};
use crate::provenance::{ProvRecord, ProvWriter, activity_id, entity_id, record};
use crate::steps::{StepContext, calibration_context, stage_context, subrun_context};

/// A line to the task's log (its stderr). Never `eprintln!`: it panics when the log cannot be
/// written, and a full disk must end the task with its own exit code, not a panic.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
pub(crate) use say;

/// Exit code of a task that stopped on a full disk (`model::TASK_DISK_FULL`).
pub use crate::model::TASK_DISK_FULL;

/// Exit code of a task whose step N failed: `STEP_FAILED + N`.
pub const STEP_FAILED: i32 = 10;

/// What a task is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskKind {
    Calibration,
    Subrun {
        run: u32,
        subrun: u32,
        /// The run's first part (before its pre-stages): the data step it stops before.
        stop_before: Option<String>,
    },
    /// A closing stage of a run (or of the night: run [`crate::model::NIGHT_WIDE`]), with the
    /// RF models its DL2 uses where it has any.
    Stage {
        run: u32,
        stage: String,
        rf_models: Option<PathBuf>,
    },
}

/// One task to run.
pub struct Task<'a> {
    pub config: &'a Config,
    pub layout: &'a Layout,
    pub night: NightDate,
    pub kind: TaskKind,
    pub attempt: u32,
    pub calibration: CalibrationRuns,
}

impl Task<'_> {
    fn run(&self) -> u32 {
        match self.kind {
            TaskKind::Calibration => self.calibration.pedcal_run,
            TaskKind::Subrun { run, .. } | TaskKind::Stage { run, .. } => run,
        }
    }

    fn subrun(&self) -> u32 {
        match self.kind {
            TaskKind::Calibration | TaskKind::Stage { .. } => 0,
            TaskKind::Subrun { subrun, .. } => subrun,
        }
    }

    fn stage(&self) -> Stage {
        match &self.kind {
            TaskKind::Stage { stage, .. } => Stage::closing(stage),
            _ => Stage::Sequence,
        }
    }

    /// `RRRRR.SSSS`, the calibration's `NNNNN`, or a stage's `RRRRR` (`night`), as history
    /// lines name the task.
    fn history_tag(&self) -> String {
        match self.kind {
            TaskKind::Calibration => format!("{:05}", self.calibration.pedcal_run),
            TaskKind::Subrun { run, subrun, .. } => crate::paths::run_subrun(run, subrun),
            TaskKind::Stage { run: NIGHT_WIDE, .. } => "night".to_string(),
            TaskKind::Stage { run, .. } => format!("{run:05}"),
        }
    }

    fn history_file(&self) -> PathBuf {
        match &self.kind {
            TaskKind::Calibration => self.layout.history_file(self.night, self.calibration.pedcal_run, None),
            TaskKind::Subrun { run, subrun, .. } => self.layout.history_file(self.night, *run, Some(*subrun)),
            TaskKind::Stage { run, stage, .. } => self.layout.stage_history_file(self.night, *run, stage),
        }
    }

    fn steps(&self) -> Vec<StepConfig> {
        match &self.kind {
            TaskKind::Calibration => self.config.analysis.calibration_steps.clone(),
            TaskKind::Subrun { stop_before, .. } => {
                self.config.analysis.data_steps.iter().take_while(|s| Some(&s.name) != stop_before.as_ref()).cloned().collect()
            }
            TaskKind::Stage { stage, .. } => self.config.stage(stage).map(|s| s.step()).into_iter().collect(),
        }
    }

    pub fn context(&self) -> StepContext {
        match &self.kind {
            TaskKind::Calibration => calibration_context(self.config, self.layout, self.night, self.calibration),
            TaskKind::Subrun { run, subrun, .. } => subrun_context(self.config, self.layout, self.night, *run, *subrun, self.calibration),
            TaskKind::Stage { run, rf_models, .. } => {
                stage_context(self.config, self.layout, self.night, *run, self.calibration, rf_models.as_deref())
            }
        }
    }
}

/// A step's input templates filled: a template with `*` or `?` names every file it matches
/// (sorted), any other one file.
fn expand_inputs(context: &StepContext, templates: &[String]) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for template in templates {
        let path = context.render(template);
        if path.contains(['*', '?']) {
            let mut matches: Vec<PathBuf> = glob::glob(&path).map(|paths| paths.filter_map(Result::ok).collect()).unwrap_or_default();
            matches.sort();
            out.extend(matches.into_iter().map(|p| (template.clone(), p)));
        } else {
            out.push((template.clone(), PathBuf::from(path)));
        }
    }
    out
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("night {night} {task}: cannot write history {path}: {source}")]
    History { night: NightDate, task: String, path: PathBuf, source: std::io::Error },
    #[error("night {night} {task}: history row not stored in the database: {source}")]
    HistoryDb { night: NightDate, task: String, source: crate::db::DbError },
    #[error("night {night} {task}: cannot write provenance {path}: {source}")]
    Provenance { night: NightDate, task: String, path: PathBuf, source: std::io::Error },
}

/// How one step ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepOutcome {
    /// Already done with the same input and config.
    Skipped,
    Done {
        tries: u32,
    },
    Failed {
        tries: u32,
        return_code: i32,
    },
}

impl JobError {
    /// Whether this is the disk being full (a history or provenance write refused for lack
    /// of room).
    pub fn is_disk_full(&self) -> bool {
        match self {
            Self::History { source, .. } | Self::Provenance { source, .. } => source.kind() == std::io::ErrorKind::StorageFull,
            Self::HistoryDb { .. } => false,
        }
    }
}

impl std::fmt::Display for StepOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Skipped => f.write_str("already done, skipped"),
            Self::Done { tries } => write!(f, "done (try {tries})"),
            Self::Failed { tries, return_code } => write!(f, "failed after {tries} tries (exit {return_code})"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskReport {
    pub exit_code: i32,
    pub steps: Vec<(String, StepOutcome)>,
}

/// Entity names LSTOSA gives the files our default templates name.
fn content_type(path: &Path) -> &'static str {
    let name = path.to_string_lossy();
    if name.ends_with(".h5") {
        "application/x-hdf"
    } else if name.ends_with(".fits") || name.ends_with(".fits.fz") {
        "application/fits"
    } else if name.ends_with(".json") {
        "application/json"
    } else if name.ends_with(".pdf") {
        "application/pdf"
    } else {
        "application/octet-stream"
    }
}

fn now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(6)
}

fn iso(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

/// Runs a task's steps. `db`: where history rows go too; `None` when unreachable (the
/// history file alone then decides what is done).
pub fn run_task(task: &Task, mut db: Option<&Db>) -> Result<TaskReport, JobError> {
    let context = task.context();
    let workdir = task.layout.analysis_dir(task.night);
    let tag = task.history_tag();
    let what = format!("task {tag}");
    let history_path = task.history_file();
    let history_error = |source| JobError::History { night: task.night, task: what.clone(), path: history_path.clone(), source };
    let (past, problems) = history::read(&history_path).map_err(history_error)?;
    for (line, problem) in problems {
        tracing::warn!("{}:{line}: {problem}; line ignored", history_path.display());
    }
    // History from before an `osa rerun` of the night (or run) no longer counts as done.
    let rerun_at =
        db.and_then(|db| db.audit_of_night(task.night).ok()).and_then(|entries| entries.iter().filter(|e| e.reruns(task.run())).map(|e| e.at).max());
    let past_db: Vec<HistoryRecord> = match db.map(|db| db.history_of_task(task.night, task.run(), &task.stage(), task.subrun())) {
        Some(Ok(rows)) => rows.into_iter().filter(|r| rerun_at.is_none_or(|at| r.started_at > at)).collect(),
        Some(Err(e)) => {
            tracing::warn!("database unreachable, using the history file only: {e}");
            db = None;
            Vec::new()
        }
        None => Vec::new(),
    };
    repair_history_file(&history_path, &tag, &past_db).map_err(history_error)?;
    let prov = ProvWriter::new(task.layout.provenance_log(task.night));
    let prov_error = |source| JobError::Provenance { night: task.night, task: what.clone(), path: prov.path().to_path_buf(), source };
    let session_id = match task.kind {
        TaskKind::Calibration => format!("{:05}{:05}", task.calibration.drs4_run, task.calibration.pedcal_run),
        TaskKind::Subrun { run, .. } | TaskKind::Stage { run, .. } => format!("{}{run:05}", task.night.compact()),
    };
    let session_tag_run = match task.kind {
        TaskKind::Calibration => format!("{:05}-{:05}", task.calibration.drs4_run, task.calibration.pedcal_run),
        TaskKind::Subrun { run, .. } | TaskKind::Stage { run, .. } => format!("{run:05}"),
    };
    let slurm_job = std::env::var("SLURM_JOB_ID").ok();
    let host = nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok());
    let mut session = vec![
        ("session_id", json!(session_id)),
        ("name", json!(session_tag_run)),
        ("startTime", json!(iso(now()))),
        ("observation_date", json!(task.night.compact())),
        ("software_version", json!(format!("osa {}", env!("CARGO_PKG_VERSION")))),
        ("attempt", json!(task.attempt)),
        ("system", json!({"executable": std::env::current_exe().ok(), "host": host, "slurm_job": slurm_job})),
    ];
    match &task.kind {
        TaskKind::Calibration => {
            session.push(("pedestal_run", json!(format!("{:05}", task.calibration.drs4_run))));
            session.push(("calibration_run", json!(format!("{:05}", task.calibration.pedcal_run))));
        }
        TaskKind::Subrun { run, subrun, .. } => {
            session.push(("observation_run", json!(format!("{run:05}"))));
            session.push(("observation_subrun", json!(format!("{subrun:04}"))));
        }
        TaskKind::Stage { run, stage, .. } => {
            session.push(("observation_run", json!(format!("{run:05}"))));
            session.push(("stage", json!(stage)));
        }
    }
    prov.append(&[record(session)]).map_err(prov_error)?;

    let mut report = TaskReport { exit_code: 0, steps: Vec::new() };
    for (index, step) in task.steps().iter().enumerate() {
        let program_text = context.render(&step.program);
        let program = resolve_program(&program_text, task.config.analysis.bin_dir.as_deref());
        let program_name = Path::new(&program_text).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or(program_text.clone());
        let args: Vec<String> = step.args.iter().map(|a| context.render(a)).collect();
        let inputs = expand_inputs(&context, &step.inputs);
        let outputs: Vec<(String, PathBuf)> = step.outputs.iter().map(|t| (t.clone(), PathBuf::from(context.render(t)))).collect();
        let config_file = step.config.as_ref().map(|c| context.render(c));
        let config_name = config_file.as_deref().map(|c| Path::new(c).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
        let prod_id = context.render(&step.prod_id);
        let first_input = inputs.first().map(|(_, p)| p.display().to_string());

        // History lines hold fields with whitespace replaced: compare in that form.
        let token = |f: &Option<String>| f.as_ref().map(|s| s.replace(char::is_whitespace, "_"));
        let done_in_file = past.iter().any(|h| {
            h.program == program_name
                && h.prod_id == prod_id.replace(char::is_whitespace, "_")
                && h.return_code == 0
                && h.input == token(&first_input)
                && h.config == token(&config_name)
        });
        let done_in_db = past_db
            .iter()
            .any(|h| h.step == step.name && h.prod_id == prod_id && h.return_code == 0 && h.input == first_input && h.config == config_name);
        let outputs_exist = outputs.iter().all(|(_, p)| p.exists());
        if (done_in_file || done_in_db) && outputs_exist {
            tracing::info!(step = %step.name, "already done with the same input and config: skipped");
            report.steps.push((step.name.clone(), StepOutcome::Skipped));
            continue;
        }

        // Programs write into folders they expect to exist (lstchain's check_dl1 refuses a
        // missing `--output-dir`): the folders of the step's declared outputs are made first.
        for dir in outputs.iter().filter_map(|(_, p)| p.parent()) {
            if let Err(e) = std::fs::create_dir_all(dir) {
                say!("osa job: night {} {tag}: step {}: cannot create {}: {e}", task.night, step.name, dir.display());
            }
        }
        let input_hashes: Vec<Option<String>> = inputs.iter().map(|(_, p)| sha256_file(p).ok()).collect();
        // A closing stage's job runs its program once: a failure goes through the closer's
        // known-failure table (more time, more memory, or a veto), as LSTOSA's closer jobs.
        let tries = if matches!(task.kind, TaskKind::Stage { .. }) { 1 } else { task.config.retries.tries_per_step.max(1) };
        let mut outcome = StepOutcome::Failed { tries, return_code: 0 };
        for try_number in 1..=tries {
            if try_number > 1 {
                for (_, output) in outputs.iter().filter(|(_, p)| p.exists()) {
                    tracing::warn!(step = %step.name, "removing partial output {} before retry {try_number}", output.display());
                    if let Err(e) = std::fs::remove_file(output) {
                        tracing::warn!("cannot remove {}: {e}", output.display());
                    }
                }
            }
            let started = now();
            say!("osa job: night {} {tag}: step {} try {try_number}/{tries}: {} {}", task.night, step.name, program.display(), args.join(" "));
            let (code, tail) = run_program(&program, &args, &workdir, false);
            let ended = now();
            if code != 0 {
                say!("osa job: night {} {tag}: step {} failed with exit code {code}; last output:\n{tail}", task.night, step.name);
            }
            // The database row first: if the file cannot be written after it (a full disk),
            // the try is still recorded. A row that cannot be stored (after the database's
            // own retries) fails the task: never a silently thinner record.
            if let Some(database) = db {
                let row = HistoryRecord {
                    night: task.night,
                    run: task.run(),
                    stage: task.stage(),
                    subrun: task.subrun(),
                    attempt: task.attempt,
                    step: step.name.clone(),
                    try_number,
                    program: program_name.clone(),
                    prod_id: prod_id.clone(),
                    config: config_name.clone(),
                    input: first_input.clone(),
                    output: outputs.first().map(|(_, p)| p.display().to_string()),
                    return_code: i64::from(code),
                    started_at: started,
                    ended_at: ended,
                    log_tail: (code != 0).then(|| tail.clone()),
                };
                database.record_history(&[row]).map_err(|source| JobError::HistoryDb { night: task.night, task: what.clone(), source })?;
            }
            let line = history::format_line(&tag, &program_name, &prod_id, ended, first_input.as_deref(), config_name.as_deref(), i64::from(code));
            history::append(&history_path, &line).map_err(history_error)?;
            let records = step_records(
                task,
                &step,
                &session_id,
                &session_tag_run,
                &program,
                &args,
                &config_file,
                &inputs,
                &input_hashes,
                &outputs,
                started,
                ended,
                code,
            );
            prov.append(&records).map_err(prov_error)?;
            if code == 0 {
                outcome = StepOutcome::Done { tries: try_number };
                break;
            }
            outcome = StepOutcome::Failed { tries: try_number, return_code: code };
            if crate::disk::was_full(&workdir, &tail) {
                // More tries would fail the same way: stop, and say why.
                say!("osa job: night {} {tag}: step {} failed on a full disk ({}): the task stops here", task.night, step.name, workdir.display());
                report.steps.push((step.name.clone(), outcome));
                report.exit_code = TASK_DISK_FULL as i32;
                return Ok(report);
            }
        }
        let failed = matches!(outcome, StepOutcome::Failed { .. });
        report.steps.push((step.name.clone(), outcome));
        if failed {
            report.exit_code = STEP_FAILED + index as i32;
            return Ok(report);
        }
    }
    Ok(report)
}

/// Writes back into the history file the lines of tries the database holds but the file does
/// not: tries whose line could not be written (a full disk) after their row was stored. The
/// line is the row's own formatting, so file and database agree again.
fn repair_history_file(path: &Path, tag: &str, rows: &[HistoryRecord]) -> std::io::Result<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let mut on_disk: Vec<&str> = text.lines().collect();
    let mut missing = String::new();
    for row in rows {
        let line = history::format_line(tag, &row.program, &row.prod_id, row.ended_at, row.input.as_deref(), row.config.as_deref(), row.return_code);
        match on_disk.iter().position(|l| *l == line.trim_end()) {
            Some(i) => {
                on_disk.swap_remove(i);
            }
            None => missing.push_str(&line),
        }
    }
    if !missing.is_empty() {
        tracing::warn!(
            "{}: writing back {} history line(s) the database has (written while the file could not be)",
            path.display(),
            missing.lines().count()
        );
        history::append(path, &missing)?;
    }
    Ok(())
}

/// Provenance of one try, in LSTOSA's record order: start, parameters, (entity, used)*,
/// (entity, generated)*, end.
#[allow(clippy::too_many_arguments)]
fn step_records(
    task: &Task,
    step: &StepConfig,
    session_id: &str,
    tag_run: &str,
    program: &Path,
    args: &[String],
    config_file: &Option<String>,
    inputs: &[(String, PathBuf)],
    input_hashes: &[Option<String>],
    outputs: &[(String, PathBuf)],
    started: NaiveDateTime,
    ended: NaiveDateTime,
    code: i32,
) -> Vec<ProvRecord> {
    let id = activity_id();
    let session_tag = format!("{}:{tag_run}", step.name);
    let agent = crate::account::user_name();
    let mut records = vec![
        record(vec![
            ("activity_id", json!(id)),
            ("name", json!(step.name)),
            ("startTime", json!(iso(started))),
            ("in_session", json!(session_id)),
            ("agent_name", json!(agent)),
            ("script", json!(program.display().to_string())),
            ("subrun", json!(task.subrun())),
            ("attempt", json!(task.attempt)),
            ("host", json!(nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()))),
            ("slurm_job", json!(std::env::var("SLURM_JOB_ID").ok())),
            // The program's own package where it says (lstchain's version), else osa's.
            ("software", json!(crate::program::package_version(program).unwrap_or_else(|| format!("osa {}", env!("CARGO_PKG_VERSION"))))),
            ("session_tag", json!(session_tag)),
        ]),
        record(vec![
            ("activity_id", json!(id)),
            // What was run, whole: with osa's version and its configuration's hash (the
            // effective configuration, so two files saying the same thing hash the same).
            (
                "parameters",
                json!({
                    "arguments": args,
                    "config_file": config_file,
                    "prod_id": context_prod_id(task, step),
                    "osa_version": env!("CARGO_PKG_VERSION"),
                    "osa_config_sha256": config_sha256(task.config),
                }),
            ),
            ("session_tag", json!(session_tag)),
        ]),
    ];
    let mut file_records = |template: &str, path: &Path, hash: Option<String>, link: &str, role_key: &str| {
        let entity = entity_id(path, hash.as_deref());
        let mut fields = vec![
            ("entity_id", json!(entity)),
            ("name", json!(crate::provenance::entity_name(template))),
            ("filepath", json!(path.display().to_string())),
            ("type", json!("File")),
            ("contentType", json!(content_type(path))),
            ("session_tag", json!(session_tag)),
        ];
        if let Some(hash) = hash {
            fields.push(("hash", json!(hash)));
            fields.push(("hash_type", json!("sha256")));
        }
        records.push(record(fields));
        records.push(record(vec![
            ("activity_id", json!(id)),
            (link, json!(entity)),
            (role_key, json!(crate::provenance::entity_name(template))),
            ("session_tag", json!(session_tag)),
        ]));
    };
    for ((template, path), hash) in inputs.iter().zip(input_hashes) {
        if path.exists() {
            file_records(template, path, hash.clone(), "used_id", "used_role");
        }
    }
    if let Some(config) = config_file.as_deref().map(Path::new).filter(|p| p.exists()) {
        file_records("config", config, sha256_file(config).ok(), "used_id", "used_role");
    }
    for (template, path) in outputs.iter().filter(|(_, p)| p.exists()) {
        file_records(template, path, sha256_file(path).ok(), "generated_id", "generated_role");
    }
    records.push(record(vec![
        ("activity_id", json!(id)),
        ("endTime", json!(iso(ended))),
        ("status", json!(if code == 0 { "ok" } else { "failed" })),
        ("return_code", Value::from(code)),
        ("session_tag", json!(session_tag)),
    ]));
    records
}

fn context_prod_id(task: &Task, step: &StepConfig) -> String {
    task.context().render(&step.prod_id)
}

/// sha256 of the effective configuration, as `osa config show` prints it.
fn config_sha256(config: &Config) -> String {
    crate::hashing::sha256_bytes(config.to_toml().as_bytes())
}
