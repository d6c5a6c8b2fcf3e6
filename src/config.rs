//! The site configuration: one TOML file (`cfg/osa.toml` documents every key) read into typed,
//! defaulted structs, then validated as a whole before anything runs, so a bad cron string or
//! an unknown key is reported at start-up with the key's name rather than at 3 a.m.
//!
//! Lookup order: `--config FILE`, then `OSA_CONFIG`, then `./cfg/osa.toml`, then
//! `/etc/osa/osa.toml`; with none of them the built-in defaults apply (fine for reading
//! commands and the demo).
//!
//! Environment variables read here (they win over the file, for the values that differ per
//! machine): `OSA_CONFIG`, `OSA_DATA_ROOT`, `OSA_DATABASE_URL`, `OSA_EXECUTOR`.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::{ExecutorKind, TaskState};

pub const ENV_CONFIG: &str = "OSA_CONFIG";
pub const ENV_DATA_ROOT: &str = "OSA_DATA_ROOT";
pub const ENV_DATABASE_URL: &str = "OSA_DATABASE_URL";
pub const ENV_EXECUTOR: &str = "OSA_EXECUTOR";

/// Where the configuration in use came from; `osa config show` prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigSource {
    Flag(PathBuf),
    Env(PathBuf),
    WorkingDir(PathBuf),
    System(PathBuf),
    BuiltIn,
}

impl ConfigSource {
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::Flag(p) | Self::Env(p) | Self::WorkingDir(p) | Self::System(p) => Some(p),
            Self::BuiltIn => None,
        }
    }
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Flag(p) => write!(f, "{} (from --config)", p.display()),
            Self::Env(p) => write!(f, "{} (from {ENV_CONFIG})", p.display()),
            Self::WorkingDir(p) => write!(f, "{} (working directory)", p.display()),
            Self::System(p) => write!(f, "{} (system)", p.display()),
            Self::BuiltIn => write!(f, "built-in defaults (no config file found)"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path} is not valid TOML: {source}")]
    Syntax { path: PathBuf, source: Box<toml::de::Error> },
    #[error("config file {path} has {} problem(s):\n{}", problems.len(), format_problems(problems))]
    Invalid { path: String, problems: Vec<Problem> },
    #[error("environment variable {var}={value:?}: {message}")]
    Env { var: &'static str, value: String, message: String },
}

/// One thing wrong with a config value, named by its dotted key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub message: String,
}

fn format_problems(problems: &[Problem]) -> String {
    problems.iter().map(|p| format!("  {}: {}", p.key, p.message)).collect::<Vec<_>>().join("\n")
}

/// The whole configuration. Every section has defaults, so an older or partial file still loads.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Config {
    /// Where the data tree lives and how it is laid out.
    pub paths: PathsConfig,
    /// The database that holds the state of every night.
    pub database: DatabaseConfig,
    /// Which executor runs the array jobs.
    pub executor: ExecutorConfig,
    /// SLURM submission settings (production executor).
    pub slurm: SlurmConfig,
    /// Production ids and the analysis steps each job runs.
    pub analysis: AnalysisConfig,
    /// How calibration runs are chosen.
    pub calibration: CalibrationConfig,
    /// Retry limits and the table of known failures.
    pub retries: RetryConfig,
    /// Cron-like schedules of the daemon (UTC, 6 fields, seconds first).
    pub schedules: ScheduleConfig,
    /// Closing nights.
    pub closer: CloserConfig,
    /// The morning summary mail.
    pub mail: MailConfig,
    /// Watching summary directories.
    pub watch: WatchConfig,
    /// The daemon's own log files.
    pub logging: LoggingConfig,
    /// The directory of the config file: relative `watch.extra_dirs` resolve against it.
    #[serde(skip)]
    pub config_dir: Option<PathBuf>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct PathsConfig {
    /// Root of the data tree. Every product osa writes lies under it. `OSA_DATA_ROOT` overrides.
    pub data_root: PathBuf,
    /// Input R0 files (gain selected), one `YYYYMMDD` folder per night. Relative to `data_root`
    /// unless absolute; read only.
    pub r0_dir: PathBuf,
    /// `RunSummary_YYYYMMDD.ecsv` files written by lstchain_create_run_summary; read only.
    pub run_summary_dir: PathBuf,
    /// Legacy text `NightSummary_YYYYMMDD[_LST1].txt` files; read only.
    pub night_summary_dir: PathBuf,
    /// `RunCatalog_YYYYMMDD.ecsv` files giving the source name of each DATA run; read only.
    pub run_catalog_dir: PathBuf,
    /// Working directory of the jobs: `running_analysis/YYYYMMDD/<prod_id>`.
    pub analysis_dir: PathBuf,
    /// Final DL1 products: `DL1/YYYYMMDD/<prod_id>/<dl1_prod_id>`.
    pub dl1_dir: PathBuf,
    /// Final DL2 products.
    pub dl2_dir: PathBuf,
    /// Calibration products (`Cat-A/drs4_baseline`, `Cat-A/calibration`).
    pub calibration_dir: PathBuf,
    /// osa's own files: closer flags, provenance records, the embedded database.
    pub osa_dir: PathBuf,
    /// Drive positioning logs, passed to the DL1 step.
    pub drive_dir: PathBuf,
}

