//! `osa sequencer --date D [--simulate] [--json]`: plan the night, submit what must be
//! submitted (nothing with `--simulate`), print the shifters' sequencer table.
//!
//! JSON contract: `{"date", "calibration": {"source": "tonight"|"earlier"|"missing", ...},
//! "sequences": [{"seq", "parent", "type", "run", "subruns", "source", "job_name", "action",
//! "reason" (failed or blocked only, in words: `a task timed out`, `no calibration`), "tries",
//! "job_id", "state" (the job's task state in words: `completed`, `timed out`, `blocked`, ...),
//! "cpu_time", "exit", "dl1_percent", "muons_percent", "dl1ab_percent", "datacheck_percent",
//! "dl2_percent"}], "submitted": [{"run", "job_id"}], "notes": [...]}`; absent values are null.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use comfy_table::Cell;
use serde::Serialize;

use super::output::{alarm, or_dash, print_json, table};
use super::{Context, Outcome};
use crate::db::{JobRecord, TaskRecord};
use crate::model::{SequenceKind, TaskState};
use crate::night::NightDate;
use crate::paths::Layout;
use crate::sequencer::plan::{Action, Calibration, NightPlan, PlannedSequence};
use crate::sequencer::submit::Cycle;

#[derive(Debug, clap::Args)]
pub struct SequencerArgs {
    /// The night, YYYY-MM-DD (default: the current night, now - 12 h in UTC).
    #[arg(long)]
    pub date: Option<NightDate>,
    /// Plan and print only: nothing is written or submitted.
    #[arg(long)]
    pub simulate: bool,
    /// JSON for scripts (see `cli::sequencer_cmd`).
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct SequenceJson<'a> {
    seq: u32,
    parent: Option<u32>,
    #[serde(rename = "type")]
    kind: &'static str,
    run: u32,
    subruns: u32,
    source: Option<&'a str>,
    job_name: &'a str,
    action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    tries: u32,
    job_id: Option<&'a str>,
    state: Option<String>,
    cpu_time: Option<String>,
    exit: Option<i64>,
    dl1_percent: Option<u32>,
    muons_percent: Option<u32>,
    dl1ab_percent: Option<u32>,
    datacheck_percent: Option<u32>,
    dl2_percent: Option<u32>,
}

#[derive(Serialize)]
struct PlanJson<'a> {
    date: String,
    calibration: &'a Calibration,
    sequences: Vec<SequenceJson<'a>>,
    submitted: Vec<SubmittedJson<'a>>,
    notes: &'a [String],
}

#[derive(Serialize)]
struct SubmittedJson<'a> {
    run: u32,
    job_id: &'a str,
}

/// The status of one job, as the table shows it.
struct JobView {
    state: Option<TaskState>,
    cpu_time: Option<String>,
    exit: Option<i64>,
}

/// Product counts of a night, from one listing per folder; the names are `paths::Layout`'s.
struct Products<'a> {
    layout: &'a Layout,
    night: NightDate,
    analysis: HashSet<OsString>,
    dl1ab: HashSet<OsString>,
    dl2: HashSet<OsString>,
}

impl<'a> Products<'a> {
    fn scan(layout: &'a Layout, night: NightDate) -> Self {
        let list = |dir: &Path| -> HashSet<OsString> {
            std::fs::read_dir(dir).map(|e| e.filter_map(|e| Some(e.ok()?.file_name())).collect()).unwrap_or_default()
        };
        // The names hold their run: one listing of every cleaning level's folder serves all
        // runs, whichever level each has.
        let dl1ab = layout.dl1b_dirs(night).iter().flat_map(|dir| list(dir)).collect();
        // A run's DL2 lies in the folder of its models' NSB tuning, one level down.
        let dl2 = layout
            .cleaning_dirs(night)
            .iter()
            .flat_map(|dir| std::fs::read_dir(dir).into_iter().flatten().flatten())
            .filter(|e| e.path().is_dir())
            .flat_map(|e| list(&e.path()))
            .collect();
        Self { layout, night, analysis: list(&layout.analysis_dir(night)), dl1ab, dl2 }
    }

    fn present(listing: &HashSet<OsString>, file: &Path) -> bool {
        file.file_name().is_some_and(|name| listing.contains(name))
    }

    /// Percent of a run's subruns whose file (named by `file(subrun)`) is in `listing`.
    fn percent(listing: &HashSet<OsString>, subruns: u32, file: impl Fn(u32) -> PathBuf) -> u32 {
        if subruns == 0 {
            return 0;
        }
        let found = (0..subruns).filter(|s| Self::present(listing, &file(*s))).count() as u32;
        100 * found / subruns
    }

