//! Toy camera images for the simulated R0 events, and the DL1 tables lstchain computes from
//! them: the image table and the Hillas, timing, leakage and pointing parameters, in
//! lstchain's columns and units (lengths on the camera in metres, `length`/`width` in
//! degrees, angles in radians).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::layout::{Column, FOCAL_LENGTH, N_PIXELS, Values, array, camera_pixels, scalar};

/// ctapipe's `EventType`: flat-field, sky pedestal, physics.
const FLATFIELD: i64 = 0;
const SKY_PEDESTAL: i64 = 2;
/// TIB trigger bits of LST-1: mono physics, calibration, pedestal.
const TRIGGER_MONO: u8 = 1;
const TRIGGER_CALIBRATION: u8 = 4;
const TRIGGER_PEDESTAL: u8 = 32;
/// Picture threshold of the toy cleaning, photo-electrons.
const PICTURE: f32 = 6.0;

/// A subrun's events: their ids, lstchain's event types and times (Unix seconds).
pub struct Subrun {
    pub run: u32,
    pub subrun: u32,
    pub ids: Vec<i64>,
    pub types: Vec<i64>,
    pub times: Vec<f64>,
}

/// The image and parameter tables of a subrun, ready to write.
pub struct Dl1Tables {
    pub image: Vec<Column>,
    pub parameters: Vec<Column>,
}

fn normal(rng: &mut StdRng) -> f64 {
    // Box-Muller: enough for toy noise.
    let u: f64 = rng.random_range(f64::EPSILON..1.0);
    let v: f64 = rng.random();
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}

struct Image {
    charge: Vec<f32>,
    time: Vec<f32>,
}

fn image(kind: i64, px: &[f64], py: &[f64], rng: &mut StdRng) -> Image {
    let noise = |rng: &mut StdRng| (1.2 * normal(rng)) as f32;
    let mut charge: Vec<f32> = (0..N_PIXELS).map(|_| noise(rng)).collect();
    let mut time: Vec<f32> = (0..N_PIXELS).map(|_| rng.random_range(0.0..39.0)).collect();
    match kind {
        SKY_PEDESTAL => {}
        FLATFIELD => {
            for (c, t) in charge.iter_mut().zip(&mut time) {
                *c = (72.0 + 8.0 * normal(rng)) as f32;
                *t = (20.0 + 0.5 * normal(rng)) as f32;
            }
        }
        _ => {
            // An elliptical Gaussian shower with a time gradient along its axis.
            let (x0, y0) = (rng.random_range(-0.6..0.6), rng.random_range(-0.6..0.6));
            let psi: f64 = rng.random_range(-1.5..1.5);
            let (length, width) = (rng.random_range(0.05..0.15), rng.random_range(0.015..0.035));
            let peak = 10f64.powf(rng.random_range(1.7..3.5)) / (2.0 * std::f64::consts::PI * length * width / 0.00217);
            for i in 0..N_PIXELS {
                let (dx, dy) = (px[i] - x0, py[i] - y0);
                let along = dx * psi.cos() + dy * psi.sin();
                let across = -dx * psi.sin() + dy * psi.cos();
                let signal = peak * (-0.5 * (along / length).powi(2) - 0.5 * (across / width).powi(2)).exp();
                if signal > 1.0 {
                    charge[i] += (signal + signal.sqrt() * normal(rng)) as f32;
                    time[i] = (15.0 + 20.0 * along + 0.5 * normal(rng)).clamp(0.0, 39.0) as f32;
                }
            }
        }
    }
    Image { charge, time }
}

/// Hillas parameters and friends of one cleaned image (`None`: nothing survived).
#[derive(Default)]
struct Parameters {
    intensity: f64,
    x: f64,
    y: f64,
    psi: f64,
    length: f64,
    width: f64,
    skewness: f64,
    kurtosis: f64,
    time_gradient: f64,
    intercept: f64,
    leakage: [f64; 2],
    leakage_pixels: [f64; 2],
    n_pixels: i64,
    concentration_pixel: f64,
}

