//! The job runner: what one array task executes (`osa job subrun`, `osa job calibration`).
//! It runs the configured steps in order (steps are data: `analysis.data_steps`,
//! `analysis.calibration_steps`) with their `{placeholder}`s filled, and for each step:
//! - skips it if the history (file, and the database when reachable) shows it done with the
//!   same program, prod_id, input and config, and its outputs exist: a resubmitted task
//!   resumes where it failed;
//! - otherwise tries it up to `retries.tries_per_step` times, removing its partial outputs
//!   before each retry; every try writes a history line (file + database, with the tail of a
//!   failed try's stdout/stderr) and its provenance records (failed tries included).
//!
//! Exit codes of a task (the closer reads them):
//! - 0: every step done (or already done);
//! - 1: osa itself could not run the task (bad config, unwritable history or provenance);
//! - 2: bad command line;
//! - 10 + N: step N (0-based, config order) failed all its tries; with the default data
//!   steps 10 = r0_to_dl1, 11 = dl1ab, 12 = check_dl1; calibration 10 = drs4_baseline,
//!   11 = charge_calibration.

pub mod history;

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use chrono::{NaiveDateTime, SubsecRound, Utc};
use serde_json::{Value, json};

use crate::config::{Config, StepConfig};
use crate::db::{Db, HistoryRecord};
use crate::night::NightDate;
use crate::paths::Layout;
use crate::provenance::{ProvRecord, ProvWriter, activity_id, entity_id, record};
use crate::sequencer::script::CalibrationRuns;

/// Exit code of a task whose step N failed: `STEP_FAILED + N`.
pub const STEP_FAILED: i32 = 10;
/// Lines of a failed try's output kept in the log and the database.
const TAIL_LINES: usize = 40;

/// Values of the step placeholders for one task.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StepContext {
    values: BTreeMap<&'static str, String>,
}