impl Default for PathsConfig {
    fn default() -> Self {
        Self {
            data_root: PathBuf::from("/fefs/aswg/data/real"),
            r0_dir: PathBuf::from("R0G"),
            run_summary_dir: PathBuf::from("monitoring/RunSummary"),
            night_summary_dir: PathBuf::from("monitoring/NightSummary"),
            run_catalog_dir: PathBuf::from("monitoring/RunCatalog"),
            analysis_dir: PathBuf::from("running_analysis"),
            dl1_dir: PathBuf::from("DL1"),
            dl2_dir: PathBuf::from("DL2"),
            calibration_dir: PathBuf::from("monitoring/PixelCalibration"),
            osa_dir: PathBuf::from("OSA"),
            drive_dir: PathBuf::from("monitoring/DrivePositioning"),
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct DatabaseConfig {
    /// `mysql://user:password@host:port/db` or `sqlite://path`. Empty: an SQLite file at
    /// `<data_root>/<osa_dir>/osa.sqlite`. `OSA_DATABASE_URL` overrides.
    pub url: String,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct ExecutorConfig {
    /// `local` or `slurm`. `OSA_EXECUTOR` overrides.
    pub kind: ExecutorKind,
    /// Local executor: how many array tasks run at once (0 = number of CPUs).
    pub local_concurrency: usize,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        Self { kind: ExecutorKind::Local, local_concurrency: 0 }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct SlurmConfig {
    /// `--account` of every submission.
    pub account: String,
    /// Resources of the calibration job (one task).
    pub calibration: SlurmJobConfig,
    /// Resources of each DATA array task.
    pub data: SlurmJobConfig,
    /// Extra `sbatch` arguments appended to every submission (e.g. `--qos=...`).
    pub extra_sbatch_args: Vec<String>,
    /// Folder of sbatch/squeue/sacct/scancel when they are not on `PATH`.
    pub bin_dir: Option<PathBuf>,
}

impl Default for SlurmConfig {
    fn default() -> Self {
        Self {
            account: "dpps".to_string(),
            calibration: SlurmJobConfig { partition: "short".to_string(), time: "01:15:00".to_string(), mem_per_cpu: "3G".to_string() },
            data: SlurmJobConfig { partition: "short".to_string(), time: "01:15:00".to_string(), mem_per_cpu: "6G".to_string() },
            extra_sbatch_args: Vec::new(),
            bin_dir: None,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct SlurmJobConfig {
    /// `--partition`: one partition name (LSTOSA's `short, long` put a space in the header).
    pub partition: String,
    /// `--time`, as SLURM spells it: `MM`, `HH:MM:SS`, `D-HH:MM:SS`.
    pub time: String,
    /// `--mem-per-cpu`: a number with an optional K/M/G/T suffix.
    pub mem_per_cpu: String,
}

/// One analysis step: a program and its argument template. Steps are data, so a site adds
/// LSTOSA's further stages (gain selection, Cat-B, tail-cut finding) here without code.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct StepConfig {
    /// Name shown in history and provenance (`r0_to_dl1`, `dl1ab`, ...).
    pub name: String,
    /// The executable, found on `PATH` unless absolute.
    pub program: String,
    /// Arguments; `{placeholder}`s from [`PLACEHOLDERS`] are filled per subrun.
    pub args: Vec<String>,
    /// Files the step reads (templates): hashed into provenance; with `config`, they decide
    /// whether a step already done can be skipped.
    pub inputs: Vec<String>,
    /// The step's own config file (template), recorded in history and provenance.
    pub config: Option<String>,
    /// Production id written in history lines (LSTOSA: `{prod_id}`, `{dl1_prod_id}` for DL1b).
    pub prod_id: String,
    /// Files the step writes (templates too): removed before a retry, checked by the closer.
    pub outputs: Vec<String>,
}

impl Default for StepConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            program: String::new(),
            args: Vec::new(),
            inputs: Vec::new(),
            config: None,
            prod_id: "{prod_id}".to_string(),
            outputs: Vec::new(),
        }
    }
}

impl StepConfig {
    fn with_config(mut self, config: &str) -> Self {
        self.config = Some(config.to_string());
        self
    }

    fn with_prod_id(mut self, prod_id: &str) -> Self {
        self.prod_id = prod_id.to_string();
        self
    }
}

/// Every placeholder a step template may use.
pub const PLACEHOLDERS: &[&str] = &[
    "date",
    "night",
    "run",
    "run_padded",
    "subrun",
    "subrun_padded",
    "data_root",
    "r0_dir",
    "r0_file",
    "analysis_dir",
    "dl1_dir",
    "dl1a_file",
    "dl1b_file",
    "datacheck_file",
    "dl1_run_file",
    "drs4_run",
    "drs4_r0_file",
    "pedcal_run",
    "muons_file",
    "drs4_file",
    "calibration_file",
    "calibration_version",
    "drive_file",
    "run_summary",
    "dl1a_config",
    "dl1b_config",
    "prod_id",
    "dl1_prod_id",
];

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct AnalysisConfig {
    /// Production id: the analysis directory level `running_analysis/N/<prod_id>`.
    pub prod_id: String,
    /// DL1b production id (cleaning level), e.g. `tailcut84`.
    pub dl1_prod_id: String,
    /// Version folder of the calibration products (`v<lstchain version>` upstream).
    pub calibration_version: String,
    /// lstchain config of the R0->DL1 step.
    pub dl1a_config: PathBuf,
    /// lstchain config of the DL1->DL1b step.
    pub dl1b_config: PathBuf,
    /// Folder searched first for step programs given without a path (e.g. the folder of the
    /// analysis software's environment); `None`: `PATH` only.
    pub bin_dir: Option<PathBuf>,
    /// Steps of the calibration job, in order.
    pub calibration_steps: Vec<StepConfig>,
    /// Steps of each DATA subrun task, in order.
    pub data_steps: Vec<StepConfig>,
}

fn step(name: &str, program: &str, args: &[&str], inputs: &[&str], outputs: &[&str]) -> StepConfig {
    let strings = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
    StepConfig {
        name: name.to_string(),
        program: program.to_string(),
        args: strings(args),
        inputs: strings(inputs),
        outputs: strings(outputs),
        ..StepConfig::default()
    }
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        Self {
            prod_id: "v0.10".to_string(),
            dl1_prod_id: "tailcut84".to_string(),
            calibration_version: "v0.10.12".to_string(),
            dl1a_config: PathBuf::from("/fefs/aswg/lstosa/cfg/lstchain_standard_config.json"),
            dl1b_config: PathBuf::from("/fefs/aswg/lstosa/cfg/dl1ab_tailcut84.json"),
            bin_dir: None,
            calibration_steps: vec![
                step(
                    "drs4_baseline",
                    "onsite_create_drs4_pedestal_file",
                    &["-r", "{drs4_run}", "-b", "{data_root}", "--r0-dir={r0_dir}", "--no-progress"],
                    &["{drs4_r0_file}"],
                    &["{drs4_file}"],
                ),
                step(
                    "charge_calibration",
                    "onsite_create_calibration_file",
                    &["-p", "{drs4_run}", "-r", "{pedcal_run}", "-b", "{data_root}", "--r0-dir={r0_dir}"],
                    &["{r0_file}", "{drs4_file}"],
                    &["{calibration_file}"],
                ),
            ],
            data_steps: vec![
                step(
                    "r0_to_dl1",
                    "lstchain_data_r0_to_dl1",
                    &[
                        "--input-file={r0_file}",
                        "--output-dir={analysis_dir}",
                        "--config={dl1a_config}",
                        "--pointing-file={drive_file}",
                        "--run-summary-path={run_summary}",
                        "--pedestal-file={drs4_file}",
                        "--calibration-file={calibration_file}",
                    ],
                    &["{r0_file}", "{drs4_file}", "{calibration_file}"],
                    &["{dl1a_file}", "{muons_file}"],
                )
                .with_config("{dl1a_config}"),
                step(
                    "dl1ab",
                    "lstchain_dl1ab",
                    &["--input-file={dl1a_file}", "--output-file={dl1b_file}", "--config={dl1b_config}"],
                    &["{dl1a_file}"],
                    &["{dl1b_file}"],
                )
                .with_config("{dl1b_config}")
                .with_prod_id("{dl1_prod_id}"),
                step(
                    "check_dl1",
                    "lstchain_check_dl1",
                    &["--input-file={dl1b_file}", "--output-dir={analysis_dir}/{dl1_prod_id}", "--muons-dir={analysis_dir}", "--omit-pdf", "--batch"],
                    &["{dl1b_file}"],
                    &["{datacheck_file}"],
                )
                .with_prod_id("{dl1_prod_id}"),
            ],
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct CalibrationConfig {
    /// How many earlier nights to search for a closed calibration when a night has none
    /// (LSTOSA's limit never applied; see known-issues.md).
    pub lookback_nights: u32,
}

impl Default for CalibrationConfig {
    fn default() -> Self {
        Self { lookback_nights: 7 }
    }
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FailureAction {
    /// Resubmit the failed array indices with `more_time` added to the walltime.
    ResubmitMoreTime,
    /// Resubmit the failed array indices with `more_memory` per CPU.
    ResubmitMoreMemory,
    /// Delete the stale output named in the log, then resubmit.
    DeleteOutputAndResubmit,
    /// The last subrun is broken (missing monitoring tables): drop it from the run.
    DropLastSubrun,
    /// Stop and ask a human.
    NeedsHuman,
}

/// One known failure: every given condition must match for the action to apply.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct KnownFailure {
    /// A name for logs and the DB.
    pub name: String,
    /// State of the task, as SLURM names it (`TIMEOUT`, `OUT_OF_MEMORY`, `FAILED`, `PREEMPTED`,
    /// ...: the failure states of the executor's state table, `executor::slurm::STATES`).
    #[serde(with = "slurm_state_word")]
    pub slurm_state: Option<TaskState>,
    /// Exit code of the task.
    pub exit_code: Option<i32>,
    /// Regular expression searched in the tail of the task's log.
    pub log_regex: Option<String>,
    /// What to do.
    pub action: FailureAction,
}

impl Default for KnownFailure {
    fn default() -> Self {
        Self { name: String::new(), slurm_state: None, exit_code: None, log_regex: None, action: FailureAction::NeedsHuman }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct RetryConfig {
    /// Attempts of one step inside a task before the task fails.
    pub tries_per_step: u32,
    /// Submissions of one run before it is vetoed for a human.
    pub max_tries_per_run: u32,
    /// Added walltime for `resubmit_more_time`, SLURM spelling.
    pub more_time: String,
    /// Memory per CPU for `resubmit_more_memory`.
    pub more_memory: String,
    /// Known failure patterns, first match wins.
    pub known_failures: Vec<KnownFailure>,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            tries_per_step: 3,
            max_tries_per_run: 3,
            more_time: "01:00:00".to_string(),
            more_memory: "10G".to_string(),
            known_failures: vec![
                KnownFailure {
                    name: "timeout".to_string(),
                    slurm_state: Some(TaskState::Timeout),
                    action: FailureAction::ResubmitMoreTime,
                    ..KnownFailure::default()
                },
                KnownFailure {
                    name: "out_of_memory".to_string(),
                    slurm_state: Some(TaskState::OutOfMemory),
                    action: FailureAction::ResubmitMoreMemory,
                    ..KnownFailure::default()
                },
                KnownFailure {
                    name: "output_exists".to_string(),
                    log_regex: Some("(?i)output file exists already|already exists".to_string()),
                    action: FailureAction::DeleteOutputAndResubmit,
                    ..KnownFailure::default()
                },
                KnownFailure {
                    name: "missing_pedestal_table".to_string(),
                    log_regex: Some(r"NoSuchNodeError.*monitoring/pedestal".to_string()),
                    action: FailureAction::DropLastSubrun,
                    ..KnownFailure::default()
                },
            ],
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct ScheduleConfig {
    /// SLURM poll cycle (one squeue/sacct call for all open nights).
    pub poll: String,
    /// Random delay added to each poll, in seconds, so many daemons do not hit slurmctld at once.
    pub poll_jitter_seconds: u64,
    /// Closer attempts.
    pub closer: String,
    /// Retention of old logs.
    pub cleanup: String,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self {
            poll: "0 * * * * *".to_string(),
            poll_jitter_seconds: 10,
            closer: "0 */15 8-20 * * *".to_string(),
            cleanup: "0 30 12 * * *".to_string(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct CloserConfig {
    /// A night is closed only after this hour (UTC) of the next morning, unless forced.
    pub not_before_hour: u32,
    /// The per-run DL1 merge (default: lstchain's merge program).
    pub merge_step: StepConfig,
}

impl Default for CloserConfig {
    fn default() -> Self {
        Self {
            not_before_hour: 8,
            merge_step: step(
                "merge_dl1",
                "lstchain_merge_hdf5_files",
                &[
                    "--input-dir={analysis_dir}/{dl1_prod_id}",
                    "--output-file={dl1_run_file}",
                    "--run-number={run}",
                    "--pattern=dl1_LST-1.Run{run_padded}.*.h5",
                    "--no-image",
                ],
                &[],
                &["{dl1_run_file}"],
            ),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct MailConfig {
    /// Send the closing summary mail.
    pub enabled: bool,
    /// SMTP relay host.
    pub smtp_host: String,
    /// SMTP relay port.
    pub smtp_port: u16,
    /// Sender address.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// Write mails as `.eml` files into this folder instead of sending them (demos, tests
    /// without a relay).
    pub file_dir: Option<PathBuf>,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            smtp_host: "localhost".to_string(),
            smtp_port: 25,
            from: "lstanalyzer@localhost".to_string(),
            to: Vec::new(),
            file_dir: None,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct WatchConfig {
    /// More directories watched for summaries besides `paths.run_summary_dir` and
    /// `paths.night_summary_dir`; relative entries resolve against the config file's folder.
    pub extra_dirs: Vec<PathBuf>,
    /// Poll the directories instead of inotify (network filesystems such as NFS or Lustre
    /// do not deliver inotify events written on other hosts).
    pub use_polling: bool,
    /// Polling period when `use_polling` is set.
    pub poll_interval_seconds: u64,
    /// Quiet time after the last change before a summary is read.
    pub debounce_ms: u64,
}

impl Default for WatchConfig {
    fn default() -> Self {
        Self { extra_dirs: Vec::new(), use_polling: false, poll_interval_seconds: 30, debounce_ms: 2000 }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct LoggingConfig {
    /// Folder of the daemon's rolling daily logs, relative to `data_root/osa_dir` unless absolute.
    pub dir: PathBuf,
    /// Days of logs kept by the cleanup schedule.
    pub keep_days: u32,
    /// Default filter (`RUST_LOG` syntax), overridden by `RUST_LOG`.
    pub level: String,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self { dir: PathBuf::from("log"), keep_days: 30, level: "info".to_string() }
    }
}

/// Finds the config file by the documented precedence.
pub fn locate(flag: Option<&Path>) -> ConfigSource {
    if let Some(path) = flag {
        return ConfigSource::Flag(path.to_path_buf());
    }
    if let Some(path) = std::env::var_os(ENV_CONFIG).filter(|v| !v.is_empty()) {
        return ConfigSource::Env(PathBuf::from(path));
    }
    let local = PathBuf::from("cfg/osa.toml");
    if local.is_file() {
        return ConfigSource::WorkingDir(local);
    }
    let system = PathBuf::from("/etc/osa/osa.toml");
    if system.is_file() {
        return ConfigSource::System(system);
    }
    ConfigSource::BuiltIn
}

impl Config {
    /// Loads, applies the environment overrides and validates.
    pub fn load(source: &ConfigSource) -> Result<Self, ConfigError> {
        let mut config = match source.path() {
            Some(path) => Self::from_file(path)?,
            None => Self::default(),
        };
        config.apply_env(|var| std::env::var(var).ok())?;
        config.validate(&source.to_string())?;
        Ok(config)
    }

    /// Reads a file; unknown keys are collected (all of them, not just the first) and reported
    /// as problems, since a misspelt key silently falling back to a default is the worst case.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        let mut config = Self::from_toml(&text).map_err(|e| match e {
            ConfigError::Syntax { source, .. } => ConfigError::Syntax { path: path.to_path_buf(), source },
            ConfigError::Invalid { problems, .. } => ConfigError::Invalid { path: path.display().to_string(), problems },
            other => other,
        })?;
        config.config_dir = path.parent().map(|p| if p.as_os_str().is_empty() { Path::new(".") } else { p }.to_path_buf());
        Ok(config)
    }

    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let syntax = |source| ConfigError::Syntax { path: PathBuf::from("<text>"), source: Box::new(source) };
        let deserializer = toml::Deserializer::parse(text).map_err(syntax)?;
        let mut unknown = Vec::new();
        let config: Config = serde_ignored::deserialize(deserializer, |key| unknown.push(key.to_string())).map_err(syntax)?;
        if unknown.is_empty() {
            return Ok(config);
        }
        unknown.sort();
        let problems = unknown.into_iter().map(|key| Problem { key, message: "unknown key (misspelt, or from a newer osa?)".to_string() }).collect();
        Err(ConfigError::Invalid { path: "<text>".to_string(), problems })
    }

    /// Applies `OSA_DATA_ROOT`, `OSA_DATABASE_URL` and `OSA_EXECUTOR`; `lookup` is the
    /// environment (a parameter so tests need not touch the process environment).
    pub fn apply_env(&mut self, lookup: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(root) = lookup(ENV_DATA_ROOT).filter(|v| !v.is_empty()) {
            let path = PathBuf::from(&root);
            if !path.is_absolute() {
                return Err(ConfigError::Env { var: ENV_DATA_ROOT, value: root, message: "must be an absolute path".to_string() });
            }
            self.paths.data_root = path;
        }
        if let Some(url) = lookup(ENV_DATABASE_URL).filter(|v| !v.is_empty()) {
            self.database.url = url;
        }
        if let Some(kind) = lookup(ENV_EXECUTOR).filter(|v| !v.is_empty()) {
            self.executor.kind = kind.parse().map_err(|e: crate::model::UnknownWord| ConfigError::Env {
                var: ENV_EXECUTOR,
                value: kind.clone(),
                message: e.to_string(),
            })?;
        }
        Ok(())
    }

    /// Checks every value; all problems are reported together, each with its key.
    pub fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let problems = self.problems();
        if problems.is_empty() { Ok(()) } else { Err(ConfigError::Invalid { path: origin.to_string(), problems }) }
    }

    pub fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        let mut bad = |key: &str, message: String| out.push(Problem { key: key.to_string(), message });

        if !self.paths.data_root.is_absolute() {
            bad("paths.data_root", "must be an absolute path".to_string());
        }
        // Products are written only under the data root: their folders must stay inside it.
        for (key, path) in [
            ("paths.analysis_dir", &self.paths.analysis_dir),
            ("paths.dl1_dir", &self.paths.dl1_dir),
            ("paths.dl2_dir", &self.paths.dl2_dir),
            ("paths.calibration_dir", &self.paths.calibration_dir),
            ("paths.osa_dir", &self.paths.osa_dir),
        ] {
            if let Err(message) = check_inside(&self.paths.data_root, path) {
                bad(key, message);
            }
        }
        for (key, path) in [
            ("paths.r0_dir", &self.paths.r0_dir),
            ("paths.run_summary_dir", &self.paths.run_summary_dir),
            ("paths.night_summary_dir", &self.paths.night_summary_dir),
            ("paths.run_catalog_dir", &self.paths.run_catalog_dir),
            ("paths.drive_dir", &self.paths.drive_dir),
        ] {
            if path.as_os_str().is_empty() {
                bad(key, "must not be empty".to_string());
            }
        }

        let url = &self.database.url;
        if !url.is_empty() && !url.starts_with("mysql://") && !url.starts_with("sqlite://") {
            bad("database.url", format!("{:?} must start with mysql:// or sqlite://", redact_url(url)));
        }

        if self.slurm.account.trim().is_empty() {
            bad("slurm.account", "must not be empty".to_string());
        }
        for (section, job) in [("slurm.calibration", &self.slurm.calibration), ("slurm.data", &self.slurm.data)] {
            if job.partition.is_empty() || job.partition.contains([' ', ',']) {
                bad(&format!("{section}.partition"), format!("{:?} must be one partition name", job.partition));
            }
            if !is_slurm_time(&job.time) {
                bad(&format!("{section}.time"), format!("{:?} is not a SLURM time (HH:MM:SS, D-HH:MM:SS)", job.time));
            }
            if !is_slurm_memory(&job.mem_per_cpu) {
                bad(&format!("{section}.mem_per_cpu"), format!("{:?} is not a SLURM memory size (e.g. 6G)", job.mem_per_cpu));
            }
        }

        for (key, value) in [("analysis.prod_id", &self.analysis.prod_id), ("analysis.dl1_prod_id", &self.analysis.dl1_prod_id)] {
            if value.is_empty() || value.contains(['/', ' ']) || value == ".." {
                bad(key, format!("{value:?} must be a single folder name"));
            }
        }
        for (list, steps) in [("analysis.calibration_steps", &self.analysis.calibration_steps), ("analysis.data_steps", &self.analysis.data_steps)] {
            if steps.is_empty() {
                bad(list, "needs at least one step".to_string());
            }
            let mut names = BTreeSet::new();
            for (i, s) in steps.iter().enumerate() {
                let key = format!("{list}[{i}]");
                if s.name.is_empty() {
                    bad(&format!("{key}.name"), "must not be empty".to_string());
                } else if !names.insert(s.name.as_str()) {
                    bad(&format!("{key}.name"), format!("{:?} is used by two steps", s.name));
                }
                if s.program.trim().is_empty() {
                    bad(&format!("{key}.program"), "must not be empty".to_string());
                }
                let single: Vec<String> = s.config.iter().cloned().chain(std::iter::once(s.prod_id.clone())).collect();
                for (field, templates) in [("args", &s.args), ("inputs", &s.inputs), ("outputs", &s.outputs), ("config/prod_id", &single)] {
                    for (j, template) in templates.iter().enumerate() {
                        if let Err(message) = check_template(template) {
                            bad(&format!("{key}.{field}[{j}]"), message);
                        }
                    }
                }
            }
        }

        if self.closer.not_before_hour > 23 {
            bad("closer.not_before_hour", "must be an hour of the day, 0 to 23".to_string());
        }
        for (i, template) in self.closer.merge_step.args.iter().chain(&self.closer.merge_step.outputs).enumerate() {
            if let Err(message) = check_template(template) {
                bad(&format!("closer.merge_step[{i}]"), message);
            }
        }
        if self.calibration.lookback_nights > 60 {
            bad("calibration.lookback_nights", "more than 60 nights back is surely a mistake".to_string());
        }
        if self.retries.tries_per_step == 0 {
            bad("retries.tries_per_step", "must be at least 1".to_string());
        }
        if self.retries.max_tries_per_run == 0 {
            bad("retries.max_tries_per_run", "must be at least 1".to_string());
        }
        if !is_slurm_time(&self.retries.more_time) {
            bad("retries.more_time", format!("{:?} is not a SLURM time", self.retries.more_time));
        }
        if !is_slurm_memory(&self.retries.more_memory) {
            bad("retries.more_memory", format!("{:?} is not a SLURM memory size", self.retries.more_memory));
        }
        for (i, failure) in self.retries.known_failures.iter().enumerate() {
            let key = format!("retries.known_failures[{i}]");
            if failure.slurm_state.is_none() && failure.exit_code.is_none() && failure.log_regex.is_none() {
                bad(&key, "needs at least one of slurm_state, exit_code, log_regex".to_string());
            }
            if let Some(pattern) = &failure.log_regex
                && let Err(e) = regex::Regex::new(pattern)
            {
                bad(&format!("{key}.log_regex"), format!("invalid regular expression: {e}"));
            }
        }

        for (key, cron) in
            [("schedules.poll", &self.schedules.poll), ("schedules.closer", &self.schedules.closer), ("schedules.cleanup", &self.schedules.cleanup)]
        {
            if let Err(message) = check_cron(cron) {
                bad(key, message);
            }
        }

        if self.mail.enabled {
            if self.mail.to.is_empty() {
                bad("mail.to", "mail is enabled but has no recipient".to_string());
            }
            for (i, address) in std::iter::once(&self.mail.from).chain(&self.mail.to).enumerate() {
                let key = if i == 0 { "mail.from".to_string() } else { format!("mail.to[{}]", i - 1) };
                if !address.contains('@') {
                    bad(&key, format!("{address:?} is not a mail address"));
                }
            }
        }
        if self.watch.use_polling && self.watch.poll_interval_seconds == 0 {
            bad("watch.poll_interval_seconds", "must be at least 1".to_string());
        }
        out
    }

    /// `paths.*` entries resolve against the data root unless absolute.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        self.paths.data_root.join(path)
    }

    /// Every directory where summaries appear, for the watcher.
    pub fn summary_dirs(&self) -> Vec<PathBuf> {
        let base = self.config_dir.clone().unwrap_or_else(|| PathBuf::from("."));
        let mut dirs = vec![self.resolve(&self.paths.run_summary_dir), self.resolve(&self.paths.night_summary_dir)];
        dirs.extend(self.watch.extra_dirs.iter().map(|d| base.join(d)));
        dirs
    }

    /// The database URL in effect: `OSA_DATABASE_URL` (applied at load), then the file, then
    /// an SQLite file under the data root.
    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!("sqlite://{}", self.resolve(&self.paths.osa_dir).join("osa.sqlite").display())
        } else {
            self.database.url.clone()
        }
    }

    /// The effective configuration as TOML, with any database password hidden.
    pub fn to_toml(&self) -> String {
        let mut shown = self.clone();
        shown.database.url = redact_url(&self.database_url());
        toml::to_string_pretty(&shown).expect("the config types always serialise")
    }
}

/// A known-failure rule's `slurm_state`: SLURM's word in the file, the typed state in memory,
/// both through the executor's state table, so a rule can only name a state tasks are stored
/// with.
mod slurm_state_word {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::executor::slurm::{failure_state, failure_words, state_word};
    use crate::model::TaskState;

    pub fn serialize<S: Serializer>(state: &Option<TaskState>, serializer: S) -> Result<S::Ok, S::Error> {
        match state.and_then(state_word) {
            Some(word) => serializer.serialize_some(word),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<TaskState>, D::Error> {
        let Some(word) = Option::<String>::deserialize(deserializer)? else { return Ok(None) };
        failure_state(&word).map(Some).ok_or_else(|| {
            let accepted: Vec<&str> = failure_words().map(|(w, _)| w).collect();
            serde::de::Error::custom(format!("{word:?} is not a SLURM failure state a rule can match ({})", accepted.join(", ")))
        })
    }
}

/// Hides the password of a `scheme://user:password@host` URL for messages and `config show`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    // The last `@` ends the credentials: a password may contain `@`.
    let Some((credentials, host)) = rest.rsplit_once('@') else { return url.to_string() };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

fn check_inside(root: &Path, path: &Path) -> Result<(), String> {
    if path.as_os_str().is_empty() {
        return Err("must not be empty".to_string());
    }
    if path.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(format!("{} must not contain `..`: products stay under paths.data_root", path.display()));
    }
    if path.is_absolute() && !path.starts_with(root) {
        return Err(format!("{} is outside paths.data_root {}", path.display(), root.display()));
    }
    Ok(())
}

fn check_template(template: &str) -> Result<(), String> {
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or_else(|| format!("{template:?}: `{{` without `}}`"))?;
        let name = &after[..close];
        if !PLACEHOLDERS.contains(&name) {
            return Err(format!("{template:?}: unknown placeholder {{{name}}} (known: {})", PLACEHOLDERS.join(", ")));
        }
        rest = &after[close + 1..];
    }
    Ok(())
}

fn check_cron(expression: &str) -> Result<(), String> {
    if expression.split_whitespace().count() != 6 {
        return Err(format!("{expression:?} needs 6 fields (seconds first), in UTC"));
    }
    // The same parser and settings tokio-cron-scheduler uses, so what passes here runs there.
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expression)
        .map(|_| ())
        .map_err(|e| format!("{expression:?} is not a valid cron expression: {e}"))
}

/// Seconds of a SLURM time (`MM`, `MM:SS`, `HH:MM:SS`, `D-HH[:MM[:SS]]`).
pub fn slurm_time_seconds(text: &str) -> Option<u64> {
    if !is_slurm_time(text) {
        return None;
    }
    let (days, clock) = match text.split_once('-') {
        Some((d, c)) => (d.parse::<u64>().ok()?, c),
        None => (0, text),
    };
    let parts: Vec<u64> = clock.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let seconds = match (days > 0, parts.as_slice()) {
        (false, [m]) => m * 60,
        (false, [m, s]) => m * 60 + s,
        (true, [h]) => h * 3600,
        (true, [h, m]) => h * 3600 + m * 60,
        (_, [h, m, s]) => h * 3600 + m * 60 + s,
        _ => return None,
    };
    Some(days * 86400 + seconds)
}

/// A SLURM time plus another, written `HH:MM:SS` (or `D-HH:MM:SS`).
pub fn add_slurm_times(a: &str, b: &str) -> Option<String> {
    let total = slurm_time_seconds(a)? + slurm_time_seconds(b)?;
    let (days, rest) = (total / 86400, total % 86400);
    let clock = format!("{:02}:{:02}:{:02}", rest / 3600, rest % 3600 / 60, rest % 60);
    Some(if days > 0 { format!("{days}-{clock}") } else { clock })
}

fn is_slurm_time(text: &str) -> bool {
    let (days, clock) = match text.split_once('-') {
        Some((d, c)) => (Some(d), c),
        None => (None, text),
    };
    if days.is_some_and(|d| d.is_empty() || !d.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    let parts: Vec<&str> = clock.split(':').collect();
    !parts.is_empty() && parts.len() <= 3 && parts.iter().all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
}

fn is_slurm_memory(text: &str) -> bool {
    let digits = text.trim_end_matches(['K', 'M', 'G', 'T']);
    text.len() - digits.len() <= 1 && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(Config::default().problems(), Vec::new());
    }

    #[test]
    fn unknown_keys_are_all_reported_with_their_path() {
        let err = Config::from_toml("[paths]\ndata_rot = \"/x\"\n[slurm.data]\nmemory = \"1G\"\n[nope]\n").unwrap_err();
        let ConfigError::Invalid { problems, .. } = err else { panic!("{err}") };
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["nope", "paths.data_rot", "slurm.data.memory"]);
    }

    #[test]
    fn wrong_types_name_the_key_and_line() {
        let err = Config::from_toml("[calibration]\n\nlookback_nights = \"seven\"\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("lookback_nights") && text.contains("line 3"), "{text}");
    }

    #[test]
    fn bad_values_are_reported_with_their_keys() {
        let mut config = Config::default();
        config.paths.dl1_dir = PathBuf::from("../elsewhere");
        config.paths.dl2_dir = PathBuf::from("/tmp/dl2");
        config.database.url = "postgres://u:secret@h/db".to_string();
        config.slurm.data.partition = "short, long".to_string();
        config.slurm.calibration.time = "1h".to_string();
        config.slurm.data.mem_per_cpu = "6GB".to_string();
        config.schedules.poll = "* * * * *".to_string();
        config.schedules.closer = "0 61 * * * *".to_string();
        config.analysis.data_steps[0].args.push("{r0_fil}".to_string());
        config.retries.known_failures[0].log_regex = Some("(".to_string());
        let problems = config.problems();
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "paths.dl1_dir",
                "paths.dl2_dir",
                "database.url",
                "slurm.calibration.time",
                "slurm.data.partition",
                "slurm.data.mem_per_cpu",
                "analysis.data_steps[0].args[7]",
                "retries.known_failures[0].log_regex",
                "schedules.poll",
                "schedules.closer",
            ]
        );
        assert!(!problems[2].message.contains("secret"), "password leaked: {}", problems[2].message);
    }

    #[test]
    fn environment_overrides_win_and_are_checked() {
        let mut config = Config::default();
        let env = |var: &str| match var {
            ENV_DATA_ROOT => Some("/data/lst".to_string()),
            ENV_DATABASE_URL => Some("mysql://root@127.0.0.1/osa".to_string()),
            ENV_EXECUTOR => Some("slurm".to_string()),
            _ => None,
        };
        config.apply_env(env).unwrap();
        assert_eq!(config.paths.data_root, PathBuf::from("/data/lst"));
        assert_eq!(config.database_url(), "mysql://root@127.0.0.1/osa");
        assert_eq!(config.executor.kind, ExecutorKind::Slurm);

        let err = Config::default().apply_env(|v| (v == ENV_EXECUTOR).then(|| "pbs".to_string())).unwrap_err();
        assert!(err.to_string().contains("OSA_EXECUTOR"), "{err}");
        let err = Config::default().apply_env(|v| (v == ENV_DATA_ROOT).then(|| "data".to_string())).unwrap_err();
        assert!(err.to_string().contains("OSA_DATA_ROOT"), "{err}");
    }

    #[test]
    fn default_database_is_sqlite_under_the_data_root() {
        let mut config = Config::default();
        config.paths.data_root = PathBuf::from("/d");
        assert_eq!(config.database_url(), "sqlite:///d/OSA/osa.sqlite");
    }

    #[test]
    fn slurm_times_add_up() {
        assert_eq!(slurm_time_seconds("01:15:00"), Some(4500));
        assert_eq!(slurm_time_seconds("30"), Some(1800));
        assert_eq!(slurm_time_seconds("0:20"), Some(20));
        assert_eq!(slurm_time_seconds("1-02:00:00"), Some(93600));
        assert_eq!(add_slurm_times("01:15:00", "01:00:00").as_deref(), Some("02:15:00"));
        assert_eq!(add_slurm_times("23:00:00", "02:00:00").as_deref(), Some("1-01:00:00"));
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact_url("mysql://osa:pw@db:3306/osa"), "mysql://osa:***@db:3306/osa");
        assert_eq!(redact_url("mysql://root@127.0.0.1/osa"), "mysql://root@127.0.0.1/osa");
        assert_eq!(redact_url("sqlite:///x.db"), "sqlite:///x.db");
        assert_eq!(redact_url("mysql://osa:p@ss@db/osa"), "mysql://osa:***@db/osa");
    }

    #[test]
    fn shown_config_loads_back_identically() {
        let config = Config::default();
        let again = Config::from_toml(&config.to_toml()).unwrap();
        assert_eq!(again.paths, config.paths);
        assert_eq!(again.analysis, config.analysis);
        assert_eq!(again.retries, config.retries);
    }
}
