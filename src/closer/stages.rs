//! The closing stages' plan, pure like the sequencer's: which stage jobs of which runs to
//! submit, with what `afterok`, and where the others stand. Inputs are data (the stage
//! configs, the runs whose products are verified and in their final place, what is known of
//! each stage's submissions, the RF model choice of each run); the closer applies the plan.
//!
//! Rules:
//! - A run stage is planned once the run's subruns are verified and moved; a stage waiting
//!   for another (`after`) is submitted with `afterok` on it while it is in the scheduler's
//!   hands, or without a dependency once it is done.
//! - A night stage is planned once every DATA run is settled (its products final, or the run
//!   given up: vetoed or blocked); it waits for the named stages of every such run (a run
//!   whose stage is vetoed is left out of it, the veto is a problem of its own).
//! - A stage whose parent failed, was vetoed or blocked is blocked; once the parent is done
//!   again (retried), it goes again.
//! - A DL2 stage of a run without RF models is blocked, with the reason (a human must act).

use std::collections::HashMap;

use crate::config::{StageConfig, StageKind, StageScope};
use crate::model::{BlockReason, FailureCause, NIGHT_WIDE, TaskState};
use crate::sequencer::plan::{Action, KnownState, action_of};

/// One stage job of a run (or of the night: [`NIGHT_WIDE`]).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PlannedStage {
    pub stage: String,
    pub run: u32,
    pub kind: StageKind,
    pub action: Action,
    /// Submissions that reached the scheduler (since a veto lift).
    pub tries: u32,
    pub last_attempt: u32,
    /// Attempts counted against the retry limit.
    pub attempts: u32,
    pub last_job_id: Option<String>,
    /// The stages it waits for, as (run, stage): their jobs are its `afterok`.
    pub needs: Vec<(u32, String)>,
    /// Why it is blocked, in words a human acts on (no RF models: which file said what).
    pub blocked_why: Option<String>,
    /// The RF models its DL2 uses.
    pub rf_models: Option<std::path::PathBuf>,
}

pub struct StageInput<'a> {
    /// The stages that run, in config order (a stage's `after` names earlier ones).
    pub stages: Vec<&'a StageConfig>,
    /// DATA runs whose products are verified and in their final place.
    pub ready: &'a [u32],
    /// Every DATA run is ready or given up: night stages may start.
    pub night_settled: bool,
    /// What is known of each stage's submissions.
    pub known: &'a HashMap<String, KnownState>,
    /// RF models of each run, or why there are none (DL2 stages only).
    pub rf_models: &'a HashMap<u32, Result<std::path::PathBuf, String>>,
    pub max_tries: u32,
}

/// Whether an action means the parent will never complete as it stands.
fn gave_up(action: &Action) -> bool {
    matches!(action, Action::Failed { .. } | Action::Vetoed | Action::Blocked { .. })
}

