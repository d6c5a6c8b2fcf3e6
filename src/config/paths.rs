//! `[paths]`: where the data tree lives and how it is laid out (`paths::Layout` derives every
//! file's place from it).

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct PathsConfig {
    /// Root of the data tree. Every product osa writes lies under it. `OSA_DATA_ROOT` overrides.
    pub data_root: PathBuf,
    /// Input R0 files (gain selected), one `YYYYMMDD` folder per night. Relative to `data_root`
    /// unless absolute; read only.
    pub r0_dir: PathBuf,
    /// `RunSummary_YYYYMMDD.ecsv` files written by lstchain_create_run_summary; read only.
    pub run_summary_dir: PathBuf,
    /// Legacy text `NightSummary_YYYYMMDD[_LST1].txt` files; read only.
    pub night_summary_dir: PathBuf,
    /// `RunCatalog_YYYYMMDD.ecsv` files giving the source name of each DATA run; read only.
    pub run_catalog_dir: PathBuf,
    /// Working directory of the jobs: `running_analysis/YYYYMMDD/<prod_id>`.
    pub analysis_dir: PathBuf,
    /// Final DL1 products: `DL1/YYYYMMDD/<prod_id>/<dl1_prod_id>`.
    pub dl1_dir: PathBuf,
    /// Final DL2 products.
    pub dl2_dir: PathBuf,
    /// Calibration products (`Cat-A/drs4_baseline`, `Cat-A/calibration`).
    pub calibration_dir: PathBuf,
    /// osa's own files: closer flags, provenance records, the embedded database.
    pub osa_dir: PathBuf,
    /// Drive positioning logs, passed to the DL1 step.
    pub drive_dir: PathBuf,
    /// Random-forest models for DL2: `<mc_prod>nsb_tuning_X.XX/dec_XXXX` folders; read only.
    pub rf_models_dir: PathBuf,
    /// The tail-cut finder's `log_find_tailcuts_RunRRRRR.log` and `dl1ab_RunRRRRR.json`
    /// (the NSB level of a run, for its RF models); read only.
    pub tailcuts_finder_dir: PathBuf,
}

impl Default for PathsConfig {
    fn default() -> Self {
        Self {
            data_root: PathBuf::from("/fefs/aswg/data/real"),
            r0_dir: PathBuf::from("R0G"),
            run_summary_dir: PathBuf::from("monitoring/RunSummary"),
            night_summary_dir: PathBuf::from("monitoring/NightSummary"),
            run_catalog_dir: PathBuf::from("monitoring/RunCatalog"),
            analysis_dir: PathBuf::from("running_analysis"),
            dl1_dir: PathBuf::from("DL1"),
            dl2_dir: PathBuf::from("DL2"),
            calibration_dir: PathBuf::from("monitoring/PixelCalibration"),
            osa_dir: PathBuf::from("OSA"),
            drive_dir: PathBuf::from("monitoring/DrivePositioning"),
            rf_models_dir: PathBuf::from("models/AllSky"),
            tailcuts_finder_dir: PathBuf::from("auxiliary/TailCuts"),
        }
    }
}

pub(super) fn check_inside(root: &Path, path: &Path) -> Result<(), String> {
    if path.as_os_str().is_empty() {
        return Err("must not be empty".to_string());
    }
    if path.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(format!("{} must not contain `..`: products stay under paths.data_root", path.display()));
    }
    if path.is_absolute() && !path.starts_with(root) {
        return Err(format!("{} is outside paths.data_root {}", path.display(), root.display()));
    }
    Ok(())
}
