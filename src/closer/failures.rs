//! Known failures: what failed tasks say (SLURM state, exit code, the tail of their log) is
//! matched against `retries.known_failures` (first match wins) to decide what to do with the
//! run. Pure: the caller gathers the failed tasks and applies the decision.

use crate::config::{FailureAction, KnownFailure, RetryConfig, add_slurm_times};
use crate::model::{TASK_DISK_FULL, TaskState};

/// One failed task of a run's last attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedTask {
    pub subrun: u32,
    /// `None`: the task never ran (its submission was refused).
    pub state: Option<TaskState>,
    pub exit_code: Option<i64>,
    /// Last lines of its log (and of its failed step's output).
    pub log_tail: String,
}

/// What the closer does with a failed run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Resubmit the failed subruns, maybe with more time or memory; delete their outputs
    /// first when `clean`.
    Resubmit { subruns: Vec<u32>, time: Option<String>, mem_per_cpu: Option<String>, clean: bool, reason: String },
    /// Stop: veto the run for a human, with the reason.
    Veto { reason: String },
    /// The disk was full: resubmit these subruns once there is room, the try not counted.
    DiskFull { subruns: Vec<u32> },
    /// The run's last subrun alone failed in a way its data cannot get over (no pedestal
    /// events): the run goes on without it, the RunSummary untouched.
    DropLastSubrun { subrun: u32, reason: String },
}

fn matches(rule: &KnownFailure, task: &FailedTask) -> bool {
    rule.slurm_state.is_none_or(|s| Some(s) == task.state)
        && rule.exit_code.is_none_or(|c| Some(i64::from(c)) == task.exit_code)
        && rule.log_regex.as_ref().is_none_or(|r| regex::Regex::new(r).is_ok_and(|re| re.is_match(&task.log_tail)))
}

/// Decides for a run whose last attempt failed. `tries`: submissions so far; `time`: the last
/// attempt's walltime; `last_subrun`: the last subrun of a DATA run (none for other jobs,
/// which have no subrun to drop).
pub fn decide(retries: &RetryConfig, failed: &[FailedTask], tries: u32, time: &str, last_subrun: Option<u32>) -> Decision {
    let subruns: Vec<u32> = failed.iter().map(|t| t.subrun).collect();
    // Before the tries are counted: a full disk is not the run's fault.
    if failed.iter().any(|t| t.exit_code == Some(TASK_DISK_FULL)) {
        return Decision::DiskFull { subruns };
    }
    // No try counts since the last `osa veto lift`: the failure seen is the one the human who
    // lifted the veto dealt with (a model folder put right, say), not a new one.
    if tries == 0 {
        return Decision::Resubmit { subruns, time: None, mem_per_cpu: None, clean: true, reason: "veto lifted: resubmitting".to_string() };
    }
    let found = retries.known_failures.iter().find_map(|rule| failed.iter().find(|t| matches(rule, t)).map(|t| (rule, t)));
    let rule = found.map(|(rule, _)| rule);
    let base = match rule {
        Some(rule) => format!("known failure `{}`", rule.name),
        None => {
            let first = failed.first();
            format!(
                "unrecognised failure ({}, exit {})",
                first.and_then(|t| t.state).map(|s| s.to_string()).unwrap_or_else(|| "never ran".to_string()),
                first.and_then(|t| t.exit_code).map(|c| c.to_string()).unwrap_or_else(|| "?".to_string())
            )
        }
    };
    // The program's own words, so the human reading the reason need not open the log first.
    let said = match found {
        Some((rule, task)) => program_said(task, rule.log_regex.as_deref()),
        None => failed.first().and_then(|t| program_said(t, None)),
    };
    let what = match said {
        Some(line) => format!("{base} (the program said: {line})"),
        None => base,
    };
    // Whatever the tries: no try brings pedestal events into a subrun that has none.
    let drops = rule.is_some_and(|r| r.action == FailureAction::DropLastSubrun);
    if tries >= retries.max_tries_per_run && !drops {
        return Decision::Veto { reason: format!("{what} after {tries} tries (limit {})", retries.max_tries_per_run) };
    }
    let resubmit = |time: Option<String>, mem_per_cpu: Option<String>, clean: bool, why: &str| Decision::Resubmit {
        subruns: subruns.clone(),
        time,
        mem_per_cpu,
        clean,
        reason: format!("{what}: {why}"),
    };
    match rule.map(|r| r.action) {
        Some(FailureAction::ResubmitMoreTime) => {
            let more = add_slurm_times(time, &retries.more_time);
            resubmit(more.clone(), None, true, &format!("resubmitting with --time={}", more.unwrap_or_default()))
        }
        Some(FailureAction::ResubmitMoreMemory) => {
            resubmit(None, Some(retries.more_memory.clone()), true, &format!("resubmitting with --mem-per-cpu={}", retries.more_memory))
        }
        Some(FailureAction::DeleteOutputAndResubmit) => resubmit(None, None, true, "stale outputs deleted, resubmitting"),
        Some(FailureAction::DropLastSubrun) => match last_subrun {
            Some(last) if last > 0 && failed.iter().all(|t| t.subrun == last) => {
                Decision::DropLastSubrun { subrun: last, reason: format!("{what}: the run goes on with its {last} subrun(s) before it") }
            }
            _ => Decision::Veto {
                reason: format!(
                    "{what}: in subrun(s) {}, not only the run's last (only a last subrun is dropped): needs a human",
                    failed.iter().map(|t| format!("{:04}", t.subrun)).collect::<Vec<_>>().join(", ")
                ),
            },
        },
        Some(FailureAction::NeedsHuman) => Decision::Veto { reason: format!("{what}: needs a human") },
        None => resubmit(None, None, true, "resubmitting the failed subruns"),
    }
}

