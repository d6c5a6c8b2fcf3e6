//! What each page shows, read from the database (and the night's files osa made: graphs,
//! data-check PDFs), as data: the HTML and the JSON are two views of these.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::db::DbError;
use crate::model::Stage;
use crate::night::NightDate;
use crate::operator::OperatorError;
use crate::operator::overview::{DaemonHealth, StatusJson, nights_to_show, overview};
use crate::operator::veto::Vetoed;
use crate::paths::Layout;
use crate::provenance::trace::{Check, TraceStep, trace};
use crate::sequencer::plan::Action;
use crate::service::Services;

/// How the page learns the daemon's health (the daemon's own reading, passed in: the page
/// is served by the daemon and written by the CLI).
pub type Health = fn(&Layout, &crate::db::Db) -> Result<DaemonHealth, DbError>;

/// The nights page: `osa status --json` as it is.
pub fn nights(services: &Services, config_file: Option<String>, health: Health) -> Result<StatusJson, OperatorError> {
    let nights = nights_to_show(services, None)?;
    let daemon = health(&services.layout, &services.db)?;
    Ok(overview(services, config_file, &nights, None, daemon)?.0)
}

/// A night's page: its `osa status --json` document, and what the page adds per run.
#[derive(Clone, Debug, Serialize)]
pub struct NightPage {
    pub status: StatusJson,
    /// Per run: its source (from the summary), the commands for what needs a human.
    pub runs: Vec<RunExtra>,
    /// The night's provenance graph, once merged.
    pub graph: Option<String>,
    /// The night's long-term data check files that exist.
    pub longterm: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RunExtra {
    pub run: u32,
    pub source: Option<String>,
    /// Its vetoes in force (its sequence's, its closing stages'), each with why.
    pub vetoes: Vec<String>,
    /// The exact commands an operator runs for it (inspect first, then act).
    pub commands: Vec<String>,
}

/// `None`: a night osa never saw (other than the current one, which may have no summary yet).
pub fn night(services: &Services, config_file: Option<String>, health: Health, night: NightDate) -> Result<Option<NightPage>, OperatorError> {
    if night != NightDate::current() && services.db.night(night)?.is_none() {
        return Ok(None);
    }
    let daemon = health(&services.layout, &services.db)?;
    let (status, views) = overview(services, config_file, &BTreeSet::from([night]), None, daemon)?;
    let sources: BTreeMap<u32, Option<String>> = services.db.runs_of_night(night)?.into_iter().map(|r| (r.run, r.source)).collect();
    let stages: Vec<Stage> = std::iter::once(Stage::Sequence).chain(services.config.closer.stages.iter().map(|s| Stage::closing(&s.name))).collect();
    let vetoes = crate::operator::veto::vetoes(&services.db, night, &stages)?;
    let runs = views
        .iter()
        .flat_map(|v| &v.runs)
        .map(|r| {
            let mine: Vec<&Vetoed> = vetoes.iter().filter(|v| v.run == r.run).collect();
            RunExtra {
                run: r.run,
                source: sources.get(&r.run).cloned().flatten(),
                vetoes: mine.iter().map(|v| format!("{} vetoed: {}", v.stage, v.reason.as_deref().unwrap_or("(no reason recorded)"))).collect(),
                commands: commands(night, r, &mine),
            }
        })
        .collect();
    let layout = &services.layout;
    let graph = existing(layout.provenance_records_dir(night).join(format!("night_{}_prov.svg", night.compact())));
    let longterm_file = layout.longterm_file(night);
    let longterm = ["h5", "html", "log"].iter().filter_map(|ext| existing(longterm_file.with_extension(ext))).collect();
    Ok(Some(NightPage { status, runs, graph, longterm }))
}

fn existing(path: std::path::PathBuf) -> Option<String> {
    path.exists().then(|| path.display().to_string())
}

/// What an operator types for a run that needs one: look, then act (audited commands).
fn commands(night: NightDate, r: &crate::operator::status::RunView, vetoes: &[&Vetoed]) -> Vec<String> {
    let run = format!("--date {night} --run {}", r.run);
    let mut out = match &r.action {
        Action::Failed { .. } => vec![format!("osa status --date {night} --state failed"), format!("osa rerun {run} --reason \"...\"")],
        Action::Blocked { .. } => vec![format!("osa status --date {night} --state blocked")],
        _ => Vec::new(),
    };
    if !vetoes.is_empty() {
        out.push(format!("osa veto list --date {night}"));
    }
    for v in vetoes {
        let stage = if v.stage.is_sequence() { String::new() } else { format!(" --stage {}", v.stage) };
        out.push(format!("osa veto lift {run}{stage} --reason \"...\""));
    }
    out
}

/// A run's page: its subruns, jobs, products, provenance graph and data-check PDFs.
#[derive(Clone, Debug, Serialize)]
pub struct RunPage {
    pub date: String,
    pub run: u32,
    #[serde(rename = "type")]
    pub run_type: Option<String>,
    pub source: Option<String>,
    /// In words, as the night's table says it.
    pub state: Option<String>,
    /// Whether its night is still open (its page then reloads itself).
    pub night_open: bool,
    pub subruns: Vec<SubrunRow>,
    pub jobs: Vec<JobRow>,
    pub products: Vec<ProductRow>,
    /// Its PROV graph (`calibration_to_dl2_RRRRR_prov.svg`, else the dl1 one), once merged.
    pub graph: Option<String>,
    pub datacheck_pdfs: Vec<String>,
}

/// A subrun's latest task, with how many tries it had.
#[derive(Clone, Debug, Serialize)]
pub struct SubrunRow {
    pub subrun: u32,
    pub state: String,
    pub tries: u32,
    pub attempt: u32,
    pub exit: Option<i64>,
    pub node: Option<String>,
    pub cpu_seconds: Option<i64>,
    pub max_rss_kb: Option<i64>,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct JobRow {
    /// The run's sequence (`sequence`, `first part`) or a stage's name.
    pub stage: String,
    pub attempt: u32,
    pub job_id: Option<String>,
    pub submitted_at: Option<String>,
    pub submit_error: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ProductRow {
    pub path: String,
    pub kind: String,
    pub subrun: u32,
    pub size_bytes: i64,
    pub sha256: String,
    pub events: Option<i64>,
    /// `ok` or what is wrong.
    pub verdict: String,
    pub detail: Option<String>,
}

pub fn run(services: &Services, night: NightDate, run: u32) -> Result<Option<RunPage>, OperatorError> {
    let db = &services.db;
    let Some(record) = db.runs_of_night(night)?.into_iter().find(|r| r.run == run) else { return Ok(None) };
    let sequencer = services.sequencer();
    let view = crate::operator::status::night_view(&sequencer, night, sequencer.poll().as_ref())?;
    let state = view.runs.iter().find(|r| r.run == run).map(|r| r.action.to_string());
    let night_open = view.state != crate::model::NightState::Closed;
    let mut latest: BTreeMap<u32, (crate::db::TaskRecord, u32)> = BTreeMap::new();
    for task in db.tasks_of_run(night, run)?.into_iter().filter(|t| t.stage == Stage::Sequence) {
        let entry = latest.entry(task.subrun).or_insert_with(|| (task.clone(), 0));
        entry.1 += 1;
        if task.attempt >= entry.0.attempt {
            entry.0 = task;
        }
    }
    let time = |t: Option<chrono::NaiveDateTime>| t.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string());
    let subruns = latest
        .into_values()
        .map(|(t, tries)| SubrunRow {
            subrun: t.subrun,
            state: t.state.as_str().to_string(),
            tries,
            attempt: t.attempt,
            exit: t.exit_code,
            node: t.node,
            cpu_seconds: t.cpu_seconds,
            max_rss_kb: t.max_rss_kb,
            started_at: time(t.started_at),
            ended_at: time(t.ended_at),
        })
        .collect();
    let jobs = db
        .jobs_of_night(night)?
        .into_iter()
        .filter(|j| j.intent.run == run)
        .map(|j| JobRow {
            stage: j.intent.stage.to_string(),
            attempt: j.intent.attempt,
            job_id: j.job_id,
            submitted_at: time(j.submitted_at),
            submit_error: j.submit_error,
        })
        .collect();
    let outputs = db.outputs_of_run(night, run)?;
    let datacheck_pdfs =
        outputs.iter().filter(|o| o.path.ends_with(".pdf") && std::path::Path::new(&o.path).exists()).map(|o| o.path.clone()).collect();
    let products = outputs
        .into_iter()
        .map(|o| ProductRow {
            path: o.path,
            kind: o.kind,
            subrun: o.subrun,
            size_bytes: o.size_bytes,
            sha256: o.sha256,
            events: o.events,
            verdict: o.verdict,
            detail: o.detail,
        })
        .collect();
    let records = services.layout.provenance_records_dir(night);
    let graph = ["dl2", "dl1"].iter().find_map(|level| existing(records.join(format!("calibration_to_{level}_{run:05}_prov.svg"))));
    let graph = graph.or_else(|| existing(records.join(format!("calibration_{run:05}_prov.svg"))));
    Ok(Some(RunPage {
        date: night.to_string(),
        run,
        run_type: Some(record.r0_type.unwrap_or(record.summary_type).as_str().to_string()),
        source: record.source,
        state,
        night_open,
        subruns,
        jobs,
        products,
        graph,
        datacheck_pdfs,
    }))
}

/// A product's chain back to R0 (`osa provenance trace`), for a path inside the data root.
pub fn trace_of(services: &Services, location: &std::path::Path) -> Result<Option<TraceStep>, DbError> {
    let location = location.display().to_string();
    let step = trace(&services.db, &location, Check::Product)?;
    Ok((step.activity.is_some() || step.sha256.is_some()).then_some(step))
}
