//! `osa status [--date D] [--json] [--state S] [--watch [SECONDS]] [--html DIR]`: what shifters
//! read each morning (`--html`: the status pages as files, see `web::export`). Without
//! `--date`: the current night and every earlier night not closed yet. One executor poll for
//! all nights; it reads the jobs of `slurm.user` (the service account), so a shifter's own
//! account sees the daemon's jobs.
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

use std::time::Duration;

use comfy_table::Cell;

use super::output::{alarm, or_dash, paint, print_json, table};
use super::{Context, Outcome};
use crate::model::NightState;
use crate::night::NightDate;
use crate::operator::overview::{StatusJson, age, nights_to_show, overview};
use crate::operator::status::{NightView, Totals};
use crate::sequencer::plan::Action;

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
    /// Write the status pages (the daemon's `[web]` pages, with their JSON) into DIR, for a
    /// web server to publish; prints the pages written.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["json", "watch", "state"])]
    pub html: Option<std::path::PathBuf>,
}

/// One look: the poll, the daemon's health and every night asked for.
struct Look {
    json: StatusJson,
    views: Vec<NightView>,
}

fn look(context: &Context, args: &StatusArgs) -> anyhow::Result<Look> {
    let config = context.config()?;
    let services = context.services(config)?;
    let nights = nights_to_show(&services, args.date)?;
    let daemon = crate::daemon::health(&services.layout, &services.db)?;
    let (json, views) = overview(&services, context.config_source.shown(), &nights, args.state.as_deref(), daemon)?;
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
    if let Some(dir) = &args.html {
        let config = context.config()?;
        let services = context.services(config)?;
        for page in crate::web::export::write(&services, context.config_source.shown(), crate::daemon::health, args.date, dir)? {
            println!("{}", page.display());
        }
        return Ok(Outcome::Success);
    }
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