impl StepContext {
    fn set(&mut self, key: &'static str, value: impl ToString) {
        self.values.insert(key, value.to_string());
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// Fills `{placeholder}`s; an unknown one is left as written (config validation refuses
    /// unknown names before any job runs).
    pub fn render(&self, template: &str) -> String {
        let mut out = String::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            match after.find('}') {
                Some(close) => {
                    let name = &after[..close];
                    match self.values.get(name) {
                        Some(value) => out.push_str(value),
                        None => out.push_str(&rest[open..open + close + 2]),
                    }
                    rest = &after[close + 1..];
                }
                None => {
                    out.push_str(&rest[open..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        out
    }
}

/// What a task is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskKind {
    Calibration,
    Subrun { run: u32, subrun: u32 },
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
            TaskKind::Subrun { run, .. } => run,
        }
    }

    fn subrun(&self) -> u32 {
        match self.kind {
            TaskKind::Calibration => 0,
            TaskKind::Subrun { subrun, .. } => subrun,
        }
    }

    /// `RRRRR.SSSS` or the calibration's `NNNNN`, as history lines name the task.
    fn history_tag(&self) -> String {
        match self.kind {
            TaskKind::Calibration => format!("{:05}", self.calibration.pedcal_run),
            TaskKind::Subrun { run, subrun } => crate::paths::run_subrun(run, subrun),
        }
    }

    fn history_file(&self) -> PathBuf {
        match self.kind {
            TaskKind::Calibration => self.layout.history_file(self.night, self.calibration.pedcal_run, None),
            TaskKind::Subrun { run, subrun } => self.layout.history_file(self.night, run, Some(subrun)),
        }
    }

    fn steps(&self) -> &[StepConfig] {
        match self.kind {
            TaskKind::Calibration => &self.config.analysis.calibration_steps,
            TaskKind::Subrun { .. } => &self.config.analysis.data_steps,
        }
    }

    pub fn context(&self) -> StepContext {
        match self.kind {
            TaskKind::Calibration => calibration_context(self.config, self.layout, self.night, self.calibration),
            TaskKind::Subrun { run, subrun } => subrun_context(self.config, self.layout, self.night, run, subrun, self.calibration),
        }
    }
}

fn common(config: &Config, layout: &Layout, night: NightDate, calibration: CalibrationRuns) -> StepContext {
    let mut c = StepContext::default();
    c.set("date", night);
    c.set("night", night.compact());
    c.set("data_root", layout.data_root().display());
    c.set("r0_dir", layout.r0_night_dir(night).parent().map(|d| d.display().to_string()).unwrap_or_default());
    c.set("analysis_dir", layout.analysis_dir(night).display());
    c.set("dl1_dir", layout.dl1_dir(night).display());
    c.set("drs4_run", calibration.drs4_run);
    c.set("pedcal_run", calibration.pedcal_run);
    c.set("drs4_r0_file", layout.r0_file(calibration.night, 1, calibration.drs4_run, 0).display());
    c.set("drs4_file", layout.drs4_file(calibration.night, calibration.drs4_run).display());
    c.set("calibration_file", layout.calibration_file(calibration.night, calibration.pedcal_run).display());
    c.set("calibration_version", &config.analysis.calibration_version);
    c.set("drive_file", layout.drive_file(night).display());
    c.set("run_summary", layout.run_summary_file(night).display());
    c.set("dl1a_config", config.analysis.dl1a_config.display());
    c.set("dl1b_config", config.analysis.dl1b_config.display());
    c.set("prod_id", &config.analysis.prod_id);
    c.set("dl1_prod_id", &config.analysis.dl1_prod_id);
    c
}

/// Placeholders of one DATA subrun task.
pub fn subrun_context(config: &Config, layout: &Layout, night: NightDate, run: u32, subrun: u32, calibration: CalibrationRuns) -> StepContext {
    let mut c = common(config, layout, night, calibration);
    c.set("run", run);
    c.set("run_padded", format!("{run:05}"));
    c.set("subrun", subrun);
    c.set("subrun_padded", format!("{subrun:04}"));
    c.set("r0_file", layout.r0_file(night, 1, run, subrun).display());
    c.set("dl1a_file", layout.dl1a_file(night, run, subrun).display());
    c.set("muons_file", layout.muons_file(night, run, subrun).display());
    c.set("dl1b_file", layout.dl1b_file(night, run, subrun).display());
    c.set("datacheck_file", layout.datacheck_file(night, run, subrun).display());
    c.set("dl1_run_file", layout.dl1_run_file(night, run).display());
    c
}

/// Placeholders of the calibration job (its "subrun" is the PEDCALIB run's first file).
pub fn calibration_context(config: &Config, layout: &Layout, night: NightDate, calibration: CalibrationRuns) -> StepContext {
    let mut c = common(config, layout, night, calibration);
    let run = calibration.pedcal_run;
    c.set("run", run);
    c.set("run_padded", format!("{run:05}"));
    c.set("subrun", 0);
    c.set("subrun_padded", "0000");
    c.set("r0_file", layout.r0_file(night, 1, run, 0).display());
    c.set("dl1a_file", layout.dl1a_file(night, run, 0).display());
    c.set("muons_file", layout.muons_file(night, run, 0).display());
    c.set("dl1b_file", layout.dl1b_file(night, run, 0).display());
    c.set("datacheck_file", layout.datacheck_file(night, run, 0).display());
    c.set("dl1_run_file", layout.dl1_run_file(night, run).display());
    c
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("night {night} {task}: cannot write history {path}: {source}")]
    History { night: NightDate, task: String, path: PathBuf, source: std::io::Error },
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

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskReport {
    pub exit_code: i32,
    pub steps: Vec<(String, StepOutcome)>,
}

/// Entity names LSTOSA gives the files our default templates name.
fn entity_name(template: &str) -> &'static str {
    match template {
        "{r0_file}" => "R0SubrunDataset",
        "{drs4_r0_file}" => "RawObservationFile",
        "{drs4_file}" => "PedestalFile",
        "{calibration_file}" => "CoefficientsCalibrationFile",
        "{dl1a_file}" => "DL1SubrunDataset",
        "{muons_file}" => "MuonsSubrunDataset",
        "{dl1b_file}" => "DL1bSubrunDataset",
        "{datacheck_file}" => "DL1CheckSubrunDataset",
        "config" => "ConfigFile",
        _ => "File",
    }
}

fn content_type(path: &Path) -> &'static str {
    let name = path.to_string_lossy();
    if name.ends_with(".h5") {
        "application/x-hdf"
    } else if name.ends_with(".fits") || name.ends_with(".fits.fz") {
        "application/fits"
    } else if name.ends_with(".json") {
        "application/json"
    } else {
        "application/octet-stream"
    }
}

