//! `osa rerun`: process a night (or one run) again. Under the night's lock, with no job of it
//! (sequence or closing stage) still queued or running, the previous attempt's files (the
//! final layout's too) are moved aside (never deleted) into
//! `*.before-rerun-<time>`, the rerun is audited and the night reopened; the next sequencer
//! cycle (the daemon's, or the caller's) plans and submits it again. Earlier submissions stay
//! in the database and no longer count (`sequencer::known`).

use std::path::{Path, PathBuf};

use chrono::Utc;

use super::OperatorError;
use crate::model::{AuditAction, NIGHT_WIDE, NightState, Stage};
use crate::night::NightDate;
use crate::paths::Layout;
use crate::sequencer::known::known_state_of;
use crate::sequencer::plan::{Action, Calibration, action_of};
use crate::sequencer::submit::Sequencer;

/// What a rerun moved aside.
#[derive(Debug)]
pub struct Rerun {
    /// The suffix every moved path got.
    pub suffix: String,
    /// Where each moved path is now (with `dry_run`: would be).
    pub moved: Vec<PathBuf>,
}

/// Reruns `night` (or only `run`), recording `reason` in the audit log. `dry_run`: the same
/// checks, and `moved` lists what would be moved aside; nothing is moved, recorded or reset.
pub fn rerun(sequencer: &Sequencer, night: NightDate, run: Option<u32>, reason: &str, dry_run: bool) -> Result<Rerun, OperatorError> {
    // Only what osa has planned can be rerun: a mistyped date must not become a night that
    // is polled forever. A night with its summary that this production has not processed
    // yet is started under it (reprocessing: `osa --prod-id v0.11 rerun --date D`).
    let starts_production = run.is_none() && sequencer.db.night(night)?.is_none() && sequencer.load_night(night, false)?.is_some();
    if !starts_production {
        super::check_known(sequencer, night, run)?;
    }
    let layout = &sequencer.layout;
    let suffix = format!(".before-rerun-{}", Utc::now().format("%Y%m%dT%H%M%S"));
    let mut moved = Vec::new();
    let _lock = sequencer.lock_night(night)?;
    // Jobs still queued or running would write into the folders being moved aside, next to
    // the new attempt: wait for them (or cancel them) first.
    let mut calibration_files = Vec::new();
    // The night's calibration products are moved aside only by the production that made
    // them: one that used another production's leaves them as they are.
    let mut made_calibration = false;
    if let Some(summary) = sequencer.load_night(night, false)? {
        let snapshot = sequencer.poll();
        let plan = sequencer.plan(night, &summary.runs, snapshot.as_ref())?;
        made_calibration = plan.sequences.iter().any(|s| s.kind == crate::model::SequenceKind::Calibration && s.last_job_id.is_some());
        // Rerunning the calibration run redoes the night's calibration products.
        if let (Some(run), Calibration::Tonight { drs4_run, pedcal_run }) = (run, &plan.calibration)
            && run == *pedcal_run
            && made_calibration
        {
            calibration_files = vec![layout.drs4_file(night, *drs4_run), layout.calibration_file(night, *pedcal_run)];
        }
        let mut busy: Vec<String> = plan
            .sequences
            .iter()
            .filter(|s| run.is_none_or(|r| r == s.run))
            .filter(|s| matches!(s.action, Action::Submitted { .. } | Action::Reconcile { .. }))
            .map(|s| format!("{:05} (job {})", s.run, s.last_job_id.as_deref().unwrap_or("?")))
            .collect();
        // The closing stages' jobs write into the final layout, the pre-stages' into what the
        // second parts read: the same holds for them.
        let rows = sequencer.night_rows(night)?;
        for stage in sequencer.config.closer.stages.iter().chain(&sequencer.config.analysis.pre_stages) {
            let known = known_state_of(&rows, snapshot.as_ref(), &Stage::closing(&stage.name));
            for job_run in known.attempts.keys().filter(|r| run.is_none_or(|wanted| wanted == **r || **r == NIGHT_WIDE)) {
                match action_of(&known, *job_run, u32::MAX).0 {
                    Action::Submitted { job_id } => busy.push(format!("{job_run:05} {} (job {job_id})", stage.name)),
                    Action::Reconcile { .. } => busy.push(format!("{job_run:05} {} (being submitted)", stage.name)),
                    _ => {}
                }
            }
        }
        if !busy.is_empty() {
            return Err(OperatorError::Busy { night, runs: busy });
        }
    }
    let mut aside = |path: &Path| move_aside(night, path, &suffix, &mut moved, dry_run);
    match run {
        None => {
            // The night's calibration products too (lstchain refuses to overwrite them): this
            // version's folder only, never the `pro` link or other versions' files.
            let calibration_dirs = [layout.drs4_file(night, 0), layout.calibration_file(night, 0)].map(|f| f.parent().map(Path::to_path_buf));
            let mut paths = layout.cleaning_dirs(night);
            paths.extend([
                layout.analysis_dir(night),
                layout.muons_dir(night),
                layout.longterm_file(night).parent().expect("the long-term file has a folder").to_path_buf(),
                layout.provenance_records_dir(night),
                layout.night_finished_flag(night),
            ]);
            if made_calibration {
                paths.extend(calibration_dirs.into_iter().flatten());
            }
            for path in paths {
                aside(&path)?;
            }
        }
        Some(run) => {
            let analysis = layout.analysis_dir(night);
            // The run's DL2 lies one level down, in its models' NSB tuning folder.
            let dl2: Vec<PathBuf> =
                std::fs::read_dir(layout.dl2_dir(night, run)).into_iter().flatten().flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
            let dirs = [
                layout.dl1b_file(night, run, 0).parent().map(Path::to_path_buf).unwrap_or_default(),
                analysis,
                layout.dl1_dir(night, run),
                layout.datacheck_dir(night, run),
                layout.muons_dir(night),
            ];
            for dir in dirs.into_iter().chain(dl2) {
                for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if Layout::belongs_to_run(&name, run) && !name.contains(".before-rerun-") {
                        aside(&entry.path())?;
                    }
                }
            }
            for file in &calibration_files {
                aside(file)?;
            }
            aside(&layout.night_finished_flag(night))?;
        }
    }
    if dry_run {
        return Ok(Rerun { suffix, moved });
    }
    // The versions recorded there moved with the files: the products made again at the old
    // places are new versions, the old ones stay queryable where they now are.
    for target in &moved {
        let text = target.display().to_string();
        if let Some(original) = text.strip_suffix(&suffix) {
            sequencer.db.relocate_entities(original, &text)?;
        }
    }
    sequencer.db.record_audit(night, run, AuditAction::Rerun, &crate::account::operator_name(), reason)?;
    sequencer.db.set_night_state(night, NightState::Waiting)?;
    Ok(Rerun { suffix, moved })
}

fn move_aside(night: NightDate, path: &Path, suffix: &str, moved: &mut Vec<PathBuf>, dry_run: bool) -> Result<(), OperatorError> {
    if path.symlink_metadata().is_err() {
        return Ok(());
    }
    let mut target = path.as_os_str().to_owned();
    target.push(suffix);
    let target = PathBuf::from(target);
    if dry_run {
        moved.push(target);
        return Ok(());
    }
    std::fs::rename(path, &target).map_err(|source| OperatorError::MoveAside { night, path: path.to_path_buf(), source })?;
    moved.push(target);
    Ok(())
}