fn parameters(img: &Image, mask: &[bool], px: &[f64], py: &[f64], border: &[[bool; 2]]) -> Option<Parameters> {
    let lit: Vec<usize> = (0..N_PIXELS).filter(|i| mask[*i]).collect();
    let w = |i: usize| f64::from(img.charge[i]);
    let size: f64 = lit.iter().map(|&i| w(i)).sum();
    if lit.len() < 3 || size <= 0.0 {
        return None;
    }
    let mean = |f: &dyn Fn(usize) -> f64| lit.iter().map(|&i| w(i) * f(i)).sum::<f64>() / size;
    let (mx, my) = (mean(&|i| px[i]), mean(&|i| py[i]));
    let sxx = mean(&|i| (px[i] - mx).powi(2));
    let syy = mean(&|i| (py[i] - my).powi(2));
    let sxy = mean(&|i| (px[i] - mx) * (py[i] - my));
    let half_trace = (sxx + syy) / 2.0;
    let root = (((sxx - syy) / 2.0).powi(2) + sxy * sxy).sqrt();
    let psi = if sxy == 0.0 && sxx >= syy { 0.0 } else { (half_trace + root - sxx).atan2(sxy) };
    let psi = if psi > std::f64::consts::FRAC_PI_2 { psi - std::f64::consts::PI } else { psi };
    let along = |i: usize| (px[i] - mx) * psi.cos() + (py[i] - my) * psi.sin();
    let m2 = mean(&|i| along(i).powi(2));
    let (t_mean, l_mean) =
        (lit.iter().map(|&i| f64::from(img.time[i])).sum::<f64>() / lit.len() as f64, lit.iter().map(|&i| along(i)).sum::<f64>() / lit.len() as f64);
    let slope_num: f64 = lit.iter().map(|&i| (along(i) - l_mean) * (f64::from(img.time[i]) - t_mean)).sum();
    let slope_den: f64 = lit.iter().map(|&i| (along(i) - l_mean).powi(2)).sum();
    let slope = if slope_den > 0.0 { slope_num / slope_den } else { 0.0 };
    let border_charge = |k: usize| lit.iter().filter(|&&i| border[i][k]).map(|&i| w(i)).sum::<f64>() / size;
    let border_pixels = |k: usize| lit.iter().filter(|&&i| border[i][k]).count() as f64 / N_PIXELS as f64;
    Some(Parameters {
        intensity: size,
        x: mx,
        y: my,
        psi,
        length: (half_trace + root).max(0.0).sqrt(),
        width: (half_trace - root).max(0.0).sqrt(),
        skewness: if m2 > 0.0 { mean(&|i| along(i).powi(3)) / m2.powf(1.5) } else { f64::NAN },
        kurtosis: if m2 > 0.0 { mean(&|i| along(i).powi(4)) / (m2 * m2) } else { f64::NAN },
        time_gradient: slope,
        intercept: t_mean - slope * l_mean,
        leakage: [border_charge(0), border_charge(1)],
        leakage_pixels: [border_pixels(0), border_pixels(1)],
        n_pixels: lit.len() as i64,
        concentration_pixel: lit.iter().map(|&i| w(i)).fold(0.0, f64::max) / size,
    })
}

