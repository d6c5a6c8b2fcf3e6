//! What each simulated program reads and writes. Layouts follow lstchain's (see
//! `jobs-and-history.md`): DL1 events in `/dl1/event/telescope/parameters/LST_LSTCam` with
//! lstchain's column names, datacheck tables under `/dl1datacheck/`, charge calibration under
//! `/tel_1/`, muons as a FITS binary table. Outputs are never overwritten, as lstchain's.

use std::path::{Path, PathBuf};

use fitsio::FitsFile;
use fitsio::hdu::HduInfo;
use hdf5::types::VarLenUnicode;

use super::datacheck::{self, PixelRow};
use super::layout;
use super::muons::Rings;
use super::showers::{PARAMETER_UNITS, Subrun, dl1_tables};
use super::{Args, Call, closing, run_subrun_of, sleep_for_events};

pub const DL1_TABLE: &str = "dl1/event/telescope/parameters/LST_LSTCam";

/// The columns of a DL1 parameters row the simulated programs read (the file has all of
/// lstchain's, see `layout`).
#[derive(hdf5::H5Type, Clone, Copy, Debug)]
#[repr(C)]
pub struct Dl1Event {
    pub obs_id: i64,
    pub event_id: i64,
    pub event_type: i64,
    pub tel_id: i64,
    pub intensity: f64,
    pub x: f64,
    pub y: f64,
    pub r: f64,
    pub phi: f64,
    pub length: f64,
    pub width: f64,
    pub psi: f64,
    pub skewness: f64,
    pub kurtosis: f64,
    pub time_gradient: f64,
    pub intercept: f64,
    pub leakage_intensity_width_2: f64,
    pub n_pixels: i64,
    pub dragon_time: f64,
    pub n_islands: i64,
    pub alt_tel: f64,
    pub az_tel: f64,
    pub trigger_type: i64,
}

pub fn call_of(program: &str, args: &Args) -> Call {
    let from_path = |key: &str| args.get(key).and_then(run_subrun_of);
    let (run, subrun) = match program {
        "onsite_create_drs4_pedestal_file" | "onsite_create_calibration_file" | "onsite_create_cat_B_calibration_file" | "lstchain_find_tailcuts" => {
            (args.get("r").and_then(|r| r.parse().ok()), None)
        }
        _ => match from_path("input-file").or_else(|| from_path("input-dir")) {
            Some((run, subrun)) => (Some(run), Some(subrun)),
            // Run-wise programs: the run from `--run-number` or the run file's name.
            None => {
                let named = ["input-files", "input-file", "output-file"].iter().find_map(|k| args.get(k).and_then(run_of));
                (args.get("run-number").and_then(|r| r.parse().ok()).or(named), None)
            }
        },
    };
    Call { program: program.to_string(), run, subrun }
}

/// `dl1_LST-1.Run01807.h5` → 1807.
fn run_of(path: &str) -> Option<u32> {
    u32::try_from(closing::run_number(Path::new(path))).ok().filter(|r| *r > 0)
}

pub fn run(program: &str, args: &Args, truncate: bool, short: bool) -> Result<Vec<PathBuf>, String> {
    let written = match program {
        "lstchain_data_r0_to_dl1" => r0_to_dl1(args, short)?,
        "lstchain_dl1ab" => dl1ab(args, short)?,
        "lstchain_check_dl1" => check_dl1(args)?,
        "onsite_create_drs4_pedestal_file" => drs4(args)?,
        "onsite_create_calibration_file" => charge(args)?,
        "lstchain_merge_hdf5_files" => merge(args)?,
        "lstchain_merge_muon_files" => merge_muons(args)?,
        "lstchain_dl1_to_dl2" => closing::dl1_to_dl2(args)?,
        "lstchain_longterm_dl1_check" => closing::longterm(args)?,
        "lstchain_cherenkov_transparency" => closing::transparency(args)?,
        "lstchain_find_tailcuts" => super::prestages::find_tailcuts(args)?,
        "onsite_create_cat_B_calibration_file" => super::prestages::cat_b(args)?,
        other => return Err(format!("unknown program {other}")),
    };
    if truncate && let Some(first) = written.first() {
        let size = std::fs::metadata(first).map_err(|e| e.to_string())?.len();
        let file = std::fs::OpenOptions::new().write(true).open(first).map_err(|e| e.to_string())?;
        file.set_len(size / 2).map_err(|e| e.to_string())?;
    }
    Ok(written)
}

