//! `osa status [--date D] [--json]`: what shifters read each morning. Without `--date`: the
//! current night and every earlier night not closed yet. One executor poll for all nights.
//!
//! JSON contract (schema: `tests/status.schema.json`): `{"daemon": {"running", "pid",
//! "last_cycle_at", "last_error"}, "nights": [{"date", "state" (waiting | running | closing |
//! closed | needs_human), "runs": [{"run", "type", "state" (in words: `done`, `failed: a task timed
//! out`, `blocked: no calibration`, ...), "subruns_done", "subruns", "tries", "exit", "job_id",
//! "dl1_percent"}], "problems": [...]}]}`. The night view itself is `operator::status`.

use std::collections::BTreeSet;

use comfy_table::Cell;
use serde::Serialize;

use super::output::{alarm, or_dash, paint, print_json, table};
use super::{Context, Outcome};
use crate::model::NightState;
use crate::night::NightDate;
use crate::operator::status::{NightView, night_view};
use crate::paths::Layout;
use crate::sequencer::plan::Action;

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
    /// The last cycle as the database saw it (the daemon's lease).
    pub last_cycle_in_database: Option<String>,
    /// The last cycle's failure (database or SLURM unreachable, ...), while it lasts.
    pub last_error: Option<String>,
}

fn daemon_health(layout: &Layout, db: &crate::db::Db) -> anyhow::Result<DaemonHealth> {
    let state = crate::daemon::read_state(layout);
    let running = crate::daemon::running(layout);
    let in_db = db.lease_holder()?.map(|l| l.heartbeat_at.and_utc());
    let mut health = match state {
        Some(state) => DaemonHealth {
            running,
            pid: running.then_some(state.pid),
            last_cycle_at: state.last_cycle_at,
            last_cycle_in_database: None,
            last_error: state.last_error,
        },
        None => DaemonHealth { running, pid: None, last_cycle_at: None, last_cycle_in_database: None, last_error: None },
    };
    health.last_cycle_in_database = in_db.map(|t| t.to_rfc3339());
    // The daemon renews its lease at every cycle: a health file far behind it is one the
    // daemon cannot write (a full disk), and its own errors would go unseen.
    let file = health.last_cycle_at.as_deref().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).map(|t| t.to_utc());
    if running
        && let Some(db_at) = in_db
        && file.is_none_or(|f| db_at - f > chrono::Duration::minutes(10))
    {
        let path = crate::daemon::state_file(layout);
        health.last_error = Some(format!(
            "the daemon cannot write its health file {} (its last cycle per the database: {}); is the disk full?",
            path.display(),
            db_at.format("%Y-%m-%d %H:%M:%S UTC")
        ));
    }
    Ok(health)
}

#[derive(Serialize)]
pub struct NightStatus {
    pub date: String,
    /// `NightState`'s stored word: waiting, running, closing, closed, needs_human.
    pub state: &'static str,
    pub runs: Vec<RunStatus>,
    pub problems: Vec<String>,
    /// The night's long-term data check stage, in words.
    pub longterm: Option<String>,
}

#[derive(Serialize)]
pub struct RunStatus {
    pub run: u32,
    #[serde(rename = "type")]
    pub run_type: &'static str,
    /// In words, as the table shows it: `done`, `submitted`, `failed: a task timed out`,
    /// `blocked: no calibration`, ...
    pub state: String,
    pub subruns_done: u32,
    pub subruns: u32,
    pub tries: u32,
    pub exit: Option<i64>,
    pub job_id: Option<String>,
    /// DL1 files present for the run's subruns, in percent (null for calibration).
    pub dl1_percent: Option<u32>,
    pub dl2_percent: Option<u32>,
    /// The run-wise data check stage, in words.
    pub datacheck: Option<String>,
}

impl From<NightView> for NightStatus {
    fn from(view: NightView) -> Self {
        Self {
            date: view.night.to_string(),
            state: view.state.as_str(),
            runs: view
                .runs
                .into_iter()
                .map(|r| RunStatus {
                    run: r.run,
                    run_type: r.run_type.as_str(),
                    state: r.action.to_string(),
                    subruns_done: r.subruns_done,
                    subruns: r.subruns,
                    tries: r.tries,
                    exit: r.exit,
                    job_id: r.job_id,
                    dl1_percent: r.dl1_percent,
                    dl2_percent: r.dl2_percent,
                    datacheck: r.datacheck,
                })
                .collect(),
            problems: view.problems,
            longterm: view.longterm,
        }
    }
}

pub fn run(context: &Context, args: StatusArgs) -> anyhow::Result<Outcome> {
    let services = context.services(context.config()?)?;
    let sequencer = services.sequencer();
    let nights: BTreeSet<NightDate> = match args.date {
        Some(date) => BTreeSet::from([date]),
        None => {
            let current = NightDate::current();
            services.db.open_nights()?.into_iter().map(|n| n.night).filter(|n| *n <= current).chain(std::iter::once(current)).collect()
        }
    };
    let snapshot = sequencer.poll();
    let daemon = daemon_health(&services.layout, &services.db)?;
    let views: Vec<NightView> = nights.into_iter().rev().map(|night| night_view(&sequencer, night, snapshot.as_ref())).collect::<Result<_, _>>()?;
    if args.json {
        print_json(&StatusJson { daemon, nights: views.into_iter().map(NightStatus::from).collect() })?;
        return Ok(Outcome::Success);
    }
    if snapshot.is_none() {
        println!("note: the executor did not answer; job states are as last stored");
    }
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
    for night in &views {
        let state = match night.state {
            NightState::NeedsHuman => paint("needs_human <- needs a human", false, context.color),
            NightState::Closed => paint("closed", true, context.color),
            other => other.as_str().to_string(),
        };
        println!("night {}: {state}", night.night);
        if night.runs.is_empty() {
            println!("  no runs yet (waiting for the night's summary; `osa sequencer --date {}` plans it once it is there)", night.night);
        } else {
            let mut t = table(&["Run", "Type", "State", "Subruns done", "DL1%", "DL2%", "Datacheck", "Tries", "Exit", "JobID"], context.color);
            for r in &night.runs {
                let state = r.action.to_string();
                let bad = matches!(r.action, Action::Failed { .. } | Action::Blocked { .. } | Action::Vetoed);
                t.add_row(vec![
                    Cell::new(format!("{:05}", r.run)),
                    Cell::new(r.run_type),
                    if bad { alarm(&state, context.color) } else { Cell::new(&state) },
                    Cell::new(format!("{}/{}", r.subruns_done, r.subruns)),
                    Cell::new(or_dash(r.dl1_percent)),
                    Cell::new(or_dash(r.dl2_percent)),
                    Cell::new(or_dash(r.datacheck.as_deref())),
                    Cell::new(r.tries),
                    Cell::new(or_dash(r.exit)),
                    Cell::new(or_dash(r.job_id.as_deref())),
                ]);
            }
            println!("{t}");
            if let Some(longterm) = &night.longterm {
                println!("  long-term data check: {longterm}");
            }
        }
        for problem in &night.problems {
            println!("  ! {problem}");
        }
    }
    Ok(Outcome::Success)
}
