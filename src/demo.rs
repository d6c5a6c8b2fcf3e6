//! The demo night: a complete synthetic night laid out under a data root, so a newcomer (and
//! the tests) can run everything with no telescope: R0 stand-in files (see
//! [`crate::summary::classify`] for their format) for one DRS4 run, one PEDCALIB run and N DATA
//! runs, with realistic event-type mixes, plus the night's RunSummary, both legacy
//! NightSummary files, the RunCatalog and a drive log.
//!
//! Deterministic: the same options (seed included) give byte-identical files, so re-running is
//! a no-op; a file that exists with other content is never overwritten silently.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use fitsio::FitsFile;
use fitsio::tables::{ColumnDataType, ColumnDescription};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::model::RunType;
use crate::night::NightDate;
use crate::paths::Layout;
use crate::summary::classify::event_type;

/// What to generate.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// Number of DATA runs (the DRS4 and PEDCALIB runs come on top).
    pub data_runs: u32,
    /// Subruns per run (the calibration runs get at most 2, as real ones are short).
    pub subruns: u32,
    /// Events per subrun file.
    pub events: u32,
    /// Seed of the event-type draws.
    pub seed: u64,
    /// First run number; `None`: derived from the date, so demo nights of a few years never
    /// share runs (and run numbers keep LST-1's five digits, which lstchain's patterns expect).
    pub first_run: Option<u32>,
    /// Replace files that exist with other content.
    pub force: bool,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self { data_runs: 2, subruns: 4, events: 500, seed: 1, first_run: None, force: false }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot write {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("cannot write FITS file {path}: {source}")]
    Fits { path: PathBuf, source: fitsio::errors::Error },
    #[error("{path} exists with other content; not overwritten (use --force to replace it)")]
    Exists { path: PathBuf },
    #[error("{0}")]
    Options(String),
    #[error(transparent)]
    Outside(#[from] crate::paths::OutsideDataRoot),
}

/// One generated run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DemoRun {
    pub run: u32,
    #[serde(rename = "type")]
    pub run_type: RunType,
    pub subruns: u32,
    pub source: Option<String>,
    pub start: DateTime<Utc>,
}

/// What was laid out.
#[derive(Debug, serde::Serialize)]
pub struct DemoNight {
    pub night: NightDate,
    pub runs: Vec<DemoRun>,
    pub run_summary: PathBuf,
    pub files_written: usize,
    pub files_unchanged: usize,
}

const SOURCES: &[&str] = &["Crab", "Mrk421", "1ES1959+650", "BLLac"];

/// Plans the runs of the demo night (pure: no files).
pub fn plan_runs(night: NightDate, options: &DemoOptions) -> Vec<DemoRun> {
    let first = options.first_run.unwrap_or_else(|| {
        let epoch = NaiveDate::from_ymd_opt(2019, 10, 1).expect("valid date");
        1000 + (20 * (night.date() - epoch).num_days().max(0) as u32) % 98_000
    });
    let evening = night.date().and_hms_opt(20, 30, 0).expect("valid time").and_utc();
    let calibration_subruns = options.subruns.min(2);
    let mut runs = vec![
        DemoRun { run: first, run_type: RunType::Drs4, subruns: calibration_subruns, source: None, start: evening },
        DemoRun { run: first + 1, run_type: RunType::Pedcalib, subruns: calibration_subruns, source: None, start: evening + Duration::minutes(10) },
    ];
    for i in 0..options.data_runs {
        runs.push(DemoRun {
            run: first + 2 + i,
            run_type: RunType::Data,
            subruns: options.subruns,
            source: Some(SOURCES[i as usize % SOURCES.len()].to_string()),
            start: evening + Duration::minutes(30 + 25 * i as i64),
        });
    }
    runs
}

/// Event types of one subrun: DRS4 runs are all physics-tagged (that is how lstchain tells
/// them), calibration runs interleave ~30% pedestals with flat-field events, sky data carries
/// interleaved pedestal and flat-field triggers at a fixed rate (one of each per 64 events,
/// ~1.5%), as the camera's interleaved triggers come: never none by chance, which would leave
/// lstchain's long-term check without a pedestal to plot.
pub fn event_types(run_type: RunType, events: u32, rng: &mut StdRng) -> Vec<i64> {
    (0..events)
        .map(|i| {
            // Drawn for every event whatever the run type, so a night's draws stay as they were.
            let x: f64 = rng.random();
            match run_type {
                RunType::Drs4 => event_type::SUBARRAY,
                RunType::Pedcalib if x < 0.3 => event_type::SKY_PEDESTAL,
                RunType::Pedcalib => event_type::FLATFIELD,
                _ if i % 64 == 3 => event_type::SKY_PEDESTAL,
                _ if i % 64 == 35 => event_type::FLATFIELD,
                _ => event_type::SUBARRAY,
            }
        })
        .collect()
}

