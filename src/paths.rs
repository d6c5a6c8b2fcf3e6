//! The night layout: the one place that knows where each file of a night lives and how every
//! product is named (LSTOSA's tree and lstchain's names, see `summaries.md` and
//! `jobs-and-history.md`). Nothing else in osa builds a product path by hand.
//!
//! Writes are confined to the data root: [`Layout::contain`] refuses any path that would
//! escape it. Reading commands (`summary show`, `classify`) take any file and do not come here.

use std::path::{Component, Path, PathBuf};

use crate::config::Config;
use crate::night::NightDate;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("refusing to write {path}: it lies outside the data root {root}")]
pub struct OutsideDataRoot {
    pub path: PathBuf,
    pub root: PathBuf,
}

/// Resolved folders of the data tree plus the production ids that name their sub-folders.
#[derive(Clone, Debug)]
pub struct Layout {
    root: PathBuf,
    r0: PathBuf,
    run_summary: PathBuf,
    night_summary: PathBuf,
    run_catalog: PathBuf,
    analysis: PathBuf,
    dl1: PathBuf,
    dl2: PathBuf,
    calibration: PathBuf,
    osa: PathBuf,
    drive: PathBuf,
    tailcuts_finder: PathBuf,
    rf_models: PathBuf,
    mc_prod: String,
    prod_id: String,
    dl1_prod_id: String,
    /// DATA runs take their cleaning from the tail-cut finder (see [`Layout::dl1_prod_id`]).
    tailcuts_from_finder: bool,
    /// The finder's answers read so far, per run: read once, as products are named per subrun.
    finder_prod_ids: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<u32, String>>>,
    calibration_version: String,
}

/// `LST-1.{stream}.Run{run:05d}.{subrun:04d}.fits.fz`
pub fn r0_file_name(stream: u8, run: u32, subrun: u32) -> String {
    format!("LST-1.{stream}.Run{run:05}.{subrun:04}.fits.fz")
}

/// Parses an R0 file name into (stream, run, subrun). Like lstchain's `R0_RE`, extra text
/// before `.fits.fz` is tolerated.
pub fn parse_r0_file_name(name: &str) -> Option<(u8, u32, u32)> {
    let rest = name.strip_prefix("LST-1.")?;
    let (stream, rest) = rest.split_once(".Run")?;
    let stream: u8 = stream.parse().ok()?;
    let rest = rest.strip_suffix(".fits.fz")?;
    let (run, rest) = rest.split_once('.')?;
    let subrun = rest.get(..4)?;
    if run.len() < 5 || !run.bytes().all(|b| b.is_ascii_digit()) || !subrun.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((stream, run.parse().ok()?, subrun.parse().ok()?))
}

/// Who a closing stage's job is for: `LST1_RRRRR`, or `night` for the night-wide stages.
pub fn stage_owner(run: u32) -> String {
    if run == crate::model::NIGHT_WIDE { "night".to_string() } else { format!("LST1_{run:05}") }
}

/// `RRRRR.SSSS`, as LSTOSA names a subrun in job arguments and history lines.
pub fn run_subrun(run: u32, subrun: u32) -> String {
    format!("{run:05}.{subrun:04}")
}

/// The names in a folder (none if it cannot be read).
fn file_names(dir: &Path) -> impl Iterator<Item = String> {
    std::fs::read_dir(dir).into_iter().flatten().flatten().filter_map(|e| e.file_name().into_string().ok())
}