    /// DL1%, MUONS%, DL1AB%, DATACHECK%, DL2% of a sequence (none for the calibration).
    fn percents(&self, s: &PlannedSequence) -> [Option<u32>; 5] {
        if s.kind == SequenceKind::Calibration {
            return [None; 5];
        }
        let (layout, night, run) = (self.layout, self.night, s.run);
        let dl2 = if Self::present(&self.dl2, &Layout::dl2_run_file(Path::new(""), run)) { 100 } else { 0 };
        [
            Some(Self::percent(&self.analysis, s.subruns, |sub| layout.dl1a_file(night, run, sub))),
            Some(Self::percent(&self.analysis, s.subruns, |sub| layout.muons_file(night, run, sub))),
            Some(Self::percent(&self.dl1ab, s.subruns, |sub| layout.dl1b_file(night, run, sub))),
            Some(Self::percent(&self.dl1ab, s.subruns, |sub| layout.datacheck_file(night, run, sub))),
            Some(dl2),
        ]
    }
}

pub fn run(context: &Context, args: SequencerArgs) -> anyhow::Result<Outcome> {
    let services = context.services(context.config()?)?;
    let config = &services.config;
    let night = args.date.unwrap_or_else(NightDate::current);
    let sequencer = services.sequencer();
    let cycle = sequencer.cycle(night, args.simulate).with_context(|| format!("sequencer for night {night}"))?;
    let pre_stages = if args.simulate { None } else { Some(services.closer(chrono::Utc::now()).pre_stages(night, &cycle)?) };
    let Some(plan) = &cycle.plan else {
        if args.json {
            print_json(&serde_json::json!({"date": night.to_string(), "sequences": [], "notes": ["no summary for this night yet"]}))?;
        } else {
            println!(
                "night {night}: no summary yet (looked in {})",
                config.summary_dirs().iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
            );
        }
        return Ok(Outcome::Success);
    };
    let products = Products::scan(&services.layout, night);
    let jobs = sequencer.db.jobs_of_night(night)?;
    let tasks = sequencer.db.tasks_of_night(night)?;
    let views: Vec<JobView> = plan.sequences.iter().map(|s| job_view(&jobs, &tasks, &cycle, s)).collect();
    if args.json {
        print_json(&to_json(plan, &cycle, &views, &products))?;
    } else {
        print_table(context, plan, &views, &products, args.simulate);
        for (run, job_id) in &cycle.submitted {
            println!("submitted run {run:05} as job {job_id}");
        }
        for note in &plan.notes {
            println!("note: {note}");
        }
        for line in pre_stages.iter().flat_map(|r| r.decisions.iter().chain(&r.problems)) {
            println!("pre-stages: {line}");
        }
        if cycle.snapshot.is_none() {
            println!("note: the executor did not answer; job states are unknown this time");
        }
    }
    Ok(Outcome::Success)
}

