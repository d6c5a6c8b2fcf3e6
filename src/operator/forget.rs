//! `osa night forget`: removes a night osa should never have planned (a summary dropped under
//! the wrong date, say) from the database. Only a night without products: its summary moved
//! away (else it would be planned again at once), no file in its final layout (DL1, DL2,
//! muons, data checks, calibration, provenance records), no job in the executor's hands. Its
//! working folder (`running_analysis/<night>`: scripts, logs, subrun files) is moved aside,
//! never deleted. Audited; the audit log keeps the row.

use std::path::{Path, PathBuf};

use super::OperatorError;
use crate::model::AuditAction;
use crate::night::NightDate;
use crate::sequencer::submit::Sequencer;

/// What a forget did.
#[derive(Debug)]
pub struct Forgotten {
    pub rows: usize,
    /// Where the night's working folder went, if it had one.
    pub moved: Option<PathBuf>,
}

pub fn forget(sequencer: &Sequencer, night: NightDate, reason: &str) -> Result<Forgotten, OperatorError> {
    super::check_known(sequencer, night, None)?;
    let _lock = sequencer.lock_night(night)?;
    let layout = &sequencer.layout;
    let [v2, v1] = layout.night_summary_files(night);
    if let Some(file) = [layout.run_summary_file(night), v2, v1].into_iter().find(|f| f.exists()) {
        return Err(OperatorError::SummaryStillThere { night, file });
    }
    let mut folders = layout.cleaning_dirs(night);
    folders.extend([
        layout.muons_dir(night),
        layout.datacheck_web_dir(night),
        layout.provenance_records_dir(night),
        layout.longterm_file(night).parent().map(Path::to_path_buf).unwrap_or_default(),
        layout.drs4_file(night, 0).parent().map(Path::to_path_buf).unwrap_or_default(),
        layout.calibration_file(night, 0).parent().map(Path::to_path_buf).unwrap_or_default(),
    ]);
    if let Some(file) = folders.iter().find_map(|f| first_file(f)) {
        return Err(OperatorError::HasProducts { night, file });
    }
    let snapshot = sequencer.poll().ok_or(OperatorError::ExecutorSilent { night })?;
    let busy: Vec<String> = sequencer
        .night_rows(night)?
        .jobs
        .iter()
        .filter_map(|j| j.job_id.as_ref())
        .filter(|id| snapshot.tasks_of(id).any(|t| !t.state.is_finished()))
        .cloned()
        .collect();
    if !busy.is_empty() {
        return Err(OperatorError::Busy { night, runs: busy.iter().map(|id| format!("job {id}")).collect() });
    }
    let analysis = layout.analysis_dir(night);
    let moved = if analysis.exists() {
        let mut aside = analysis.as_os_str().to_owned();
        aside.push(format!(".forgotten-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S")));
        let aside = PathBuf::from(aside);
        std::fs::rename(&analysis, &aside).map_err(|source| OperatorError::MoveAside { night, path: analysis.clone(), source })?;
        Some(aside)
    } else {
        None
    };
    let rows = sequencer.db.forget_night(night)?;
    sequencer.db.record_audit(night, None, AuditAction::Forget, &crate::account::operator_name(), reason)?;
    Ok(Forgotten { rows, moved })
}

/// A file somewhere under `dir` (folders alone are not products).
fn first_file(dir: &Path) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => {
                if let Some(file) = first_file(&path) {
                    return Some(file);
                }
            }
            _ => return Some(path),
        }
    }
    None
}
