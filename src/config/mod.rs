//! The site configuration: one TOML file (`cfg/osa.toml` documents every key) read into typed,
//! defaulted structs, then validated as a whole before anything runs, so a bad cron string or
//! an unknown key is reported at start-up with the key's name rather than at 3 a.m.
//!
//! Lookup order: `--config FILE`, then `OSA_CONFIG`, then `./cfg/osa.toml`, then
//! `/etc/osa/osa.toml`; with none of them the built-in defaults apply (fine for reading
//! commands and the demo).
//!
//! Environment variables read here (they win over the file, for the values that differ per
//! machine): `OSA_CONFIG`, `OSA_DATA_ROOT`, `OSA_DATABASE_URL`, `OSA_EXECUTOR`, `OSA_PROD_ID`.
//!
//! One file per section (as crates.io splits its config): [`paths`], [`database`],
//! [`executor`] (`[executor]` and `[slurm]`), [`analysis`] (`[analysis]` and `[calibration]`),
//! [`retries`], [`closer`] (`[closer]` and `[mail]`), [`daemon`] (`[schedules]`, `[watch]`,
//! `[logging]`), [`limits`], [`inputs`]. This file holds the whole, its loading and the validation of every key.

mod analysis;
mod closer;
mod daemon;
mod database;
mod executor;
mod inputs;
mod limits;
mod paths;
mod retries;

pub use analysis::{AnalysisConfig, CLOSING_PLACEHOLDERS, CalibrationConfig, PLACEHOLDERS, StepConfig};
pub use closer::{CloserConfig, MailConfig, StageConfig, StageKind, StageScope};
pub use daemon::{LoggingConfig, ScheduleConfig, WatchConfig, WebConfig};
pub use database::{DatabaseConfig, redact_url};
pub use executor::{ExecutorConfig, SlurmConfig, SlurmJobConfig, add_slurm_times, slurm_time_seconds};
pub use inputs::InputsConfig;
pub use limits::LimitsConfig;
pub use paths::PathsConfig;
pub use retries::{FailureAction, KnownFailure, RetryConfig};

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use analysis::check_template;
use daemon::check_cron;
use executor::{is_slurm_memory, is_slurm_time, is_slurm_token};
use paths::check_inside;