/// Lays out the night under the layout's data root.
pub fn make_night(layout: &Layout, night: NightDate, options: &DemoOptions) -> Result<DemoNight, DemoError> {
    if options.subruns == 0 || options.events == 0 {
        return Err(DemoError::Options("--subruns and --events must be at least 1".to_string()));
    }
    let runs = plan_runs(night, options);
    let mut writer = Writer { force: options.force, written: 0, unchanged: 0 };
    let mut rng = StdRng::seed_from_u64(options.seed.wrapping_mul(1_000_003) ^ night_seed(night));

    for run in &runs {
        for subrun in 0..run.subruns {
            let types = event_types(run.run_type, options.events, &mut rng);
            let path = layout.contain(&layout.r0_file(night, 1, run.run, subrun))?;
            let start = run.start + Duration::seconds(i64::from(subrun) * 10);
            writer.fits(&path, run.run, subrun, &types, start)?;
        }
    }
    // On site the gain selection writes it once the night's R0 files are in R0G.
    writer.text(&layout.contain(&layout.gain_selection_flag(night))?, "gain selection finished (demo night: R0 files written gain-selected)\n")?;

    let run_summary = layout.contain(&layout.run_summary_file(night))?;
    writer.text(&run_summary, &run_summary_text(night, &runs))?;
    let [v2, v1] = layout.night_summary_files(night);
    writer.text(&layout.contain(&v2)?, &night_summary_v2_text(&runs))?;
    writer.text(&layout.contain(&v1)?, &night_summary_v1_text(&runs, options.events))?;
    writer.text(&layout.contain(&layout.run_catalog_file(night))?, &run_catalog_text(&runs))?;
    writer.text(&layout.contain(&layout.drive_file(night))?, &drive_log_text(&runs))?;
    // What the tail-cut finder leaves for each DATA run (its NSB level picks the RF models).
    for run in runs.iter().filter(|r| r.run_type == RunType::Data) {
        let dir = layout.tailcuts_finder_dir();
        let log = format!("INFO lstchain_find_tailcuts: run {}\nINFO Additional NSB rate (over dark MC): 0.12\n", run.run);
        writer.text(&layout.contain(&dir.join(format!("log_find_tailcuts_Run{:05}.log", run.run)))?, &log)?;
        let json = "{\n  \"tailcuts_clean_with_pedestal_threshold\": {\"picture_thresh\": 8, \"boundary_thresh\": 4, \"sigma\": 2.5}\n}\n";
        writer.text(&layout.contain(&dir.join(format!("dl1ab_Run{:05}.json", run.run)))?, json)?;
    }
    // The site's RF models (stand-ins: the simulator's DL2 only checks they are there).
    let models = layout.rf_models_dir().join(format!("{}nsb_tuning_0.14", layout.mc_prod()));
    for track in ["dec_2276", "dec_3476"] {
        for model in RF_MODEL_FILES {
            writer.text(&layout.contain(&models.join(track).join(model))?, "simulated RF model (osa demo)\n")?;
        }
    }

    Ok(DemoNight { night, runs, run_summary, files_written: writer.written, files_unchanged: writer.unchanged })
}

fn night_seed(night: NightDate) -> u64 {
    night.compact().parse().expect("YYYYMMDD is a number")
}

fn run_summary_text(night: NightDate, runs: &[DemoRun]) -> String {
    let mut out = String::from("# %ECSV 1.0\n# ---\n# datatype:\n");
    for (name, datatype) in [
        ("run_id", "int64"),
        ("n_subruns", "int64"),
        ("run_type", "string"),
        ("data_format", "string"),
        ("evb_preprocessing", "int64"),
        ("ucts_timestamp", "int64"),
        ("run_start", "int64"),
        ("dragon_reference_time", "int64"),
        ("dragon_reference_module_id", "int16"),
        ("dragon_reference_module_index", "int16"),
        ("dragon_reference_counter", "uint64"),
        ("dragon_reference_source", "string"),
    ] {
        let _ = writeln!(out, "# - {{name: {name}, datatype: {datatype}}}");
    }
    let _ = writeln!(out, "# delimiter: ','\n# meta: !!omap\n# - {{date: '{night}'}}\n# - {{lstchain_version: 0.10.12}}\n# schema: astropy-2.0");
    out.push_str("run_id,n_subruns,run_type,data_format,evb_preprocessing,ucts_timestamp,run_start,dragon_reference_time,dragon_reference_module_id,dragon_reference_module_index,dragon_reference_counter,dragon_reference_source\n");
    for run in runs {
        let start = run.start.timestamp_nanos_opt().expect("demo dates fit in i64 ns");
        let ucts = start + 111_111_111;
        let _ = writeln!(
            out,
            "{},{},{},PBFHEAD_DEMO,0,{ucts},{start},{ucts},12,0,{},ucts",
            run.run,
            run.subruns,
            run.run_type,
            4_000_000_000u64 + u64::from(run.run)
        );
    }
    out
}