pub fn refuse_existing(path: &Path) -> Result<(), String> {
    if path.exists() { Err(format!("OSError: output file {} exists already. Stop", path.display())) } else { Ok(()) }
}

pub fn h5err(e: hdf5::Error) -> String {
    format!("HDF5 error: {e}")
}

pub fn fitserr(e: fitsio::errors::Error) -> String {
    format!("FITS error: {e}")
}

/// Creates the groups of a slash path one level at a time.
/// The JSON of `--config` (lstchain stores the configuration it ran with), `{}` without one.
pub fn config_json(args: &Args) -> Result<String, String> {
    match args.get("config") {
        Some(path) => std::fs::read_to_string(path).map_err(|e| format!("cannot read --config {path}: {e}")),
        None => Ok("{}".to_string()),
    }
}

pub fn write_table<T: hdf5::H5Type>(file: &hdf5::File, path: &str, rows: &[T]) -> Result<(), String> {
    let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
    let group = layout::group_path(file, parent)?;
    group.new_dataset_builder().with_data(rows).create(name).map_err(h5err)?;
    Ok(())
}

pub fn read_events(path: &Path) -> Result<Vec<Dl1Event>, String> {
    let file = hdf5::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let dataset = file.dataset(DL1_TABLE).map_err(|e| format!("{}: no {DL1_TABLE}: {e}", path.display()))?;
    dataset.read_raw::<Dl1Event>().map_err(h5err)
}

/// The R0 stand-in's events: ids, types and trigger times.
fn read_r0(path: &Path, run: u32, subrun: u32) -> Result<Subrun, String> {
    let mut fits = FitsFile::open(path).map_err(|e| format!("cannot open R0 file {}: {}", path.display(), fitserr(e)))?;
    let hdus = fits.num_hdus().map_err(fitserr)?;
    for index in 1..hdus {
        let hdu = fits.hdu(index).map_err(fitserr)?;
        if !hdu.name(&mut fits).map_err(fitserr)?.eq_ignore_ascii_case("EVENTS") {
            continue;
        }
        let HduInfo::TableInfo { column_descriptions, .. } = &hdu.info else { continue };
        let column = |name: &str| column_descriptions.iter().find(|c| c.name.eq_ignore_ascii_case(name)).map(|c| c.name.clone());
        let ids = hdu.read_col::<i64>(&mut fits, &column("event_id").ok_or("no event_id column")?).map_err(fitserr)?;
        let types = hdu.read_col::<i64>(&mut fits, &column("event_type").ok_or("no event_type column")?).map_err(fitserr)?;
        let times = hdu.read_col::<f64>(&mut fits, &column("trigger_time").ok_or("no trigger_time column")?).map_err(fitserr)?;
        return Ok(Subrun { run, subrun, ids, types, times });
    }
    Err(format!("{}: no EVENTS table", path.display()))
}

