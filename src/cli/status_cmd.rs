//! `osa status [--date D] [--json]`: what shifters read each morning. Without `--date`: the
//! current night and every earlier night not closed yet. One executor poll for all nights.
//!
//! JSON contract (schema: `tests/status.schema.json`): `{"daemon": {"running", "pid",
//! "last_cycle_at", "last_error"}, "nights": [{"date", "state" (waiting | running | closing |
//! closed | needs_human), "runs": [{"run", "type", "state", "subruns_done", "subruns",
//! "tries", "exit", "job_id", "dl1_percent"}], "problems": [...]}]}`.

use std::collections::{BTreeMap, BTreeSet};

use comfy_table::Cell;
use serde::Serialize;

use super::output::{alarm, or_dash, paint, print_json, table};
use super::{Context, Outcome};
use crate::db::{Db, NightState};
use crate::night::NightDate;
use crate::paths::Layout;
use crate::sequencer::plan::Action;
use crate::sequencer::submit::Sequencer;

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// One night, YYYY-MM-DD.
    #[arg(long)]
    pub date: Option<NightDate>,
    /// JSON for scripts (see `cli::status_cmd`).
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
pub struct StatusJson {
    pub daemon: DaemonHealth,
    pub nights: Vec<NightStatus>,
}

/// The daemon as its health file and the process table say.
#[derive(Serialize)]
pub struct DaemonHealth {
    pub running: bool,
    pub pid: Option<u32>,
    pub last_cycle_at: Option<String>,
    /// The last cycle's failure (database or SLURM unreachable, ...), while it lasts.
    pub last_error: Option<String>,
}

fn daemon_health(layout: &Layout) -> DaemonHealth {
    let state: Option<crate::daemon::DaemonState> =
        std::fs::read(crate::daemon::state_file(layout)).ok().and_then(|b| serde_json::from_slice(&b).ok());
    let running = crate::daemon::running(layout);
    match state {
        Some(state) => DaemonHealth { running, pid: running.then_some(state.pid), last_cycle_at: state.last_cycle_at, last_error: state.last_error },
        None => DaemonHealth { running, pid: None, last_cycle_at: None, last_error: None },
    }
}

#[derive(Serialize)]
pub struct NightStatus {
    pub date: String,
    pub state: &'static str,
    pub runs: Vec<RunStatus>,
    pub problems: Vec<String>,
}

#[derive(Serialize)]
pub struct RunStatus {
    pub run: u32,
    #[serde(rename = "type")]
    pub run_type: &'static str,
    pub state: String,
    pub subruns_done: u32,
    pub subruns: u32,
    pub tries: u32,
    pub exit: Option<i64>,
    pub job_id: Option<String>,
    /// DL1 files present for the run's subruns, in percent (null for calibration).
    pub dl1_percent: Option<u32>,
}

pub fn night_status(sequencer: &Sequencer, db: &Db, night: NightDate, snapshot: Option<&crate::executor::Snapshot>) -> anyhow::Result<NightStatus> {
    let record = db.night(night)?;
    let mut problems = Vec::new();
    let summary = match sequencer.load_night(night, false) {
        Ok(summary) => summary,
        Err(e) => {
            problems.push(format!("summary unusable: {e}"));
            None
        }
    };
    let Some(summary) = summary else {
        let state = if record.as_ref().is_some_and(|r| r.closed) { "closed" } else { "waiting" };
        return Ok(NightStatus { date: night.to_string(), state, runs: Vec::new(), problems });
    };
    let known = sequencer.known_state(night, snapshot)?;
    let plan = sequencer.plan_known(night, &summary.runs, &known)?;
    // Attempts before an `osa rerun` no longer count: their subruns are not "done".
    let floors = &known.attempt_floor;
    let analysis: BTreeSet<String> = std::fs::read_dir(sequencer.layout.analysis_dir(night))
        .map(|e| e.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect())
        .unwrap_or_default();
    let mut runs = Vec::new();
    for s in &plan.sequences {
        // Per subrun, the state of its latest attempt.
        let mut latest: BTreeMap<u32, (u32, String, Option<i64>)> = BTreeMap::new();
        let floor = floors.get(&s.run).copied().unwrap_or(0);
        for t in db.tasks_of_run(night, s.run)?.into_iter().filter(|t| t.attempt > floor) {
            if latest.get(&t.subrun).is_none_or(|(a, _, _)| t.attempt >= *a) {
                latest.insert(t.subrun, (t.attempt, t.state, t.exit_code));
            }
        }
        let done = latest.values().filter(|(_, state, _)| state == "COMPLETED").count() as u32;
        let exit = latest.values().filter_map(|(_, _, e)| *e).find(|e| *e != 0);
        let state = match &s.action {
            Action::Failed { state } => format!("failed ({state})"),
            Action::Blocked { reason } => format!("blocked ({reason:?})"),
            other => other.label().to_string(),
        };
        match &s.action {
            Action::Vetoed => problems.push(format!("run {:05} vetoed: `osa veto lift --date {night} --run {}` after fixing", s.run, s.run)),
            Action::Blocked { reason } => problems.push(format!("run {:05} blocked: {reason:?}", s.run)),
            Action::Failed { state } => problems.push(format!("run {:05} failed ({state}); the closer retries known failures", s.run)),
            _ => {}
        }
        runs.push(RunStatus {
            run: s.run,
            run_type: s.run_type.as_str(),
            state,
            subruns_done: if s.kind == crate::db::SequenceKind::Calibration { done.min(1) } else { done },
            subruns: if s.kind == crate::db::SequenceKind::Calibration { 1 } else { s.subruns },
            tries: s.tries,
            exit,
            job_id: s.last_job_id.clone(),
            dl1_percent: (s.kind == crate::db::SequenceKind::Data && s.subruns > 0).then(|| {
                let found = (0..s.subruns).filter(|sub| analysis.contains(&format!("dl1_LST-1.Run{:05}.{sub:04}.h5", s.run))).count() as u32;
                100 * found / s.subruns
            }),
        });
    }
    problems.extend(plan.notes.iter().filter(|n| n.contains("summary says") || n.contains("blocked")).cloned());
    let closed = record.as_ref().is_some_and(|r| r.closed);
    let state = if closed {
        "closed"
    } else if record.as_ref().is_some_and(|r| r.state == NightState::NeedsHuman)
        || plan.sequences.iter().any(|s| matches!(s.action, Action::Vetoed | Action::Blocked { .. }))
    {
        "needs_human"
    } else if plan.sequences.iter().all(|s| s.action == Action::Done) {
        "closing"
    } else {
        "running"
    };
    Ok(NightStatus { date: night.to_string(), state, runs, problems })
}

