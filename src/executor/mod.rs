//! Executors run array jobs: [`slurm`] in production (sbatch/squeue/sacct/scancel), [`local`]
//! as the embedded default (child processes on this machine, same states, same dependencies).
//! Both sit behind [`Executor`]; the sequencer never knows which one it talks to.
//!
//! A job is found again by its comment key (`osa:<production>:<night>:<run>:<attempt>`), not by its name:
//! retries and reruns reuse the job name.

pub mod local;
pub mod slurm;

use std::path::PathBuf;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

pub use crate::model::TaskState;
use crate::model::{ExecutorKind, Stage};
use crate::night::NightDate;

/// What to submit: the script holds the resources (`#SBATCH` lines); the rest is per call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpec {
    pub name: String,
    /// `osa:<night>:<run>:<attempt>`
    pub comment: String,
    pub script: PathBuf,
    /// Working directory of the tasks (`--chdir`).
    pub workdir: PathBuf,
    /// Array task indices (`--array`); `None` for a single-task job.
    pub array: Option<Vec<u32>>,
    /// Walltime, enforced by the local executor (SLURM reads `--time` from the script).
    pub time_limit_seconds: Option<u64>,
    /// `afterok` dependencies on these job ids (all must complete).
    #[serde(deserialize_with = "job_ids")]
    pub after: Vec<String>,
    /// stdout / stderr file patterns relative to `workdir`, with `%A`, `%a`, `%4a`, `%j`.
    pub output: String,
    pub error: String,
}

/// Job ids as a list; a spool written by an older osa holds one id or `null`.
fn job_ids<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Ids {
        One(Option<String>),
        Many(Vec<String>),
    }
    Ok(match Ids::deserialize(deserializer)? {
        Ids::One(id) => id.into_iter().collect(),
        Ids::Many(ids) => ids,
    })
}

/// What a comment key names: one submission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobKey {
    pub night: NightDate,
    pub run: u32,
    pub stage: Stage,
    pub attempt: u32,
}

/// The comment key of a submission: `osa:<production>:<night>:<run>:<attempt>` for a run's
/// sequence, `...:<attempt>:<stage>` for a closing stage. The production keeps apart the jobs
/// of one night processed twice (keys of jobs from before productions lack it).
pub fn comment_key(production: &str, night: NightDate, run: u32, stage: &Stage, attempt: u32) -> String {
    match stage {
        Stage::Sequence => format!("osa:{production}:{night}:{run}:{attempt}"),
        Stage::Closing(name) => format!("osa:{production}:{night}:{run}:{attempt}:{name}"),
    }
}

/// Parses a comment key back (with or without its production).
pub fn parse_comment_key(comment: &str) -> Option<JobKey> {
    let mut parts = comment.strip_prefix("osa:")?.split(':').peekable();
    if parts.peek()?.parse::<NightDate>().is_err() {
        parts.next();
    }
    let night = parts.next()?.parse().ok()?;
    let run = parts.next()?.parse().ok()?;
    let attempt = parts.next()?.parse().ok()?;
    let stage = match parts.next() {
        None => Stage::Sequence,
        Some(name) => match name.parse().ok()? {
            Stage::Sequence => return None,
            stage => stage,
        },
    };
    parts.next().is_none().then_some(JobKey { night, run, stage, attempt })
}

/// One task as the scheduler reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStatus {
    pub job_id: String,
    /// Array index; `None` for a single-task job.
    pub task: Option<u32>,
    pub name: String,
    pub comment: String,
    pub state: TaskState,
    /// Why it is pending (`Dependency`, `DependencyNeverSatisfied`, `Resources`, ...).
    pub reason: Option<String>,
    pub exit_code: Option<i64>,
    pub cpu_seconds: Option<i64>,
    pub max_rss_kb: Option<i64>,
    pub node: Option<String>,
    pub started_at: Option<NaiveDateTime>,
    pub ended_at: Option<NaiveDateTime>,
}

/// Everything one poll saw: osa's jobs only (comment keys starting `osa:`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub tasks: Vec<TaskStatus>,
}

impl Snapshot {
    /// The job id submitted with this comment key, if the scheduler knows it.
    pub fn job_with_comment(&self, comment: &str) -> Option<&str> {
        self.tasks.iter().find(|t| t.comment == comment).map(|t| t.job_id.as_str())
    }

    pub fn tasks_of(&self, job_id: &str) -> impl Iterator<Item = &TaskStatus> {
        self.tasks.iter().filter(move |t| t.job_id == job_id)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    #[error("cannot run `{command}`: {source}")]
    Spawn { command: String, source: std::io::Error },
    #[error("`{command}` failed ({status}):\n{}", frame(stderr))]
    Failed { command: String, status: String, stderr: String, transient: bool },
    #[error("`{command}` printed something unexpected: {text:?}")]
    UnexpectedOutput { command: String, text: String },
    #[error("`{command}`: unknown job state {state:?} in {line:?}")]
    UnknownState { command: String, state: String, line: String },
    #[error("local executor: {path}: {message}")]
    Spool { path: PathBuf, message: String },
    #[error("an earlier sbatch of {comment} still runs (it holds {lock}): its outcome is awaited")]
    InFlight { comment: String, lock: PathBuf },
    #[error("cannot lock {path} for the submission: {source}")]
    Lock { path: PathBuf, source: std::io::Error },
    /// No answer within `slurm.command_timeout_seconds` (a query is killed, an `sbatch` left
    /// to finish): whether it took effect is unknown.
    #[error("`{command}` did not answer within {seconds} s: its outcome is unknown")]
    TimedOut { command: String, seconds: u64 },
}

impl ExecutorError {
    /// The call may or may not have taken effect (busy or unreachable controller, garbled
    /// answer): look the job up by its comment key before submitting again.
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, Self::Failed { transient: true, .. } | Self::UnexpectedOutput { .. } | Self::Spawn { .. } | Self::TimedOut { .. })
    }
}

