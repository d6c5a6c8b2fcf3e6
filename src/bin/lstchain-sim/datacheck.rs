//! lstchain's DL1 data checks (`lstchain_check_dl1`, `DL1DataCheckContainer`): per subrun, one
//! row per event class (`/dl1datacheck/cosmics`, `pedestals`, `flatfield`) of counts, pointing,
//! sampled times, histograms and per-pixel statistics, with the histograms' bin edges
//! (`histogram_binning`) and the tag that split the classes (`used_trigger_tag`). The run-wise
//! check stacks the subruns' rows. The long-term check and the run-wise check read them.

use std::path::Path;

use super::layout::{self, Column, N_PIXELS, Values, array, scalar};
use super::outputs::{Dl1Event, h5err};

const SAMPLED: usize = 50;
const TRIGGER_SLOTS: usize = 10;
/// Telescope pointing (the Crab), degrees: a toy value, as RA/Dec need the site's clock.
const POINTING_RA_DEC: (f64, f64) = (83.633, 22.0145);

fn linspace(low: f64, high: f64, n: usize) -> Vec<f64> {
    (0..n).map(|i| low + (high - low) * i as f64 / (n - 1) as f64).collect()
}

fn logspace(low: f64, high: f64, n: usize) -> Vec<f64> {
    linspace(low, high, n).into_iter().map(|e| 10f64.powf(e)).collect()
}

/// The bin edges lstchain uses, by histogram.
struct Binning {
    delta_t: Vec<f64>,
    charge: Vec<f64>,
    intensity: Vec<f64>,
    dist0: Vec<f64>,
    psi: Vec<f64>,
    nislands: Vec<f64>,
    npixels: Vec<f64>,
    /// 2-D histograms against intensity (or length): x edges, y edges.
    width: [Vec<f64>; 2],
    length: [Vec<f64>; 2],
    skewness: [Vec<f64>; 2],
    tgrad: [Vec<f64>; 2],
    tgrad_bright: [Vec<f64>; 2],
    intercept: [Vec<f64>; 2],
}

impl Binning {
    fn new() -> Self {
        let intensity_2d = || logspace(0.7, 5.7, 101);
        Self {
            delta_t: linspace(-0.01, 2.0, 200),
            charge: logspace(-1.0, 4.7, 121),
            intensity: logspace(1.0, 6.0, 101),
            dist0: linspace(0.0, 2.5, 50),
            psi: linspace(-100.0, 100.0, 101),
            nislands: linspace(-0.5, 29.5, 31),
            npixels: linspace(0.5, 2000.5, 400),
            width: [intensity_2d(), linspace(0.0, 0.8, 101)],
            length: [intensity_2d(), linspace(0.0, 1.0, 101)],
            skewness: [intensity_2d(), linspace(-4.0, 4.0, 101)],
            tgrad: [linspace(0.0, 1.0, 101), linspace(0.0, 200.0, 101)],
            tgrad_bright: [linspace(0.0, 1.0, 101), linspace(0.0, 50.0, 101)],
            intercept: [intensity_2d(), linspace(-30.0, 40.0, 101)],
        }
    }

    fn columns(&self) -> Vec<Column> {
        let one = |v: &Vec<f64>| Values::F64(v.clone());
        let two = |v: &[Vec<f64>; 2]| Values::F64(v.concat());
        vec![
            array("hist_delta_t", &[200], one(&self.delta_t)),
            array("hist_pixelchargespectrum", &[121], one(&self.charge)),
            array("hist_intensity", &[101], one(&self.intensity)),
            array("hist_dist0", &[50], one(&self.dist0)),
            array("hist_dist0_intensity_gt_200", &[50], one(&self.dist0)),
            array("hist_psi", &[101], one(&self.psi)),
            array("hist_psi_intensity_gt_200", &[101], one(&self.psi)),
            array("hist_nislands", &[31], one(&self.nislands)),
            array("hist_npixels", &[400], one(&self.npixels)),
            array("hist_width", &[2, 101], two(&self.width)),
            array("hist_length", &[2, 101], two(&self.length)),
            array("hist_skewness", &[2, 101], two(&self.skewness)),
            array("hist_tgrad_vs_length", &[2, 101], two(&self.tgrad)),
            array("hist_tgrad_vs_length_intensity_gt_200", &[2, 101], two(&self.tgrad_bright)),
            array("hist_intercept", &[2, 101], two(&self.intercept)),
        ]
    }
}

