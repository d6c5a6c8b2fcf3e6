//! `osa summary show FILE`: a night summary as osa reads it, warnings included.
//!
//! JSON contract (`--json`), stable for scripts:
//! `{"date": "YYYY-MM-DD", "format": "runsummary"|"nightsummary-v1"|"nightsummary-v2",
//!   "file", "runs": [{"run", "type", "type_as_written", "subruns", "source", "start",
//!   "events", "line", "r0_type", "type_mismatch"}], "warnings": [{"file", "line", "message"}]}`.
//! `type` is one of DRS4, PEDCALIB, DATA, ERROR, EXCLUDED, UNKNOWN; absent values are null;
//! `r0_type` is null unless `--check-r0` was given.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use comfy_table::Cell;
use serde::Serialize;

use super::output::{alarm, or_dash, print_json, table};
use super::{Context, Outcome};
use crate::config::Config;
use crate::model::RunType;
use crate::paths::Layout;
use crate::summary::classify::classify_run;
use crate::summary::{self, NightSummary, SummaryFormat, Warning};

#[derive(Debug, clap::Subcommand)]
pub enum SummaryCommand {
    /// Parse a RunSummary (.ecsv) or legacy NightSummary (.txt) and print its runs.
    Show {
        /// The summary file (any path).
        file: PathBuf,
        /// JSON for scripts (see the module doc of `cli::summary_cmd` / README).
        #[arg(long)]
        json: bool,
        /// Also classify each run from its first R0 subrun file and flag type mismatches.
        #[arg(long)]
        check_r0: bool,
        /// The night's R0 folder for --check-r0 (default: from the config's data root).
        #[arg(long, value_name = "DIR", requires = "check_r0")]
        r0_dir: Option<PathBuf>,
    },
}

#[derive(Serialize)]
struct SummaryJson<'a> {
    date: String,
    format: SummaryFormat,
    file: &'a Path,
    runs: Vec<RunJson<'a>>,
    warnings: &'a [Warning],
}

#[derive(Serialize)]
struct RunJson<'a> {
    run: u32,
    #[serde(rename = "type")]
    run_type: RunType,
    type_as_written: &'a str,
    subruns: u32,
    source: Option<&'a str>,
    start: Option<DateTime<Utc>>,
    events: Option<u64>,
    line: usize,
    r0_type: Option<RunType>,
    type_mismatch: bool,
}

pub fn run(context: &Context, command: SummaryCommand) -> anyhow::Result<Outcome> {
    let SummaryCommand::Show { file, json, check_r0, r0_dir } = command;
    // The config only helps here (catalog and R0 folders); reading a file needs none.
    let config = match context.config() {
        Ok(config) => Some(config),
        Err(e) => {
            tracing::debug!("no usable config ({e}); using the file's own folder only");
            None
        }
    };
    let layout = config.as_ref().map(Layout::new);
    let catalog_dir = config.as_ref().map(|c: &Config| c.resolve(&c.paths.run_catalog_dir));
    let limits = config.as_ref().map(|c| c.limits.clone()).unwrap_or_default();
    let mut night = summary::load_with_catalog(&file, catalog_dir.as_deref(), &limits)?;

    if check_r0 {
        let dir = match (r0_dir, &layout) {
            (Some(dir), _) => dir,
            (None, Some(layout)) => layout.r0_night_dir(night.date),
            (None, None) => anyhow::bail!("--check-r0 needs --r0-dir or a usable config"),
        };
        for run in &mut night.runs {
            let verdict = classify_run(&dir, run.run);
            run.set_r0_type(verdict.run_type);
            if let Some(reason) = &verdict.reason {
                let message = format!("run {}: R0 verdict ERROR: {reason}", run.run);
                night.warnings.push(Warning { file: verdict.file.clone(), line: 0, message });
            }
        }
    }

    if json {
        print_json(&to_json(&night)).context("printing JSON")?;
    } else {
        print_human(context, &night, check_r0);
    }
    Ok(Outcome::Success)
}

fn to_json(night: &NightSummary) -> SummaryJson<'_> {
    SummaryJson {
        date: night.date.to_string(),
        format: night.format,
        file: &night.file,
        runs: night
            .runs
            .iter()
            .map(|r| RunJson {
                run: r.run,
                run_type: r.run_type,
                type_as_written: &r.type_as_written,
                subruns: r.subruns,
                source: r.source.as_deref(),
                start: r.start,
                events: r.events,
                line: r.line,
                r0_type: r.r0_type,
                type_mismatch: r.type_mismatch,
            })
            .collect(),
        warnings: &night.warnings,
    }
}

fn print_human(context: &Context, night: &NightSummary, check_r0: bool) {
    println!("{} — night {} — {} run(s) — {}", night.format, night.date, night.runs.len(), night.file.display());
    let mut header = vec!["Run", "Type", "Subruns", "Source", "Start (UTC)", "Events"];
    if check_r0 {
        header.push("R0 type");
    }
    let mut t = table(&header, context.color);
    for r in &night.runs {
        let kind = if r.type_as_written == r.run_type.as_str() { r.run_type.to_string() } else { format!("{} ({})", r.run_type, r.type_as_written) };
        let mut row = vec![
            Cell::new(format!("{:05}", r.run)),
            if matches!(r.run_type, RunType::Unknown | RunType::Error) { alarm(kind, context.color) } else { Cell::new(kind) },
            Cell::new(r.subruns),
            Cell::new(or_dash(r.source.as_deref())),
            Cell::new(or_dash(r.start.map(|s| s.format("%Y-%m-%d %H:%M:%S")))),
            Cell::new(or_dash(r.events)),
        ];
        if check_r0 {
            let r0 = or_dash(r.r0_type);
            row.push(if r.type_mismatch { alarm(format!("{r0} (MISMATCH)"), context.color) } else { Cell::new(r0) });
        }
        t.add_row(row);
    }
    println!("{t}");
    if !night.warnings.is_empty() {
        println!("{} warning(s):", night.warnings.len());
        for w in &night.warnings {
            println!("  {w}");
        }
    }
}
