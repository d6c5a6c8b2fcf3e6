//! The domain vocabulary every other module speaks: what a run is, what a sequence is, which
//! calibration a night uses, and where a task, a job and a night stand. Plain data and pure
//! functions; it imports nothing of osa but `night`.
//!
//! Each state has two spellings, both written here once: the word stored in the database
//! (`as_str`, read back with `FromStr`, an unknown word is an error) and the words shown to
//! operators (`Display`). SLURM's own spellings live in the executor's state table
//! (`executor::slurm::STATES`), the only place that reads them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::night::NightDate;

/// A stored word that names no value of its type.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a known {what} (expected one of: {expected})")]
pub struct UnknownWord {
    pub what: &'static str,
    pub value: String,
    pub expected: String,
}

/// An enum whose variants are stored as fixed words: `as_str`, `ALL` and `FromStr` from one
/// list, so the two directions cannot drift apart.
macro_rules! stored_words {
    ($name:ident, $what:literal, { $($variant:ident => $word:literal),+ $(,)? }) => {
        impl $name {
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The word the database stores.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $(Self::$variant => $word),+
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownWord;
            fn from_str(text: &str) -> Result<Self, UnknownWord> {
                Self::ALL.iter().copied().find(|v| v.as_str() == text).ok_or_else(|| UnknownWord {
                    what: $what,
                    value: text.to_string(),
                    expected: Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", "),
                })
            }
        }
    };
}

/// Which executor runs the jobs.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq, diesel::AsExpression, diesel::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "lowercase")]
pub enum ExecutorKind {
    /// Child processes on this machine: the embedded default for demos and newcomers.
    #[default]
    Local,
    /// sbatch/squeue/sacct: production.
    Slurm,
}

stored_words!(ExecutorKind, "executor", { Local => "local", Slurm => "slurm" });

impl fmt::Display for ExecutorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a run is, whatever the generation spelt it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, diesel::AsExpression, diesel::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunType {
    /// DRS4 baseline run (PEDESTAL in v1).
    Drs4,
    /// Pedestal + flat-field calibration run (CALIBRATION in v1, CALI in v2 and early ECSV).
    Pedcalib,
    /// Sky data.
    Data,
    /// The writer could not decide (CONF early, ERROR now): the R0 files decide.
    Error,
    /// Hand-edited by an operator to keep the run out of the analysis (EDATA, ERRPEDCALIB):
    /// never processed and never second-guessed from R0.
    Excluded,
    /// A spelling no generation uses; kept, with a warning, and the R0 files decide.
    Unknown,
}

stored_words!(RunType, "run type", {
    Drs4 => "DRS4",
    Pedcalib => "PEDCALIB",
    Data => "DATA",
    Error => "ERROR",
    Excluded => "EXCLUDED",
    Unknown => "UNKNOWN",
});

impl RunType {
    /// Maps every spelling of every generation (case-insensitive, surrounding space ignored).
    pub fn from_summary(text: &str) -> Self {
        match text.trim().to_ascii_uppercase().as_str() {
            "DRS4" | "PEDESTAL" => Self::Drs4,
            "PEDCALIB" | "CALI" | "CALIBRATION" => Self::Pedcalib,
            "DATA" => Self::Data,
            "ERROR" | "CONF" => Self::Error,
            "EDATA" | "ERRPEDCALIB" | "EDRS4" | "EPEDCALIB" => Self::Excluded,
            _ => Self::Unknown,
        }
    }

    /// Whether the summary's word is doubtful enough that the R0 verdict decides.
    pub fn needs_r0_verdict(&self) -> bool {
        matches!(self, Self::Error | Self::Unknown)
    }

    /// The type the planner uses: the summary's, unless it is doubtful and R0 gave a verdict.
    pub fn effective(self, r0: Option<RunType>) -> Option<RunType> {
        if self.needs_r0_verdict() { r0 } else { Some(self) }
    }
}

impl fmt::Display for RunType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A sequence processes one run: the night's calibration, or a DATA run chained on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, diesel::AsExpression, diesel::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "snake_case")]
pub enum SequenceKind {
    Calibration,
    Data,
}