pub const ENV_CONFIG: &str = "OSA_CONFIG";
pub const ENV_DATA_ROOT: &str = "OSA_DATA_ROOT";
pub const ENV_DATABASE_URL: &str = "OSA_DATABASE_URL";
pub const ENV_EXECUTOR: &str = "OSA_EXECUTOR";
/// The production to work on (`analysis.prod_id`); `osa --prod-id` sets it.
pub const ENV_PROD_ID: &str = "OSA_PROD_ID";

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

    /// The file, absolute, as status documents name it (`None`: the built-in defaults).
    pub fn shown(&self) -> Option<String> {
        self.path().map(|p| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()).display().to_string())
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
    /// How large a night's input may be.
    pub limits: LimitsConfig,
    /// What must be on disk before a run is submitted.
    pub inputs: InputsConfig,
    /// The status page the daemon serves.
    pub web: WebConfig,
    /// The directory of the config file: relative `watch.extra_dirs` resolve against it.
    #[serde(skip)]
    pub config_dir: Option<PathBuf>,
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

    /// Applies `OSA_DATA_ROOT`, `OSA_DATABASE_URL`, `OSA_EXECUTOR` and `OSA_PROD_ID`; `lookup` is the
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
        if let Some(prod_id) = lookup(ENV_PROD_ID).filter(|v| !v.is_empty()) {
            // Validated with the rest of the config (a single folder name).
            self.analysis.prod_id = prod_id;
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
        if self.web.listen.parse::<std::net::SocketAddr>().is_err() {
            bad("web.listen", format!("{:?} is not an address and port (such as 127.0.0.1:8080)", self.web.listen));
        }
        if self.web.refresh_seconds == 0 {
            bad("web.refresh_seconds", "must be at least 1".to_string());
        }
        if self.web.cache_seconds == 0 {
            bad("web.cache_seconds", "must be at least 1 (a page's data read once for all its viewers)".to_string());
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

        // Every value written into a job script is a plain token: a newline in one would
        // become a command of its own in every job.
        if !is_slurm_token(&self.slurm.account) {
            bad("slurm.account", format!("{:?} must be one SLURM name (letters, digits, _ . -)", self.slurm.account));
        }
        for (i, arg) in self.slurm.extra_sbatch_args.iter().enumerate() {
            if !arg.starts_with("--") || arg.chars().any(|c| c.is_whitespace() || c.is_control() || c == '\'' || c == '"') {
                bad(
                    &format!("slurm.extra_sbatch_args[{i}]"),
                    format!("{arg:?} must be one --option[=value] without spaces, quotes or control characters"),
                );
            }
        }
        for (key, path) in [("paths.data_root", &self.paths.data_root), ("paths.analysis_dir", &self.paths.analysis_dir)] {
            if path.to_string_lossy().chars().any(char::is_control) {
                bad(key, format!("{path:?} contains control characters"));
            }
        }
        for (section, job) in [("slurm.calibration", &self.slurm.calibration), ("slurm.data", &self.slurm.data)] {
            if !is_slurm_token(&job.partition) {
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
            if !is_slurm_token(value) || value == ".." || value == "." {
                bad(key, format!("{value:?} must be a single folder name"));
            }
        }
        // The database keeps a production in 64 characters.
        if self.analysis.prod_id.len() > 64 {
            bad("analysis.prod_id", format!("{} characters: at most 64", self.analysis.prod_id.len()));
        }
        // A production leads the jobs' comment keys, before the night: it must not read as one.
        if self.analysis.prod_id.parse::<crate::night::NightDate>().is_ok() {
            bad("analysis.prod_id", format!("{:?} reads as a date: name the production (e.g. v0.10)", self.analysis.prod_id));
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
        self.stage_problems(&mut bad);
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

        for (key, cron) in [
            ("schedules.poll", &self.schedules.poll),
            ("schedules.closer", &self.schedules.closer),
            ("schedules.cleanup", &self.schedules.cleanup),
            ("schedules.verify", &self.schedules.verify),
        ] {
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
        if !(60..=86_400).contains(&self.schedules.lease_stale_seconds) {
            bad("schedules.lease_stale_seconds", "must be from 60 (well above the poll period) to 86400".to_string());
        }
        if self.watch.startup_scan_nights > 60 {
            bad("watch.startup_scan_nights", "more than 60 nights back is surely a mistake".to_string());
        }
        if self.watch.settle_seconds > 3600 {
            bad("watch.settle_seconds", "more than an hour would hold nights back too long".to_string());
        }
        for (key, zero) in [
            ("limits.summary_max_bytes", self.limits.summary_max_bytes == 0),
            ("limits.summary_max_line_length", self.limits.summary_max_line_length == 0),
            ("limits.max_runs_per_night", self.limits.max_runs_per_night == 0),
            ("limits.max_subruns_per_run", self.limits.max_subruns_per_run == 0),
        ] {
            if zero {
                bad(key, "must be at least 1".to_string());
            }
        }
        if self.watch.use_polling && self.watch.poll_interval_seconds == 0 {
            bad("watch.poll_interval_seconds", "must be at least 1".to_string());
        }
        out
    }

    fn stage_problems(&self, bad: &mut impl FnMut(&str, String)) {
        let analysis = &self.analysis;
        if analysis.active_pre_stages().next().is_some() {
            match analysis.data_steps.iter().position(|s| s.name == analysis.pre_stages_before) {
                None => bad("analysis.pre_stages_before", format!("{:?} is not a name of analysis.data_steps", analysis.pre_stages_before)),
                Some(0) => bad("analysis.pre_stages_before", "the first data step: the run's first part would run nothing".to_string()),
                Some(_) => {}
            }
        }
        for (i, stage) in analysis.pre_stages.iter().enumerate() {
            if stage.scope == StageScope::Night {
                bad(&format!("analysis.pre_stages[{i}].scope"), "a pre-stage belongs to one run: scope \"run\"".to_string());
            }
        }
        let mut names: BTreeSet<&str> = BTreeSet::new();
        // A pre-stage runs before the run's products reach the final layout: the closing
        // placeholders (merged files, DL2) name nothing yet.
        self.stage_list_problems("analysis.pre_stages", &analysis.pre_stages, analysis::check_template, &mut names, bad);
        self.stage_list_problems("closer.stages", &self.closer.stages, analysis::check_stage_template, &mut names, bad);
    }

    /// One list of stages: `names` holds the stage names seen in earlier lists (a name is
    /// one job of a run, whichever list it is in); `after` names earlier stages of the list.
    fn stage_list_problems<'s>(
        &self,
        list: &str,
        stages: &'s [StageConfig],
        check_template: fn(&str) -> Result<(), String>,
        names: &mut BTreeSet<&'s str>,
        bad: &mut impl FnMut(&str, String),
    ) {
        let steps: BTreeSet<&str> = self.analysis.data_steps.iter().chain(&self.analysis.calibration_steps).map(|s| s.name.as_str()).collect();
        let mut seen: Vec<&StageConfig> = Vec::new();
        for (i, stage) in stages.iter().enumerate() {
            let key = format!("{list}[{i}]");
            match stage.name.parse::<crate::model::Stage>() {
                Err(e) => bad(&format!("{key}.name"), e.to_string()),
                Ok(crate::model::Stage::Sequence) => bad(&format!("{key}.name"), "`sequence` names the runs' own jobs".to_string()),
                Ok(_) if !names.insert(stage.name.as_str()) => bad(&format!("{key}.name"), format!("{:?} is used by two stages", stage.name)),
                Ok(_) if steps.contains(stage.name.as_str()) => {
                    bad(&format!("{key}.name"), format!("{:?} is also an analysis step: history would mix them", stage.name))
                }
                Ok(_) => {}
            }
            if stage.program.trim().is_empty() {
                bad(&format!("{key}.program"), "must not be empty".to_string());
            }
            for (j, name) in stage.after.iter().enumerate() {
                // Earlier in the list only: the stages form no cycle.
                match seen.iter().find(|s| s.name == *name) {
                    None => bad(&format!("{key}.after[{j}]"), format!("{name:?} is not a stage listed before this one")),
                    Some(parent) if stage.scope == StageScope::Run && parent.scope == StageScope::Night => {
                        bad(&format!("{key}.after[{j}]"), format!("a run stage cannot wait for the night stage {name:?}"))
                    }
                    Some(_) => {}
                }
            }
            let single: Vec<String> = stage.config.iter().cloned().chain(std::iter::once(stage.prod_id.clone())).collect();
            for (field, templates) in [("args", &stage.args), ("inputs", &stage.inputs), ("outputs", &stage.outputs), ("config/prod_id", &single)] {
                for (j, template) in templates.iter().enumerate() {
                    if let Err(message) = check_template(template) {
                        bad(&format!("{key}.{field}[{j}]"), message);
                    }
                }
            }
            if let Some(partition) = &stage.partition
                && !is_slurm_token(partition)
            {
                bad(&format!("{key}.partition"), format!("{partition:?} must be one partition name"));
            }
            if let Some(time) = &stage.time
                && !is_slurm_time(time)
            {
                bad(&format!("{key}.time"), format!("{time:?} is not a SLURM time (HH:MM:SS, D-HH:MM:SS)"));
            }
            if let Some(memory) = &stage.mem_per_cpu
                && !is_slurm_memory(memory)
            {
                bad(&format!("{key}.mem_per_cpu"), format!("{memory:?} is not a SLURM memory size (e.g. 6G)"));
            }
            seen.push(stage);
        }
    }

    /// A closing stage or a pre-stage, by name.
    pub fn stage(&self, name: &str) -> Option<&StageConfig> {
        self.closer.stage(name).or_else(|| self.analysis.pre_stages.iter().find(|s| s.name == name))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ExecutorKind;

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
            ENV_PROD_ID => Some("v0.11".to_string()),
            _ => None,
        };
        config.apply_env(env).unwrap();
        assert_eq!(config.paths.data_root, PathBuf::from("/data/lst"));
        assert_eq!(config.database_url(), "mysql://root@127.0.0.1/osa");
        assert_eq!(config.executor.kind, ExecutorKind::Slurm);
        assert_eq!(config.analysis.prod_id, "v0.11");
        let mut bad = Config::default();
        bad.apply_env(|v| (v == ENV_PROD_ID).then(|| "../v0.11".to_string())).unwrap();
        assert!(bad.problems().iter().any(|p| p.key == "analysis.prod_id"), "a production is one folder name");
        let mut dated = Config::default();
        dated.apply_env(|v| (v == ENV_PROD_ID).then(|| "2026-01-05".to_string())).unwrap();
        assert!(dated.problems().iter().any(|p| p.key == "analysis.prod_id" && p.message.contains("reads as a date")));

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