fn bin(edges: &[f64], value: f64) -> Option<usize> {
    if !value.is_finite() || value < edges[0] || value > edges[edges.len() - 1] {
        return None;
    }
    Some(edges.partition_point(|e| *e <= value).saturating_sub(1).min(edges.len() - 2))
}

fn histogram(edges: &[f64], values: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut counts = vec![0.0; edges.len() - 1];
    for i in values.filter_map(|v| bin(edges, v)) {
        counts[i] += 1.0;
    }
    counts
}

fn histogram_2d(edges: &[Vec<f64>; 2], values: impl Iterator<Item = (f64, f64)>) -> Vec<f64> {
    let (nx, ny) = (edges[0].len() - 1, edges[1].len() - 1);
    let mut counts = vec![0.0; nx * ny];
    for (x, y) in values {
        if let (Some(i), Some(j)) = (bin(&edges[0], x), bin(&edges[1], y)) {
            counts[i * ny + j] += 1.0;
        }
    }
    counts
}

/// Per-pixel charge and time of a class's images (absent from `--no-image` files).
#[derive(hdf5::H5Type, Clone, Copy)]
#[repr(C)]
pub struct PixelRow {
    pub event_id: u64,
    pub image: [f32; N_PIXELS],
    pub peak_time: [f32; N_PIXELS],
}

/// Which class an event belongs to, by lstchain's `event_type`.
#[derive(Clone, Copy, PartialEq)]
enum Class {
    Cosmics,
    Pedestals,
    Flatfield,
}

impl Class {
    fn of(event_type: i64) -> Self {
        match event_type {
            2 => Self::Pedestals,
            0 => Self::Flatfield,
            _ => Self::Cosmics,
        }
    }

    fn table(self) -> &'static str {
        match self {
            Self::Cosmics => "cosmics",
            Self::Pedestals => "pedestals",
            Self::Flatfield => "flatfield",
        }
    }
}