/// The log line a rule matched, else the last line of the log that is not blank.
fn program_said(task: &FailedTask, regex: Option<&str>) -> Option<String> {
    let lines = || task.log_tail.lines().map(str::trim).filter(|l| !l.is_empty());
    let line = match regex.and_then(|r| regex::Regex::new(r).ok()) {
        Some(re) => lines().find(|l| re.is_match(l)).or_else(|| lines().next_back()),
        None => lines().next_back(),
    }?;
    const MAX: usize = 240;
    Some(match line.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(state: TaskState, exit: i64, log: &str) -> FailedTask {
        FailedTask { subrun: 3, state: Some(state), exit_code: Some(exit), log_tail: log.to_string() }
    }

    #[test]
    fn known_failures_pick_their_action() {
        let retries = RetryConfig::default();
        match decide(&retries, &[task(TaskState::Timeout, 0, "")], 1, "01:15:00", None) {
            Decision::Resubmit { time, subruns, .. } => assert_eq!((time.as_deref(), subruns), (Some("02:15:00"), vec![3])),
            other => panic!("{other:?}"),
        }
        match decide(&retries, &[task(TaskState::OutOfMemory, 0, "")], 1, "01:15:00", None) {
            Decision::Resubmit { mem_per_cpu, .. } => assert_eq!(mem_per_cpu.as_deref(), Some("10G")),
            other => panic!("{other:?}"),
        }
        match decide(&retries, &[task(TaskState::Failed, 10, "OSError: Output file exists already. Stop")], 1, "01:15:00", None) {
            Decision::Resubmit { clean, reason, .. } => assert!(clean && reason.contains("output_exists"), "{reason}"),
            other => panic!("{other:?}"),
        }
        let pedestal = "Traceback (most recent call last):\n  File \"x.py\"\ntables.exceptions.NoSuchNodeError: ... named ``/dl1/event/telescope/monitoring/pedestal``\nexit";
        match decide(&retries, &[task(TaskState::Failed, 11, pedestal)], 1, "01:15:00", Some(3)) {
            Decision::DropLastSubrun { subrun, reason } => {
                assert_eq!(subrun, 3);
                assert!(reason.contains("the program said: tables.exceptions.NoSuchNodeError"), "the matched line: {reason}")
            }
            other => panic!("{other:?}"),
        }
        let at_the_limit = decide(&retries, &[task(TaskState::Failed, 11, pedestal)], retries.max_tries_per_run, "01:15:00", Some(3));
        assert!(matches!(at_the_limit, Decision::DropLastSubrun { subrun: 3, .. }), "no try brings pedestals: {at_the_limit:?}");
        match decide(&retries, &[task(TaskState::Failed, 11, pedestal)], 1, "01:15:00", Some(7)) {
            Decision::Veto { reason } => assert!(reason.contains("in subrun(s) 0003, not only the run's last"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(decide(&retries, &[task(TaskState::Failed, 11, pedestal)], 1, "01:15:00", None), Decision::Veto { .. }), "no subruns");
    }

    #[test]
    fn after_a_veto_lift_the_failure_the_human_dealt_with_is_resubmitted() {
        let retries = RetryConfig::default();
        let models = "FileNotFoundError: [Errno 2] No such file or directory: '/models/dec_2276/reg_energy.sav'";
        match decide(&retries, &[task(TaskState::Failed, 1, models)], 1, "01:15:00", None) {
            Decision::Veto { reason } => assert!(reason.contains("rf_models_unreadable") && reason.contains("reg_energy.sav"), "{reason}"),
            other => panic!("{other:?}"),
        }
        match decide(&retries, &[task(TaskState::Failed, 1, models)], 0, "01:15:00", None) {
            Decision::Resubmit { reason, clean, .. } => assert!(clean && reason.contains("veto lifted"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_full_disk_waits_for_room_whatever_the_tries() {
        let retries = RetryConfig::default();
        let full = FailedTask { subrun: 3, state: Some(TaskState::Failed), exit_code: Some(TASK_DISK_FULL), log_tail: String::new() };
        assert_eq!(decide(&retries, &[full], retries.max_tries_per_run, "01:15:00", None), Decision::DiskFull { subruns: vec![3] });
    }

    #[test]
    fn tries_are_bounded() {
        let retries = RetryConfig::default();
        let decision = decide(&retries, &[task(TaskState::Failed, 10, "boom")], retries.max_tries_per_run, "01:15:00", None);
        match decision {
            Decision::Veto { reason } => assert!(reason.contains("after 3 tries") && reason.contains("said: boom"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(decide(&retries, &[task(TaskState::Failed, 10, "boom")], 1, "01:15:00", None), Decision::Resubmit { .. }));
    }
}