/// `v0.10.12` -> [0, 10, 12], so versions sort as numbers (`v0.9` before `v0.10`).
fn version_key(version: &str) -> Vec<u64> {
    version.trim_start_matches('v').split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

impl Layout {
    pub fn new(config: &Config) -> Self {
        let p = &config.paths;
        Self {
            root: p.data_root.clone(),
            r0: config.resolve(&p.r0_dir),
            run_summary: config.resolve(&p.run_summary_dir),
            night_summary: config.resolve(&p.night_summary_dir),
            run_catalog: config.resolve(&p.run_catalog_dir),
            analysis: config.resolve(&p.analysis_dir),
            dl1: config.resolve(&p.dl1_dir),
            dl2: config.resolve(&p.dl2_dir),
            calibration: config.resolve(&p.calibration_dir),
            osa: config.resolve(&p.osa_dir),
            drive: config.resolve(&p.drive_dir),
            tailcuts_finder: config.resolve(&p.tailcuts_finder_dir),
            rf_models: config.resolve(&p.rf_models_dir),
            mc_prod: config.analysis.mc_prod.clone(),
            prod_id: config.analysis.prod_id.clone(),
            dl1_prod_id: config.analysis.dl1_prod_id.clone(),
            tailcuts_from_finder: config.analysis.tailcuts_from_finder,
            finder_prod_ids: Default::default(),
            calibration_version: config.analysis.calibration_version.clone(),
        }
    }

    pub fn data_root(&self) -> &Path {
        &self.root
    }

    /// Returns `path` if writing there keeps inside the data root, judged on the path's text
    /// (`..` resolved lexically) so it also holds for files that do not exist yet.
    pub fn contain(&self, path: &Path) -> Result<PathBuf, OutsideDataRoot> {
        let absolute = if path.is_absolute() { path.to_path_buf() } else { self.root.join(path) };
        let mut normal = PathBuf::new();
        for component in absolute.components() {
            match component {
                Component::ParentDir => {
                    normal.pop();
                }
                Component::CurDir => {}
                other => normal.push(other),
            }
        }
        if normal.starts_with(&self.root) { Ok(normal) } else { Err(OutsideDataRoot { path: path.to_path_buf(), root: self.root.clone() }) }
    }

    // ---- inputs (read only) ----

    /// `R0G/YYYYMMDD`
    pub fn r0_night_dir(&self, night: NightDate) -> PathBuf {
        self.r0.join(night.compact())
    }

    pub fn r0_file(&self, night: NightDate, stream: u8, run: u32, subrun: u32) -> PathBuf {
        self.r0_night_dir(night).join(r0_file_name(stream, run, subrun))
    }

    pub fn run_summary_dir(&self) -> &Path {
        &self.run_summary
    }

    pub fn night_summary_dir(&self) -> &Path {
        &self.night_summary
    }

    /// `RunSummary_YYYYMMDD.ecsv`
    pub fn run_summary_file(&self, night: NightDate) -> PathBuf {
        self.run_summary.join(format!("RunSummary_{}.ecsv", night.compact()))
    }

    /// The legacy per-run (`NightSummary_YYYYMMDD.txt`) and per-subrun
    /// (`NightSummary_YYYYMMDD_LST1.txt`) files, in that order.
    pub fn night_summary_files(&self, night: NightDate) -> [PathBuf; 2] {
        let n = night.compact();
        [self.night_summary.join(format!("NightSummary_{n}.txt")), self.night_summary.join(format!("NightSummary_{n}_LST1.txt"))]
    }

    /// `RunCatalog_YYYYMMDD.ecsv`
    pub fn run_catalog_file(&self, night: NightDate) -> PathBuf {
        self.run_catalog.join(format!("RunCatalog_{}.ecsv", night.compact()))
    }

    /// `DrivePosition_log_YYYYMMDD.txt`
    pub fn drive_file(&self, night: NightDate) -> PathBuf {
        self.drive.join(format!("DrivePosition_log_{}.txt", night.compact()))
    }

    /// The tail-cut finder's folder: `log_find_tailcuts_RunRRRRR.log`, `dl1ab_RunRRRRR.json`.
    pub fn tailcuts_finder_dir(&self) -> &Path {
        &self.tailcuts_finder
    }

    /// The RF models' base folder (`<mc_prod>nsb_tuning_X.XX/dec_XXXX` below it).
    pub fn rf_models_dir(&self) -> &Path {
        &self.rf_models
    }

    /// The MC production prefix of the RF model folders.
    pub fn mc_prod(&self) -> &str {
        &self.mc_prod
    }

    // ---- the running analysis ----

    /// `running_analysis/YYYYMMDD/<prod_id>`: working directory of every job of the night.
    pub fn analysis_dir(&self, night: NightDate) -> PathBuf {
        self.analysis.join(night.compact()).join(&self.prod_id)
    }

    /// SLURM stdout/stderr and job scripts.
    pub fn log_dir(&self, night: NightDate) -> PathBuf {
        self.analysis_dir(night).join("log")
    }

    /// `sequence_LST1_RRRRR_attemptN.sh`: the batch script of one submission of a run, kept
    /// for the operators (one per attempt: a retry never overwrites what ran before).
    pub fn job_script(&self, night: NightDate, run: u32, attempt: u32) -> PathBuf {
        self.log_dir(night).join(format!("sequence_LST1_{run:05}_attempt{attempt}.sh"))
    }

    /// `stage_LST1_RRRRR_<stage>_attemptN.sh` (a night stage: `stage_night_<stage>_…`).
    pub fn stage_script(&self, night: NightDate, run: u32, stage: &str, attempt: u32) -> PathBuf {
        self.log_dir(night).join(format!("stage_{}_{stage}_attempt{attempt}.sh", stage_owner(run)))
    }

    /// History of a closing stage of a run (or of the night).
    pub fn stage_history_file(&self, night: NightDate, run: u32, stage: &str) -> PathBuf {
        self.analysis_dir(night).join(format!("stage_{}_{stage}.history", stage_owner(run)))
    }

    /// History of a run (calibration, `subrun: None`) or of one subrun.
    pub fn history_file(&self, night: NightDate, run: u32, subrun: Option<u32>) -> PathBuf {
        let name = match subrun {
            Some(s) => format!("sequence_LST1_{}.history", run_subrun(run, s)),
            None => format!("sequence_LST1_{run:05}.history"),
        };
        self.analysis_dir(night).join(name)
    }

    /// Whether a file of the night's analysis or DL1 folders belongs to this run: its
    /// products (`…Run01807.0003…`), histories and job scripts (`sequence_LST1_01807…`).
    pub fn belongs_to_run(file_name: &str, run: u32) -> bool {
        file_name.contains(&format!("Run{run:05}.")) || file_name.starts_with(&format!("sequence_LST1_{run:05}"))
    }

    /// `dl1_LST-1.RunRRRRR.SSSS.h5` in the analysis dir (DL1a).
    pub fn dl1a_file(&self, night: NightDate, run: u32, subrun: u32) -> PathBuf {
        self.analysis_dir(night).join(format!("dl1_LST-1.Run{}.h5", run_subrun(run, subrun)))
    }

    pub fn muons_file(&self, night: NightDate, run: u32, subrun: u32) -> PathBuf {
        self.analysis_dir(night).join(format!("muons_LST-1.Run{}.fits", run_subrun(run, subrun)))
    }

    pub fn interleaved_file(&self, night: NightDate, run: u32, subrun: u32) -> PathBuf {
        self.analysis_dir(night).join("interleaved").join(format!("interleaved_LST-1.Run{}.h5", run_subrun(run, subrun)))
    }

    /// The tail-cut finder's cleaning settings of a run (`dl1ab_RunRRRRR.json`).
    pub fn tailcuts_file(&self, run: u32) -> PathBuf {
        self.tailcuts_finder.join(format!("dl1ab_Run{run:05}.json"))
    }

    /// Whether DATA runs take their cleaning from the tail-cut finder.
    pub fn tailcuts_from_finder(&self) -> bool {
        self.tailcuts_from_finder
    }

    /// A run's DL1b production id (its cleaning level). With `analysis.tailcuts_from_finder`,
    /// LSTOSA's name of the finder's settings ([`crate::rf_models::dl1_prod_id_of`]); a run
    /// whose settings are not there yet gets the configured id (the input gate holds such a
    /// run). Else the configured `dl1_prod_id`. The night stages ([`crate::model::NIGHT_WIDE`])
    /// use the configured one.
    pub fn dl1_prod_id(&self, run: u32) -> String {
        if !self.tailcuts_from_finder || run == crate::model::NIGHT_WIDE {
            return self.dl1_prod_id.clone();
        }
        self.finder_prod_id(run).unwrap_or_else(|_| self.dl1_prod_id.clone())
    }

    /// The cleaning level the tail-cut finder's file of `run` names, or why it names none
    /// (no file yet, unreadable, no whole thresholds). Read once per run.
    pub fn finder_prod_id(&self, run: u32) -> Result<String, crate::rf_models::RfModelError> {
        let mut known = self.finder_prod_ids.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(id) = known.get(&run) {
            return Ok(id.clone());
        }
        let id = crate::rf_models::dl1_prod_id_of(&self.tailcuts_file(run))?;
        Ok(known.entry(run).or_insert(id).clone())
    }

    /// DL1b subrun file, under the cleaning level's folder.
    pub fn dl1b_file(&self, night: NightDate, run: u32, subrun: u32) -> PathBuf {
        self.analysis_dir(night).join(self.dl1_prod_id(run)).join(format!("dl1_LST-1.Run{}.h5", run_subrun(run, subrun)))
    }

    pub fn datacheck_file(&self, night: NightDate, run: u32, subrun: u32) -> PathBuf {
        self.analysis_dir(night).join(self.dl1_prod_id(run)).join(format!("datacheck_dl1_LST-1.Run{}.h5", run_subrun(run, subrun)))
    }

    /// The night's provenance log (`prov.log`, as LSTOSA), appended by every task under a lock.
    pub fn provenance_log(&self, night: NightDate) -> PathBuf {
        self.analysis_dir(night).join("prov.log")
    }

    // ---- final products ----

    /// `DL1/YYYYMMDD/<prod_id>/<dl1_prod_id of the run>`
    pub fn dl1_dir(&self, night: NightDate, run: u32) -> PathBuf {
        self.dl1.join(night.compact()).join(&self.prod_id).join(self.dl1_prod_id(run))
    }

    /// Every cleaning level's folder of the night's products that is on disk
    /// (`DL1|DL2/YYYYMMDD/<prod_id>/tailcut*`), and the configured one.
    pub fn cleaning_dirs(&self, night: NightDate) -> Vec<PathBuf> {
        [&self.dl1, &self.dl2].into_iter().flat_map(|base| self.levels_in(&base.join(night.compact()).join(&self.prod_id))).collect()
    }

    /// Every cleaning level's folder of the night's DL1b subrun files (in its analysis folder)
    /// that is on disk, and the configured one.
    pub fn dl1b_dirs(&self, night: NightDate) -> Vec<PathBuf> {
        self.levels_in(&self.analysis_dir(night))
    }

    /// `dir`'s configured level folder, then its other `tailcut*` folders on disk, in name order.
    fn levels_in(&self, dir: &Path) -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> =
            file_names(dir).filter(|n| n.starts_with("tailcut") && *n != self.dl1_prod_id).map(|n| dir.join(n)).filter(|p| p.is_dir()).collect();
        found.sort();
        found.insert(0, dir.join(&self.dl1_prod_id));
        found
    }

    /// Merged DL1b of a run.
    pub fn dl1_run_file(&self, night: NightDate, run: u32) -> PathBuf {
        self.dl1_dir(night, run).join(format!("dl1_LST-1.Run{run:05}.h5"))
    }

    /// DL1b subrun file once the night is closing (moved from the analysis dir).
    pub fn final_dl1b_file(&self, night: NightDate, run: u32, subrun: u32) -> PathBuf {
        self.dl1_dir(night, run).join(format!("dl1_LST-1.Run{}.h5", run_subrun(run, subrun)))
    }

    /// `DL1/YYYYMMDD/<prod_id>/muons`
    pub fn muons_dir(&self, night: NightDate) -> PathBuf {
        self.dl1.join(night.compact()).join(&self.prod_id).join("muons")
    }

    pub fn final_muons_file(&self, night: NightDate, run: u32, subrun: u32) -> PathBuf {
        self.muons_dir(night).join(format!("muons_LST-1.Run{}.fits", run_subrun(run, subrun)))
    }

    /// Merged muons of a run.
    pub fn muons_run_file(&self, night: NightDate, run: u32) -> PathBuf {
        self.muons_dir(night).join(format!("muons_LST-1.Run{run:05}.fits"))
    }

    /// `DL1/YYYYMMDD/<prod_id>/<dl1_prod_id of the run>/datacheck`
    pub fn datacheck_dir(&self, night: NightDate, run: u32) -> PathBuf {
        self.dl1_dir(night, run).join("datacheck")
    }

    pub fn final_datacheck_file(&self, night: NightDate, run: u32, subrun: u32) -> PathBuf {
        self.datacheck_dir(night, run).join(format!("datacheck_dl1_LST-1.Run{}.h5", run_subrun(run, subrun)))
    }

    /// The run-wise data check (HDF5; its PDF is [`Layout::datacheck_run_pdf`]).
    pub fn datacheck_run_file(&self, night: NightDate, run: u32) -> PathBuf {
        self.datacheck_dir(night, run).join(format!("datacheck_dl1_LST-1.Run{run:05}.h5"))
    }

    pub fn datacheck_run_pdf(&self, night: NightDate, run: u32) -> PathBuf {
        self.datacheck_dir(night, run).join(format!("datacheck_dl1_LST-1.Run{run:05}.pdf"))
    }

    /// `DL1/datacheck_files/YYYYMMDD`: links to the night's data-check files, for the web page.
    pub fn datacheck_web_dir(&self, night: NightDate) -> PathBuf {
        self.dl1.join("datacheck_files").join(night.compact())
    }

    /// `DL1/datacheck_files/night_wise/<prod_id>/YYYYMMDD/DL1_datacheck_YYYYMMDD.h5`: the
    /// night's long-term data check.
    pub fn longterm_file(&self, night: NightDate) -> PathBuf {
        let n = night.compact();
        self.dl1.join("datacheck_files").join("night_wise").join(&self.prod_id).join(&n).join(format!("DL1_datacheck_{n}.h5"))
    }

    /// The night's final layout: everything in it is a product some record names
    /// (`DL1/YYYYMMDD/<prod_id>`, `DL2/YYYYMMDD/<prod_id>`, the long-term check's folder).
    pub fn product_dirs(&self, night: NightDate) -> Vec<PathBuf> {
        let longterm = self.longterm_file(night).parent().map(Path::to_path_buf);
        [self.dl1.join(night.compact()).join(&self.prod_id), self.dl2.join(night.compact()).join(&self.prod_id)].into_iter().chain(longterm).collect()
    }

    /// `DL2/YYYYMMDD/<prod_id>/<dl1_prod_id of the run>`; a run's DL2 goes one level down, in
    /// the folder named after its RF models' NSB tuning (`nsb_tuning_0.14`).
    pub fn dl2_dir(&self, night: NightDate, run: u32) -> PathBuf {
        self.dl2.join(night.compact()).join(&self.prod_id).join(self.dl1_prod_id(run))
    }

    /// `dl2_LST-1.RunRRRRR.h5` in a run's DL2 folder.
    pub fn dl2_run_file(dir: &Path, run: u32) -> PathBuf {
        dir.join(format!("dl2_LST-1.Run{run:05}.h5"))
    }

    /// `Cat-A/drs4_baseline/YYYYMMDD/<version>/drs4_pedestal.RunRRRRR.0000.h5`
    pub fn drs4_file(&self, night: NightDate, run: u32) -> PathBuf {
        self.calibration
            .join("Cat-A/drs4_baseline")
            .join(night.compact())
            .join(&self.calibration_version)
            .join(format!("drs4_pedestal.Run{run:05}.0000.h5"))
    }

    /// `Cat-A/calibration/YYYYMMDD/<version>/calibration_filters_52.RunRRRRR.0000.h5`
    pub fn calibration_file(&self, night: NightDate, run: u32) -> PathBuf {
        self.calibration
            .join("Cat-A/calibration")
            .join(night.compact())
            .join(&self.calibration_version)
            .join(format!("calibration_filters_52.Run{run:05}.0000.h5"))
    }

    /// A DATA run's Cat-B calibration (lstchain's onsite script names it so):
    /// `Cat-B/calibration/YYYYMMDD/<version>/cat_B_calibration_filters_52.RunRRRRR.h5`
    pub fn catb_file(&self, night: NightDate, run: u32) -> PathBuf {
        self.calibration
            .join("Cat-B/calibration")
            .join(night.compact())
            .join(&self.calibration_version)
            .join(format!("cat_B_calibration_filters_52.Run{run:05}.h5"))
    }

    /// The DRS4 baseline of `run` taken on `night` as it is on disk: osa's own file, else the
    /// one a site's earlier pipeline left (see [`Layout::cat_a_dirs`]); none found, where
    /// osa's calibration job writes it.
    pub fn existing_drs4_file(&self, night: NightDate, run: u32) -> PathBuf {
        let predicted = self.drs4_file(night, run);
        if predicted.is_file() {
            return predicted;
        }
        let name = format!("drs4_pedestal.Run{run:05}.0000.h5");
        self.cat_a_file("drs4_baseline", night, |n| n == name).unwrap_or(predicted)
    }

    /// As [`Layout::existing_drs4_file`] for the charge calibration, whatever its filters
    /// (`calibration_filters_*.RunRRRRR.0000.h5`).
    pub fn existing_calibration_file(&self, night: NightDate, run: u32) -> PathBuf {
        let predicted = self.calibration_file(night, run);
        if predicted.is_file() {
            return predicted;
        }
        let tail = format!(".Run{run:05}.0000.h5");
        self.cat_a_file("calibration", night, |n| n.starts_with("calibration_filters_") && n.ends_with(&tail)).unwrap_or(predicted)
    }

    /// The calibrations of `night` whose Cat-A files are on disk, as (DRS4 run, PEDCALIB run):
    /// each charge calibration with the baseline of the latest DRS4 run taken before it.
    pub fn cat_a_calibrations(&self, night: NightDate) -> Vec<(u32, u32)> {
        let runs_of = |kind: &str, prefix: &str| -> std::collections::BTreeSet<u32> {
            self.cat_a_dirs(kind, night)
                .iter()
                .flat_map(|dir| file_names(dir))
                .filter(|n| n.starts_with(prefix))
                .filter_map(|n| n.strip_suffix(".0000.h5")?.rsplit_once(".Run")?.1.parse().ok())
                .collect()
        };
        let drs4 = runs_of("drs4_baseline", "drs4_pedestal.");
        runs_of("calibration", "calibration_filters_").into_iter().filter_map(|p| drs4.range(..p).next_back().map(|d| (*d, p))).collect()
    }

    /// The version folders of a night's Cat-A folder, in the order a file is looked up in
    /// them: osa's configured version, the night's `pro` link (LSTOSA's current one), then
    /// the other `v*` folders, newest version first.
    fn cat_a_dirs(&self, kind: &str, night: NightDate) -> Vec<PathBuf> {
        let base = self.calibration.join("Cat-A").join(kind).join(night.compact());
        let mut others: Vec<String> = file_names(&base).filter(|n| n.starts_with('v') && *n != self.calibration_version).collect();
        others.sort_by_cached_key(|v| std::cmp::Reverse(version_key(v)));
        [self.calibration_version.clone(), "pro".to_string()].into_iter().chain(others).map(|v| base.join(v)).filter(|d| d.is_dir()).collect()
    }

    /// The first of [`Layout::cat_a_dirs`] holding a file whose name matches (the last such
    /// name there, as LSTOSA takes the last match of its glob).
    fn cat_a_file(&self, kind: &str, night: NightDate, matches: impl Fn(&str) -> bool) -> Option<PathBuf> {
        self.cat_a_dirs(kind, night).into_iter().find_map(|dir| {
            let name = file_names(&dir).filter(|n| matches(n)).max()?;
            Some(dir.join(name))
        })
    }

    // ---- osa's own records ----

    /// `OSA/Closer/YYYYMMDD/<prod_id>/NightFinished.txt`: LSTOSA's flag that a night is closed,
    /// kept so site scripts that look for it still work.
    /// Written once the night's R0 files are gain-selected (LSTOSA's gain-selection check).
    pub fn gain_selection_flag(&self, night: NightDate) -> PathBuf {
        self.osa.join("GainSel").join(night.compact()).join("GainSelFinished.txt")
    }

    pub fn night_finished_flag(&self, night: NightDate) -> PathBuf {
        self.osa.join("Closer").join(night.compact()).join(&self.prod_id).join("NightFinished.txt")
    }

    /// Night- and run-level PROV-JSON files and graphs.
    pub fn provenance_records_dir(&self, night: NightDate) -> PathBuf {
        self.osa.join("Provenance").join(night.compact()).join(&self.prod_id)
    }

    /// The lock file that one writer of a night (sequencer, closer, rerun) holds.
    pub fn night_lock(&self, night: NightDate) -> PathBuf {
        self.osa.join("locks").join(format!("{}.lock", night.compact()))
    }

    pub fn osa_dir(&self) -> &Path {
        &self.osa
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        let mut config = Config::default();
        config.paths.data_root = PathBuf::from("/data");
        Layout::new(&config)
    }

    #[test]
    fn products_follow_the_lstosa_tree() {
        let l = layout();
        let n: NightDate = "2026-01-05".parse().unwrap();
        assert_eq!(l.r0_file(n, 1, 12003, 42), Path::new("/data/R0G/20260105/LST-1.1.Run12003.0042.fits.fz"));
        assert_eq!(l.run_summary_file(n), Path::new("/data/monitoring/RunSummary/RunSummary_20260105.ecsv"));
        assert_eq!(l.analysis_dir(n), Path::new("/data/running_analysis/20260105/v0.10"));
        assert_eq!(l.history_file(n, 12003, Some(42)), Path::new("/data/running_analysis/20260105/v0.10/sequence_LST1_12003.0042.history"));
        assert_eq!(l.history_file(n, 12002, None), Path::new("/data/running_analysis/20260105/v0.10/sequence_LST1_12002.history"));
        assert_eq!(l.dl1b_file(n, 12003, 42), Path::new("/data/running_analysis/20260105/v0.10/tailcut84/dl1_LST-1.Run12003.0042.h5"));
        assert_eq!(
            l.interleaved_file(n, 12003, 1),
            Path::new("/data/running_analysis/20260105/v0.10/interleaved/interleaved_LST-1.Run12003.0001.h5")
        );
        assert_eq!(l.dl1_run_file(n, 12003), Path::new("/data/DL1/20260105/v0.10/tailcut84/dl1_LST-1.Run12003.h5"));
        assert_eq!(
            l.calibration_file(n, 12002),
            Path::new("/data/monitoring/PixelCalibration/Cat-A/calibration/20260105/v0.10.12/calibration_filters_52.Run12002.0000.h5")
        );
        assert_eq!(l.night_finished_flag(n), Path::new("/data/OSA/Closer/20260105/v0.10/NightFinished.txt"));
        assert_eq!(l.final_dl1b_file(n, 12003, 42), Path::new("/data/DL1/20260105/v0.10/tailcut84/dl1_LST-1.Run12003.0042.h5"));
        assert_eq!(l.final_muons_file(n, 12003, 42), Path::new("/data/DL1/20260105/v0.10/muons/muons_LST-1.Run12003.0042.fits"));
        assert_eq!(l.datacheck_run_pdf(n, 12003), Path::new("/data/DL1/20260105/v0.10/tailcut84/datacheck/datacheck_dl1_LST-1.Run12003.pdf"));
        assert_eq!(l.longterm_file(n), Path::new("/data/DL1/datacheck_files/night_wise/v0.10/20260105/DL1_datacheck_20260105.h5"));
        assert_eq!(
            Layout::dl2_run_file(&l.dl2_dir(n, 12003).join("nsb_tuning_0.14"), 12003),
            Path::new("/data/DL2/20260105/v0.10/tailcut84/nsb_tuning_0.14/dl2_LST-1.Run12003.h5")
        );
    }

    #[test]
    fn with_the_tail_cut_finder_each_run_has_its_cleaning_level() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.paths.data_root = dir.path().to_path_buf();
        config.analysis.tailcuts_from_finder = true;
        let l = Layout::new(&config);
        let n: NightDate = "2026-01-05".parse().unwrap();
        std::fs::create_dir_all(l.tailcuts_finder_dir()).unwrap();
        std::fs::write(l.tailcuts_file(12003), r#"{"tailcuts_clean_with_pedestal_threshold": {"picture_thresh": 10, "boundary_thresh": 5}}"#)
            .unwrap();
        let root = dir.path().display();
        assert_eq!(l.dl1b_file(n, 12003, 1), Path::new(&format!("{root}/running_analysis/20260105/v0.10/tailcut1005/dl1_LST-1.Run12003.0001.h5")));
        assert_eq!(
            l.datacheck_run_file(n, 12003),
            Path::new(&format!("{root}/DL1/20260105/v0.10/tailcut1005/datacheck/datacheck_dl1_LST-1.Run12003.h5"))
        );
        assert_eq!(l.dl2_dir(n, 12003), Path::new(&format!("{root}/DL2/20260105/v0.10/tailcut1005")));
        assert_eq!(l.dl1_prod_id(12004), "tailcut84", "no file (yet): the configured level");
        std::fs::create_dir_all(dir.path().join("DL1/20260105/v0.10/tailcut1005")).unwrap();
        assert_eq!(l.cleaning_dirs(n).iter().filter(|d| d.ends_with("tailcut1005")).count(), 1);
    }

    #[test]
    fn cat_a_files_left_by_lstosa_are_found_under_pro_or_the_newest_version() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.paths.data_root = dir.path().to_path_buf();
        let l = Layout::new(&config);
        let n: NightDate = "2026-01-02".parse().unwrap();
        let cat_a = dir.path().join("monitoring/PixelCalibration/Cat-A");
        let touch = |rel: &str| {
            let path = cat_a.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"").unwrap();
        };
        touch("drs4_baseline/20260102/v0.9.2/drs4_pedestal.Run05000.0000.h5");
        touch("drs4_baseline/20260102/v0.10.3/drs4_pedestal.Run05000.0000.h5");
        touch("calibration/20260102/v0.1.0/calibration_filters_52.Run05001.0000.h5");
        touch("calibration/20260102/v0.1.0/calibration_filters_49.Run05003.0000.h5");
        std::os::unix::fs::symlink("v0.1.0", cat_a.join("calibration/20260102/pro")).unwrap();

        assert_eq!(
            l.existing_drs4_file(n, 5000),
            cat_a.join("drs4_baseline/20260102/v0.10.3/drs4_pedestal.Run05000.0000.h5"),
            "v0.10 is newer than v0.9"
        );
        assert_eq!(l.existing_calibration_file(n, 5001), cat_a.join("calibration/20260102/pro/calibration_filters_52.Run05001.0000.h5"));
        assert_eq!(l.existing_calibration_file(n, 5003), cat_a.join("calibration/20260102/pro/calibration_filters_49.Run05003.0000.h5"));
        assert_eq!(l.existing_calibration_file(n, 5009), l.calibration_file(n, 5009), "none on disk: where osa writes it");
        assert_eq!(l.cat_a_calibrations(n), [(5000, 5001), (5000, 5003)]);

        touch("calibration/20260102/v0.10.12/calibration_filters_52.Run05001.0000.h5");
        assert_eq!(l.existing_calibration_file(n, 5001), l.calibration_file(n, 5001), "osa's own version comes first");
        assert!(l.cat_a_calibrations("2026-01-01".parse().unwrap()).is_empty());
    }

    #[test]
    fn writes_cannot_escape_the_data_root() {
        let l = layout();
        assert_eq!(l.contain(Path::new("DL1/x.h5")).unwrap(), Path::new("/data/DL1/x.h5"));
        assert_eq!(l.contain(Path::new("/data/a/../b")).unwrap(), Path::new("/data/b"));
        assert!(l.contain(Path::new("/data/../etc/passwd")).is_err());
        assert!(l.contain(Path::new("../../etc")).is_err());
        assert!(l.contain(Path::new("/database/x")).is_err(), "a sibling with a common prefix is outside");
    }

    #[test]
    fn r0_names_round_trip_and_tolerate_extra_text() {
        assert_eq!(r0_file_name(3, 1807, 7), "LST-1.3.Run01807.0007.fits.fz");
        assert_eq!(parse_r0_file_name("LST-1.3.Run01807.0007.fits.fz"), Some((3, 1807, 7)));
        assert_eq!(parse_r0_file_name("LST-1.1.Run12345.0000.extra.fits.fz"), Some((1, 12345, 0)));
        assert_eq!(parse_r0_file_name("LST-1.1.Run123.0000.fits.fz"), None);
        assert_eq!(parse_r0_file_name("dl1_LST-1.Run12345.0000.h5"), None);
    }
}