/// One class's row of a subrun's data check.
fn class_row(class: Class, subrun: u32, events: &[&Dl1Event], pixels: &[&PixelRow], bins: &Binning) -> Vec<Column> {
    let n = events.len();
    let deg = |metres: f64| (metres / layout::FOCAL_LENGTH).to_degrees();
    let times: Vec<f64> = events.iter().map(|e| e.dragon_time).collect();
    let elapsed = times.last().zip(times.first()).map_or(0.0, |(l, f)| l - f);
    let mean = |f: &dyn Fn(&Dl1Event) -> f64| if n == 0 { f64::NAN } else { events.iter().map(|e| f(e)).sum::<f64>() / n as f64 };
    let mut triggers: Vec<(i64, i64)> = Vec::new();
    for e in events {
        match triggers.iter().position(|(t, _)| *t == e.trigger_type) {
            Some(i) => triggers[i].1 += 1,
            None if triggers.len() < TRIGGER_SLOTS => triggers.push((e.trigger_type, 1)),
            None => {}
        }
    }
    triggers.resize(TRIGGER_SLOTS, (0, 0));
    let trigger_pairs: Vec<i64> = triggers.iter().flat_map(|(t, c)| [*t, *c]).collect();
    let sampled = |f: &dyn Fn(&Dl1Event) -> f64| -> Vec<f64> {
        let mut v: Vec<f64> = events.iter().take(SAMPLED).map(|e| f(e)).collect();
        v.resize(SAMPLED, 0.0);
        v
    };
    let mut ids: Vec<u64> = events.iter().take(SAMPLED).map(|e| e.event_id as u64).collect();
    ids.resize(SAMPLED, 0);
    let cleaned: Vec<&&Dl1Event> = events.iter().filter(|e| e.intensity.is_finite() && e.n_pixels > 0).collect();
    let bright = || cleaned.iter().filter(|e| e.intensity > 200.0);

    // Per-pixel statistics from the images (zeros where the file has none).
    let per_pixel = |f: &dyn Fn(&PixelRow, usize) -> f64| -> (Vec<f32>, Vec<f32>) {
        let m = pixels.len().max(1) as f64;
        let means: Vec<f64> = (0..N_PIXELS).map(|p| pixels.iter().map(|r| f(r, p)).sum::<f64>() / m).collect();
        let spread: Vec<f32> = (0..N_PIXELS).map(|p| (pixels.iter().map(|r| (f(r, p) - means[p]).powi(2)).sum::<f64>() / m).sqrt() as f32).collect();
        (means.into_iter().map(|v| v as f32).collect(), spread)
    };
    let (charge_mean, charge_stddev) = per_pixel(&|r, p| f64::from(r.image[p]));
    let (time_mean, time_stddev) = per_pixel(&|r, p| f64::from(r.peak_time[p]));
    let above = |threshold: f32| Values::I64((0..N_PIXELS).map(|p| pixels.iter().filter(|r| r.image[p] > threshold).count() as i64).collect());
    let charges = pixels.iter().flat_map(|r| r.image.iter().map(|c| f64::from(*c)));
    let mut cog = vec![0.0; N_PIXELS];
    let mut cog_bright = vec![0.0; N_PIXELS];
    let (px, py) = layout::camera_pixels();
    for e in &cleaned {
        let nearest = (0..N_PIXELS).min_by(|a, b| (px[*a] - e.x).hypot(py[*a] - e.y).total_cmp(&(px[*b] - e.x).hypot(py[*b] - e.y)));
        if let Some(p) = nearest {
            cog[p] += 1.0;
            if e.intensity > 200.0 {
                cog_bright[p] += 1.0;
            }
        }
    }

    let mut row = vec![
        scalar("subrun_index", Values::I64(vec![i64::from(subrun)])),
        scalar("elapsed_time", Values::F64(vec![elapsed])),
        scalar("num_events", Values::I64(vec![n as i64])),
        scalar("num_cleaned_events", Values::I64(vec![cleaned.len() as i64])),
        array("trigger_type", &[TRIGGER_SLOTS, 2], Values::I64(trigger_pairs.clone())),
        array("ucts_trigger_type", &[TRIGGER_SLOTS, 2], Values::I64(trigger_pairs)),
        scalar("num_ucts_jumps", Values::I64(vec![0])),
        scalar("mean_alt_tel", Values::F64(vec![mean(&|e| e.alt_tel)])),
        scalar("mean_az_tel", Values::F64(vec![mean(&|e| e.az_tel)])),
        scalar("tel_ra", Values::F64(vec![POINTING_RA_DEC.0])),
        scalar("tel_dec", Values::F64(vec![POINTING_RA_DEC.1])),
        array("sampled_event_ids", &[SAMPLED], Values::U64(ids)),
        array("ucts_time", &[SAMPLED], Values::F64(vec![0.0; SAMPLED])),
        array("tib_time", &[SAMPLED], Values::F64(vec![0.0; SAMPLED])),
        array("dragon_time", &[SAMPLED], Values::F64(sampled(&|e| e.dragon_time))),
        array("hist_delta_t", &[199], Values::F64(histogram(&bins.delta_t, times.windows(2).map(|w| w[1] - w[0])))),
        array("hist_npixels", &[399], Values::F64(histogram(&bins.npixels, cleaned.iter().map(|e| e.n_pixels as f64)))),
        array("hist_nislands", &[30], Values::F64(histogram(&bins.nislands, cleaned.iter().map(|e| e.n_islands as f64)))),
        array("hist_intensity", &[100], Values::F64(histogram(&bins.intensity, cleaned.iter().map(|e| e.intensity)))),
        array("hist_dist0", &[49], Values::F64(histogram(&bins.dist0, cleaned.iter().map(|e| deg(e.r))))),
        array("hist_dist0_intensity_gt_200", &[49], Values::F64(histogram(&bins.dist0, bright().map(|e| deg(e.r))))),
        array("hist_width", &[100, 100], Values::F64(histogram_2d(&bins.width, cleaned.iter().map(|e| (e.intensity, e.width))))),
        array("hist_length", &[100, 100], Values::F64(histogram_2d(&bins.length, cleaned.iter().map(|e| (e.intensity, e.length))))),
        array("hist_skewness", &[100, 100], Values::F64(histogram_2d(&bins.skewness, cleaned.iter().map(|e| (e.intensity, e.skewness))))),
        array("hist_pixelchargespectrum", &[120], Values::F64(histogram(&bins.charge, charges))),
        array("hist_psi", &[100], Values::F64(histogram(&bins.psi, cleaned.iter().map(|e| e.psi.to_degrees())))),
        array("hist_intercept", &[100, 100], Values::F64(histogram_2d(&bins.intercept, cleaned.iter().map(|e| (e.intensity, e.intercept))))),
        array("hist_tgrad_vs_length", &[100, 100], Values::F64(histogram_2d(&bins.tgrad, cleaned.iter().map(|e| (e.length, e.time_gradient.abs()))))),
        array(
            "hist_tgrad_vs_length_intensity_gt_200",
            &[100, 100],
            Values::F64(histogram_2d(&bins.tgrad_bright, bright().map(|e| (e.length, e.time_gradient.abs())))),
        ),
        array("cog_within_pixel", &[N_PIXELS], Values::F64(cog)),
        array("cog_within_pixel_intensity_gt_200", &[N_PIXELS], Values::F64(cog_bright)),
        array("num_nearby_stars", &[N_PIXELS], Values::I64(vec![0; N_PIXELS])),
        array("charge_mean", &[N_PIXELS], Values::F32(charge_mean)),
        array("charge_stddev", &[N_PIXELS], Values::F32(charge_stddev)),
    ];
    // lstchain fills the time statistics only where they mean something: none for
    // pedestals, no ">30 p.e." ones for flat-field events (scalars stand in).
    let per_pixel_times = class != Class::Pedestals;
    let bright_times = class == Class::Cosmics;
    let time_column = |name: &'static str, wanted: bool, values: Vec<f32>| {
        if wanted { array(name, &[N_PIXELS], Values::F32(values)) } else { scalar(name, Values::I64(vec![0])) }
    };
    row.push(time_column("time_mean", per_pixel_times, time_mean.clone()));
    row.push(time_column("time_stddev", per_pixel_times, time_stddev.clone()));
    row.push(time_column("time_mean_above_030_pe", bright_times, time_mean.clone()));
    row.push(time_column("time_stddev_above_030_pe", bright_times, time_stddev.clone()));
    let average = time_mean.iter().sum::<f32>() / N_PIXELS as f32;
    row.push(time_column("relative_time_mean", per_pixel_times, time_mean.iter().map(|t| t - average).collect()));
    row.push(time_column("relative_time_stddev", per_pixel_times, time_stddev));
    for (name, threshold) in [
        ("num_pulses_above_0010_pe", 10.0),
        ("num_pulses_above_0030_pe", 30.0),
        ("num_pulses_above_0100_pe", 100.0),
        ("num_pulses_above_0300_pe", 300.0),
        ("num_pulses_above_1000_pe", 1000.0),
    ] {
        row.push(array(name, &[N_PIXELS], above(threshold)));
    }
    row
}

