//! `osa job calibration|subrun`: what array tasks run (the job scripts call these), and the
//! hidden `osa executor-local` supervisor of the local executor.
//!
//! Exit code of a task: 0 when every step passed, else the exit code of the failing step.

use std::path::PathBuf;

use anyhow::Context as _;

use super::{Context, Outcome};
use crate::jobrunner::{calibration_context, run_steps, subrun_context};
use crate::night::NightDate;
use crate::paths::Layout;
use crate::sequencer::script::CalibrationRuns;

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
    let (steps, step_context, night, what) = match command {
        JobCommand::Calibration { date, drs4_run, pedcal_run, attempt: _ } => {
            let calibration = CalibrationRuns { night: date, drs4_run, pedcal_run };
            (&config.analysis.calibration_steps, calibration_context(&config, &layout, date, calibration), date, format!("calibration run {pedcal_run}"))
        }
        JobCommand::Subrun { date, run, subrun, attempt: _, calibration_night, drs4_run, pedcal_run } => {
            let calibration = CalibrationRuns { night: calibration_night.unwrap_or(date), drs4_run, pedcal_run };
            (&config.analysis.data_steps, subrun_context(&config, &layout, date, run, subrun, calibration), date, format!("run {run} subrun {subrun}"))
        }
    };
    let workdir = layout.analysis_dir(night);
    std::fs::create_dir_all(&workdir).with_context(|| format!("creating {}", workdir.display()))?;
    let code = run_steps(steps, &step_context, &workdir).with_context(|| format!("night {night} {what}"))?;
    if code == 0 {
        Ok(Outcome::Success)
    } else {
        std::process::exit(code.clamp(1, 255));
    }
}

pub fn executor_local(args: ExecutorLocalArgs) -> anyhow::Result<Outcome> {
    crate::executor::local::supervise(&args.spool, &args.job, args.concurrency)?;
    Ok(Outcome::Success)
}