fn r0_to_dl1(args: &Args, short: bool) -> Result<Vec<PathBuf>, String> {
    let input = args.require("input-file")?;
    let out_dir = PathBuf::from(args.require("output-dir")?);
    let (run, subrun) = run_subrun_of(input).ok_or_else(|| format!("cannot tell run and subrun from {input}"))?;
    let dl1 = out_dir.join(format!("dl1_LST-1.Run{run:05}.{subrun:04}.h5"));
    let muons = out_dir.join(format!("muons_LST-1.Run{run:05}.{subrun:04}.fits"));
    refuse_existing(&dl1)?;
    let mut events = read_r0(Path::new(input), run, subrun)?;
    sleep_for_events(events.ids.len());
    if short {
        let half = events.ids.len() / 2;
        events.ids.truncate(half);
        events.types.truncate(half);
        events.times.truncate(half);
    }
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
    // The configuration lstchain ran with travels in the file (`lstchain_dl1ab` reads it back).
    let config = config_json(args)?;
    let tables = dl1_tables(&events);
    let file = hdf5::File::create(&dl1).map_err(h5err)?;
    layout::versions(&file)?;
    layout::write_instrument(&file)?;
    layout::write_event_table(&file, layout::IMAGE_TABLE, &tables.image, &[], &[], &config)?;
    layout::write_event_table(&file, layout::PARAMETERS_TABLE, &tables.parameters, PARAMETER_UNITS, &["event_type"], &config)?;
    let span = [events.times.first().copied().unwrap_or(0.0), events.times.last().copied().unwrap_or(0.0)];
    layout::write_monitoring(&file, span, &config)?;
    drop(file);

    // One muon ring in fifty events.
    let rings: Vec<(i64, f64)> = events.ids.iter().zip(&events.times).filter(|(id, _)| *id % 50 == 0).map(|(id, t)| (*id, *t)).collect();
    Rings::of_events(&rings).write(&muons)?;
    Ok(vec![dl1, muons])
}

/// `lstchain_dl1ab`: the DL1a file's layout, instrument and monitoring kept, its images
/// dropped with `--no-image`.
fn dl1ab(args: &Args, short: bool) -> Result<Vec<PathBuf>, String> {
    let input = PathBuf::from(args.require("input-file")?);
    let output = PathBuf::from(args.require("output-file")?);
    refuse_existing(&output)?;
    // lstchain reads the run's Cat-B calibration to recalibrate the images.
    if let Some(catb) = args.get("catB-calibration-file")
        && let Err(e) = hdf5::File::open(catb)
    {
        return Err(format!("cannot read the Cat-B calibration {catb}: {e}"));
    }
    let events = read_events(&input)?;
    sleep_for_events(events.len());
    if let Some(dir) = output.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::copy(&input, &output).map_err(|e| format!("cannot write {}: {e}", output.display()))?;
    let file = hdf5::File::open_rw(&output).map_err(h5err)?;
    if args.has("no-image") {
        file.unlink(layout::IMAGE_TABLE).map_err(h5err)?;
    }
    if short {
        for table in [layout::IMAGE_TABLE, layout::PARAMETERS_TABLE].iter().filter_map(|t| file.dataset(t).ok()) {
            table.resize(events.len() / 2).map_err(h5err)?;
        }
    }
    Ok(vec![output])
}

/// `lstchain_check_dl1`: on a DL1 subrun file, its data check; on the subruns' data-check
/// files (a quoted glob, lstchain's run-wise mode), their rows in one run file written next to
/// them and, unless `--omit-pdf`, the run's PDF in `--output-dir`.
fn check_dl1(args: &Args) -> Result<Vec<PathBuf>, String> {
    let input = args.require("input-file")?;
    let out_dir = PathBuf::from(args.require("output-dir")?);
    let name = Path::new(input).file_name().and_then(|n| n.to_str()).ok_or("bad input name")?;
    if name.starts_with("datacheck_dl1") {
        return closing::check_run(input, &out_dir, args.has("omit-pdf"));
    }
    let input = PathBuf::from(input);
    let output = out_dir.join(format!("datacheck_{name}"));
    refuse_existing(&output)?;
    let (_, subrun) = run_subrun_of(&input.display().to_string()).ok_or_else(|| format!("cannot tell run and subrun from {}", input.display()))?;
    let events = read_events(&input)?;
    let file = hdf5::File::open(&input).map_err(|e| format!("cannot open {}: {e}", input.display()))?;
    // lstchain's check reads the images (a `--no-image` DL1 file has none: it fails).
    let images = file.dataset(layout::IMAGE_TABLE).map_err(|e| format!("{}: no {}: {e}", input.display(), layout::IMAGE_TABLE))?;
    let pixels = images.read_raw::<PixelRow>().map_err(h5err)?;
    let config = file.dataset(layout::PARAMETERS_TABLE).and_then(|t| t.attr("config")).and_then(|a| a.read_scalar::<VarLenUnicode>());
    let config = config.map(|c| c.as_str().to_string()).unwrap_or_else(|_| "{}".to_string());
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
    datacheck::write_subrun(&output, subrun, &events, &pixels, &config)?;
    Ok(vec![output])
}