const UNITS: &[(&str, &str)] = &[
    ("elapsed_time", "s"),
    ("mean_alt_tel", "rad"),
    ("mean_az_tel", "rad"),
    ("tel_ra", "deg"),
    ("tel_dec", "deg"),
    ("ucts_time", "s"),
    ("tib_time", "s"),
    ("dragon_time", "s"),
];

/// Writes the data check of one subrun's DL1 file (`events` and, if the file has images,
/// their pixels) to `output`.
pub fn write_subrun(output: &Path, subrun: u32, events: &[Dl1Event], pixels: &[PixelRow], config: &str) -> Result<(), String> {
    let bins = Binning::new();
    let file = hdf5::File::create(output).map_err(h5err)?;
    for class in [Class::Cosmics, Class::Pedestals, Class::Flatfield] {
        let of_class: Vec<&Dl1Event> = events.iter().filter(|e| Class::of(e.event_type) == class).collect();
        let ids: Vec<u64> = of_class.iter().map(|e| e.event_id as u64).collect();
        let class_pixels: Vec<&PixelRow> = pixels.iter().filter(|p| ids.contains(&p.event_id)).collect();
        // lstchain writes no row for a class with fewer than two events.
        if of_class.len() < 2 {
            continue;
        }
        let row = class_row(class, subrun, &of_class, &class_pixels, &bins);
        let table = layout::write_table(&file, &format!("dl1datacheck/{}", class.table()), &row)?;
        layout::column_meta(&table, &row, UNITS, &[])?;
        layout::text_attr(&table, "CTAPIPE_VERSION", layout::CTAPIPE_VERSION)?;
        if class == Class::Cosmics {
            layout::text_attr(&table, "config", config)?;
        }
    }
    let table = layout::write_table(&file, "dl1datacheck/histogram_binning", &bins.columns())?;
    layout::text_attr(&table, "CTAPIPE_VERSION", layout::CTAPIPE_VERSION)?;
    write_trigger_tag(&file)
}