fn job_view(jobs: &[JobRecord], tasks: &[TaskRecord], cycle: &Cycle, sequence: &PlannedSequence) -> JobView {
    let Some(job_id) = &sequence.last_job_id else { return JobView { state: None, cpu_time: None, exit: None } };
    let mut states: Vec<(TaskState, Option<i64>, Option<i64>)> =
        cycle.snapshot.iter().flat_map(|s| s.tasks_of(job_id)).map(|t| (t.state, t.cpu_seconds, t.exit_code)).collect();
    if states.is_empty() {
        let attempt = jobs.iter().find(|j| j.job_id.as_deref() == Some(job_id.as_str())).map(|j| j.intent.attempt);
        if let Some(attempt) = attempt {
            states = tasks
                .iter()
                .filter(|t| t.run == sequence.run && t.stage.is_sequence() && t.attempt == attempt)
                .map(|t| (t.state, t.cpu_seconds, t.exit_code))
                .collect();
        }
    }
    if states.is_empty() {
        return JobView { state: None, cpu_time: None, exit: None };
    }
    let bad = states.iter().find(|(s, _, _)| s.is_failure());
    let state = match bad {
        Some((s, _, _)) => *s,
        None if states.iter().all(|(s, _, _)| *s == TaskState::Completed) => TaskState::Completed,
        None if states.iter().any(|(s, _, _)| *s == TaskState::Blocked) => TaskState::Blocked,
        None if states.iter().any(|(s, _, _)| matches!(s, TaskState::Running | TaskState::Completed)) => TaskState::Running,
        None => TaskState::Pending,
    };
    let mut cpu: Vec<i64> = states.iter().filter_map(|(_, c, _)| *c).collect();
    cpu.sort_unstable();
    let cpu_time = cpu.get(cpu.len() / 2).map(|s| format!("{:02}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60));
    let exit = bad.and_then(|b| b.2).or_else(|| states.iter().filter_map(|(_, _, e)| *e).max());
    JobView { state: Some(state), cpu_time, exit }
}

fn reason(action: &Action) -> Option<String> {
    match action {
        Action::Blocked { reason } => Some(reason.to_string()),
        Action::Failed { cause } => Some(cause.to_string()),
        Action::Waiting { missing } => Some(missing.clone()),
        Action::PreStages { pending } => Some(format!("its pre-stages: {pending}")),
        _ => None,
    }
}

fn to_json<'a>(plan: &'a NightPlan, cycle: &'a Cycle, views: &[JobView], products: &Products) -> PlanJson<'a> {
    PlanJson {
        date: plan.night.to_string(),
        calibration: &plan.calibration,
        sequences: plan
            .sequences
            .iter()
            .zip(views)
            .map(|(s, v)| {
                let [dl1, muons, dl1ab, datacheck, dl2] = products.percents(s);
                SequenceJson {
                    seq: s.seq,
                    parent: s.parent,
                    kind: s.run_type.as_str(),
                    run: s.run,
                    subruns: s.subruns,
                    source: s.source.as_deref(),
                    job_name: &s.job_name,
                    action: s.action.label(),
                    reason: reason(&s.action),
                    tries: s.tries,
                    job_id: s.last_job_id.as_deref(),
                    state: v.state.map(|s| s.to_string()),
                    cpu_time: v.cpu_time.clone(),
                    exit: v.exit,
                    dl1_percent: dl1,
                    muons_percent: muons,
                    dl1ab_percent: dl1ab,
                    datacheck_percent: datacheck,
                    dl2_percent: dl2,
                }
            })
            .collect(),
        submitted: cycle.submitted.iter().map(|(run, job_id)| SubmittedJson { run: *run, job_id }).collect(),
        notes: &plan.notes,
    }
}

fn print_table(context: &Context, plan: &NightPlan, views: &[JobView], products: &Products, simulate: bool) {
    let calibration = match &plan.calibration {
        Calibration::Tonight { drs4_run, pedcal_run } => format!("DRS4 {drs4_run:05}, PEDCALIB {pedcal_run:05}"),
        Calibration::Earlier(e) => format!("from night {}: DRS4 {:05}, PEDCALIB {:05}", e.night, e.drs4_run, e.pedcal_run),
        Calibration::Missing => "missing".to_string(),
    };
    println!("Sequencer for LST1, night {}{} — calibration: {calibration}", plan.night, if simulate { " (simulate)" } else { "" });
    let mut t = table(
        &[
            "Tel",
            "Seq",
            "Parent",
            "Type",
            "Run",
            "Subruns",
            "Source",
            "Action",
            "Tries",
            "JobID",
            "State",
            "CPU_time",
            "Exit",
            "DL1%",
            "MUONS%",
            "DL1AB%",
            "DATACHECK%",
            "DL2%",
        ],
        context.color,
    );
    for (s, v) in plan.sequences.iter().zip(views) {
        let action = s.action.label();
        let action_cell = if matches!(s.action, Action::Blocked { .. } | Action::Failed { .. } | Action::Vetoed) {
            alarm(action, context.color)
        } else {
            Cell::new(action)
        };
        let state_cell = match v.state {
            Some(state) if state.is_failure() || state == TaskState::Blocked => alarm(state.to_string(), context.color),
            other => Cell::new(or_dash(other)),
        };
        let mut row = vec![
            Cell::new("LST1"),
            Cell::new(s.seq),
            Cell::new(or_dash(s.parent)),
            Cell::new(s.run_type),
            Cell::new(format!("{:05}", s.run)),
            Cell::new(s.subruns),
            Cell::new(or_dash(s.source.as_deref())),
            action_cell,
            Cell::new(s.tries),
            Cell::new(or_dash(s.last_job_id.as_deref())),
            state_cell,
            Cell::new(or_dash(v.cpu_time.as_deref())),
            Cell::new(or_dash(v.exit)),
        ];
        row.extend(products.percents(s).into_iter().map(|p| Cell::new(or_dash(p))));
        t.add_row(row);
    }
    println!("{t}");
}