pub fn run(context: &Context, args: StatusArgs) -> anyhow::Result<Outcome> {
    let config = context.config()?;
    let services = context.services(&config)?;
    let sequencer = services.sequencer(&config);
    let db = &services.db;
    let nights: BTreeSet<NightDate> = match args.date {
        Some(date) => BTreeSet::from([date]),
        None => {
            let current = NightDate::current();
            db.open_nights()?.into_iter().map(|n| n.night).filter(|n| *n <= current).chain(std::iter::once(current)).collect()
        }
    };
    let snapshot = sequencer.poll();
    let mut status = StatusJson { daemon: daemon_health(&sequencer.layout), nights: Vec::new() };
    for night in nights.into_iter().rev() {
        status.nights.push(night_status(&sequencer, &db, night, snapshot.as_ref())?);
    }
    if args.json {
        print_json(&status)?;
        return Ok(Outcome::Success);
    }
    if snapshot.is_none() {
        println!("note: the executor did not answer; job states are as last stored");
    }
    let daemon = &status.daemon;
    match (daemon.running, &daemon.last_error) {
        (true, None) => {
            println!("daemon: running (pid {}), last cycle {}", or_dash(daemon.pid), or_dash(daemon.last_cycle_at.as_deref()));
            // A daemon stuck (in an sbatch that never returns, say) still holds its lock.
            let stale = daemon
                .last_cycle_at
                .as_deref()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .is_some_and(|t| chrono::Utc::now().signed_duration_since(t) > chrono::Duration::minutes(15));
            if stale {
                println!("  ! {}", paint("no cycle for more than 15 minutes: is the daemon stuck?", false, context.color));
            }
        }
        (true, Some(error)) => println!("daemon: running, {}: {error}", paint("last cycle FAILED", false, context.color)),
        (false, _) => println!("daemon: {}", paint("not running", false, context.color)),
    }
    for night in &status.nights {
        let state = match night.state {
            "needs_human" => paint("needs_human <- needs a human", false, context.color),
            "closed" => paint("closed", true, context.color),
            other => other.to_string(),
        };
        println!("night {}: {state}", night.date);
        if night.runs.is_empty() {
            println!("  no runs yet (waiting for the night's summary; `osa sequencer --date {}` plans it once it is there)", night.date);
        } else {
            let mut t = table(&["Run", "Type", "State", "Subruns done", "DL1%", "Tries", "Exit", "JobID"], context.color);
            for r in &night.runs {
                let bad = r.state.starts_with("failed") || r.state.starts_with("blocked") || r.state == "vetoed";
                t.add_row(vec![
                    Cell::new(format!("{:05}", r.run)),
                    Cell::new(r.run_type),
                    if bad { alarm(&r.state, context.color) } else { Cell::new(&r.state) },
                    Cell::new(format!("{}/{}", r.subruns_done, r.subruns)),
                    Cell::new(or_dash(r.dl1_percent)),
                    Cell::new(r.tries),
                    Cell::new(or_dash(r.exit)),
                    Cell::new(or_dash(r.job_id.as_deref())),
                ]);
            }
            println!("{t}");
        }
        for problem in &night.problems {
            println!("  ! {problem}");
        }
    }
    Ok(Outcome::Success)
}