stored_words!(SequenceKind, "sequence kind", { Calibration => "calibration", Data => "data" });

/// Which job of a run a submission is: the run's sequence (the calibration job, or the DATA
/// array job over its subruns), or a closing stage named by the configuration
/// (`closer.stages`: the DL1 merge, DL2, the data checks, ...). Stored as the word
/// `sequence` or the stage's name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, diesel::AsExpression, diesel::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum Stage {
    #[default]
    Sequence,
    Closing(String),
}

/// The run number night-wide stages (the long-term data check) are stored under.
pub const NIGHT_WIDE: u32 = 0;

impl Stage {
    pub const SEQUENCE: &'static str = "sequence";

    /// The word the database stores.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Sequence => Self::SEQUENCE,
            Self::Closing(name) => name,
        }
    }

    pub fn closing(name: &str) -> Self {
        if name == Self::SEQUENCE { Self::Sequence } else { Self::Closing(name.to_string()) }
    }

    pub fn is_sequence(&self) -> bool {
        *self == Self::Sequence
    }
}

impl FromStr for Stage {
    type Err = UnknownWord;
    fn from_str(text: &str) -> Result<Self, UnknownWord> {
        let word = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_';
        if text.is_empty() || !text.bytes().all(word) {
            return Err(UnknownWord { what: "stage", value: text.to_string(), expected: "`sequence` or a stage name of a-z, 0-9, _".to_string() });
        }
        Ok(Self::closing(text))
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Stage {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// The calibration a night's DATA runs use: its DRS4 and PEDCALIB runs and the night they
/// were taken (tonight, or an earlier closed night).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct CalibrationRuns {
    pub night: NightDate,
    pub drs4_run: u32,
    pub pedcal_run: u32,
}

/// Where one task (one subrun of one attempt) stands. The executor maps SLURM's states onto
/// these (one table, `executor::slurm::STATES`); `Blocked` is osa's own: a child cancelled
/// because its parent failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, diesel::AsExpression, diesel::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskState {
    Pending,
    Running,
    Completed,
    /// Non-zero exit (or SLURM's SPECIAL_EXIT).
    Failed,
    /// Killed at its walltime.
    Timeout,
    OutOfMemory,
    Cancelled,
    /// The node died under it.
    NodeFail,
    /// Preempted by a higher-priority job.
    Preempted,
    /// The node could not boot for it.
    BootFail,
    /// Not started before its deadline.
    Deadline,
    /// Cancelled by osa because its parent failed: waits for the parent, never a failure.
    Blocked,
}

stored_words!(TaskState, "task state", {
    Pending => "pending",
    Running => "running",
    Completed => "completed",
    Failed => "failed",
    Timeout => "timeout",
    OutOfMemory => "out_of_memory",
    Cancelled => "cancelled",
    NodeFail => "node_fail",
    Preempted => "preempted",
    BootFail => "boot_fail",
    Deadline => "deadline",
    Blocked => "blocked",
});

impl TaskState {
    pub fn is_finished(&self) -> bool {
        !matches!(self, Self::Pending | Self::Running | Self::Blocked)
    }

    /// Ended, and not well: what the closer's known-failure rules look at.
    pub fn is_failure(&self) -> bool {
        self.is_finished() && *self != Self::Completed
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Timeout => "timed out",
            Self::OutOfMemory => "out of memory",
            Self::Cancelled => "cancelled",
            Self::NodeFail => "node failure",
            Self::Preempted => "preempted",
            Self::BootFail => "boot failure",
            Self::Deadline => "deadline passed",
            Self::Blocked => "blocked",
        })
    }
}

/// What the scheduler last said about a submission (one job, all its tasks).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum JobOutcome {
    /// No information (poll failed or empty): never read as failure.
    Unknown,
    Pending,
    Running,
    Completed,
    /// Every task ended and this one ended badly.
    Failed {
        state: TaskState,
    },
    /// Waits for a parent that failed (SLURM's DependencyNeverSatisfied, or blocked by osa).
    DependencyNeverSatisfied,
}