/// The DL1 tables of a subrun; images are generated from the run and subrun (reproducible).
pub fn dl1_tables(subrun: &Subrun) -> Dl1Tables {
    let n = subrun.ids.len();
    let (px, py) = camera_pixels();
    let radius: Vec<f64> = px.iter().zip(&py).map(|(x, y)| x.hypot(*y)).collect();
    let edge = radius.iter().copied().fold(0.0, f64::max);
    let border: Vec<[bool; 2]> = radius.iter().map(|r| [*r > edge - 0.05, *r > edge - 0.10]).collect();
    let mut rng = StdRng::seed_from_u64(u64::from(subrun.run) * 10_000 + u64::from(subrun.subrun));

    let mut charges = Vec::with_capacity(n * N_PIXELS);
    let mut times = Vec::with_capacity(n * N_PIXELS);
    let mut masks = Vec::with_capacity(n * N_PIXELS);
    let mut gains = Vec::with_capacity(n * N_PIXELS);
    let mut rows: Vec<Option<Parameters>> = Vec::with_capacity(n);
    for &kind in &subrun.types {
        let img = image(kind, &px, &py, &mut rng);
        let mask: Vec<bool> = img.charge.iter().map(|c| *c > PICTURE).collect();
        rows.push(parameters(&img, &mask, &px, &py, &border));
        gains.extend(img.charge.iter().map(|c| i8::from(*c > 100.0)));
        masks.extend(mask);
        charges.extend(img.charge);
        times.extend(img.time);
    }
    let obs_id = Values::I64(vec![i64::from(subrun.run); n]);
    let event_id = || Values::U64(subrun.ids.iter().map(|i| *i as u64).collect());
    let image = vec![
        scalar("obs_id", obs_id),
        scalar("event_id", event_id()),
        array("image", &[N_PIXELS], Values::F32(charges)),
        array("peak_time", &[N_PIXELS], Values::F32(times)),
        array("image_mask", &[N_PIXELS], Values::Bool(masks)),
        scalar("is_valid", Values::Bool(vec![true; n])),
        scalar("tel_id", Values::I64(vec![1; n])),
        array("selected_gain_channel", &[N_PIXELS], Values::I8(gains)),
    ];

    let f = |get: &dyn Fn(&Parameters) -> f64| Values::F64(rows.iter().map(|p| p.as_ref().map_or(f64::NAN, get)).collect());
    let degrees = |metres: f64| (metres / FOCAL_LENGTH).atan().to_degrees();
    // The telescope tracks slowly: 70° altitude, due south.
    let alt: Vec<f64> = (0..n).map(|i| 70f64.to_radians() + 1e-5 * i as f64).collect();
    let az: Vec<f64> = (0..n).map(|i| 180f64.to_radians() + 1e-5 * i as f64).collect();
    let trigger: Vec<u8> = subrun
        .types
        .iter()
        .map(|t| match *t {
            SKY_PEDESTAL => TRIGGER_PEDESTAL,
            FLATFIELD => TRIGGER_CALIBRATION,
            _ => TRIGGER_MONO,
        })
        .collect();
    let parameters = vec![
        scalar("obs_id", Values::I64(vec![i64::from(subrun.run); n])),
        scalar("event_id", event_id()),
        scalar("intensity", f(&|p| p.intensity)),
        scalar("log_intensity", f(&|p| p.intensity.log10())),
        scalar("x", f(&|p| p.x)),
        scalar("y", f(&|p| p.y)),
        scalar("r", f(&|p| p.x.hypot(p.y))),
        scalar("phi", f(&|p| p.y.atan2(p.x))),
        scalar("length", f(&|p| degrees(p.length))),
        scalar("length_uncertainty", f(&|p| 0.01 * degrees(p.length))),
        scalar("width", f(&|p| degrees(p.width))),
        scalar("width_uncertainty", f(&|p| 0.01 * degrees(p.width))),
        scalar("psi", f(&|p| p.psi)),
        scalar("skewness", f(&|p| p.skewness)),
        scalar("kurtosis", f(&|p| p.kurtosis)),
        scalar("time_gradient", f(&|p| p.time_gradient)),
        scalar("intercept", f(&|p| p.intercept)),
        scalar("leakage_intensity_width_1", Values::F32(rows.iter().map(|p| p.as_ref().map_or(f32::NAN, |p| p.leakage[0] as f32)).collect())),
        scalar("leakage_intensity_width_2", Values::F32(rows.iter().map(|p| p.as_ref().map_or(f32::NAN, |p| p.leakage[1] as f32)).collect())),
        scalar("leakage_pixels_width_1", f(&|p| p.leakage_pixels[0])),
        scalar("leakage_pixels_width_2", f(&|p| p.leakage_pixels[1])),
        scalar("n_pixels", Values::I64(rows.iter().map(|p| p.as_ref().map_or(0, |p| p.n_pixels)).collect())),
        scalar("concentration_cog", f(&|p| (3.0 * p.concentration_pixel).min(1.0))),
        scalar("concentration_core", f(&|_| 0.5)),
        scalar("concentration_pixel", f(&|p| p.concentration_pixel)),
        scalar("n_islands", Values::I64(rows.iter().map(|p| i64::from(p.is_some())).collect())),
        scalar("alt_tel", Values::F64(alt)),
        scalar("az_tel", Values::F64(az.clone())),
        scalar("sin_az_tel", Values::F64(az.iter().map(|a| a.sin()).collect())),
        scalar("calibration_id", Values::I64(vec![0; n])),
        scalar("dragon_time", Values::F64(subrun.times.clone())),
        // lstchain writes 0 where the UCTS and TIB timestamps are not used.
        scalar("ucts_time", Values::I64(vec![0; n])),
        scalar("tib_time", Values::I64(vec![0; n])),
        scalar("ucts_jump", Values::Bool(vec![false; n])),
        scalar("mc_type", Values::I64(vec![-9999; n])),
        scalar("wl", f(&|p| if p.length > 0.0 { p.width / p.length } else { f64::NAN })),
        scalar("tel_id", Values::I64(vec![1; n])),
        scalar("tel_pos_x", Values::F64(vec![50.0; n])),
        scalar("tel_pos_y", Values::F64(vec![50.0; n])),
        scalar("tel_pos_z", Values::F64(vec![16.0; n])),
        scalar("trigger_type", Values::U8(trigger.clone())),
        scalar("ucts_trigger_type", Values::U8(trigger)),
        scalar("trigger_time", Values::F64(subrun.times.clone())),
        scalar("event_type", Values::I64(subrun.types.clone())),
    ];
    Dl1Tables { image, parameters }
}

/// Units of the parameter columns, as ctapipe's writer records them (`""`: dimensionless).
pub const PARAMETER_UNITS: &[(&str, &str)] = &[
    ("x", "m"),
    ("y", "m"),
    ("r", "m"),
    ("phi", "rad"),
    ("length", "deg"),
    ("length_uncertainty", "deg"),
    ("width", "deg"),
    ("width_uncertainty", "deg"),
    ("psi", "rad"),
    ("alt_tel", "rad"),
    ("az_tel", "rad"),
    ("sin_az_tel", ""),
    ("wl", ""),
    ("tel_pos_x", "m"),
    ("tel_pos_y", "m"),
    ("tel_pos_z", "m"),
];
