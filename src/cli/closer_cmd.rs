//! `osa closer --date D [--simulate] [--force] [--json]` and `osa veto lift`.
//!
//! Exit codes of `osa closer`: 0 the night is closed (now or before); 20 not yet (too early,
//! jobs running, runs sent back, no summary); 21 needs a human; 1 error.

use anyhow::Context as _;
use chrono::{DateTime, Utc};

use super::output::print_json;
use super::{Context, Outcome};
use crate::closer::Status;
use crate::db::Db;
use crate::night::NightDate;

#[derive(Debug, clap::Args)]
pub struct CloserArgs {
    /// The night, YYYY-MM-DD (default: the night that ended this morning, UTC).
    #[arg(long)]
    pub date: Option<NightDate>,
    /// Decide and print only: nothing resubmitted, vetoed, merged or closed.
    #[arg(long)]
    pub simulate: bool,
    /// Close even before the configured hour, and with runs that need a human (audited).
    #[arg(long)]
    pub force: bool,
    /// The time to act at, RFC 3339 (default: now): tests and replays.
    #[arg(long, value_name = "TIME")]
    pub now: Option<DateTime<Utc>>,
    /// JSON for scripts: the closer report.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum VetoCommand {
    /// Lift the veto of a run so the closer may retry it (audited).
    Lift {
        #[arg(long)]
        date: NightDate,
        #[arg(long)]
        run: u32,
        /// A closing stage of the run (`dl2`, ...; `0` as the run for a night stage); default:
        /// the run's own sequence.
        #[arg(long)]
        stage: Option<String>,
        /// Why (kept in the audit log).
        #[arg(long, default_value = "lifted by an operator")]
        reason: String,
    },
    /// The vetoes in force, and why (default: every open night).
    List {
        #[arg(long)]
        date: Option<NightDate>,
    },
}

pub fn run(context: &Context, args: CloserArgs) -> anyhow::Result<Outcome> {
    let config = context.config()?;
    let now = args.now.unwrap_or_else(Utc::now);
    let night = args.date.unwrap_or_else(|| NightDate::new((now - chrono::Duration::days(1)).date_naive()));
    let services = context.services(config)?;
    let report = services.closer(now).close(night, args.simulate, args.force).with_context(|| format!("closer for night {night}"))?;
    if args.json {
        print_json(&report)?;
    } else {
        let status = match &report.status {
            Status::Closed => "closed".to_string(),
            Status::AlreadyClosed => "already closed: nothing changed".to_string(),
            Status::TooEarly { not_before } => format!("not yet: not before {not_before} (use --force)"),
            Status::NoSummary => "not yet: no summary for this night".to_string(),
            Status::Running { sequences } => format!("not yet: {sequences} sequence(s) still queued or running"),
            Status::Retrying { runs } => format!("not yet: run(s) {runs:?} sent back"),
            Status::Stages { active } => format!("not yet: {active} closing stage job(s) queued or running"),
            Status::NeedsHuman => "needs a human".to_string(),
        };
        println!("night {night}: {status}");
        for line in &report.decisions {
            println!("  {line}");
        }
        for problem in &report.problems {
            println!("  needs a human: {problem}");
        }
        if report.verified > 0 {
            println!("  products verified: {} ({} bad)", report.verified, report.bad);
        }
        if let Some(json) = &report.night_prov_json {
            println!("  provenance: {} (+ {} run files and graphs in the same folder)", json.display(), report.prov_json.len());
        }
        if let Some(mail) = &report.mail {
            println!("  mail: {mail}");
        }
    }
    Ok(match report.status.exit_code() {
        0 => Outcome::Success,
        20 => Outcome::NotYet,
        _ => Outcome::NeedsHuman,
    })
}

pub fn veto(context: &Context, command: VetoCommand) -> anyhow::Result<Outcome> {
    let config = context.config()?;
    let (date, run, stage, reason) = match command {
        VetoCommand::Lift { date, run, stage, reason } => (date, run, stage, reason),
        VetoCommand::List { date } => return list_vetoes(&config, date),
    };
    let stage = match stage {
        Some(name) => match config.closer.stage(&name) {
            Some(_) => crate::model::Stage::closing(&name),
            None => anyhow::bail!("no closing stage {name:?} in the configuration"),
        },
        None => crate::model::Stage::Sequence,
    };
    let db = Db::open(&config.database_url(), &config.analysis.prod_id)?;
    let entry = crate::operator::veto::lift(&db, date, run, &stage, &reason)?;
    println!("night {date} run {run:05} ({stage}): veto lifted by {} ({reason})", entry.actor);
    Ok(Outcome::Success)
}

fn list_vetoes(config: &crate::config::Config, date: Option<NightDate>) -> anyhow::Result<Outcome> {
    let db = Db::open(&config.database_url(), &config.analysis.prod_id)?;
    let nights = match date {
        Some(night) => vec![night],
        None => db.open_nights()?.into_iter().map(|n| n.night).collect(),
    };
    let stages: Vec<crate::model::Stage> =
        std::iter::once(crate::model::Stage::Sequence).chain(config.closer.stages.iter().map(|s| crate::model::Stage::closing(&s.name))).collect();
    let mut any = false;
    for night in nights {
        for v in crate::operator::veto::vetoes(&db, night, &stages)? {
            any = true;
            println!("{} run {:05} {}: {}", v.night, v.run, v.stage, v.reason.as_deref().unwrap_or("(no reason recorded)"));
            let stage = if v.stage.is_sequence() { String::new() } else { format!(" --stage {}", v.stage) };
            println!("    lift: osa veto lift --date {} --run {}{stage} --reason '...'", v.night, v.run);
        }
    }
    if !any {
        println!("no veto in force");
    }
    Ok(Outcome::Success)
}

/// `osa audit [--date D]`: the operator actions, oldest first.
pub fn audit(context: &Context, date: Option<NightDate>, limit: i64) -> anyhow::Result<Outcome> {
    let config = context.config()?;
    let db = Db::open(&config.database_url(), &config.analysis.prod_id)?;
    let entries = match date {
        Some(night) => db.audit_of_night(night)?,
        None => db.recent_audit(limit)?,
    };
    for e in &entries {
        let run = e.run.map(|r| format!(" run {r:05}")).unwrap_or_default();
        let stage = if e.stage.is_sequence() { String::new() } else { format!(" {}", e.stage) };
        println!("{} {}{run}{stage}: {} by {}: {}", e.at.format("%Y-%m-%d %H:%M:%S"), e.night, e.action.as_str(), e.actor, e.reason);
    }
    if entries.is_empty() {
        println!("no operator action recorded");
    }
    Ok(Outcome::Success)
}
