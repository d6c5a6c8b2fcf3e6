//! The status of the nights as `osa status --json` prints it and the status page shows it:
//! what is showing (config, data root, database, executor), the daemon's health, and per night
//! its totals and runs in words (schema: `tests/status.schema.json`). Built from
//! [`super::status::night_view`], so the terminal, the JSON and the page cannot differ.

use std::collections::BTreeSet;

use serde::Serialize;

use super::OperatorError;
use super::status::{NightView, Totals, night_view};
use crate::config::redact_url;
use crate::model::ExecutorKind;
use crate::night::NightDate;
use crate::service::Services;

#[derive(Clone, Debug, Serialize)]
pub struct StatusJson {
    /// The config file in effect (`null`: the built-in defaults).
    pub config_file: Option<String>,
    pub data_root: String,
    /// The production shown (`analysis.prod_id`, or `--prod-id`): its nights, runs and jobs.
    pub production: String,
    /// The database URL, password hidden.
    pub database: String,
    pub executor: ExecutorView,
    pub daemon: DaemonHealth,
    pub nights: Vec<NightStatus>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ExecutorView {
    pub kind: &'static str,
    /// Whether this call's poll answered (else job states are as last stored).
    pub answered: bool,
    /// Whose jobs the poll read (SLURM).
    pub polled_user: Option<String>,
}

/// The daemon as its health file and the process table say.
#[derive(Clone, Debug, Serialize)]
pub struct DaemonHealth {
    /// running, failing (its last cycle failed), stale (no cycle for 15 minutes), down.
    pub state: &'static str,
    pub running: bool,
    pub pid: Option<u32>,
    pub last_cycle_at: Option<String>,
    pub last_cycle_age_seconds: Option<i64>,
    /// The last cycle as the database saw it (the daemon's lease).
    pub last_cycle_in_database: Option<String>,
    /// The last cycle's failure (database or SLURM unreachable, ...), while it lasts.
    pub last_error: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct NightStatus {
    pub date: String,
    /// `NightState`'s stored word: waiting, running, closing, closed, needs_human.
    pub state: &'static str,
    pub totals: Totals,
    pub runs: Vec<RunStatus>,
    pub problems: Vec<String>,
    /// The night's long-term data check stage, in words.
    pub longterm: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RunStatus {
    pub run: u32,
    #[serde(rename = "type")]
    pub run_type: &'static str,
    /// In words, as the table shows it: `done`, `submitted`, `failed: a task timed out`,
    /// `blocked: no calibration`, ...
    pub state: String,
    pub subruns_done: u32,
    pub subruns: u32,
    pub tries: u32,
    pub exit: Option<i64>,
    pub job_id: Option<String>,
    /// DL1 files present for the run's subruns, in percent (null for calibration).
    pub dl1_percent: Option<u32>,
    pub dl2_percent: Option<u32>,
    /// The run-wise data check stage, in words.
    pub datacheck: Option<String>,
    /// pending, running or finished as this call's poll sees the job (null: not in the poll).
    pub job_state: Option<&'static str>,
    /// Seconds pending (since submission) or running (since its first task started).
    pub elapsed_seconds: Option<i64>,
    pub failure: Option<FailureJson>,
    /// The run's last subrun dropped (`subrun 0007 dropped: ...`, by whom and when): the run
    /// counts without it.
    pub dropped: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct FailureJson {
    pub subrun: u32,
    pub step: Option<String>,
    pub log: String,
    pub tail: Vec<String>,
}

impl From<NightView> for NightStatus {
    fn from(view: NightView) -> Self {
        Self {
            date: view.night.to_string(),
            state: view.state.as_str(),
            totals: view.totals.clone(),
            runs: view
                .runs
                .into_iter()
                .map(|r| RunStatus {
                    run: r.run,
                    run_type: r.run_type.as_str(),
                    state: r.action.to_string(),
                    subruns_done: r.subruns_done,
                    subruns: r.subruns,
                    tries: r.tries,
                    exit: r.exit,
                    job_id: r.job_id,
                    dl1_percent: r.dl1_percent,
                    dl2_percent: r.dl2_percent,
                    datacheck: r.datacheck,
                    job_state: r.job_state.map(|p| p.as_str()),
                    elapsed_seconds: r.elapsed_seconds,
                    failure: r.failure.map(|f| FailureJson { subrun: f.subrun, step: f.step, log: f.log.display().to_string(), tail: f.tail }),
                    dropped: r.dropped,
                })
                .collect(),
            problems: view.problems,
            longterm: view.longterm,
        }
    }
}

/// The nights a status shows: `date`, or the current night and every earlier one not closed.
pub fn nights_to_show(services: &Services, date: Option<NightDate>) -> Result<BTreeSet<NightDate>, OperatorError> {
    Ok(match date {
        Some(date) => BTreeSet::from([date]),
        None => {
            let current = NightDate::current();
            services.db.open_nights()?.into_iter().map(|n| n.night).filter(|n| *n <= current).chain(std::iter::once(current)).collect()
        }
    })
}

/// One look at `nights` (newest first): one executor poll for all of them, each night's view,
/// and the status document. `state`: only the runs whose action has this label.
pub fn overview(
    services: &Services,
    config_file: Option<String>,
    nights: &BTreeSet<NightDate>,
    state: Option<&str>,
    daemon: DaemonHealth,
) -> Result<(StatusJson, Vec<NightView>), OperatorError> {
    let sequencer = services.sequencer();
    let snapshot = sequencer.poll();
    let mut views: Vec<NightView> = nights.iter().rev().map(|night| night_view(&sequencer, *night, snapshot.as_ref())).collect::<Result<_, _>>()?;
    if let Some(wanted) = state {
        for view in &mut views {
            view.runs.retain(|r| r.action.label() == wanted);
        }
    }
    let config = &services.config;
    let slurm = config.executor.kind == ExecutorKind::Slurm;
    let json = StatusJson {
        config_file,
        data_root: services.layout.data_root().display().to_string(),
        production: config.analysis.prod_id.clone(),
        database: redact_url(&config.database_url()),
        executor: ExecutorView {
            kind: if slurm { "slurm" } else { "local" },
            answered: snapshot.is_some(),
            polled_user: slurm.then(|| Some(config.slurm.user.clone()).filter(|u| !u.is_empty()).unwrap_or_else(crate::account::user_name)),
        },
        daemon,
        nights: views.iter().cloned().map(NightStatus::from).collect(),
    };
    Ok((json, views))
}

/// An age in a few characters (seconds, minutes, hours), as the table and the page show it.
pub fn age(seconds: i64) -> String {
    match seconds {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s => format!("{} h {} min", s / 3600, s / 60 % 60),
    }
}
