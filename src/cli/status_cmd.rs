//! `osa status [--date D] [--json] [--state S] [--watch [SECONDS]]`: what shifters read each
//! morning. Without `--date`: the current night and every earlier night not closed yet. One
//! executor poll for all nights; it reads the jobs of `slurm.user` (the service account), so a
//! shifter's own account sees the daemon's jobs.
//!
//! The screen starts with what is showing (config file, data root, database, executor) and
//! the daemon's health, then per night its totals before the run table, so a 200-run night's
//! first screen still says how the night is. Runs that need a human show the failing step,
//! the task's log and its last lines.
//!
//! Exit codes: 0 all well; 1 a night needs a human (or the command failed: message on
//! stderr); 2 the daemon is not running, or its last cycle is stale. With `--watch`, the
//! screen is redrawn until interrupted.
//!
//! JSON contract (schema: `tests/status.schema.json`): `{"config_file", "data_root", "production",
//! "database", "executor": {"kind", "answered", "polled_user"}, "daemon": {"state" (running |
//! failing | stale | down), "running", "pid", "last_cycle_at", "last_cycle_age_seconds",
//! "last_cycle_in_database", "last_error"}, "nights": [{"date", "state" (waiting | running |
//! closing | closed | needs_human), "totals": {"runs", "done", "running", "waiting", "failed",
//! "vetoed", "blocked", "dl1_percent", "dl2_percent"}, "runs": [{"run", "type", "state" (in
//! words: `done`, `failed: a task timed out`, `blocked: no calibration`, ...), "job_state"
//! (pending | running | finished | null), "elapsed_seconds", "subruns_done", "subruns",
//! "tries", "exit", "job_id", "dl1_percent", "dl2_percent", "datacheck", "failure": {"subrun",
//! "step", "log", "tail"} | null, "dropped" (a dropped last subrun, in words) | null}],
//! "problems", "longterm"}]}`. The night view itself is
//! `operator::status`.

use std::collections::BTreeSet;
use std::time::Duration;

use comfy_table::Cell;
use serde::Serialize;

use super::output::{alarm, or_dash, paint, print_json, table};
use super::{Context, Outcome};
use crate::config::redact_url;
use crate::model::{ExecutorKind, NightState};
use crate::night::NightDate;
use crate::operator::status::{NightView, Totals, night_view};
use crate::paths::Layout;
use crate::sequencer::plan::Action;

/// A daemon whose last cycle is older than this is stale (cycles run every minute).
const STALE_AFTER_MINUTES: i64 = 15;
/// Problems listed per night before the table; the rest are counted.
const PROBLEMS_SHOWN: usize = 5;

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// One night, YYYY-MM-DD.
    #[arg(long)]
    pub date: Option<NightDate>,
    /// JSON for scripts (see `cli::status_cmd`).
    #[arg(long)]
    pub json: bool,
    /// Only the runs in this state: submit, reconcile, submitted, done, failed, vetoed, blocked.
    #[arg(long, value_parser = ["submit", "reconcile", "submitted", "done", "failed", "vetoed", "blocked"])]
    pub state: Option<String>,
    /// Redraw every SECONDS (default 10) until interrupted.
    #[arg(long, value_name = "SECONDS", num_args = 0..=1, default_missing_value = "10", conflicts_with = "json")]
    pub watch: Option<u64>,
}

#[derive(Serialize)]
pub struct StatusJson {
    /// The config file in effect (`null`: the built-in defaults).
    pub config_file: Option<String>,
    pub data_root: String,
    /// The production shown (`analysis.prod_id`, or `--prod-id`): its nights, runs and jobs.
    pub production: String,
    /// The database URL, password hidden.
    pub database: String,
    pub executor: ExecutorView,
    pub daemon: DaemonHealth,
    pub nights: Vec<NightStatus>,
}

#[derive(Serialize)]
pub struct ExecutorView {
    pub kind: &'static str,
    /// Whether this call's poll answered (else job states are as last stored).
    pub answered: bool,
    /// Whose jobs the poll read (SLURM).
    pub polled_user: Option<String>,
}

/// The daemon as its health file and the process table say.
#[derive(Serialize)]
pub struct DaemonHealth {
    /// running, failing (its last cycle failed), stale (no cycle for 15 minutes), down.
    pub state: &'static str,
    pub running: bool,
    pub pid: Option<u32>,
    pub last_cycle_at: Option<String>,
    pub last_cycle_age_seconds: Option<i64>,
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
            state: "down",
            pid: running.then_some(state.pid),
            last_cycle_at: state.last_cycle_at,
            last_cycle_age_seconds: None,
            last_cycle_in_database: None,
            last_error: state.last_error,
        },
        None => DaemonHealth {
            state: "down",
            running,
            pid: None,
            last_cycle_at: None,
            last_cycle_age_seconds: None,
            last_cycle_in_database: None,
            last_error: None,
        },
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
    health.last_cycle_age_seconds = file.map(|at| (chrono::Utc::now() - at).num_seconds().max(0));
    health.state = match (running, health.last_cycle_age_seconds, &health.last_error) {
        (false, _, _) => "down",
        (true, Some(age), _) if age > STALE_AFTER_MINUTES * 60 => "stale",
        (true, _, Some(_)) => "failing",
        (true, _, None) => "running",
    };
    Ok(health)
}

