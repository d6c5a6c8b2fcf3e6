//! Run type from the R0 files: lstchain's `guess_run_type` rule applied to the first subrun
//! file of a run, read with `fitsio`.
//!
//! Real R0 files are zfits (protobuf tiles) that cfitsio cannot decode. Our readable stand-in,
//! used by the demo, the simulator and the tests, is a plain FITS file with the real file name
//! (`LST-1.{stream}.Run{run:05d}.{subrun:04d}.fits.fz`) holding a binary-table HDU named
//! `EVENTS` (any case) with at least the integer columns `event_id` and `event_type`
//! (ctapipe `EventType` numbering, any integer width). Only this module knows that choice.
//!
//! The rule, over the first 500 events (lstchain divides by 500 even when the file has fewer;
//! we divide by the events actually read, so a short first subrun is judged on what it holds):
//! physics-trigger share > 0.999 -> DRS4; else sky-pedestal share > 0.1 -> PEDCALIB; else
//! < 0.1 -> DATA; exactly 0.1 -> ERROR (ambiguous). Unreadable or empty -> ERROR with the reason.

use std::path::{Path, PathBuf};

use fitsio::FitsFile;
use fitsio::hdu::HduInfo;
use serde::Serialize;

use super::RunType;
use crate::paths::r0_file_name;

/// Events lstchain looks at.
pub const PROBE_EVENTS: usize = 500;

/// ctapipe `EventType` codes used by the rule and the generator.
pub mod event_type {
    pub const FLATFIELD: i64 = 0;
    pub const SKY_PEDESTAL: i64 = 2;
    pub const SUBARRAY: i64 = 32;
    pub const UNKNOWN: i64 = 255;
}

/// Event-type tallies of the probed events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EventCounts {
    pub read: usize,
    pub subarray: usize,
    pub sky_pedestal: usize,
    pub flatfield: usize,
    pub other: usize,
}

impl EventCounts {
    pub fn from_types(types: &[i64]) -> Self {
        let mut counts = Self { read: types.len(), ..Self::default() };
        for &t in types {
            match t {
                event_type::SUBARRAY => counts.subarray += 1,
                event_type::SKY_PEDESTAL => counts.sky_pedestal += 1,
                event_type::FLATFIELD => counts.flatfield += 1,
                _ => counts.other += 1,
            }
        }
        counts
    }

    pub fn percent(&self, n: usize) -> f64 {
        if self.read == 0 { 0.0 } else { 100.0 * n as f64 / self.read as f64 }
    }
}

/// The verdict on one R0 file.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Classification {
    pub file: PathBuf,
    #[serde(rename = "type")]
    pub run_type: RunType,
    pub counts: EventCounts,
    /// Why the verdict is ERROR.
    pub reason: Option<String>,
}

/// lstchain's decision, on shares of the events actually read.
pub fn decide(counts: &EventCounts) -> (RunType, Option<String>) {
    if counts.read == 0 {
        return (RunType::Error, Some("no events".to_string()));
    }
    let n = counts.read as f64;
    let physics = counts.subarray as f64 / n;
    let pedestal = counts.sky_pedestal as f64 / n;
    if physics > 0.999 {
        (RunType::Drs4, None)
    } else if pedestal > 0.1 {
        (RunType::Pedcalib, None)
    } else if pedestal < 0.1 {
        (RunType::Data, None)
    } else {
        (RunType::Error, Some(format!("ambiguous: exactly 10% sky-pedestal events ({} of {})", counts.sky_pedestal, counts.read)))
    }
}

#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error("not a readable FITS file: {}", describe(.0))]
    Fits(#[from] fitsio::errors::Error),
    #[error("truncated or corrupt FITS file: {0} bytes is not a whole number of 2880-byte blocks")]
    Truncated(u64),
    #[error("no binary table named EVENTS")]
    NoEvents,
    #[error("table EVENTS has no `event_type` column")]
    NoEventType,
    #[error("table EVENTS claims {rows} rows of {width} bytes, more than the file's {size} bytes hold")]
    Oversized { rows: usize, width: u64, size: u64 },
}