fn legacy_type(run_type: RunType, v1: bool) -> &'static str {
    match (run_type, v1) {
        (RunType::Drs4, true) => "PEDESTAL",
        (RunType::Drs4, false) => "DRS4",
        (RunType::Pedcalib, true) => "CALIBRATION",
        (RunType::Pedcalib, false) => "CALI",
        _ => "DATA",
    }
}

fn night_summary_v2_text(runs: &[DemoRun]) -> String {
    let mut out = String::new();
    for run in runs {
        let ns = run.start.timestamp_nanos_opt().expect("demo dates fit in i64 ns");
        let _ = writeln!(
            out,
            "{:05} {:3} {:<5} {} 0002 {ns} {} nan nan nan",
            run.run,
            run.subruns,
            legacy_type(run.run_type, false),
            run.start.format("%Y-%m-%d %H:%M:%S"),
            5_000_000_000u64 + u64::from(run.run)
        );
    }
    out
}

fn night_summary_v1_text(runs: &[DemoRun], events: u32) -> String {
    let mut out = String::new();
    for run in runs {
        let source = run.source.as_deref().map(|s| format!("{s}-W0.40+180")).unwrap_or_else(|| "None".to_string());
        for subrun in 0..run.subruns {
            let time = run.start + Duration::seconds(i64::from(subrun) * 10);
            let _ = writeln!(
                out,
                "{} {} {} {} {source} {events} 20.5 05:34:31 22:00:52 DEFAULT No_Test stdHV No_Filter",
                run.run,
                subrun + 1,
                legacy_type(run.run_type, true),
                time.format("%Y-%m-%d %H:%M:%S"),
            );
        }
    }
    out
}

fn run_catalog_text(runs: &[DemoRun]) -> String {
    let mut out = String::from(
        "# %ECSV 1.0\n# ---\n# datatype:\n# - {name: run_id, datatype: int32}\n# - {name: source_name, datatype: string}\n# - {name: source_ra, datatype: float64}\n# - {name: source_dec, datatype: float64}\n# delimiter: ','\n# schema: astropy-2.0\nrun_id,source_name,source_ra,source_dec\n",
    );
    for run in runs.iter().filter(|r| r.run_type == RunType::Data) {
        let _ = writeln!(out, "{},{},83.63,22.01", run.run, run.source.as_deref().unwrap_or("None"));
    }
    out
}

fn drive_log_text(runs: &[DemoRun]) -> String {
    let mut out = String::new();
    for run in runs {
        let _ = writeln!(out, "{} 20.5 180.0", run.start.timestamp());
    }
    out
}

struct Writer {
    force: bool,
    written: usize,
    unchanged: usize,
}

impl Writer {
    /// Writes `<path>.partial`, then keeps the old file if identical, refuses if different
    /// (unless forced), else renames into place: a crash never leaves a half-written file.
    fn commit(&mut self, partial: &Path, path: &Path) -> Result<(), DemoError> {
        let io = |source| DemoError::Io { path: path.to_path_buf(), source };
        if path.exists() {
            let same = std::fs::read(path).map_err(io)? == std::fs::read(partial).map_err(io)?;
            if same || !self.force {
                std::fs::remove_file(partial).map_err(io)?;
                if same {
                    self.unchanged += 1;
                    return Ok(());
                }
                return Err(DemoError::Exists { path: path.to_path_buf() });
            }
        }
        std::fs::rename(partial, path).map_err(io)?;
        self.written += 1;
        Ok(())
    }

    fn prepare(path: &Path) -> Result<PathBuf, DemoError> {
        let dir = path.parent().expect("file paths have a parent");
        std::fs::create_dir_all(dir).map_err(|source| DemoError::Io { path: dir.to_path_buf(), source })?;
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        if partial.exists() {
            std::fs::remove_file(&partial).map_err(|source| DemoError::Io { path: partial.clone(), source })?;
        }
        Ok(partial)
    }

