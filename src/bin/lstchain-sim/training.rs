//! `lstchain-sim mc-training`: MC DL1 files of gammas or protons for the real
//! `lstchain_mc_trainpipe`, which trains the random-forest models the real
//! `lstchain_dl1_to_dl2` needs (tests only: production models come from the MC production).
//! The file is lstchain's MC DL1: the instrument description and the parameters table in its
//! MC flavour (no UCTS, TIB or Dragon times; the true shower in `mc_*` columns; `disp_*` and
//! `src_*` appended as `add_disp_to_parameters_table` does). The showers are the toy images of
//! the DATA simulation, their true energy following their intensity: enough for the forests to
//! train, not for physics.

use std::path::PathBuf;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::Args;
use super::layout::{self, Column, FOCAL_LENGTH, Values, scalar};
use super::outputs::{h5err, refuse_existing};
use super::showers::{PARAMETER_UNITS, Subrun, dl1_tables};

/// Columns of DATA DL1 that MC DL1 does not have.
const DATA_ONLY: &[&str] = &["dragon_time", "ucts_time", "tib_time", "ucts_jump", "ucts_trigger_type", "mc_type"];

/// Units of the columns MC adds (ctapipe's writer records them like the others).
const MC_UNITS: &[(&str, &str)] = &[
    ("mc_energy", "TeV"),
    ("mc_alt", "rad"),
    ("mc_az", "rad"),
    ("mc_core_x", "m"),
    ("mc_core_y", "m"),
    ("mc_h_first_int", "m"),
    ("mc_az_tel", "rad"),
    ("mc_alt_tel", "rad"),
    ("mc_x_max", "g / cm2"),
    ("mc_core_distance", "m"),
];

fn f64s(columns: &[Column], name: &str) -> Vec<f64> {
    match columns.iter().find(|c| c.name == name).map(|c| &c.values) {
        Some(Values::F64(v)) => v.clone(),
        _ => Vec::new(),
    }
}

pub fn mc_training(args: &Args) -> Result<Vec<PathBuf>, String> {
    let particle = args.require("particle")?;
    let mc_type: i64 = match particle {
        "gamma" => 0,
        "proton" => 101,
        other => return Err(format!("error: --particle must be gamma or proton, not {other}")),
    };
    let events: usize = match args.get("events") {
        Some(n) => n.parse().map_err(|_| format!("error: --events {n} is not a number"))?,
        None => 300,
    };
    let output = PathBuf::from(args.require("output")?);
    refuse_existing(&output)?;
    if let Some(dir) = output.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }

    // Physics events only, from a run number of their own per particle (reproducible).
    let run = 100 + mc_type as u32;
    let showers = Subrun {
        run,
        subrun: 0,
        ids: (1..=events as i64).collect(),
        types: vec![32; events],
        times: (0..events).map(|i| 1.7e9 + i as f64 * 0.01).collect(),
    };
    let tables = dl1_tables(&showers);
    let intensity = f64s(&tables.parameters, "intensity");
    let (x, y) = (f64s(&tables.parameters, "x"), f64s(&tables.parameters, "y"));
    let (alt_tel, az_tel) = (f64s(&tables.parameters, "alt_tel"), f64s(&tables.parameters, "az_tel"));
    let mut rng = StdRng::seed_from_u64(u64::from(run));
    let mut gauss =
        |sigma: f64| sigma * (-2.0 * rng.random_range(f64::EPSILON..1.0f64).ln()).sqrt() * (std::f64::consts::TAU * rng.random::<f64>()).cos();

    let mut energy = Vec::with_capacity(events);
    let (mut mc_alt, mut mc_az, mut core_x, mut core_y) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..events {
        // About 200 photo-electrons per TeV, with a 30 % spread; showers without an image get
        // an energy too (the forests skip their non-finite parameters).
        let base = if intensity[i].is_finite() && intensity[i] > 0.0 { intensity[i] / 200.0 } else { 0.02 };
        energy.push(base * (gauss(0.3)).exp());
        // Gammas from a point 0.4° off the pointing (wobble), protons from anywhere within 2°.
        let (d_alt, d_az) = if mc_type == 0 { (0.4f64.to_radians(), 0.0) } else { (gauss(1.0f64.to_radians()), gauss(1.0f64.to_radians())) };
        mc_alt.push(alt_tel[i] + d_alt);
        mc_az.push(az_tel[i] + d_az);
        core_x.push(gauss(100.0));
        core_y.push(gauss(100.0));
    }
    // The source's place on the camera (metres), and the disp vector from the image's centre.
    let src_x: Vec<f32> = mc_alt.iter().zip(&alt_tel).map(|(a, t)| (FOCAL_LENGTH * (a - t).tan()) as f32).collect();
    let src_y: Vec<f32> = mc_az.iter().zip(&az_tel).zip(&alt_tel).map(|((a, t), alt)| (FOCAL_LENGTH * ((a - t) * alt.cos()).tan()) as f32).collect();
    let disp_dx: Vec<f32> = src_x.iter().zip(&x).map(|(s, x)| s - *x as f32).collect();
    let disp_dy: Vec<f32> = src_y.iter().zip(&y).map(|(s, y)| s - *y as f32).collect();

    let mut columns: Vec<Column> = Vec::new();
    for column in tables.parameters.into_iter().filter(|c| !DATA_ONLY.contains(&c.name)) {
        let name = column.name;
        columns.push(column);
        if name == "calibration_id" {
            columns.extend([
                scalar("mc_energy", Values::F64(energy.clone())),
                scalar("log_mc_energy", Values::F64(energy.iter().map(|e| e.log10()).collect())),
                scalar("mc_alt", Values::F64(mc_alt.clone())),
                scalar("mc_az", Values::F64(mc_az.clone())),
                scalar("mc_core_x", Values::F64(core_x.clone())),
                scalar("mc_core_y", Values::F64(core_y.clone())),
                scalar("mc_h_first_int", Values::F64(vec![20_000.0; events])),
                scalar("mc_type", Values::I64(vec![mc_type; events])),
                scalar("mc_az_tel", Values::F64(az_tel.clone())),
                scalar("mc_alt_tel", Values::F64(alt_tel.clone())),
                scalar("mc_x_max", Values::F64(energy.iter().map(|e| 300.0 + 80.0 * e.max(1e-3).log10()).collect())),
                scalar("mc_core_distance", Values::F64(core_x.iter().zip(&core_y).map(|(x, y)| (x - 50.0).hypot(y - 50.0)).collect())),
            ]);
        }
    }
    columns.extend([
        scalar("disp_dx", Values::F32(disp_dx.clone())),
        scalar("disp_dy", Values::F32(disp_dy.clone())),
        scalar("disp_norm", Values::F32(disp_dx.iter().zip(&disp_dy).map(|(x, y)| x.hypot(*y)).collect())),
        scalar("disp_angle", Values::F32(disp_dx.iter().zip(&disp_dy).map(|(x, y)| (y / x).atan()).collect())),
        scalar("disp_sign", Values::F32(disp_dx.iter().map(|x| x.signum()).collect())),
        scalar("src_x", Values::F32(src_x)),
        scalar("src_y", Values::F32(src_y)),
    ]);
    let units: Vec<(&str, &str)> = PARAMETER_UNITS.iter().chain(MC_UNITS).copied().collect();
    let file = hdf5::File::create(&output).map_err(h5err)?;
    layout::versions(&file)?;
    layout::write_instrument(&file)?;
    layout::write_event_table(&file, layout::PARAMETERS_TABLE, &columns, &units, &["event_type"], "{}")?;
    Ok(vec![output])
}
