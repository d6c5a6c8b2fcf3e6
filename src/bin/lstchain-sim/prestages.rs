//! The per-run programs LSTOSA runs between a run's DL1a and its DL1b:
//! - `lstchain_find_tailcuts -d DIR -r RUN -o OUT [--log NAME]`: lstchain's
//!   `dl1ab_RunRRRRR.json` (the cleaning of `tailcuts_clean_with_pedestal_threshold`, the
//!   standard `dynamic_cleaning`, an empty `tailcut`) and its log with the median pedestal
//!   charge and the additional NSB rate, from lstchain's own tables (`pic_th`, `get_nsb`);
//! - `onsite_create_cat_B_calibration_file -r RUN -b BASE --r0-dir DIR [-f FILTERS] [-y]`:
//!   `Cat-B/calibration/YYYYMMDD/<version>/cat_B_calibration_filters_F.RunRRRRR.h5` with the
//!   `tel_1` tables lstchain's Cat-B files hold.
//!
//! The sky is simulated: a run's 95 % quantile of pedestal charge is 5.0 p.e. (tail cuts 8/4)
//! unless `LSTCHAIN_SIM_NSB` (`RUN=QPED,...`) says otherwise.

use std::io::Write;
use std::path::PathBuf;

use super::Args;
use super::outputs::{files_of_run, h5err, night_of_run, version};
use super::{layout, sleep_for_events};

/// lstchain's picture threshold for a pedestal charge (`lstchain.image.cleaning.pic_th`).
fn picture_threshold(qped: f64) -> u32 {
    const EDGES: [f64; 5] = [5.85, 7.25, 8.75, 10.3, 11.67];
    const THRESHOLDS: [u32; 6] = [8, 10, 12, 14, 16, 18];
    EDGES.iter().position(|edge| *edge > qped).map_or(THRESHOLDS[5], |i| THRESHOLDS[i])
}

/// lstchain's additional NSB rate over dark MC (`lstchain.image.cleaning.get_nsb`).
fn additional_nsb(qped: f64) -> f64 {
    let x = qped - 3.95147396;
    0.12642504 * x + 0.01718627 * x * x
}

fn simulated_qped(run: u32) -> Result<f64, String> {
    let setting = std::env::var("LSTCHAIN_SIM_NSB").unwrap_or_default();
    for entry in setting.split(',').filter(|e| !e.trim().is_empty()) {
        let (r, q) = entry.split_once('=').ok_or_else(|| format!("LSTCHAIN_SIM_NSB: {entry:?} is not RUN=QPED"))?;
        if r.trim().parse::<u32>().ok() == Some(run) {
            return q.trim().parse().map_err(|_| format!("LSTCHAIN_SIM_NSB: {q:?} is not a charge"));
        }
    }
    Ok(5.0)
}

pub fn find_tailcuts(args: &Args) -> Result<Vec<PathBuf>, String> {
    let input = PathBuf::from(args.get("d").or(args.get("input-dir")).unwrap_or("./"));
    let run: u32 = args.get("r").or(args.get("run")).ok_or("error: argument -r is required")?.parse().map_err(|_| "-r needs a run number")?;
    let out = PathBuf::from(args.get("o").or(args.get("output-dir")).unwrap_or("./"));
    if !input.is_dir() {
        return Err("Input directory does not exist".to_string());
    }
    let files = files_of_run(&input, "dl1_LST-1.Run?????.????.h5", run)?;
    if files.is_empty() {
        return Err(format!("No valid computation was possible for run {run} with any of the processed subruns!"));
    }
    let events: usize = files.iter().filter_map(|f| super::outputs::read_events(f).ok()).map(|e| e.len()).sum();
    sleep_for_events(events / 10);
    let qped = simulated_qped(run)?;
    let picture = picture_threshold(qped);
    let cleaning = serde_json::json!({
        "picture_thresh": picture,
        "boundary_thresh": picture / 2,
        "sigma": 2.5,
        "keep_isolated_pixels": false,
        "min_number_picture_neighbors": 2,
        "use_only_main_island": false,
        "delta_time": 2
    });
    let config = serde_json::json!({
        "tailcuts_clean_with_pedestal_threshold": cleaning,
        "dynamic_cleaning": {"apply": true, "threshold": 267, "fraction_cleaning_intensity": 0.03},
        "tailcut": {}
    });
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let json = out.join(format!("dl1ab_Run{run:05}.json"));
    std::fs::write(&json, serde_json::to_string_pretty(&config).expect("JSON values serialise"))
        .map_err(|e| format!("cannot write {}: {e}", json.display()))?;
    let log = out.join(args.get("log").map(str::to_string).unwrap_or_else(|| format!("log_find_tailcuts_Run{run:05}.log")));
    let mut text = String::new();
    for file in files.iter().step_by(1 + files.len() / 10) {
        text.push_str(&format!("\nInput file: {}\n", file.display()));
    }
    text.push_str(&format!(
        "\nMedian of 95% quantile of pedestal charge: {qped:.3} p.e.\n\nCleaning settings:\n{cleaning}\n\nWritten to:\n{}\n\nAdditional NSB rate (over dark MC): {:.4} p.e./ns\nlstchain_find_tailcuts finished successfully!\n",
        json.display(),
        additional_nsb(qped)
    ));
    let mut file = std::fs::File::create(&log).map_err(|e| format!("cannot write {}: {e}", log.display()))?;
    file.write_all(text.as_bytes()).map_err(|e| format!("cannot write {}: {e}", log.display()))?;
    print!("{text}");
    Ok(vec![json, log])
}

pub fn cat_b(args: &Args) -> Result<Vec<PathBuf>, String> {
    let run: u32 = args.require("r")?.parse().map_err(|_| "-r needs a run number")?;
    let night = night_of_run(args, run)?;
    let filters = args.get("f").or(args.get("filters")).unwrap_or("52");
    let dir = PathBuf::from(args.require("b")?).join("monitoring/PixelCalibration/Cat-B/calibration").join(&night).join(version());
    let output = dir.join(format!("cat_B_calibration_filters_{filters}.Run{run:05}.h5"));
    if output.exists() && !args.has("y") {
        return Err("Output file exists already. Stop".to_string());
    }
    sleep_for_events(500);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let file = hdf5::File::create(&output).map_err(h5err)?;
    let group = layout::group_path(&file, "tel_1")?;
    for (name, value) in [("calibration", 1.0f64), ("pedestal", 400.0), ("flatfield", 80.0), ("pixel_status", 0.0)] {
        group.new_dataset_builder().with_data(&vec![value; layout::N_PIXELS * 2]).create(name).map_err(h5err)?;
    }
    Ok(vec![output])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_follow_lstchains_table() {
        assert_eq!(picture_threshold(5.0), 8);
        assert_eq!(picture_threshold(6.5), 10);
        assert_eq!(picture_threshold(12.0), 18);
        assert!((additional_nsb(5.0) - 0.1514).abs() < 1e-3);
    }
}