pub fn plan_stages(input: &StageInput) -> Vec<PlannedStage> {
    let empty = KnownState::default();
    let mut planned: Vec<PlannedStage> = Vec::new();
    for stage in &input.stages {
        let known = input.known.get(&stage.name).unwrap_or(&empty);
        let runs: Vec<u32> = match stage.scope {
            StageScope::Run => input.ready.to_vec(),
            StageScope::Night if input.night_settled && !input.ready.is_empty() => vec![NIGHT_WIDE],
            StageScope::Night => Vec::new(),
        };
        for run in runs {
            let (mut action, tries, last_job_id) = action_of(known, run, input.max_tries);
            let mut needs = Vec::new();
            let mut parent_gave_up = false;
            let mut parents_done = true;
            for name in &stage.after {
                // A parent turned off (`closer.dl2 = false`, ...) is not waited for.
                let parents: Vec<&PlannedStage> = planned
                    .iter()
                    .filter(|p| p.stage == *name && (stage.scope == StageScope::Night || p.run == run))
                    // A night stage goes on without the runs whose stage was given up for good.
                    .filter(|p| stage.scope == StageScope::Run || !matches!(p.action, Action::Vetoed | Action::Blocked { .. }))
                    .collect();
                for parent in parents {
                    parent_gave_up |= gave_up(&parent.action);
                    parents_done &= parent.action == Action::Done;
                    needs.push((parent.run, parent.stage.clone()));
                }
            }
            let (mut blocked_why, mut rf_models) = (None, None);
            if stage.kind == StageKind::Dl2 {
                match input.rf_models.get(&run) {
                    Some(Ok(models)) => rf_models = Some(models.clone()),
                    Some(Err(why)) => blocked_why = Some(why.clone()),
                    None => blocked_why = Some(format!("no RF model choice for run {run:05}")),
                }
            }
            let blocked = Action::Blocked { reason: BlockReason::StageFailed };
            match &mut action {
                Action::Submit { after_parent, .. } | Action::Reconcile { after_parent, .. } => {
                    if blocked_why.is_some() {
                        action = Action::Blocked { reason: BlockReason::NoModels };
                    } else if parent_gave_up {
                        action = blocked;
                    } else {
                        *after_parent = !parents_done;
                    }
                }
                Action::Failed { cause: FailureCause::Task { state: TaskState::Cancelled } } if parent_gave_up => action = blocked,
                // Its parent failed before and was retried: once that is done, it goes again.
                Action::Blocked { reason: BlockReason::ParentFailed } if parents_done && !parent_gave_up => {
                    action = Action::Submit { attempt: known.last_attempt(run) + 1, after_parent: false };
                }
                // The scheduler's "dependency never satisfied": a stage's parent, not a calibration.
                Action::Blocked { reason: BlockReason::ParentFailed } => action = blocked,
                _ => {}
            }
            planned.push(PlannedStage {
                stage: stage.name.clone(),
                run,
                kind: stage.kind,
                action,
                tries,
                last_attempt: known.last_attempt(run),
                attempts: known.attempts_counted(run),
                last_job_id,
                needs,
                blocked_why,
                rf_models,
            });
        }
    }
    planned
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CloserConfig;
    use crate::model::JobOutcome;
    use crate::sequencer::plan::Attempt;

    fn attempt(n: u32, job: &str, outcome: JobOutcome) -> Attempt {
        Attempt { attempt: n, job_id: Some(job.to_string()), submit_error: None, outcome, stops_before: None }
    }

    fn known(entries: &[(&str, u32, Vec<Attempt>)]) -> HashMap<String, KnownState> {
        let mut out: HashMap<String, KnownState> = HashMap::new();
        for (stage, run, attempts) in entries {
            out.entry(stage.to_string()).or_default().attempts.insert(*run, attempts.clone());
        }
        out
    }

    fn plan_of(config: &CloserConfig, ready: &[u32], settled: bool, known: &HashMap<String, KnownState>) -> Vec<PlannedStage> {
        let rf: HashMap<u32, Result<std::path::PathBuf, String>> =
            ready.iter().map(|r| (*r, Ok(std::path::PathBuf::from("/m/p_nsb_tuning_0.14/dec_2276")))).collect();
        plan_stages(&StageInput { stages: config.active_stages().collect(), ready, night_settled: settled, known, rf_models: &rf, max_tries: 3 })
    }

    fn find<'a>(plan: &'a [PlannedStage], stage: &str, run: u32) -> &'a PlannedStage {
        plan.iter().find(|s| s.stage == stage && s.run == run).unwrap_or_else(|| panic!("{stage} of {run} not planned: {plan:?}"))
    }

    #[test]
    fn a_verified_run_gets_its_stages_chained_and_the_night_waits() {
        let config = CloserConfig::default();
        let plan = plan_of(&config, &[101, 102], false, &HashMap::new());
        assert_eq!(find(&plan, "merge_dl1", 101).action, Action::Submit { attempt: 1, after_parent: false });
        let dl2 = find(&plan, "dl2", 101);
        assert_eq!(dl2.action, Action::Submit { attempt: 1, after_parent: true }, "afterok on the merge");
        assert_eq!(dl2.needs, [(101, "merge_dl1".to_string())]);
        assert!(plan.iter().all(|s| s.run != NIGHT_WIDE), "night stages wait for every run to settle");

        let plan = plan_stages_settled(&config);
        let longterm = find(&plan, "longterm", NIGHT_WIDE);
        assert_eq!(longterm.action, Action::Submit { attempt: 1, after_parent: true });
        assert_eq!(longterm.needs.len(), 4, "both runs' data checks and muon merges: {:?}", longterm.needs);
        assert_eq!(find(&plan, "transparency", NIGHT_WIDE).needs, [(NIGHT_WIDE, "longterm".to_string())]);
    }

    fn plan_stages_settled(config: &CloserConfig) -> Vec<PlannedStage> {
        plan_of(config, &[101, 102], true, &HashMap::new())
    }

    #[test]
    fn done_parents_mean_no_dependency_and_failed_ones_block() {
        let config = CloserConfig::default();
        let k = known(&[("merge_dl1", 101, vec![attempt(1, "7", JobOutcome::Completed)])]);
        let plan = plan_of(&config, &[101], false, &k);
        assert_eq!(find(&plan, "merge_dl1", 101).action, Action::Done);
        assert_eq!(find(&plan, "dl2", 101).action, Action::Submit { attempt: 1, after_parent: false });

        let k = known(&[
            ("merge_dl1", 101, vec![attempt(1, "7", JobOutcome::Failed { state: TaskState::Failed })]),
            ("dl2", 101, vec![attempt(1, "8", JobOutcome::DependencyNeverSatisfied)]),
        ]);
        let plan = plan_of(&config, &[101], false, &k);
        assert_eq!(find(&plan, "dl2", 101).action, Action::Blocked { reason: BlockReason::StageFailed });

        let k = known(&[
            ("merge_dl1", 101, vec![attempt(1, "7", JobOutcome::Failed { state: TaskState::Failed }), attempt(2, "9", JobOutcome::Completed)]),
            ("dl2", 101, vec![attempt(1, "8", JobOutcome::DependencyNeverSatisfied)]),
        ]);
        let plan = plan_of(&config, &[101], false, &k);
        assert_eq!(find(&plan, "dl2", 101).action, Action::Submit { attempt: 2, after_parent: false }, "the merge was retried: DL2 goes again");
    }

    #[test]
    fn a_vetoed_dl2_holds_only_that_run_and_switches_turn_stages_off() {
        let mut config = CloserConfig::default();
        let mut k = known(&[("dl2", 101, vec![attempt(1, "8", JobOutcome::Failed { state: TaskState::Failed })])]);
        k.get_mut("dl2").unwrap().vetoed.insert(101);
        let plan = plan_of(&config, &[101, 102], true, &k);
        assert_eq!(find(&plan, "dl2", 101).action, Action::Vetoed);
        assert_eq!(find(&plan, "dl2", 102).action, Action::Submit { attempt: 1, after_parent: true });
        assert!(matches!(find(&plan, "longterm", NIGHT_WIDE).action, Action::Submit { .. }), "DL2 is not the long-term check's business");

        config.dl2 = false;
        config.datacheck = false;
        let plan = plan_stages_settled(&config);
        let names: Vec<&str> = plan.iter().filter(|s| s.run == 101).map(|s| s.stage.as_str()).collect();
        assert_eq!(names, ["merge_dl1", "merge_muons"]);
        assert!(plan.iter().all(|s| s.run != NIGHT_WIDE));
    }

    #[test]
    fn dl2_without_models_is_blocked_with_the_reason() {
        let config = CloserConfig::default();
        let rf: HashMap<u32, Result<std::path::PathBuf, String>> = [(101, Err("no dec_* folder in /m".to_string()))].into();
        let plan = plan_stages(&StageInput {
            stages: config.active_stages().collect(),
            ready: &[101],
            night_settled: false,
            known: &HashMap::new(),
            rf_models: &rf,
            max_tries: 3,
        });
        let dl2 = find(&plan, "dl2", 101);
        assert_eq!(dl2.action, Action::Blocked { reason: BlockReason::NoModels });
        assert_eq!(dl2.blocked_why.as_deref(), Some("no dec_* folder in /m"));
    }
}