/// Frames a subprocess's stderr so it reads as quoted output.
fn frame(stderr: &str) -> String {
    stderr.trim_end().lines().map(|l| format!("  | {l}")).collect::<Vec<_>>().join("\n")
}

pub trait Executor: Send + Sync {
    fn kind(&self) -> ExecutorKind;
    /// Submits; returns the job id.
    fn submit(&self, spec: &JobSpec) -> Result<String, ExecutorError>;
    /// One look at every osa job: one `squeue` and one `sacct` call for SLURM. No side effects.
    fn poll(&self) -> Result<Snapshot, ExecutorError>;
    /// Whether a submission of this spec started by an earlier process (a daemon killed while
    /// its `sbatch` ran) may still be in flight: its outcome is unknown until it ends.
    fn submission_in_flight(&self, _spec: &JobSpec) -> bool {
        false
    }
    /// Repairs what a restart left behind (the local executor restarts dead supervisors).
    fn tend(&self) -> Result<(), ExecutorError> {
        Ok(())
    }
    fn cancel(&self, job_id: &str) -> Result<(), ExecutorError>;
}

/// `--array` text for indices: consecutive ones become ranges (`0-3,7,9-10`).
pub fn array_spec(indices: &[u32]) -> String {
    let mut sorted = indices.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        while i + 1 < sorted.len() && sorted[i + 1] == sorted[i] + 1 {
            i += 1;
        }
        parts.push(if sorted[i] == start { start.to_string() } else { format!("{start}-{}", sorted[i]) });
        i += 1;
    }
    parts.join(",")
}

/// Indices of an `--array` text (`0-3,7`; a `%N` throttle suffix is ignored).
pub fn parse_array_spec(spec: &str) -> Vec<u32> {
    let spec = spec.split('%').next().unwrap_or("");
    let mut out = Vec::new();
    for part in spec.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
                    out.extend(a..=b);
                }
            }
            None => out.extend(part.parse::<u32>().ok()),
        }
    }
    out
}

/// Expands SLURM's filename pattern: `%A` array job id, `%a` task id (`%4a` zero-padded),
/// `%j` job id, `%%` a percent sign.
pub fn expand_pattern(pattern: &str, job_id: &str, task: Option<u32>) -> String {
    let mut out = String::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut width = String::new();
        while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(*d);
            chars.next();
        }
        let width: usize = width.parse().unwrap_or(0);
        match chars.next() {
            Some('A') | Some('j') => out.push_str(&format!("{job_id:0>width$}")),
            Some('a') => out.push_str(&format!("{:0>width$}", task.unwrap_or(0))),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comment_keys_round_trip() {
        let night: NightDate = "2026-01-05".parse().unwrap();
        let key = comment_key("v0.10", night, 12003, &Stage::Sequence, 2);
        assert_eq!(key, "osa:v0.10:2026-01-05:12003:2");
        assert_eq!(parse_comment_key(&key), Some(JobKey { night, run: 12003, stage: Stage::Sequence, attempt: 2 }));
        let dl2 = Stage::closing("dl2");
        let key = comment_key("v0.11", night, 12003, &dl2, 1);
        assert_eq!(key, "osa:v0.11:2026-01-05:12003:1:dl2");
        assert_eq!(parse_comment_key(&key), Some(JobKey { night, run: 12003, stage: dl2.clone(), attempt: 1 }));
        assert_eq!(
            parse_comment_key("osa:2026-01-05:12003:1:dl2"),
            Some(JobKey { night, run: 12003, stage: dl2, attempt: 1 }),
            "from before productions"
        );
        assert_eq!(parse_comment_key("osa:v0.10:2026-01-05:12003:1:sequence"), None, "one spelling per key");
        assert_eq!(parse_comment_key("osa:2026-01-05:12003"), None);
        assert_eq!(parse_comment_key("someone else's job"), None);
    }

    #[test]
    fn array_specs_round_trip() {
        assert_eq!(array_spec(&[0, 1, 2, 3, 7, 9, 10]), "0-3,7,9-10");
        assert_eq!(array_spec(&[5]), "5");
        assert_eq!(parse_array_spec("0-3,7,9-10%2"), [0, 1, 2, 3, 7, 9, 10]);
        assert_eq!(parse_array_spec("0"), [0]);
    }

    #[test]
    fn output_patterns_expand_like_slurm() {
        assert_eq!(expand_pattern("log/Run01807.%4a_jobid_%A.out", "1", Some(2)), "log/Run01807.0002_jobid_1.out");
        assert_eq!(expand_pattern("log/calib_%j.err", "77", None), "log/calib_77.err");
        assert_eq!(expand_pattern("100%%_%a", "1", Some(3)), "100%_3");
    }
}
