//! Muon ring files as lstchain writes them (`lstchain.image.muon.create_muon_table`, saved
//! with astropy): a FITS binary table of one row per ring with lstchain's 23 columns, in its
//! order. The data check and the long-term check read them from `--muons-dir`.

use std::path::Path;

use fitsio::FitsFile;
use fitsio::tables::{ColumnDataType, ColumnDescription};

use super::outputs::fitserr;

/// Integer columns (FITS `K`).
const INTEGERS: &[&str] = &["event_id", "num_pixels_in_ring", "hg_peak_sample", "lg_peak_sample"];
/// The one logical column (FITS `L`).
const GOOD_RING: &str = "good_ring";
/// Every column, in lstchain's order.
const COLUMNS: &[&str] = &[
    "event_id",
    "event_time",
    "mc_energy",
    "ring_size",
    "size_outside",
    "ring_center_x",
    "ring_center_y",
    "ring_radius",
    "ring_width",
    "good_ring",
    "muon_efficiency",
    "ring_containment",
    "ring_completeness",
    "impact_parameter",
    "impact_x_array",
    "impact_y_array",
    "radial_stdev",
    "radial_skewness",
    "radial_excess_kurtosis",
    "num_pixels_in_ring",
    "mean_pixel_charge_around_ring",
    "hg_peak_sample",
    "lg_peak_sample",
];

/// Rings, column by column (every column as long as `event_id`).
#[derive(Default)]
pub struct Rings {
    integers: Vec<(&'static str, Vec<i64>)>,
    floats: Vec<(&'static str, Vec<f64>)>,
    good: Vec<bool>,
}

impl Rings {
    /// Plausible rings of LST-1 muons for these events (id, time).
    pub fn of_events(events: &[(i64, f64)]) -> Self {
        let n = events.len();
        let spread = |i: usize, low: f64, high: f64| low + (high - low) * ((i * 7919 % 101) as f64 / 100.0);
        let column = |f: &dyn Fn(usize) -> f64| (0..n).map(f).collect::<Vec<f64>>();
        let mut rings = Self { good: vec![true; n], ..Self::default() };
        rings.integers = vec![
            ("event_id", events.iter().map(|e| e.0).collect()),
            ("num_pixels_in_ring", (0..n).map(|i| 150 + (i as i64 * 37) % 150).collect()),
            ("hg_peak_sample", (0..n).map(|i| 12 + i as i64 % 4).collect()),
            ("lg_peak_sample", (0..n).map(|i| 12 + i as i64 % 4).collect()),
        ];
        rings.floats = vec![
            ("event_time", events.iter().map(|e| e.1).collect()),
            ("mc_energy", vec![-1.0; n]),
            ("ring_size", column(&|i| spread(i, 1500.0, 4000.0))),
            ("size_outside", column(&|i| spread(i, 0.0, 0.9))),
            ("ring_center_x", column(&|i| spread(i, -0.5, 0.5))),
            ("ring_center_y", column(&|i| spread(i + 3, -0.5, 0.5))),
            ("ring_radius", column(&|i| spread(i, 0.9, 1.2))),
            ("ring_width", column(&|i| spread(i, 0.04, 0.08))),
            ("muon_efficiency", column(&|i| spread(i, 0.15, 0.25))),
            ("ring_containment", vec![1.0; n]),
            ("ring_completeness", column(&|i| spread(i, 0.8, 1.0))),
            ("impact_parameter", column(&|i| spread(i, 2.0, 10.0))),
            ("impact_x_array", column(&|i| spread(i, -5.0, 5.0))),
            ("impact_y_array", column(&|i| spread(i + 5, -5.0, 5.0))),
            ("radial_stdev", column(&|i| spread(i, 0.03, 0.06))),
            ("radial_skewness", column(&|i| spread(i, -0.3, 0.3))),
            ("radial_excess_kurtosis", column(&|i| spread(i + 1, -0.3, 0.3))),
            ("mean_pixel_charge_around_ring", column(&|i| spread(i, 0.0, 2.0))),
        ];
        rings
    }

    /// Appends the rings of `other` (astropy's `vstack`).
    pub fn extend(&mut self, other: Rings) {
        if self.integers.is_empty() {
            *self = other;
            return;
        }
        for ((_, mine), (_, theirs)) in self.integers.iter_mut().zip(other.integers) {
            mine.extend(theirs);
        }
        for ((_, mine), (_, theirs)) in self.floats.iter_mut().zip(other.floats) {
            mine.extend(theirs);
        }
        self.good.extend(other.good);
    }

    pub fn write(&self, path: &Path) -> Result<(), String> {
        let mut fits = FitsFile::create(path).open().map_err(fitserr)?;
        let columns = COLUMNS
            .iter()
            .map(|name| {
                let kind = if INTEGERS.contains(name) {
                    ColumnDataType::LongLong
                } else if *name == GOOD_RING {
                    ColumnDataType::Logical
                } else {
                    ColumnDataType::Double
                };
                ColumnDescription::new(*name).with_type(kind).create().map_err(fitserr)
            })
            .collect::<Result<Vec<_>, String>>()?;
        let hdu = fits.create_table("", &columns).map_err(fitserr)?;
        for (name, values) in &self.integers {
            hdu.write_col(&mut fits, *name, values).map_err(fitserr)?;
        }
        for (name, values) in &self.floats {
            hdu.write_col(&mut fits, *name, values).map_err(fitserr)?;
        }
        // fitsio writes no logical columns: CFITSIO's own call, column 10 (1-based).
        let mut flags: Vec<std::os::raw::c_char> = self.good.iter().map(|g| std::os::raw::c_char::from(*g)).collect();
        let index = COLUMNS.iter().position(|c| *c == GOOD_RING).expect("listed") as i32 + 1;
        let mut status = 0;
        if !flags.is_empty() {
            // SAFETY: the open file's CFITSIO handle, a column of this table and a buffer of
            // `flags.len()` logical values.
            unsafe {
                fitsio::sys::ffpcll(fits.as_raw(), index, 1, 1, flags.len() as i64, flags.as_mut_ptr(), &mut status);
            }
        }
        if status != 0 {
            return Err(format!("cannot write {GOOD_RING} in {}: CFITSIO status {status}", path.display()));
        }
        Ok(())
    }

    pub fn read(path: &Path) -> Result<Self, String> {
        let mut fits = FitsFile::open(path).map_err(|e| format!("cannot open {}: {}", path.display(), fitserr(e)))?;
        let hdu = fits.hdu(1).map_err(fitserr)?;
        let mut rings = Self::default();
        for name in INTEGERS {
            rings.integers.push((name, hdu.read_col::<i64>(&mut fits, name).map_err(fitserr)?));
        }
        for name in COLUMNS.iter().filter(|c| !INTEGERS.contains(c) && **c != GOOD_RING) {
            rings.floats.push((name, hdu.read_col::<f64>(&mut fits, name).map_err(fitserr)?));
        }
        rings.good = hdu.read_col::<u8>(&mut fits, GOOD_RING).map_err(fitserr)?.into_iter().map(|g| g != 0).collect();
        Ok(rings)
    }
}