#[derive(Serialize)]
pub struct NightStatus {
    pub date: String,
    /// `NightState`'s stored word: waiting, running, closing, closed, needs_human.
    pub state: &'static str,
    pub totals: Totals,
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
    /// pending, running or finished as this call's poll sees the job (null: not in the poll).
    pub job_state: Option<&'static str>,
    /// Seconds pending (since submission) or running (since its first task started).
    pub elapsed_seconds: Option<i64>,
    pub failure: Option<FailureJson>,
    /// The run's last subrun dropped (`subrun 0007 dropped: ...`, by whom and when): the run
    /// counts without it.
    pub dropped: Option<String>,
}

#[derive(Serialize)]
pub struct FailureJson {
    pub subrun: u32,
    pub step: Option<String>,
    pub log: String,
    pub tail: Vec<String>,
}

impl From<NightView> for NightStatus {
    fn from(view: NightView) -> Self {
        Self {
            date: view.night.to_string(),
            state: view.state.as_str(),
            totals: view.totals.clone(),
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
                    job_state: r.job_state.map(|p| p.as_str()),
                    elapsed_seconds: r.elapsed_seconds,
                    failure: r.failure.map(|f| FailureJson { subrun: f.subrun, step: f.step, log: f.log.display().to_string(), tail: f.tail }),
                    dropped: r.dropped,
                })
                .collect(),
            problems: view.problems,
            longterm: view.longterm,
        }
    }
}

/// One look: the poll, the daemon's health and every night asked for.
struct Look {
    json: StatusJson,
    views: Vec<NightView>,
}

fn look(context: &Context, args: &StatusArgs) -> anyhow::Result<Look> {
    let config = context.config()?;
    let services = context.services(config)?;
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
    let mut views: Vec<NightView> =
        nights.into_iter().rev().map(|night| night_view(&sequencer, night, snapshot.as_ref())).collect::<Result<_, _>>()?;
    if let Some(wanted) = &args.state {
        for view in &mut views {
            view.runs.retain(|r| r.action.label() == wanted);
        }
    }
    let config = &services.config;
    let slurm = config.executor.kind == ExecutorKind::Slurm;
    let json = StatusJson {
        config_file: context.config_source.path().map(|p| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()).display().to_string()),
        data_root: services.layout.data_root().display().to_string(),
        production: config.analysis.prod_id.clone(),
        database: redact_url(&config.database_url()),
        executor: ExecutorView {
            kind: if slurm { "slurm" } else { "local" },
            answered: snapshot.is_some(),
            polled_user: slurm.then(|| Some(config.slurm.user.clone()).filter(|u| !u.is_empty()).unwrap_or_else(crate::account::user_name)),
        },
        daemon,
        nights: views.iter().cloned().map(NightStatus::from).collect(),
    };
    Ok(Look { json, views })
}

/// 2: the daemon is down or stale; 1: a night needs a human; 0: all well.
fn outcome_of(look: &Look) -> Outcome {
    if matches!(look.json.daemon.state, "down" | "stale") {
        Outcome::DaemonDown
    } else if look.json.daemon.state == "failing" || look.views.iter().any(|v| v.state == NightState::NeedsHuman) {
        Outcome::Failure
    } else {
        Outcome::Success
    }
}

pub fn run(context: &Context, args: StatusArgs) -> anyhow::Result<Outcome> {
    let Some(every) = args.watch else {
        let look = look(context, &args)?;
        let outcome = outcome_of(&look);
        if args.json {
            print_json(&look.json)?;
        } else {
            print!("{}", screen(context, &look));
        }
        return Ok(outcome);
    };
    loop {
        // Drawn whole, then shown at once: the screen never flickers half-drawn.
        let text = match look(context, &args) {
            Ok(look) => screen(context, &look),
            Err(e) => format!("osa: error: {e:#}\n"),
        };
        print!("\x1b[H\x1b[2J{text}");
        use std::io::Write;
        std::io::stdout().flush()?;
        std::thread::sleep(Duration::from_secs(every.max(1)));
    }
}

/// Minutes (or seconds, hours) in a few characters.
fn age(seconds: i64) -> String {
    match seconds {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s => format!("{} h {} min", s / 3600, s / 60 % 60),
    }
}

