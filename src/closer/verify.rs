//! Verification of a night's products, in parallel (rayon): each file exists, opens, has the
//! tables its kind must have, and for DL1 its event count equals the R0 subrun's; its size and
//! sha256 are recorded. Hashing and FITS checks run in parallel; HDF5 calls go through one
//! lock (the HDF5 C library serialises them anyway) and read metadata only (nodes, shapes).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;

use crate::config::{Config, StepConfig};
use crate::hashing::sha256_file;
use crate::model::CalibrationRuns;
use crate::night::NightDate;
use crate::paths::Layout;
use crate::steps::{StepContext, calibration_context, night_context, with_subrun};

/// One expected product.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Product {
    pub run: u32,
    pub subrun: u32,
    /// The output template it comes from (`{dl1a_file}`, ...): it says what to check.
    pub kind: String,
    pub path: PathBuf,
    /// The R0 files whose events a DL1 product holds, all of them (the subrun's, or every
    /// subrun's for a merged run): read only when the product is checked.
    pub r0_files: Vec<PathBuf>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    Missing,
    Unreadable(String),
    Layout(String),
    EventCount { expected: u64, found: u64 },
}

impl Verdict {
    pub fn label(&self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Missing => "missing",
            Self::Unreadable(_) => "unreadable",
            Self::Layout(_) => "layout",
            Self::EventCount { .. } => "event_count",
        }
    }

    pub fn detail(&self) -> Option<String> {
        match self {
            Self::Ok | Self::Missing => None,
            Self::Unreadable(d) | Self::Layout(d) => Some(d.clone()),
            Self::EventCount { expected, found } => Some(format!("{found} events, the R0 subrun has {expected}")),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    pub product: Product,
    pub size: u64,
    pub sha256: String,
    pub events: Option<u64>,
    pub verdict: Verdict,
}

/// DL1 event table (lstchain's node).
pub const DL1_TABLE: &str = "dl1/event/telescope/parameters/LST_LSTCam";

/// DL2 event table (lstchain's node) and the columns the reconstruction adds that analysts
/// read.
pub const DL2_TABLE: &str = "dl2/event/telescope/parameters/LST_LSTCam";
pub const DL2_COLUMNS: &[&str] = &["reco_energy", "reco_alt", "reco_az", "reco_src_x", "reco_src_y", "gammaness"];

static HDF5: Mutex<()> = Mutex::new(());

/// Events in an R0 stand-in file (rows of its EVENTS table).
pub fn r0_events(path: &Path) -> Option<u64> {
    let mut fits = fitsio::FitsFile::open(path).ok()?;
    let hdus = fits.num_hdus().ok()?;
    for index in 1..hdus {
        let hdu = fits.hdu(index).ok()?;
        if hdu.name(&mut fits).ok()?.eq_ignore_ascii_case("EVENTS")
            && let fitsio::hdu::HduInfo::TableInfo { num_rows, .. } = hdu.info
        {
            return Some(num_rows as u64);
        }
    }
    None
}

fn products_of(steps: &[StepConfig], context: &StepContext, run: u32, subrun: u32, r0_files: Vec<PathBuf>) -> Vec<Product> {
    steps
        .iter()
        .flat_map(|s| s.outputs.iter())
        .map(|template| Product { run, subrun, kind: template.clone(), path: PathBuf::from(context.render(template)), r0_files: r0_files.clone() })
        .collect()
}

/// Every product of a DATA run's subruns (the steps' outputs), each with its R0 file.
pub fn data_products(config: &Config, layout: &Layout, night: NightDate, run: u32, subruns: &[u32], calibration: CalibrationRuns) -> Vec<Product> {
    let shared = night_context(config, layout, night, calibration);
    subruns
        .par_iter()
        .flat_map_iter(|&subrun| {
            let context = with_subrun(shared.clone(), layout, night, run, subrun);
            products_of(&config.analysis.data_steps, &context, run, subrun, vec![layout.r0_file(night, 1, run, subrun)])
        })
        .collect()
}

/// The calibration job's products.
pub fn calibration_products(config: &Config, layout: &Layout, night: NightDate, calibration: CalibrationRuns) -> Vec<Product> {
    let context = calibration_context(config, layout, night, calibration);
    products_of(&config.analysis.calibration_steps, &context, calibration.pedcal_run, 0, Vec::new())
}

/// Files above this size are verified one at a time: one sequential stream keeps a disk at
/// full speed, several interleaved ones do not (measured in `benches/closer.rs`).
const LARGE: u64 = 256 << 20;

/// Checks every product; results come back in the products' order.
pub fn verify(products: Vec<Product>) -> Vec<Checked> {
    let large: Vec<bool> = products.iter().map(|p| std::fs::metadata(&p.path).is_ok_and(|m| m.len() > LARGE)).collect();
    let mut slots: Vec<Option<Checked>> = vec![None; products.len()];
    let (big, small): (Vec<_>, Vec<_>) = products.into_iter().enumerate().partition(|(i, _)| large[*i]);
    let small_checked: Vec<(usize, Checked)> = small.into_par_iter().map(|(i, p)| (i, check(p))).collect();
    for (i, checked) in small_checked.into_iter().chain(big.into_iter().map(|(i, p)| (i, check(p)))) {
        slots[i] = Some(checked);
    }
    let _guard = HDF5.lock().unwrap_or_else(|p| p.into_inner());
    // SAFETY: as in `bound_free_lists`: no argument, under the `HDF5` lock.
    unsafe {
        hdf5_sys::h5::H5garbage_collect();
    }
    slots.into_iter().map(|c| c.expect("every product checked")).collect()
}

fn check(product: Product) -> Checked {
    let Ok(metadata) = std::fs::metadata(&product.path) else {
        return Checked { product, size: 0, sha256: String::new(), events: None, verdict: Verdict::Missing };
    };
    let sha256 = match sha256_file(&product.path) {
        Ok(hash) => hash,
        Err(e) => {
            return Checked {
                size: metadata.len(),
                sha256: String::new(),
                events: None,
                verdict: Verdict::Unreadable(format!("cannot read it: {e}")),
                product,
            };
        }
    };
    let (events, verdict) = content(&product);
    Checked { size: metadata.len(), sha256, events, verdict, product }
}

fn content(product: &Product) -> (Option<u64>, Verdict) {
    let path = &product.path;
    match product.kind.as_str() {
        "{dl1a_file}" | "{dl1b_file}" | "{dl1_run_file}" => {
            // Read before the HDF5 lock: FITS files are read in parallel.
            let expected: Option<u64> = if product.r0_files.is_empty() { None } else { product.r0_files.iter().map(|f| r0_events(f)).sum() };
            dl1_check(path, expected)
        }
        "{dl2_run_file}" => hdf5_check(path, |file| {
            let dataset = file.dataset(DL2_TABLE).map_err(|_| Verdict::Layout(format!("no {DL2_TABLE}")))?;
            let fields = compound_fields(&dataset);
            let missing: Vec<&str> = DL2_COLUMNS.iter().copied().filter(|c| !fields.iter().any(|f| f == c)).collect();
            if !missing.is_empty() {
                return Err(Verdict::Layout(format!("{DL2_TABLE} lacks {}", missing.join(", "))));
            }
            Ok(Some(dataset.shape().first().copied().unwrap_or(0) as u64))
        }),
        "{datacheck_run_pdf}" => match std::fs::File::open(path).and_then(|mut f| {
            let mut head = [0u8; 5];
            std::io::Read::read_exact(&mut f, &mut head).map(|()| head)
        }) {
            Ok(head) if &head == b"%PDF-" => (None, Verdict::Ok),
            Ok(_) => (None, Verdict::Layout("not a PDF (no %PDF- header)".to_string())),
            Err(e) => (None, Verdict::Unreadable(e.to_string())),
        },
        "{longterm_file}" => {
            hdf5_check(path, |file| file.group("runsummary").map(|_| None).map_err(|_| Verdict::Layout("no /runsummary".to_string())))
        }
        // lstchain writes no class table (cosmics, pedestals, flat-field) for a class with fewer
        // than two events in the subrun; the bin edges are always there.
        "{datacheck_file}" | "{datacheck_run_file}" => hdf5_check(path, |file| {
            file.dataset("dl1datacheck/histogram_binning")
                .map(|_| None)
                .map_err(|_| Verdict::Layout("no /dl1datacheck/histogram_binning".to_string()))
        }),
        "{calibration_file}" => hdf5_check(path, |file| {
            for node in ["tel_1/calibration", "tel_1/pedestal", "tel_1/flatfield", "tel_1/pixel_status"] {
                file.dataset(node).map_err(|_| Verdict::Layout(format!("no /{node}")))?;
            }
            Ok(None)
        }),
        // Cat-B files hold the same tables as Cat-A ones (lstchain's onsite script).
        "{catb_file}" => hdf5_check(path, |file| {
            for node in ["tel_1/calibration", "tel_1/pedestal", "tel_1/flatfield", "tel_1/pixel_status"] {
                file.dataset(node).map_err(|_| Verdict::Layout(format!("no /{node}")))?;
            }
            Ok(None)
        }),
        // The later steps read their cleaning from it: it must name one.
        "{tailcuts_file}" => match crate::rf_models::dl1_prod_id_of(path) {
            Ok(_) => (None, Verdict::Ok),
            Err(e) => (None, Verdict::Layout(e.to_string())),
        },
        "{drs4_file}" => hdf5_check(path, |_| Ok(None)),
        "{muons_file}" | "{muons_run_file}" => match fitsio::FitsFile::open(path).and_then(|mut f| f.num_hdus()) {
            Ok(n) if n >= 2 => (None, Verdict::Ok),
            Ok(_) => (None, Verdict::Layout("no table HDU".to_string())),
            Err(e) => (None, Verdict::Unreadable(e.to_string())),
        },
        _ => (None, Verdict::Ok),
    }
}

/// Member names of a table's compound type. Read from the type itself: PyTables' booleans
/// are HDF5 bitfields, which the hdf5 crate's type descriptors do not cover (lstchain's DL2
/// table has one).
fn compound_fields(dataset: &hdf5::Dataset) -> Vec<String> {
    // SAFETY: HDF5 calls on the dataset's own type, under the `HDF5` lock held by the caller;
    // each member name is a C string the library allocated, copied then freed.
    unsafe {
        let dtype = hdf5_sys::h5d::H5Dget_type(dataset.id());
        let count = hdf5_sys::h5t::H5Tget_nmembers(dtype).max(0) as u32;
        let mut names = Vec::new();
        for i in 0..count {
            let name = hdf5_sys::h5t::H5Tget_member_name(dtype, i);
            if !name.is_null() {
                names.push(std::ffi::CStr::from_ptr(name).to_string_lossy().into_owned());
                hdf5_sys::h5::H5free_memory(name.cast());
            }
        }
        hdf5_sys::h5t::H5Tclose(dtype);
        names
    }
}

fn dl1_check(path: &Path, expected: Option<u64>) -> (Option<u64>, Verdict) {
    hdf5_check(path, |file| {
        let dataset = file.dataset(DL1_TABLE).map_err(|_| Verdict::Layout(format!("no {DL1_TABLE}")))?;
        let rows = dataset.shape().first().copied().unwrap_or(0) as u64;
        match expected {
            Some(expected) if expected != rows => Err(Verdict::EventCount { expected, found: rows }),
            _ => Ok(Some(rows)),
        }
    })
}

/// The HDF5 library keeps what it frees on free lists of its own, unbounded by default: after
/// verifying tens of thousands of files that memory stays with a long-running daemon. The
/// lists are bounded once (called under [`HDF5`], the only way osa reaches the library).
fn bound_free_lists() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: a plain C call taking integers; every HDF5 call of osa holds the `HDF5` lock.
    ONCE.call_once(|| unsafe {
        hdf5_sys::h5::H5set_free_list_limits(1 << 20, 1 << 18, 1 << 20, 1 << 18, 1 << 20, 1 << 18);
    });
}

fn hdf5_check(path: &Path, f: impl FnOnce(&hdf5::File) -> Result<Option<u64>, Verdict>) -> (Option<u64>, Verdict) {
    let _guard = HDF5.lock().unwrap_or_else(|p| p.into_inner());
    bound_free_lists();
    let file = match hdf5::File::open(path) {
        Ok(file) => file,
        Err(e) => return (None, Verdict::Unreadable(format!("not a readable HDF5 file: {e}"))),
    };
    match f(&file) {
        Ok(events) => (events, Verdict::Ok),
        Err(verdict) => (None, verdict),
    }
}
