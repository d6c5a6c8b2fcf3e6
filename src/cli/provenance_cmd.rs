//! `osa provenance trace FILE [--json]`: where a product comes from, from the database;
//! `osa provenance export --date D [--run R] [--out DIR]`: the merge's documents again, from the
//! database.

use std::path::PathBuf;

use serde::Serialize;

use super::output::print_json;
use super::{Context, Outcome};
use crate::db::Db;
use crate::night::NightDate;
use crate::paths::Layout;
use crate::provenance::merge::{MergeOptions, export_night, merge_night};
use crate::provenance::trace::{Check, TraceStep, trace};

#[derive(Debug, clap::Subcommand)]
pub enum ProvenanceCommand {
    /// The chain of activities behind a product, back to the R0 files.
    Trace {
        file: PathBuf,
        #[arg(long)]
        json: bool,
        /// Hash every file of the chain again, not only the traced one (R0 files are large).
        #[arg(long)]
        check_all: bool,
    },
    /// Merge the night's provenance log again (files, and database rows unless --no-db).
    Merge {
        #[arg(long)]
        date: NightDate,
        /// Write the PROV-JSON and graphs only.
        #[arg(long)]
        no_db: bool,
    },
    /// Lineage: the products made by activities that used a file with this sha256 (a
    /// configuration, a calibration file).
    MadeWith {
        sha256: String,
        #[arg(long)]
        json: bool,
    },
    /// Lineage: every product made, at any remove, from this file (an R0 file, say).
    DerivedFrom {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Write the night's PROV-JSON documents and graphs again from the database: the files
    /// the merge wrote (with --run, that run's only).
    Export {
        #[arg(long)]
        date: NightDate,
        #[arg(long)]
        run: Option<u32>,
        /// Folder to write into (default: the night's provenance folder).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn print_trace(step: &TraceStep, indent: usize) {
    let pad = "  ".repeat(indent);
    let mut hash = step.sha256.as_deref().map(|h| format!(" sha256:{}", &h[..h.len().min(16)])).unwrap_or_default();
    if let Some(current) = step.current.filter(|c| *c != "unchanged") {
        hash.push_str(&format!(" [{} since recorded: `osa verify`]", current.to_uppercase()));
    }
    match &step.activity {
        Some(activity) => {
            println!("{pad}{}{hash}", step.file);
            println!(
                "{pad}  <- {activity} (run {}, subrun {}, {}, host {}, SLURM job {}, {}) at {}",
                step.run.map(|r| format!("{r:05}")).unwrap_or_default(),
                step.subrun.map(|s| s.to_string()).unwrap_or_else(|| "-".to_string()),
                step.status.as_deref().unwrap_or("?"),
                step.host.as_deref().unwrap_or("?"),
                step.slurm_job.as_deref().unwrap_or("?"),
                step.software.as_deref().unwrap_or("?"),
                step.started_at.as_deref().unwrap_or("?")
            );
            for (name, value) in &step.parameters {
                println!("{pad}     {name} = {value}");
            }
        }
        None if step.repeated => println!("{pad}{}{hash} (see above)", step.file),
        None => println!("{pad}{}{hash} (input: no recorded maker)", step.file),
    }
    for input in &step.inputs {
        print_trace(input, indent + 2);
    }
}

/// One entity of a lineage answer.
#[derive(Serialize)]
struct LineageEntry<'a> {
    location: &'a str,
    kind: &'a str,
    sha256: Option<&'a str>,
    night: &'a str,
    run: Option<i64>,
}

fn print_lineage(entities: &[crate::db::ProvEntity], json: bool) -> anyhow::Result<()> {
    let entries: Vec<LineageEntry> = entities
        .iter()
        .map(|e| LineageEntry { location: &e.location, kind: &e.kind, sha256: e.sha256.as_deref(), night: &e.night, run: e.run })
        .collect();
    if json {
        print_json(&entries)?;
    } else {
        for e in &entries {
            println!("{} ({}, sha256 {})", e.location, e.kind, e.sha256.unwrap_or("-"));
        }
        println!("{} entit{}", entries.len(), if entries.len() == 1 { "y" } else { "ies" });
    }
    Ok(())
}

/// What the merge of `night` needs to know besides its log, from the configuration and, when
/// there is one, the database (the night's calibration run, its runs' subrun overrides).
fn merge_options(config: &crate::config::Config, db: Option<&Db>, night: NightDate) -> anyhow::Result<MergeOptions> {
    let (calibration_run, rows) = match db {
        Some(db) => (
            db.sequences_of_night(night)?.into_iter().find(|s| s.kind == crate::model::SequenceKind::Calibration).map(|s| s.run),
            crate::sequencer::submit::read_night_rows(db, night)?,
        ),
        None => Default::default(),
    };
    Ok(crate::closer::merge_options(config, calibration_run, &rows))
}

pub fn run(context: &Context, command: ProvenanceCommand) -> anyhow::Result<Outcome> {
    let config = context.config()?;
    match command {
        ProvenanceCommand::Merge { date, no_db } => {
            let layout = Layout::new(&config);
            let db = if no_db { None } else { Some(Db::open(&config.database_url(), &config.analysis.prod_id)?) };
            let options = merge_options(&config, db.as_ref(), date)?;
            let report = merge_night(date, &layout.provenance_log(date), &layout.provenance_records_dir(date), db.as_ref(), &options)?;
            for problem in &report.problems {
                eprintln!("skipped: {problem}");
            }
            println!("{} records of {} runs merged into {}", report.records, report.runs.len(), layout.provenance_records_dir(date).display());
        }
        ProvenanceCommand::Trace { file, json, check_all } => {
            let db = Db::open(&config.database_url(), &config.analysis.prod_id)?;
            // Locations are stored as osa wrote them; try the path as given, then resolved.
            let mut location = std::path::absolute(&file)?.display().to_string();
            if db.entity_at(&location)?.is_none()
                && let Ok(real) = std::fs::canonicalize(&file)
            {
                location = real.display().to_string();
            }
            let step = trace(&db, &location, if check_all { Check::Chain } else { Check::Product })?;
            if step.activity.is_none() && step.sha256.is_none() {
                anyhow::bail!("no provenance recorded for {location} (is its night closed? `osa closer` merges it into the database)");
            }
            if json {
                print_json(&step)?;
            } else {
                print_trace(&step, 0);
            }
        }
        ProvenanceCommand::MadeWith { sha256, json } => {
            let db = Db::open(&config.database_url(), &config.analysis.prod_id)?;
            print_lineage(&db.made_with(&sha256)?, json)?;
        }
        ProvenanceCommand::DerivedFrom { file, json } => {
            let db = Db::open(&config.database_url(), &config.analysis.prod_id)?;
            let location = std::path::absolute(&file)?.display().to_string();
            anyhow::ensure!(db.entity_at(&location)?.is_some(), "no provenance recorded for {location}");
            print_lineage(&db.derived_from(&location)?, json)?;
        }
        ProvenanceCommand::Export { date, run, out } => {
            let db = Db::open(&config.database_url(), &config.analysis.prod_id)?;
            let out = out.unwrap_or_else(|| Layout::new(&config).provenance_records_dir(date));
            let options = merge_options(&config, Some(&db), date)?;
            let report = export_night(date, &db, &out, &options, run)?;
            anyhow::ensure!(
                !report.runs.is_empty(),
                "no provenance of night {date}{} in the database",
                run.map(|r| format!(" run {r:05}")).unwrap_or_default()
            );
            for (_, json, svg) in &report.runs {
                println!("{}\n{}", json.display(), svg.display());
            }
            if let Some(night) = &report.night_json {
                println!("{}", night.display());
            }
        }
    }
    Ok(Outcome::Success)
}
