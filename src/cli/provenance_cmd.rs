//! `osa provenance trace FILE [--json]`: where a product comes from, from the database;
//! `osa provenance export --date D [--run R] [--out DIR]`: PROV-JSON again from the database.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::Serialize;

use super::output::print_json;
use super::{Context, Outcome};
use crate::db::Db;
use crate::night::NightDate;
use crate::paths::Layout;
use crate::provenance::merge::{merge_night, prov_json_from_batch};

#[derive(Debug, clap::Subcommand)]
pub enum ProvenanceCommand {
    /// The chain of activities behind a product, back to the R0 files.
    Trace {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Merge the night's provenance log again (files, and database rows unless --no-db).
    Merge {
        #[arg(long)]
        date: NightDate,
        /// Write the PROV-JSON and graphs only.
        #[arg(long)]
        no_db: bool,
    },
    /// Write the PROV-JSON of a night's runs again from the database.
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

/// One step of a trace.
#[derive(Serialize)]
struct TraceStep {
    file: String,
    sha256: Option<String>,
    /// The activity that made it; `None` for inputs with no recorded maker (R0 files).
    activity: Option<String>,
    run: Option<i64>,
    subrun: Option<i64>,
    started_at: Option<String>,
    status: Option<String>,
    host: Option<String>,
    slurm_job: Option<String>,
    software: Option<String>,
    parameters: Vec<(String, String)>,
    /// Already shown above in this trace.
    repeated: bool,
    inputs: Vec<TraceStep>,
}

fn trace(db: &Db, location: &str, seen: &mut BTreeSet<String>, depth: usize) -> anyhow::Result<TraceStep> {
    let entity = db.entity_at(location)?;
    let mut step = TraceStep {
        file: location.to_string(),
        sha256: entity.as_ref().and_then(|e| e.sha256.clone()),
        activity: None,
        run: None,
        subrun: None,
        started_at: None,
        status: None,
        host: None,
        slurm_job: None,
        software: None,
        parameters: Vec::new(),
        repeated: false,
        inputs: Vec::new(),
    };
    let Some(entity) = entity else { return Ok(step) };
    if depth > 12 || !seen.insert(entity.id.clone()) {
        step.repeated = true;
        return Ok(step);
    }
    let Some(activity) = db.generator_of(&entity.id)? else { return Ok(step) };
    let (inputs, parameters) = db.inputs_of(&activity.id)?;
    step.activity = Some(activity.name.clone());
    step.run = Some(activity.run);
    step.subrun = activity.subrun;
    step.started_at = Some(activity.started_at.to_string());
    step.status = Some(activity.status.clone());
    step.host = activity.host.clone();
    step.slurm_job = activity.slurm_job.clone();
    step.software = activity.software.clone();
    step.parameters = parameters.into_iter().map(|p| (p.name, p.value)).collect();
    for (input, _role) in inputs {
        step.inputs.push(trace(db, &input.location, seen, depth + 1)?);
    }
    Ok(step)
}

fn print_trace(step: &TraceStep, indent: usize) {
    let pad = "  ".repeat(indent);
    let hash = step.sha256.as_deref().map(|h| format!(" sha256:{}", &h[..h.len().min(16)])).unwrap_or_default();
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

pub fn run(context: &Context, command: ProvenanceCommand) -> anyhow::Result<Outcome> {
    let config = context.config()?;
    match command {
        ProvenanceCommand::Merge { date, no_db } => {
            let layout = Layout::new(&config);
            let db = if no_db { None } else { Some(Db::open(&config.database_url(), &config.analysis.prod_id)?) };
            let calibration_run = match &db {
                Some(db) => db.sequences_of_night(date)?.into_iter().find(|s| s.kind == crate::model::SequenceKind::Calibration).map(|s| s.run),
                None => None,
            };
            let rows = match &db {
                Some(db) => crate::sequencer::submit::read_night_rows(db, date)?,
                None => Default::default(),
            };
            let options = crate::closer::merge_options(&config, calibration_run, &rows);
            let report = merge_night(date, &layout.provenance_log(date), &layout.provenance_records_dir(date), db.as_ref(), &options)?;
            for problem in &report.problems {
                eprintln!("skipped: {problem}");
            }
            println!("{} records of {} runs merged into {}", report.records, report.runs.len(), layout.provenance_records_dir(date).display());
        }
        ProvenanceCommand::Trace { file, json } => {
            let db = Db::open(&config.database_url(), &config.analysis.prod_id)?;
            // Locations are stored as osa wrote them; try the path as given, then resolved.
            let mut location = std::path::absolute(&file)?.display().to_string();
            if db.entity_at(&location)?.is_none()
                && let Ok(real) = std::fs::canonicalize(&file)
            {
                location = real.display().to_string();
            }
            let step = trace(&db, &location, &mut BTreeSet::new(), 0)?;
            if step.activity.is_none() && step.sha256.is_none() {
                anyhow::bail!("no provenance recorded for {location} (is its night closed? `osa closer` merges it into the database)");
            }
            if json {
                print_json(&step)?;
            } else {
                print_trace(&step, 0);
            }
        }
        ProvenanceCommand::Export { date, run, out } => {
            let db = Db::open(&config.database_url(), &config.analysis.prod_id)?;
            let layout = Layout::new(&config);
            let out = out.unwrap_or_else(|| layout.provenance_records_dir(date));
            std::fs::create_dir_all(&out)?;
            let runs: Vec<u32> = match run {
                Some(run) => vec![run],
                None => db.provenance_runs_of_night(date)?.into_iter().map(|(run, _)| run).collect(),
            };
            anyhow::ensure!(!runs.is_empty(), "no provenance of night {date} in the database");
            for run in runs {
                let doc = prov_json_from_batch(&db.provenance_of_run(date, run)?);
                let path = out.join(format!("calibration_to_dl1_{run:05}_prov.json"));
                std::fs::write(&path, serde_json::to_vec_pretty(&doc)?)?;
                println!("{}", path.display());
            }
        }
    }
    Ok(Outcome::Success)
}
