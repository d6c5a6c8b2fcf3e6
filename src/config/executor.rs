//! `[executor]` and `[slurm]`: which executor runs the array jobs, and what SLURM is asked for
//! (with SLURM's own time and memory spellings checked here).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::model::ExecutorKind;

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
    /// Seconds one sbatch/squeue/sacct/scancel call is waited for; then its outcome is unknown
    /// (a poll: job states unknown this cycle; a submission: looked up by its comment before
    /// any new one), never a failure. A query is killed; an sbatch is left to finish.
    pub command_timeout_seconds: u64,
    /// Whose jobs a poll reads: the account the daemon runs as, so that `osa status` under a
    /// shifter's own account shows them. Empty: the user running the command.
    pub user: String,
}

impl Default for SlurmConfig {
    fn default() -> Self {
        Self {
            account: "dpps".to_string(),
            calibration: SlurmJobConfig { partition: "short".to_string(), time: "01:15:00".to_string(), mem_per_cpu: "3G".to_string() },
            data: SlurmJobConfig { partition: "short".to_string(), time: "01:15:00".to_string(), mem_per_cpu: "6G".to_string() },
            extra_sbatch_args: Vec::new(),
            bin_dir: None,
            command_timeout_seconds: 60,
            user: String::new(),
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

/// An account or partition name: letters, digits, `_`, `.`, `-`.
pub(super) fn is_slurm_token(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

pub(super) fn is_slurm_time(text: &str) -> bool {
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

pub(super) fn is_slurm_memory(text: &str) -> bool {
    let digits = text.trim_end_matches(['K', 'M', 'G', 'T']);
    text.len() - digits.len() <= 1 && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}