fn write_trigger_tag(file: &hdf5::File) -> Result<(), String> {
    let tag = hdf5::types::FixedAscii::<32>::from_ascii("event_type").map_err(|e| e.to_string())?;
    let group = file.group("dl1datacheck").map_err(h5err)?;
    group.new_dataset_builder().with_data(&[tag]).create("used_trigger_tag").map_err(h5err)?;
    Ok(())
}

/// The run-wise data check: the subruns' rows stacked, in subrun order, with the first
/// subrun's binning (lstchain's `check_dl1` on a list of subrun data checks).
pub fn write_run(output: &Path, subrun_files: &[std::path::PathBuf]) -> Result<(), String> {
    let first = subrun_files.first().ok_or("no subrun data check to merge")?;
    std::fs::copy(first, output).map_err(|e| format!("cannot write {}: {e}", output.display()))?;
    let file = hdf5::File::open_rw(output).map_err(h5err)?;
    file.create_group("instrument").map_err(h5err)?;
    for input in &subrun_files[1..] {
        let source = hdf5::File::open(input).map_err(|e| format!("cannot open {}: {e}", input.display()))?;
        for class in [Class::Cosmics, Class::Pedestals, Class::Flatfield] {
            let path = format!("dl1datacheck/{}", class.table());
            if let (Ok(target), Ok(rows)) = (file.dataset(&path), source.dataset(&path)) {
                layout::append_rows(&target, &rows)?;
            }
        }
    }
    Ok(())
}

/// What the simulator's own run-wise and long-term checks read back of a class's rows.
#[derive(hdf5::H5Type, Clone, Copy, Debug)]
#[repr(C)]
pub struct SubrunCheck {
    pub subrun_index: i64,
    pub elapsed_time: f64,
    pub num_events: i64,
    pub num_cleaned_events: i64,
}

/// The cosmics, pedestals and flat-field rows of a data-check file (a missing class: none).
pub fn class_rows(path: &Path) -> Result<[Vec<SubrunCheck>; 3], String> {
    let file = hdf5::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let read = |class: Class| -> Result<Vec<SubrunCheck>, String> {
        match file.dataset(&format!("dl1datacheck/{}", class.table())) {
            Ok(table) => table.read_raw::<SubrunCheck>().map_err(|e| format!("{}: {e}", path.display())),
            Err(_) => Ok(Vec::new()),
        }
    };
    Ok([read(Class::Cosmics)?, read(Class::Pedestals)?, read(Class::Flatfield)?])
}
