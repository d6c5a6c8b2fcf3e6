//! `osa cancel --date D [--run R] [--reason TEXT]`: holds a night's (or a run's) runs and
//! cancels their jobs in the executor (`operator::cancel`); `osa veto lift` or `osa rerun`
//! resumes. `osa night forget --date D`: removes a night that left nothing behind
//! (`operator::forget`), its working folder moved aside. Both audited.

use super::{Context, Outcome};
use crate::night::NightDate;

#[derive(Debug, clap::Args)]
pub struct CancelArgs {
    #[arg(long)]
    pub date: NightDate,
    /// Only this run.
    #[arg(long)]
    pub run: Option<u32>,
    /// Why (kept in the audit log).
    #[arg(long, default_value = "cancelled by an operator")]
    pub reason: String,
}

pub fn cancel(context: &Context, args: CancelArgs) -> anyhow::Result<Outcome> {
    let services = context.services(context.config()?)?;
    let sequencer = services.sequencer();
    let night = args.date;
    let done = crate::operator::cancel::cancel(&sequencer, night, args.run, &args.reason)?;
    for (run, stage, job) in &done.jobs {
        println!("cancelled job {job} (run {run:05} {stage})");
    }
    let held: Vec<String> =
        done.held.iter().map(|(run, stage)| if stage.is_sequence() { format!("{run:05}") } else { format!("{run:05} {stage}") }).collect();
    if held.is_empty() {
        println!("night {night}: nothing to cancel (every run is done)");
    } else {
        println!("night {night}: held {} ({}); resume with `osa veto lift --date {night} --run R` or `osa rerun`", held.len(), held.join(", "));
    }
    Ok(Outcome::Success)
}

#[derive(Debug, clap::Subcommand)]
pub enum NightCommand {
    /// Remove a night osa should never have planned; only one without products.
    Forget {
        #[arg(long)]
        date: NightDate,
        /// Why (kept in the audit log).
        #[arg(long, default_value = "forgotten by an operator")]
        reason: String,
    },
}

pub fn night(context: &Context, command: NightCommand) -> anyhow::Result<Outcome> {
    let NightCommand::Forget { date, reason } = command;
    let services = context.services(context.config()?)?;
    let forgotten = crate::operator::forget::forget(&services.sequencer(), date, &reason)?;
    if let Some(aside) = &forgotten.moved {
        println!("moved its working folder aside: {}", aside.display());
    }
    println!("night {date}: forgotten ({} row(s) removed; the audit log keeps the record)", forgotten.rows);
    Ok(Outcome::Success)
}
