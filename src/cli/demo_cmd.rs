//! `osa demo make-night`: lay out a synthetic night under a data root.

use std::path::PathBuf;

use anyhow::Context as _;
use comfy_table::Cell;

use super::output::{or_dash, print_json, table};
use super::{Context, Outcome};
use crate::demo::{DemoOptions, make_night};
use crate::night::NightDate;
use crate::paths::Layout;

#[derive(Debug, clap::Subcommand)]
pub enum DemoCommand {
    /// Write a whole synthetic night (R0 files + summaries) under the data root DIR.
    MakeNight(MakeNightArgs),
}

#[derive(Debug, clap::Args)]
pub struct MakeNightArgs {
    /// Data root to lay the night out under (created if missing).
    #[arg(long, value_name = "ROOT")]
    pub dir: PathBuf,
    /// The night, YYYY-MM-DD.
    #[arg(long)]
    pub date: NightDate,
    /// Number of DATA runs (one DRS4 and one PEDCALIB run come on top).
    #[arg(long, default_value_t = 2)]
    pub runs: u32,
    /// Subruns per DATA run.
    #[arg(long, default_value_t = 4)]
    pub subruns: u32,
    /// Events per subrun file.
    #[arg(long, default_value_t = 500)]
    pub events: u32,
    /// Seed of the event-type draws (same seed, same files).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// First run number (default: derived from the date).
    #[arg(long)]
    pub first_run: Option<u32>,
    /// Replace files that exist with other content.
    #[arg(long)]
    pub force: bool,
    /// JSON for scripts.
    #[arg(long)]
    pub json: bool,
}

pub fn run(context: &Context, command: DemoCommand) -> anyhow::Result<Outcome> {
    let DemoCommand::MakeNight(args) = command;
    let mut config = context.config()?;
    std::fs::create_dir_all(&args.dir).with_context(|| format!("creating data root {}", args.dir.display()))?;
    config.paths.data_root = std::path::absolute(&args.dir).with_context(|| format!("resolving {}", args.dir.display()))?;
    let layout = Layout::new(&config);
    let options = DemoOptions {
        data_runs: args.runs,
        subruns: args.subruns,
        events: args.events,
        seed: args.seed,
        first_run: args.first_run,
        force: args.force,
    };
    let night = make_night(&layout, args.date, &options).with_context(|| format!("making demo night {}", args.date))?;
    if args.json {
        print_json(&night)?;
        return Ok(Outcome::Success);
    }
    println!(
        "demo night {} under {}: {} file(s) written, {} already up to date",
        night.night,
        layout.data_root().display(),
        night.files_written,
        night.files_unchanged
    );
    let mut t = table(&["Run", "Type", "Subruns", "Source", "Start (UTC)"], context.color);
    for r in &night.runs {
        t.add_row(vec![
            Cell::new(format!("{:05}", r.run)),
            Cell::new(r.run_type),
            Cell::new(r.subruns),
            Cell::new(or_dash(r.source.as_deref())),
            Cell::new(r.start.format("%Y-%m-%d %H:%M:%S")),
        ]);
    }
    println!("{t}");
    println!("R0 files:    {}", layout.r0_night_dir(night.night).display());
    println!("RunSummary:  {}", night.run_summary.display());
    Ok(Outcome::Success)
}