    fn text(&mut self, path: &Path, content: &str) -> Result<(), DemoError> {
        let partial = Self::prepare(path)?;
        std::fs::write(&partial, content).map_err(|source| DemoError::Io { path: partial.clone(), source })?;
        self.commit(&partial, path)
    }

    fn fits(&mut self, path: &Path, run: u32, subrun: u32, types: &[i64], start: DateTime<Utc>) -> Result<(), DemoError> {
        let partial = Self::prepare(path)?;
        write_r0(&partial, run, subrun, types, start).map_err(|source| DemoError::Fits { path: path.to_path_buf(), source })?;
        self.commit(&partial, path)
    }
}

/// Programs the analysis simulator answers to (see `src/bin/lstchain-sim`).
pub const SIMULATED_PROGRAMS: &[&str] = &[
    "lstchain_data_r0_to_dl1",
    "lstchain_dl1ab",
    "lstchain_check_dl1",
    "onsite_create_drs4_pedestal_file",
    "onsite_create_calibration_file",
    "lstchain_merge_hdf5_files",
    "lstchain_merge_muon_files",
    "lstchain_dl1_to_dl2",
    "lstchain_longterm_dl1_check",
    "lstchain_cherenkov_transparency",
    "lstchain_find_tailcuts",
    "onsite_create_cat_B_calibration_file",
];

/// The files lstchain's DL2 reads from an RF model folder (`disp_norm_sign` method).
pub const RF_MODEL_FILES: &[&str] = &["reg_energy.sav", "cls_gh.sav", "reg_disp_norm.sav", "cls_disp_sign.sav"];

/// Makes `dir` a folder of symlinks named like the lstchain programs, all pointing at the
/// simulator binary: pointing `analysis.bin_dir` there is all a demo needs.
pub fn install_simulator(dir: &Path, simulator: &Path) -> Result<(), DemoError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DemoError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    for program in SIMULATED_PROGRAMS {
        let link = dir.join(program);
        if std::fs::read_link(&link).is_ok_and(|target| target == simulator) {
            continue;
        }
        if link.symlink_metadata().is_ok() {
            std::fs::remove_file(&link).map_err(io(&link))?;
        }
        std::os::unix::fs::symlink(simulator, &link).map_err(io(&link))?;
    }
    Ok(())
}

/// Writes one R0 stand-in file: an `EVENTS` binary table with `event_id`, `event_type` and
/// `trigger_time`, plus the run and subrun in the header.
pub fn write_r0(path: &Path, run: u32, subrun: u32, types: &[i64], start: DateTime<Utc>) -> Result<(), fitsio::errors::Error> {
    let mut fits = FitsFile::create(path).open()?;
    let columns = [
        ColumnDescription::new("event_id").with_type(ColumnDataType::LongLong).create()?,
        ColumnDescription::new("event_type").with_type(ColumnDataType::Short).create()?,
        ColumnDescription::new("trigger_time").with_type(ColumnDataType::Double).create()?,
    ];
    let hdu = fits.create_table("EVENTS", &columns)?;
    hdu.write_key(&mut fits, "TELID", 1i64)?;
    hdu.write_key(&mut fits, "RUN", i64::from(run))?;
    hdu.write_key(&mut fits, "SUBRUN", i64::from(subrun))?;
    let first_id = i64::from(subrun) * types.len() as i64 + 1;
    let ids: Vec<i64> = (0..types.len() as i64).map(|i| first_id + i).collect();
    let short_types: Vec<i32> = types.iter().map(|&t| t as i32).collect();
    let t0 = start.timestamp() as f64;
    let times: Vec<f64> = (0..types.len()).map(|i| t0 + i as f64 * 1e-3).collect();
    hdu.write_col(&mut fits, "event_id", &ids)?;
    hdu.write_col(&mut fits, "event_type", &short_types)?;
    hdu.write_col(&mut fits, "trigger_time", &times)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_numbered_from_the_date_and_ordered_in_time() {
        let night: NightDate = "2026-01-05".parse().unwrap();
        let runs = plan_runs(night, &DemoOptions { data_runs: 3, ..DemoOptions::default() });
        let types: Vec<_> = runs.iter().map(|r| r.run_type).collect();
        assert_eq!(types, [RunType::Drs4, RunType::Pedcalib, RunType::Data, RunType::Data, RunType::Data]);
        assert!(runs.windows(2).all(|w| w[1].run == w[0].run + 1 && w[1].start > w[0].start));
        let other = plan_runs(night.next(), &DemoOptions::default());
        assert!(other[0].run > runs.last().unwrap().run, "consecutive nights never share run numbers");
    }
}