/// A task's exit code when the disk was full: nothing wrong with the data, the task goes
/// again once there is room, and the try does not count (`jobrunner` writes it, `closer` reads
/// it).
pub const TASK_DISK_FULL: i64 = 6;

/// SLURM's pending reason for a job whose dependency failed.
pub const DEPENDENCY_NEVER_SATISFIED: &str = "DependencyNeverSatisfied";

impl JobOutcome {
    /// A job's outcome from its tasks' states (with their pending reasons), live or as last
    /// stored. `expected_tasks`: a task not seen yet may still run.
    pub fn from_tasks(states: &[(TaskState, Option<&str>)], expected_tasks: u32) -> Self {
        if states.is_empty() {
            return Self::Unknown;
        }
        if states.iter().any(|(s, reason)| *s == TaskState::Blocked || (*s == TaskState::Pending && *reason == Some(DEPENDENCY_NEVER_SATISFIED))) {
            return Self::DependencyNeverSatisfied;
        }
        let all_seen = states.len() as u32 >= expected_tasks;
        let all_finished = all_seen && states.iter().all(|(s, _)| s.is_finished());
        if let Some((bad, _)) = states.iter().find(|(s, _)| s.is_failure()) {
            // A job is judged once all its tasks ended: retrying while siblings still run would
            // race their outputs.
            return if all_finished { Self::Failed { state: *bad } } else { Self::Running };
        }
        if all_seen && states.iter().all(|(s, _)| *s == TaskState::Completed) {
            return Self::Completed;
        }
        if states.iter().any(|(s, _)| matches!(s, TaskState::Running | TaskState::Completed)) {
            return Self::Running;
        }
        Self::Pending
    }
}

/// Why a run failed, as the planner sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "cause", rename_all = "snake_case")]
pub enum FailureCause {
    /// Its job ran and a task ended in this state.
    Task { state: TaskState },
    /// The executor refused every submission (up to the retry limit).
    Refused { error: String },
}

impl FailureCause {
    /// The task state, where a task ran.
    pub fn task_state(&self) -> Option<TaskState> {
        match self {
            Self::Task { state } => Some(*state),
            Self::Refused { .. } => None,
        }
    }
}

impl fmt::Display for FailureCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Task { state } => f.write_str(match state {
                TaskState::Failed => "a task failed",
                TaskState::Timeout => "a task timed out",
                TaskState::OutOfMemory => "a task ran out of memory",
                TaskState::Cancelled => "a task was cancelled",
                TaskState::NodeFail => "a node failed",
                TaskState::Preempted => "a task was preempted",
                TaskState::BootFail => "a node failed to boot",
                TaskState::Deadline => "a task missed its deadline",
                TaskState::Pending | TaskState::Running | TaskState::Completed | TaskState::Blocked => "a task ended oddly",
            }),
            Self::Refused { error } => write!(f, "submission refused: {error}"),
        }
    }
}

/// Why a DATA sequence cannot go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockReason {
    NoCalibration,
    ParentFailed,
    ParentVetoed,
    ParentBlocked,
    /// A closing stage it waits for failed (or was vetoed, or blocked).
    StageFailed,
    /// DL2 without random-forest models for the run (which file said what: in the problems).
    NoModels,
}

impl fmt::Display for BlockReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NoCalibration => "no calibration",
            Self::ParentFailed => "calibration failed",
            Self::ParentVetoed => "calibration vetoed",
            Self::ParentBlocked => "calibration blocked",
            Self::StageFailed => "a stage it waits for failed",
            Self::NoModels => "no RF models",
        })
    }
}

/// Where a night stands, as stored and as shifters read it in `osa status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, diesel::AsExpression, diesel::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "snake_case")]
pub enum NightState {
    /// No usable summary yet.
    Waiting,
    /// Planned; jobs submitted or running.
    Running,
    /// Every job finished; the closer is verifying and merging.
    Closing,
    /// Closed: products verified, provenance merged.
    Closed,
    /// Something only a human can fix (a vetoed run, a rejected summary).
    NeedsHuman,
}

stored_words!(NightState, "night state", {
    Waiting => "waiting",
    Running => "running",
    Closing => "closing",
    Closed => "closed",
    NeedsHuman => "needs_human",
});

