//! `osa job calibration|subrun|stage`: what array tasks and closing-stage jobs run (the job
//! scripts call these), and the hidden `osa executor-local` supervisor of the local executor.
//!
//! Exit codes of a task: see `jobrunner` (0 done, 1 osa error, 2 usage, 10 + N step N failed).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;

use super::{Context, Outcome};
use crate::db::{Db, DbError, RetryPolicy};
use crate::jobrunner::{Task, TaskKind, run_task};
use crate::model::CalibrationRuns;
use crate::night::NightDate;
use crate::paths::Layout;

#[derive(Debug, clap::Subcommand)]
pub enum JobCommand {
    /// The calibration job of a night: DRS4 baseline, then the charge calibration.
    Calibration {
        #[arg(long)]
        date: NightDate,
        #[arg(long)]
        drs4_run: u32,
        #[arg(long)]
        pedcal_run: u32,
        #[arg(long, default_value_t = 1)]
        attempt: u32,
    },
    /// One DATA subrun: the configured data steps.
    Subrun {
        #[arg(long)]
        date: NightDate,
        #[arg(long)]
        run: u32,
        /// Default: $SLURM_ARRAY_TASK_ID.
        #[arg(long, env = "SLURM_ARRAY_TASK_ID")]
        subrun: u32,
        #[arg(long, default_value_t = 1)]
        attempt: u32,
        /// The night the calibration runs were taken (default: this night).
        #[arg(long)]
        calibration_night: Option<NightDate>,
        #[arg(long)]
        drs4_run: u32,
        #[arg(long)]
        pedcal_run: u32,
        /// The run's first part (before its pre-stages): the data steps before this one.
        #[arg(long)]
        stop_before: Option<String>,
    },
    /// A closing stage of a run (or of the night: `--run 0`): its configured step.
    Stage {
        #[arg(long)]
        date: NightDate,
        #[arg(long)]
        run: u32,
        /// A name of `closer.stages`.
        #[arg(long)]
        stage: String,
        #[arg(long, default_value_t = 1)]
        attempt: u32,
        #[arg(long)]
        calibration_night: Option<NightDate>,
        #[arg(long)]
        drs4_run: u32,
        #[arg(long)]
        pedcal_run: u32,
        /// The RF models the closer chose for the run's DL2.
        #[arg(long)]
        rf_models: Option<PathBuf>,
    },
}

#[derive(Debug, clap::Args)]
pub struct ExecutorLocalArgs {
    #[arg(long)]
    pub spool: PathBuf,
    #[arg(long)]
    pub job: String,
    #[arg(long)]
    pub concurrency: usize,
}

pub fn run(context: &Context, command: JobCommand) -> anyhow::Result<Outcome> {
    let config = context.config()?;
    let layout = Layout::new(&config);
    let (night, kind, attempt, calibration) = match command {
        JobCommand::Calibration { date, drs4_run, pedcal_run, attempt } => {
            (date, TaskKind::Calibration, attempt, CalibrationRuns { night: date, drs4_run, pedcal_run })
        }
        JobCommand::Subrun { date, run, subrun, attempt, calibration_night, drs4_run, pedcal_run, stop_before } => {
            if let Some(step) = &stop_before
                && !config.analysis.data_steps.iter().any(|s| s.name == *step)
            {
                anyhow::bail!("night {date} run {run} subrun {subrun}: --stop-before {step:?} is no step of analysis.data_steps");
            }
            let calibration = CalibrationRuns { night: calibration_night.unwrap_or(date), drs4_run, pedcal_run };
            (date, TaskKind::Subrun { run, subrun, stop_before }, attempt, calibration)
        }
        JobCommand::Stage { date, run, stage, attempt, calibration_night, drs4_run, pedcal_run, rf_models } => {
            if config.stage(&stage).is_none() {
                let known: Vec<&str> = config.closer.stages.iter().chain(&config.analysis.pre_stages).map(|s| s.name.as_str()).collect();
                anyhow::bail!("night {date}: no closing stage nor pre-stage {stage:?} in the configuration (known: {})", known.join(", "));
            }
            let calibration = CalibrationRuns { night: calibration_night.unwrap_or(date), drs4_run, pedcal_run };
            (date, TaskKind::Stage { run, stage, rf_models }, attempt, calibration)
        }
    };
    let workdir = layout.contain(&layout.analysis_dir(night))?;
    std::fs::create_dir_all(&workdir).with_context(|| format!("creating {}", workdir.display()))?;
    // The database is the record: a task rides out an outage of a few minutes (at start and
    // at every write) rather than leave a thinner record; past that it still runs on its
    // files, and the closer reports the disagreement. Never against a schema older than this
    // osa (it would write rows the schema lacks).
    let outage = RetryPolicy { attempts: 30, first_delay: Duration::from_millis(200), max_delay: Duration::from_secs(5) };
    let mut delay = outage.first_delay;
    let mut tries = 0;
    let db = loop {
        tries += 1;
        match Db::open(&config.database_url(), &config.analysis.prod_id) {
            Ok(db) => break Some(db.with_retry(outage)),
            Err(e @ DbError::SchemaBehind { .. }) => return Err(e).with_context(|| format!("night {night}: task not run")),
            Err(e) if tries < outage.attempts => {
                tracing::warn!("database unreachable, retrying in {delay:?}: {e}");
                std::thread::sleep(delay);
                delay = (delay * 2).min(outage.max_delay);
            }
            Err(e) => {
                tracing::warn!("database unreachable, history goes to the file only (the closer will report it): {e}");
                break None;
            }
        }
    };
    let task = Task { config: &config, layout: &layout, night, kind, attempt, calibration };
    let report = match run_task(&task, db.as_ref()) {
        Ok(report) => report,
        Err(e) if e.is_disk_full() => {
            crate::jobrunner::say!("osa: error: {e}");
            std::process::exit(crate::jobrunner::TASK_DISK_FULL as i32);
        }
        Err(e) => return Err(e).with_context(|| format!("night {night}")),
    };
    for (step, outcome) in &report.steps {
        crate::jobrunner::say!("osa job: {step}: {outcome}");
    }
    if report.exit_code == 0 {
        Ok(Outcome::Success)
    } else {
        std::process::exit(report.exit_code);
    }
}

pub fn executor_local(args: ExecutorLocalArgs) -> anyhow::Result<Outcome> {
    crate::executor::local::supervise(&args.spool, &args.job, args.concurrency)?;
    Ok(Outcome::Success)
}
