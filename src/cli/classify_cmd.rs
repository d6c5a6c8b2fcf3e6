//! `osa classify FILE...`: the R0 verdict of each file, with its event-type shares.

use std::path::PathBuf;

use comfy_table::Cell;
use serde::Serialize;

use super::output::{alarm, or_dash, print_json, table};
use super::{Context, Outcome};
use crate::model::RunType;
use crate::summary::classify::{Classification, classify_file};

#[derive(Debug, clap::Args)]
pub struct ClassifyArgs {
    /// R0 files (`LST-1.N.RunRRRRR.SSSS.fits.fz`; any file name is accepted).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// JSON for scripts: `{"files": [{"file", "type", "events", "percent": {...}, "reason"}]}`.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct ClassifyJson<'a> {
    files: Vec<FileJson<'a>>,
}

#[derive(Serialize)]
struct FileJson<'a> {
    file: &'a std::path::Path,
    #[serde(rename = "type")]
    run_type: RunType,
    events: usize,
    percent: Percent,
    reason: Option<&'a str>,
}

#[derive(Serialize)]
struct Percent {
    physics: f64,
    pedestal: f64,
    flatfield: f64,
    other: f64,
}

fn percent(c: &Classification) -> Percent {
    let round = |x: f64| (x * 10.0).round() / 10.0;
    Percent {
        physics: round(c.counts.percent(c.counts.subarray)),
        pedestal: round(c.counts.percent(c.counts.sky_pedestal)),
        flatfield: round(c.counts.percent(c.counts.flatfield)),
        other: round(c.counts.percent(c.counts.other)),
    }
}

pub fn run(context: &Context, args: ClassifyArgs) -> anyhow::Result<Outcome> {
    let results: Vec<Classification> = args.files.iter().map(|f| classify_file(f)).collect();
    if args.json {
        print_json(&ClassifyJson {
            files: results
                .iter()
                .map(|c| FileJson { file: &c.file, run_type: c.run_type, events: c.counts.read, percent: percent(c), reason: c.reason.as_deref() })
                .collect(),
        })?;
    } else {
        let mut t = table(&["File", "Type", "Events", "Physics%", "Pedestal%", "FlatField%", "Other%", "Reason"], context.color);
        for c in &results {
            let p = percent(c);
            let kind = if c.run_type == RunType::Error { alarm(c.run_type, context.color) } else { Cell::new(c.run_type) };
            t.add_row(vec![
                Cell::new(c.file.display()),
                kind,
                Cell::new(c.counts.read),
                Cell::new(format!("{:.1}", p.physics)),
                Cell::new(format!("{:.1}", p.pedestal)),
                Cell::new(format!("{:.1}", p.flatfield)),
                Cell::new(format!("{:.1}", p.other)),
                Cell::new(or_dash(c.reason.as_deref())),
            ]);
        }
        println!("{t}");
    }
    let errors = results.iter().filter(|c| c.run_type == RunType::Error).count();
    if errors > 0 {
        eprintln!("osa: {errors} of {} file(s) classified ERROR", results.len());
        return Ok(Outcome::InvalidInput);
    }
    Ok(Outcome::Success)
}