fn totals_line(t: &Totals) -> String {
    let mut parts = vec![format!("{} runs: {} done", t.runs, t.done)];
    for (n, word) in [(t.running, "running"), (t.waiting, "waiting"), (t.failed, "failed"), (t.vetoed, "vetoed"), (t.blocked, "blocked")] {
        if n > 0 {
            parts.push(format!("{n} {word}"));
        }
    }
    let mut line = parts.join(", ");
    if let Some(dl1) = t.dl1_percent {
        line.push_str(&format!(" | DL1 {dl1}%"));
    }
    if let Some(dl2) = t.dl2_percent {
        line.push_str(&format!(" | DL2 {dl2}%"));
    }
    line
}

/// The whole screen as text.
fn screen(context: &Context, look: &Look) -> String {
    use std::fmt::Write;
    let color = context.color;
    let j = &look.json;
    let mut out = String::new();
    let _ = writeln!(out, "config:    {}", j.config_file.as_deref().unwrap_or("(built-in defaults)"));
    let _ = writeln!(out, "data root: {} (production {})", j.data_root, j.production);
    let _ = writeln!(out, "database:  {}", j.database);
    let executor = match (&j.executor.polled_user, j.executor.answered) {
        (_, false) => format!("{} (did not answer: job states as last stored)", j.executor.kind),
        (Some(user), true) => format!("{}, jobs of {user}", j.executor.kind),
        (None, true) => j.executor.kind.to_string(),
    };
    let d = &j.daemon;
    let last = d.last_cycle_age_seconds.map(|a| format!("last cycle {} ago", age(a))).unwrap_or_else(|| "no cycle yet".to_string());
    let daemon = match d.state {
        "running" => format!("running (pid {}), {last}", or_dash(d.pid)),
        "failing" => {
            format!("running (pid {}), {}: {}", or_dash(d.pid), paint("last cycle FAILED", false, color), d.last_error.as_deref().unwrap_or(""))
        }
        "stale" => paint(&format!("stuck? {last} (pid {})", or_dash(d.pid)), false, color),
        _ => paint("not running", false, color),
    };
    let _ = writeln!(out, "daemon:    {daemon}");
    let _ = writeln!(out, "executor:  {executor}");
    for night in &look.views {
        let state = match night.state {
            NightState::NeedsHuman => paint("needs_human <- needs a human", false, color),
            NightState::Closed => paint("closed", true, color),
            other => other.as_str().to_string(),
        };
        let _ = writeln!(out, "night {}: {state}", night.night);
        if night.runs.is_empty() && night.totals.runs == 0 {
            let _ =
                writeln!(out, "  no runs yet (waiting for the night's summary; `osa sequencer --date {}` plans it once it is there)", night.night);
        } else {
            let _ = writeln!(out, "  {}", totals_line(&night.totals));
        }
        if let Some(longterm) = &night.longterm {
            let _ = writeln!(out, "  long-term data check: {longterm}");
        }
        for problem in night.problems.iter().take(PROBLEMS_SHOWN) {
            let _ = writeln!(out, "  ! {problem}");
        }
        if night.problems.len() > PROBLEMS_SHOWN {
            let _ = writeln!(
                out,
                "  ! ... and {} more: `osa status --date {} --state failed` (or vetoed, blocked)",
                night.problems.len() - PROBLEMS_SHOWN,
                night.night
            );
        }
        if night.runs.is_empty() {
            continue;
        }
        let mut t = table(&["Run", "Type", "State", "Job", "Subruns done", "DL1%", "DL2%", "Datacheck", "Tries", "Failed step", "JobID"], color);
        for r in &night.runs {
            let state = r.action.to_string();
            let bad = matches!(r.action, Action::Failed { .. } | Action::Blocked { .. } | Action::Vetoed);
            let job = match (r.job_state, r.elapsed_seconds) {
                (Some(phase), Some(s)) => format!("{} {}", phase.as_str(), age(s)),
                (Some(phase), None) => phase.as_str().to_string(),
                (None, _) => "-".to_string(),
            };
            let step = r.failure.as_ref().map(|f| f.step.clone().unwrap_or_else(|| format!("exit {}", or_dash(r.exit))));
            t.add_row(vec![
                Cell::new(format!("{:05}", r.run)),
                Cell::new(r.run_type),
                if bad { alarm(&state, color) } else { Cell::new(&state) },
                Cell::new(job),
                Cell::new(format!("{}/{}{}", r.subruns_done, r.subruns, if r.dropped.is_some() { " (last dropped)" } else { "" })),
                Cell::new(or_dash(r.dl1_percent)),
                Cell::new(or_dash(r.dl2_percent)),
                Cell::new(or_dash(r.datacheck.as_deref())),
                Cell::new(r.tries),
                Cell::new(or_dash(step)),
                Cell::new(or_dash(r.job_id.as_deref())),
            ]);
        }
        let _ = writeln!(out, "{t}");
        for line in night.failure_lines() {
            let _ = writeln!(out, "  {line}");
        }
        for r in &night.runs {
            if let Some(dropped) = &r.dropped {
                let _ = writeln!(out, "  run {:05}: {dropped}", r.run);
            }
        }
    }
    out
}