/// sha256 of a file's content. Large files are read by a second thread into 8 MiB buffers
/// (with O_DIRECT where the filesystem allows it: a product is read once, caching it only
/// evicts what the next task needs) while this one hashes the previous buffer, so a cold disk
/// never waits for the hashing (the `sha2` crate's SHA-NI backend outruns the disk).
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    use sha2::Digest;
    const CHUNK: usize = 8 << 20;
    let mut file = std::fs::File::open(path)?;
    let size = file.metadata()?.len() as usize;
    let mut hasher = sha2::Sha256::new();
    if size <= CHUNK {
        let mut bytes = Vec::with_capacity(size);
        file.read_to_end(&mut bytes)?;
        hasher.update(&bytes);
    } else {
        use std::os::unix::fs::OpenOptionsExt;
        if let Ok(direct) = std::fs::OpenOptions::new().read(true).custom_flags(nix::libc::O_DIRECT).open(path) {
            file = direct;
        } else {
            let _ = nix::fcntl::posix_fadvise(&file, 0, 0, nix::fcntl::PosixFadviseAdvice::POSIX_FADV_SEQUENTIAL);
        }
        let (full, filled) = std::sync::mpsc::sync_channel::<std::io::Result<Vec<u8>>>(2);
        let (empty, recycled) = std::sync::mpsc::channel::<Vec<u8>>();
        for _ in 0..3 {
            let _ = empty.send(Vec::new());
        }
        let reader = std::thread::spawn(move || {
            // O_DIRECT needs 4 KiB-aligned memory: read into an aligned window of a larger block.
            let mut block = vec![0u8; CHUNK + 4096];
            let offset = block.as_ptr().align_offset(4096);
            let mut total = 0usize;
            while let Ok(mut buffer) = recycled.recv() {
                if total >= size {
                    // Never read again at the unaligned end of the file (some filesystems
                    // refuse that with O_DIRECT): an empty chunk ends the hashing.
                    let _ = full.send(Ok(Vec::new()));
                    return;
                }
                let aligned = &mut block[offset..offset + CHUNK];
                let mut used = 0;
                let result = loop {
                    match file.read(&mut aligned[used..]) {
                        Ok(0) => break Ok(()),
                        Ok(n) => {
                            used += n;
                            if used == CHUNK || total + used >= size {
                                break Ok(());
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => break Err(e),
                    }
                };
                total += used;
                buffer.clear();
                buffer.extend_from_slice(&aligned[..used]);
                let done = used == 0 || result.is_err();
                if full.send(result.map(|()| buffer)).is_err() || done {
                    return;
                }
            }
        });
        for chunk in filled {
            let chunk = chunk?;
            if chunk.is_empty() {
                break;
            }
            hasher.update(&chunk);
            let _ = empty.send(chunk);
        }
        drop(empty);
        let _ = reader.join();
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

fn now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(6)
}

fn iso(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

/// Runs a program, passing its output through to ours (all of it to our stderr when
/// `quiet_stdout`, so a command's own stdout stays clean for JSON) and keeping the last lines.
pub fn run_program(program: &Path, args: &[String], workdir: &Path, quiet_stdout: bool) -> (i32, String) {
    let child = Command::new(program).args(args).current_dir(workdir).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => return (127, format!("cannot start {}: {e}", program.display())),
    };
    let tail = Arc::new(Mutex::new(VecDeque::new()));
    let pump = |stream: Box<dyn Read + Send>, to_stderr: bool| {
        let tail = tail.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stream);
            let mut raw = Vec::new();
            // Byte lines, decoded lossily: one non-UTF-8 byte must not stop the pipe (the
            // program would then die of SIGPIPE).
            while reader.read_until(b'\n', &mut raw).is_ok_and(|n| n > 0) {
                let line = String::from_utf8_lossy(&raw).trim_end_matches(['\n', '\r']).to_string();
                raw.clear();
                if to_stderr {
                    let _ = writeln!(std::io::stderr(), "{line}");
                } else {
                    let _ = writeln!(std::io::stdout(), "{line}");
                }
                let mut tail = tail.lock().unwrap_or_else(|p| p.into_inner());
                if tail.len() == TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        })
    };
    let out = pump(Box::new(child.stdout.take().expect("piped")), quiet_stdout);
    let err = pump(Box::new(child.stderr.take().expect("piped")), true);
    let status = child.wait();
    let _ = (out.join(), err.join());
    let code = match status {
        Ok(status) => status.code().unwrap_or_else(|| 128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0)),
        Err(_) => 1,
    };
    let tail = tail.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect::<Vec<_>>().join("\n");
    (code, tail)
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
    let rerun_at = db.and_then(|db| db.audit_of_night(task.night).ok()).and_then(|entries| {
        entries.into_iter().filter(|e| e.action == crate::db::AuditAction::Rerun && e.run.is_none_or(|r| r == task.run())).map(|e| e.at).max()
    });
    let past_db: Vec<HistoryRecord> = match db.map(|db| db.history_of_subrun(task.night, task.run(), task.subrun())) {
        Some(Ok(rows)) => rows.into_iter().filter(|r| rerun_at.is_none_or(|at| r.started_at > at)).collect(),
        Some(Err(e)) => {
            tracing::warn!("database unreachable, using the history file only: {e}");
            db = None;
            Vec::new()
        }
        None => Vec::new(),
    };
    let prov = ProvWriter::new(task.layout.provenance_log(task.night));
    let prov_error = |source| JobError::Provenance { night: task.night, task: what.clone(), path: prov.path().to_path_buf(), source };
    let session_id = match task.kind {
        TaskKind::Calibration => format!("{:05}{:05}", task.calibration.drs4_run, task.calibration.pedcal_run),
        TaskKind::Subrun { run, .. } => format!("{}{run:05}", task.night.compact()),
    };
    let session_tag_run = match task.kind {
        TaskKind::Calibration => format!("{:05}-{:05}", task.calibration.drs4_run, task.calibration.pedcal_run),
        TaskKind::Subrun { run, .. } => format!("{run:05}"),
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
    match task.kind {
        TaskKind::Calibration => {
            session.push(("pedestal_run", json!(format!("{:05}", task.calibration.drs4_run))));
            session.push(("calibration_run", json!(format!("{:05}", task.calibration.pedcal_run))));
        }
        TaskKind::Subrun { run, subrun } => {
            session.push(("observation_run", json!(format!("{run:05}"))));
            session.push(("observation_subrun", json!(format!("{subrun:04}"))));
        }
    }
    prov.append(&[record(session)]).map_err(prov_error)?;

    let mut report = TaskReport { exit_code: 0, steps: Vec::new() };
    for (index, step) in task.steps().iter().enumerate() {
        let program_text = context.render(&step.program);
        let program = resolve_program(&program_text, task.config.analysis.bin_dir.as_deref());
        let program_name = Path::new(&program_text).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or(program_text.clone());
        let args: Vec<String> = step.args.iter().map(|a| context.render(a)).collect();
        let inputs: Vec<(String, PathBuf)> = step.inputs.iter().map(|t| (t.clone(), PathBuf::from(context.render(t)))).collect();
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

        let input_hashes: Vec<Option<String>> = inputs.iter().map(|(_, p)| sha256_file(p).ok()).collect();
        let tries = task.config.retries.tries_per_step.max(1);
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
            eprintln!("osa job: night {} {tag}: step {} try {try_number}/{tries}: {} {}", task.night, step.name, program.display(), args.join(" "));
            let (code, tail) = run_program(&program, &args, &workdir, false);
            let ended = now();
            let line = history::format_line(&tag, &program_name, &prod_id, ended, first_input.as_deref(), config_name.as_deref(), i64::from(code));
            history::append(&history_path, &line).map_err(history_error)?;
            if code != 0 {
                eprintln!("osa job: night {} {tag}: step {} failed with exit code {code}; last output:\n{tail}", task.night, step.name);
            }
            if let Some(database) = db {
                let row = HistoryRecord {
                    night: task.night,
                    run: task.run(),
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
                if let Err(e) = database.record_history(&[row]) {
                    tracing::warn!("history row not stored in the database (the file has it): {e}");
                    db = None;
                }
            }
            let records = step_records(
                task,
                step,
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

pub fn resolve_program(program: &str, bin_dir: Option<&Path>) -> PathBuf {
    if program.contains('/') {
        return PathBuf::from(program);
    }
    match bin_dir.map(|d| d.join(program)).filter(|p| p.exists()) {
        Some(path) => path,
        None => PathBuf::from(program),
    }
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
    let agent = std::env::var("USER").unwrap_or_else(|_| "Anonymous".to_string());
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
            ("software", json!(format!("osa {}", env!("CARGO_PKG_VERSION")))),
            ("session_tag", json!(session_tag)),
        ]),
        record(vec![
            ("activity_id", json!(id)),
            ("parameters", json!({"arguments": args, "config_file": config_file, "prod_id": context_prod_id(task, step)})),
            ("session_tag", json!(session_tag)),
        ]),
    ];
    let mut file_records = |template: &str, path: &Path, hash: Option<String>, link: &str, role_key: &str| {
        let entity = entity_id(path);
        let mut fields = vec![
            ("entity_id", json!(entity)),
            ("name", json!(entity_name(template))),
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
            (role_key, json!(entity_name(template))),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_for_a_subrun() {
        let mut config = Config::default();
        config.paths.data_root = "/d".into();
        let layout = Layout::new(&config);
        let night: NightDate = "2026-01-05".parse().unwrap();
        let calibration = CalibrationRuns { night: night.previous(), drs4_run: 12001, pedcal_run: 12002 };
        let c = subrun_context(&config, &layout, night, 12003, 7, calibration);
        assert_eq!(c.render("--input-file={r0_file}"), "--input-file=/d/R0G/20260105/LST-1.1.Run12003.0007.fits.fz");
        assert_eq!(c.render("{run_padded}.{subrun_padded}"), "12003.0007");
        assert_eq!(
            c.render("--calibration-file={calibration_file}"),
            "--calibration-file=/d/monitoring/PixelCalibration/Cat-A/calibration/20260104/v0.10.12/calibration_filters_52.Run12002.0000.h5",
            "an earlier night's calibration is found under that night"
        );
        assert_eq!(c.render("{nope} {"), "{nope} {");
        for name in crate::config::PLACEHOLDERS {
            assert!(c.get(name).is_some(), "placeholder {name} has no value");
            assert!(calibration_context(&config, &layout, night, calibration).get(name).is_some(), "calibration: {name}");
        }
    }
}