impl fmt::Display for NightState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NeedsHuman => "needs a human",
            other => other.as_str(),
        })
    }
}

/// What an operator (or the closer, on their behalf) did to a night or run: the audit log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, diesel::AsExpression, diesel::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    /// Process again: earlier submissions no longer count.
    Rerun,
    /// Closed by hand (`--force`).
    Close,
    /// Stop retrying a run until a human lifts it.
    Veto,
    /// The veto lifted: the run gets a fresh budget of tries.
    Unveto,
    /// The run failed on a full disk and goes again now there is room: that failure does
    /// not count as a try.
    DiskFull,
    /// Its jobs cancelled by an operator (`osa cancel`): held like a veto, until `osa veto
    /// lift` or `osa rerun`, so the closer does not retry what a human stopped.
    Cancel,
    /// The night's rows removed (`osa night forget`): the audit log keeps this row.
    Forget,
    /// The closer sent a failed run (or closing stage) again, by itself (actor `osa`); the
    /// reason says what failed and what changed. The closing mail lists them.
    Retry,
    /// The run's last subrun dropped (the known-failure action `drop_last_subrun`): the run
    /// closes with the subruns before it; the entry holds the new count.
    DropSubrun,
}

stored_words!(AuditAction, "audit action", { Rerun => "rerun", Close => "close", Veto => "veto", Unveto => "unveto", DiskFull => "disk_full", Cancel => "cancel", Forget => "forget", Retry => "retry", DropSubrun => "drop_subrun" });

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_words_round_trip_and_unknown_words_are_errors() {
        for state in TaskState::ALL {
            assert_eq!(state.as_str().parse::<TaskState>(), Ok(*state));
        }
        for state in NightState::ALL {
            assert_eq!(state.as_str().parse::<NightState>(), Ok(*state));
        }
        for kind in RunType::ALL {
            assert_eq!(kind.as_str().parse::<RunType>(), Ok(*kind));
        }
        let err = "WEIRD".parse::<TaskState>().unwrap_err();
        assert_eq!(err.value, "WEIRD");
        assert!(err.to_string().contains("not a known task state") && err.to_string().contains("out_of_memory"), "{err}");
    }

    #[test]
    fn operators_read_words_not_debug_text() {
        assert_eq!(BlockReason::NoCalibration.to_string(), "no calibration");
        assert_eq!(FailureCause::Task { state: TaskState::OutOfMemory }.to_string(), "a task ran out of memory");
        assert_eq!(NightState::NeedsHuman.to_string(), "needs a human");
    }

    #[test]
    fn outcomes_from_task_states() {
        use TaskState::*;
        let outcome = JobOutcome::from_tasks;
        assert_eq!(outcome(&[], 2), JobOutcome::Unknown);
        assert_eq!(outcome(&[(Completed, None), (Completed, None)], 2), JobOutcome::Completed);
        assert_eq!(outcome(&[(Completed, None)], 2), JobOutcome::Running, "a task not seen yet is not done");
        assert_eq!(outcome(&[(Completed, None), (Failed, None)], 2), JobOutcome::Failed { state: Failed });
        assert_eq!(outcome(&[(Failed, None), (Running, None)], 2), JobOutcome::Running, "judged once every task ended");
        assert_eq!(outcome(&[(Failed, None)], 2), JobOutcome::Running, "a task not seen yet may still run");
        assert_eq!(outcome(&[(Pending, Some("Dependency")), (Pending, None)], 2), JobOutcome::Pending);
        assert_eq!(outcome(&[(Pending, Some(DEPENDENCY_NEVER_SATISFIED))], 1), JobOutcome::DependencyNeverSatisfied);
        assert_eq!(outcome(&[(Blocked, None), (Blocked, None)], 2), JobOutcome::DependencyNeverSatisfied);
        assert_eq!(outcome(&[(Running, None), (Pending, None)], 2), JobOutcome::Running);
        assert_eq!(outcome(&[(Preempted, None)], 1), JobOutcome::Failed { state: Preempted });
    }
}