/// Classifies one file; failures are an ERROR verdict with the reason, never a panic.
pub fn classify_file(file: &Path) -> Classification {
    let result = if file.is_file() { read_event_types(file) } else { Err(ReadError::Fits(missing(file))) };
    match result {
        Ok(types) => {
            let counts = EventCounts::from_types(&types);
            let (run_type, reason) = decide(&counts);
            Classification { file: file.to_path_buf(), run_type, counts, reason }
        }
        Err(e) => Classification {
            file: file.to_path_buf(),
            run_type: RunType::Error,
            counts: EventCounts::default(),
            reason: Some(match e {
                ReadError::Fits(_) if !file.exists() => "file does not exist".to_string(),
                other => other.to_string(),
            }),
        },
    }
}

/// cfitsio's own words, without the Rust debug framing.
fn describe(error: &fitsio::errors::Error) -> String {
    match error {
        fitsio::errors::Error::Fits(e) => format!("{} (cfitsio status {})", e.message, e.status),
        other => other.to_string(),
    }
}

fn missing(file: &Path) -> fitsio::errors::Error {
    fitsio::errors::Error::Message(format!("{} does not exist", file.display()))
}

fn read_event_types(file: &Path) -> Result<Vec<i64>, ReadError> {
    let mut fits = FitsFile::open(file)?;
    // cfitsio opens a file cut short and only fails deep inside; FITS files are whole blocks.
    let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    if size % 2880 != 0 {
        return Err(ReadError::Truncated(size));
    }
    let hdus = fits.num_hdus()?;
    for index in 1..hdus {
        let hdu = fits.hdu(index)?;
        if !hdu.name(&mut fits)?.eq_ignore_ascii_case("EVENTS") {
            continue;
        }
        let HduInfo::TableInfo { column_descriptions, num_rows } = &hdu.info else { continue };
        let column = column_descriptions.iter().find(|c| c.name.eq_ignore_ascii_case("event_type")).ok_or(ReadError::NoEventType)?;
        // A header is not evidence: rows it claims must fit in the file.
        let width = hdu.read_key::<i64>(&mut fits, "NAXIS1")?.max(0) as u64;
        if (*num_rows as u64).saturating_mul(width) > size {
            return Err(ReadError::Oversized { rows: *num_rows, width, size });
        }
        let n = (*num_rows).min(PROBE_EVENTS);
        if n == 0 {
            return Ok(Vec::new());
        }
        return Ok(hdu.read_col_range::<i64>(&mut fits, &column.name, &(0..n))?);
    }
    Err(ReadError::NoEvents)
}

/// The first subrun file of a run in a night's R0 folder, any stream (stream 1 preferred, as
/// lstchain opens that one).
pub fn first_subrun_file(r0_night_dir: &Path, run: u32) -> Option<PathBuf> {
    (1..=4).map(|stream| r0_night_dir.join(r0_file_name(stream, run, 0))).find(|p| p.is_file())
}

/// Classifies a run from its first subrun file; no file at all is an ERROR naming the folder.
pub fn classify_run(r0_night_dir: &Path, run: u32) -> Classification {
    match first_subrun_file(r0_night_dir, run) {
        Some(file) => classify_file(&file),
        None => Classification {
            file: r0_night_dir.join(r0_file_name(1, run, 0)),
            run_type: RunType::Error,
            counts: EventCounts::default(),
            reason: Some(format!("no first subrun file LST-1.[1-4].Run{run:05}.0000.fits.fz in {}", r0_night_dir.display())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(subarray: usize, pedestal: usize, flatfield: usize) -> EventCounts {
        EventCounts { read: subarray + pedestal + flatfield, subarray, sky_pedestal: pedestal, flatfield, other: 0 }
    }

    #[test]
    fn lstchain_thresholds() {
        assert_eq!(decide(&counts(500, 0, 0)).0, RunType::Drs4);
        assert_eq!(decide(&counts(499, 1, 0)).0, RunType::Data, "99.8% physics is not DRS4");
        assert_eq!(decide(&counts(0, 200, 300)).0, RunType::Pedcalib);
        assert_eq!(decide(&counts(440, 10, 50)).0, RunType::Data);
        assert_eq!(decide(&counts(400, 50, 50)).0, RunType::Error, "exactly 10% pedestals is ambiguous");
        assert_eq!(decide(&counts(0, 0, 0)).0, RunType::Error);
    }

    #[test]
    fn short_files_are_judged_on_what_they_hold() {
        // 30 events, 12 pedestals: 40% (lstchain would compute 12/500 = 2.4% and say DATA).
        assert_eq!(decide(&counts(0, 12, 18)).0, RunType::Pedcalib);
        assert_eq!(decide(&counts(30, 0, 0)).0, RunType::Drs4);
    }
}
