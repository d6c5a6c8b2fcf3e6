//! `[retries]`: tries per step and per run, and the table of known failures the closer
//! matches failed tasks against. A rule's `slurm_state` goes through the executor's state
//! table, so it can only name a state tasks are stored with.

use serde::{Deserialize, Serialize};

use crate::model::TaskState;

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

/// A DL2 that cannot load its random-forest models: retrying cannot help, a human must
/// put the models right (then `osa veto lift`).
const RF_MODELS_UNREADABLE: &str = r"(?i)(No such file or directory|Permission denied|UnpicklingError|EOFError).*\.sav";

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
                KnownFailure {
                    name: "rf_models_unreadable".to_string(),
                    log_regex: Some(RF_MODELS_UNREADABLE.to_string()),
                    action: FailureAction::NeedsHuman,
                    ..KnownFailure::default()
                },
            ],
        }
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
