//! `osa rerun --date D [--run R] [--reason TEXT]`: process a night (or one run) again. Under
//! the night's lock, the previous attempt's files are moved aside (never deleted) into
//! `*.before-rerun-<time>`, the rerun is audited, the night reopened; then the daemon, or this
//! command itself when no daemon runs, plans and submits again. Earlier submissions stay in
//! the database and no longer count.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use chrono::Utc;

use super::{Context, Outcome};
use crate::db::{AuditAction, NightState};
use crate::night::NightDate;
use crate::paths::Layout;
use crate::sequencer::plan::Action;

#[derive(Debug, clap::Args)]
pub struct RerunArgs {
    #[arg(long)]
    pub date: NightDate,
    /// Only this run.
    #[arg(long)]
    pub run: Option<u32>,
    /// Why (kept in the audit log).
    #[arg(long, default_value = "rerun requested by an operator")]
    pub reason: String,
}

fn move_aside(path: &Path, suffix: &str, moved: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    if path.symlink_metadata().is_err() {
        return Ok(());
    }
    let mut target = path.as_os_str().to_owned();
    target.push(suffix);
    let target = PathBuf::from(target);
    std::fs::rename(path, &target).with_context(|| format!("moving {} aside", path.display()))?;
    moved.push(target);
    Ok(())
}

pub fn run(context: &Context, args: RerunArgs) -> anyhow::Result<Outcome> {
    let config = context.config()?;
    let layout = Layout::new(&config);
    let services = context.services(&config)?;
    let sequencer = services.sequencer(&config);
    let db = &services.db;
    let night = args.date;
    let suffix = format!(".before-rerun-{}", Utc::now().format("%Y%m%dT%H%M%S"));
    let mut moved = Vec::new();
    {
        let _lock = sequencer.lock_night(night)?;
        // Jobs still queued or running would write into the folders being moved aside, next to
        // the new attempt: wait for them (or cancel them) first.
        let mut calibration_files = Vec::new();
        if let Some(summary) = sequencer.load_night(night, false)? {
            let snapshot = sequencer.poll();
            let plan = sequencer.plan(night, &summary.runs, snapshot.as_ref())?;
            // Rerunning the calibration run redoes the night's calibration products.
            if let (Some(run), crate::sequencer::plan::Calibration::Tonight { drs4_run, pedcal_run }) = (args.run, &plan.calibration)
                && run == *pedcal_run
            {
                calibration_files = vec![layout.drs4_file(night, *drs4_run), layout.calibration_file(night, *pedcal_run)];
            }
            let busy: Vec<String> = plan
                .sequences
                .iter()
                .filter(|s| args.run.is_none_or(|r| r == s.run))
                .filter(|s| matches!(s.action, Action::Submitted { .. } | Action::Reconcile { .. }))
                .map(|s| format!("{:05} (job {})", s.run, s.last_job_id.as_deref().unwrap_or("?")))
                .collect();
            anyhow::ensure!(
                busy.is_empty(),
                "night {night}: run(s) {} still queued or running; wait for them, or cancel them (scancel), then rerun",
                busy.join(", ")
            );
        }
        match args.run {
            None => {
                // The night's calibration products too: lstchain refuses to overwrite them.
                let calibration_nights =
                    [layout.drs4_file(night, 0), layout.calibration_file(night, 0)].map(|f| f.parent().and_then(Path::parent).map(Path::to_path_buf));
                let mut paths = vec![
                    layout.analysis_dir(night),
                    layout.dl1_dir(night),
                    layout.dl2_dir(night),
                    layout.provenance_records_dir(night),
                    layout.night_finished_flag(night),
                ];
                paths.extend(calibration_nights.into_iter().flatten());
                for path in paths {
                    move_aside(&path, &suffix, &mut moved)?;
                }
            }
            Some(run) => {
                let tag = format!("Run{run:05}.");
                let history = format!("sequence_LST1_{run:05}");
                for dir in [layout.analysis_dir(night), layout.analysis_dir(night).join(&config.analysis.dl1_prod_id), layout.dl1_dir(night)] {
                    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                        let name = entry.file_name().to_string_lossy().into_owned();
                        if (name.contains(&tag) || name.starts_with(&history)) && !name.contains(".before-rerun-") {
                            move_aside(&entry.path(), &suffix, &mut moved)?;
                        }
                    }
                }
                for file in &calibration_files {
                    move_aside(file, &suffix, &mut moved)?;
                }
                move_aside(&layout.night_finished_flag(night), &suffix, &mut moved)?;
            }
        }
        let actor = std::env::var("USER").unwrap_or_else(|_| "unknown".to_string());
        db.record_audit(night, args.run, AuditAction::Rerun, &actor, &args.reason)?;
        db.set_night_state(night, NightState::Waiting)?;
    }
    println!(
        "night {night}{}: rerun recorded; {} path(s) moved aside (suffix {suffix})",
        args.run.map(|r| format!(" run {r:05}")).unwrap_or_default(),
        moved.len()
    );
    let daemon_runs = crate::daemon::running(&layout);
    if daemon_runs {
        println!("the daemon will plan and submit it at its next cycle");
    } else {
        let cycle = sequencer.cycle(night, false)?;
        for (run, job) in &cycle.submitted {
            println!("submitted run {run:05} as job {job}");
        }
    }
    Ok(Outcome::Success)
}
