//! `osa rerun --date D [--run R] [--reason TEXT] [--dry-run]`: process a night (or one run)
//! again, the previous attempt's files kept aside (`operator::rerun`). The daemon, or this
//! command itself when no daemon runs, then plans and submits again. `--dry-run` lists what
//! would be moved aside and changes nothing.

use super::{Context, Outcome};
use crate::night::NightDate;

#[derive(Debug, clap::Args)]
pub struct RerunArgs {
    #[arg(long)]
    pub date: NightDate,
    /// Only this run.
    #[arg(long)]
    pub run: Option<u32>,
    /// Why (kept in the audit log).
    #[arg(long, default_value = "rerun requested by an operator")]
    pub reason: String,
    /// Show what would be moved aside and reset; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(context: &Context, args: RerunArgs) -> anyhow::Result<Outcome> {
    let services = context.services(context.config()?)?;
    let sequencer = services.sequencer();
    let night = args.date;
    let rerun = crate::operator::rerun::rerun(&sequencer, night, args.run, &args.reason, args.dry_run)?;
    let what = args.run.map(|r| format!(" run {r:05}")).unwrap_or_default();
    if args.dry_run {
        for path in &rerun.moved {
            let from = path.display().to_string();
            println!("would move {} -> {from}", from.trim_end_matches(&rerun.suffix));
        }
        println!(
            "night {night}{what}: dry run, nothing changed; a rerun would move {} path(s) aside, record it in the audit log and submit{what} again",
            rerun.moved.len()
        );
        return Ok(Outcome::Success);
    }
    println!(
        "night {night}{}: rerun recorded; {} path(s) moved aside (suffix {})",
        args.run.map(|r| format!(" run {r:05}")).unwrap_or_default(),
        rerun.moved.len(),
        rerun.suffix
    );
    if crate::daemon::runs_production(&services.layout, &services.config.analysis.prod_id) {
        println!("the daemon will plan and submit it at its next cycle");
    } else {
        let cycle = sequencer.cycle(night, false)?;
        for (run, job) in &cycle.submitted {
            println!("submitted run {run:05} as job {job}");
        }
    }
    Ok(Outcome::Success)
}