pub fn version() -> String {
    std::env::var("LSTCHAIN_SIM_VERSION").unwrap_or_else(|_| "v0.10.12".to_string())
}

/// As lstchain's onsite scripts: the run's first R0 file under `--r0-dir`, whose folder names
/// the night.
pub fn night_of_run(args: &Args, run: u32) -> Result<String, String> {
    let r0_dir = PathBuf::from(args.require("r0-dir")?);
    let name = format!("LST-1.1.Run{run:05}.0000.fits.fz");
    let entries = std::fs::read_dir(&r0_dir).map_err(|e| format!("cannot read {}: {e}", r0_dir.display()))?;
    for entry in entries.flatten() {
        if entry.path().join(&name).is_file() {
            return Ok(entry.file_name().to_string_lossy().into_owned());
        }
    }
    Err(format!("IOError: R0 file {name} not found under {}", r0_dir.display()))
}

fn calibration_dir(args: &Args, kind: &str, night: &str) -> Result<PathBuf, String> {
    Ok(PathBuf::from(args.require("b")?).join("monitoring/PixelCalibration/Cat-A").join(kind).join(night).join(version()))
}

fn drs4(args: &Args) -> Result<Vec<PathBuf>, String> {
    let run: u32 = args.require("r")?.parse().map_err(|_| "-r needs a run number")?;
    let night = night_of_run(args, run)?;
    let output = calibration_dir(args, "drs4_baseline", &night)?.join(format!("drs4_pedestal.Run{run:05}.0000.h5"));
    if output.exists() && !args.has("y") {
        return Err("Output file exists already. Stop".to_string());
    }
    sleep_for_events(500);
    std::fs::create_dir_all(output.parent().expect("has a parent")).map_err(|e| e.to_string())?;
    let file = hdf5::File::create(&output).map_err(h5err)?;
    let group = layout::group_path(&file, "r1/monitoring/drs4_baseline/tel_1")?;
    group.new_dataset_builder().with_data(&vec![400.0f64; 1855 * 2]).create("baseline_mean").map_err(h5err)?;
    Ok(vec![output])
}

fn charge(args: &Args) -> Result<Vec<PathBuf>, String> {
    let run: u32 = args.require("r")?.parse().map_err(|_| "-r needs a run number")?;
    let drs4_run: u32 = args.require("p")?.parse().map_err(|_| "-p needs a run number")?;
    let night = night_of_run(args, run)?;
    let drs4_night = night_of_run(args, drs4_run)?;
    let drs4_file = calibration_dir(args, "drs4_baseline", &drs4_night)?.join(format!("drs4_pedestal.Run{drs4_run:05}.0000.h5"));
    if !drs4_file.is_file() {
        return Err(format!("IOError: DRS4 pedestal file {} not found", drs4_file.display()));
    }
    let filters = args.get("filters").unwrap_or("52");
    let output = calibration_dir(args, "calibration", &night)?.join(format!("calibration_filters_{filters}.Run{run:05}.0000.h5"));
    if output.exists() && !args.has("y") {
        return Err("Output file exists already. Stop".to_string());
    }
    sleep_for_events(500);
    std::fs::create_dir_all(output.parent().expect("has a parent")).map_err(|e| e.to_string())?;
    let file = hdf5::File::create(&output).map_err(h5err)?;
    let group = layout::group_path(&file, "tel_1")?;
    for (name, value) in [("calibration", 1.0f64), ("pedestal", 400.0), ("flatfield", 80.0), ("pixel_status", 0.0)] {
        group.new_dataset_builder().with_data(&vec![value; 1855 * 2]).create(name).map_err(h5err)?;
    }
    Ok(vec![output])
}

/// Files of `dir` matching a shell pattern whose name holds `Run<run>`, in name order.
pub fn files_of_run(dir: &Path, pattern: &str, run: u32) -> Result<Vec<PathBuf>, String> {
    let pattern = glob::Pattern::new(pattern).map_err(|e| format!("bad --pattern {pattern:?}: {e}"))?;
    let run_text = format!("Run{run:05}");
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| pattern.matches(n) && n.contains(&run_text)))
        .collect();
    inputs.sort();
    Ok(inputs)
}

/// `lstchain_merge_muon_files --input-dir DIR --output-file F --run-number R --pattern P`:
/// the muon rings of the matching files, stacked in one FITS table (astropy's `vstack`).
fn merge_muons(args: &Args) -> Result<Vec<PathBuf>, String> {
    let dir = PathBuf::from(args.require("input-dir")?);
    let output = PathBuf::from(args.require("output-file")?);
    let run: u32 = args.require("run-number")?.parse().map_err(|_| "--run-number needs a run number")?;
    if output.exists() {
        return Err(format!("IOError: {} exists already", output.display()));
    }
    let inputs = files_of_run(&dir, args.get("pattern").unwrap_or("*.fits"), run)?;
    if inputs.is_empty() {
        return Err(format!("IOError: no muon file of run {run} in {}", dir.display()));
    }
    let mut rings = Rings::default();
    for input in &inputs {
        rings.extend(Rings::read(input)?);
    }
    if let Some(parent) = output.parent() {
        std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
    }
    rings.write(&output)?;
    Ok(vec![output])
}

/// `lstchain_merge_hdf5_files --input-dir DIR --output-file F --run-number R [--pattern P]
/// [--no-image]`: the DL1 events of the files matching the pattern (default `*.h5`, as
/// lstchain: then every HDF5 file of the folder naming the run), in name order.
fn merge(args: &Args) -> Result<Vec<PathBuf>, String> {
    let dir = PathBuf::from(args.require("input-dir")?);
    let output = PathBuf::from(args.require("output-file")?);
    let run: u32 = args.require("run-number")?.parse().map_err(|_| "--run-number needs a run number")?;
    refuse_existing(&output)?;
    let pattern = args.get("pattern").unwrap_or("*.h5").to_string();
    let inputs = files_of_run(&dir, &pattern, run)?;
    if inputs.is_empty() {
        return Err(format!("no {pattern} file of run {run} in {}", dir.display()));
    }
    if let Some(parent) = output.parent() {
        std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
    }
    // As lstchain's `auto_merge_h5files`: every table of the files appended in name order
    // (the instrument tables too), the monitoring tables dropped.
    std::fs::copy(&inputs[0], &output).map_err(|e| format!("cannot write {}: {e}", output.display()))?;
    let file = hdf5::File::open_rw(&output).map_err(h5err)?;
    if file.group(layout::MONITORING_GROUP).is_ok() {
        file.unlink(layout::MONITORING_GROUP).map_err(h5err)?;
    }
    if args.has("no-image") && file.dataset(layout::IMAGE_TABLE).is_ok() {
        file.unlink(layout::IMAGE_TABLE).map_err(h5err)?;
    }
    let targets = layout::all_tables(&file.group("/").map_err(h5err)?);
    for input in &inputs[1..] {
        let source = hdf5::File::open(input).map_err(|e| format!("cannot open {}: {e}", input.display()))?;
        for target in &targets {
            let source_table = source.dataset(&target.name()).map_err(|e| format!("{}: no {}: {e}", input.display(), target.name()))?;
            layout::append_rows(target, &source_table)?;
        }
    }
    Ok(vec![output])
}
