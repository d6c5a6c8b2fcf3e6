//! The closing programs: the run-wise data check, DL2 and the night's long-term check, with
//! lstchain's node names, column names and file names (lstchain 0.12: `datachecks/`,
//! `tools/lstchain_dl1_to_dl2.py`, `scripts/lstchain_longterm_dl1_check.py`,
//! `scripts/lstchain_cherenkov_transparency.py`).

use std::path::{Path, PathBuf};

use super::Args;
use super::datacheck::{self, SubrunCheck};
use super::layout::{self, Values, scalar};
use super::outputs::{Dl1Event, config_json, h5err, read_events, refuse_existing, write_table};

/// lstchain's DL2 event table.
pub const DL2_TABLE: &str = "dl2/event/telescope/parameters/LST_LSTCam";

/// What the random forests add to an event's DL1 parameters, under lstchain's column names
/// (angles in radians, energy in TeV).
struct Reco {
    delta_t: f64,
    log_reco_energy: f64,
    reco_energy: f64,
    reco_disp_norm: f64,
    reco_disp_sign: i64,
    reco_disp_sign_proba: f64,
    reco_disp_dx: f64,
    reco_disp_dy: f64,
    reco_src_x: f64,
    reco_src_y: f64,
    signed_time_gradient: f64,
    signed_skewness: f64,
    reco_alt: f64,
    reco_az: f64,
    gammaness: f64,
}

#[derive(hdf5::H5Type, Clone, Copy, Debug)]
#[repr(C)]
struct RunSummaryRow {
    runnumber: i64,
    subruns: i64,
    num_events: i64,
    num_pedestals: i64,
    num_flatfield: i64,
    elapsed_time: f64,
}

#[derive(hdf5::H5Type, Clone, Copy, Debug)]
#[repr(C)]
struct IntensitySpectrumRow {
    runnumber: i64,
    subrun: i64,
    light_yield: f64,
    cosmics_rate_at_422_pe: f64,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> String + '_ {
    move |e| format!("{}: {e}", path.display())
}

/// lstchain's run-wise mode: the subrun rows in `datacheck_dl1_LST-1.RunRRRRR.h5` next to
/// the inputs, the PDF in `out_dir`.
pub fn check_run(pattern: &str, out_dir: &Path, omit_pdf: bool) -> Result<Vec<PathBuf>, String> {
    let mut inputs: Vec<PathBuf> = glob::glob(pattern).map_err(|e| format!("bad --input-file {pattern:?}: {e}"))?.filter_map(Result::ok).collect();
    inputs.sort();
    let Some(first) = inputs.first() else { return Err(format!("no input files match {pattern}")) };
    let run = format!("{:05}", run_number(first));
    let dir = first.parent().unwrap_or(Path::new("."));
    let output = dir.join(format!("datacheck_dl1_LST-1.Run{run}.h5"));
    refuse_existing(&output)?;
    datacheck::write_run(&output, &inputs)?;
    let [cosmics, pedestals, flatfield] = datacheck::class_rows(&output)?;
    let mut written = vec![output];
    if !omit_pdf {
        std::fs::create_dir_all(out_dir).map_err(io(out_dir))?;
        let pdf = out_dir.join(format!("datacheck_dl1_LST-1.Run{run}.pdf"));
        let count = |rows: &[SubrunCheck]| rows.iter().map(|r| r.num_events).sum::<i64>();
        let text = format!(
            "LST-1 run {run}: {} subruns, {} cosmics, {} pedestals, {} flat-field events",
            inputs.len(),
            count(&cosmics),
            count(&pedestals),
            count(&flatfield)
        );
        std::fs::write(&pdf, pdf_document(&text)).map_err(io(&pdf))?;
        written.push(pdf);
    }
    Ok(written)
}

/// A one-page PDF saying `text` (what a viewer opens; the plots are lstchain's business).
pub fn pdf_document(text: &str) -> Vec<u8> {
    let text: String = text.chars().filter(|c| c.is_ascii() && !matches!(c, '(' | ')' | '\\')).collect();
    let stream = format!("BT /F1 14 Tf 72 770 Td ({text}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_string(),
        format!("<< /Length {} >>\nstream\n{stream}\nendstream", stream.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend(format!("{} 0 obj\n{object}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for offset in offsets {
        out.extend(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend(format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).as_bytes());
    out
}

/// `lstchain_dl1_to_dl2 --input-files F --output-dir D --path-models M --config C`.
pub fn dl1_to_dl2(args: &Args) -> Result<Vec<PathBuf>, String> {
    let input = PathBuf::from(
        args.get("input-files").or(args.get("input-file")).filter(|v| !v.is_empty()).ok_or("error: argument --input-files is required")?,
    );
    let out_dir = PathBuf::from(args.require("output-dir")?);
    let models = PathBuf::from(args.require("path-models")?);
    for model in ["reg_energy.sav", "cls_gh.sav"] {
        if !models.join(model).is_file() {
            return Err(format!("FileNotFoundError: [Errno 2] No such file or directory: '{}'", models.join(model).display()));
        }
    }
    let name = input.file_name().and_then(|n| n.to_str()).ok_or("bad input name")?.replacen("dl1", "dl2", 1);
    let output = out_dir.join(name);
    if output.exists() && !args.has("overwrite") {
        return Err(format!("OSError: {} exists, use --overwrite", output.display()));
    }
    let events = read_events(&input)?;
    super::sleep_for_events(events.len());
    let source = hdf5::File::open(&input).map_err(|e| format!("cannot open {}: {e}", input.display()))?;
    let parameters = source.dataset(layout::PARAMETERS_TABLE).map_err(|e| format!("{}: no {}: {e}", input.display(), layout::PARAMETERS_TABLE))?;
    let (row_type, rows) = layout::read_rows(&parameters)?;
    let size = row_type.size();
    // lstchain keeps the events whose features are finite (not the pedestals, nor images
    // cleaned away), each with all its DL1 columns and the reconstruction after them.
    let mut kept = Vec::new();
    let mut reco = Vec::new();
    for (i, event) in events.iter().enumerate() {
        let usable = [event.intensity, event.width, event.length, event.skewness, event.kurtosis, event.time_gradient].iter().all(|v| v.is_finite())
            && event.intensity > 0.0
            && event.length > 0.0;
        if usable {
            let previous = if i == 0 { f64::NAN } else { event.dragon_time - events[i - 1].dragon_time };
            kept.extend_from_slice(&rows[i * size..(i + 1) * size]);
            reco.push(reconstruct(event, previous));
        }
    }
    let f = |get: fn(&Reco) -> f64| Values::F64(reco.iter().map(get).collect());
    let columns = vec![
        scalar("delta_t", f(|r| r.delta_t)),
        scalar("log_reco_energy", f(|r| r.log_reco_energy)),
        scalar("reco_energy", f(|r| r.reco_energy)),
        scalar("reco_disp_norm", f(|r| r.reco_disp_norm)),
        scalar("reco_disp_sign", Values::I64(reco.iter().map(|r| r.reco_disp_sign).collect())),
        scalar("reco_disp_sign_proba", f(|r| r.reco_disp_sign_proba)),
        scalar("reco_disp_dx", f(|r| r.reco_disp_dx)),
        scalar("reco_disp_dy", f(|r| r.reco_disp_dy)),
        scalar("reco_src_x", f(|r| r.reco_src_x)),
        scalar("reco_src_y", f(|r| r.reco_src_y)),
        scalar("signed_time_gradient", f(|r| r.signed_time_gradient)),
        scalar("signed_skewness", f(|r| r.signed_skewness)),
        scalar("reco_alt", f(|r| r.reco_alt)),
        scalar("reco_az", f(|r| r.reco_az)),
        scalar("gammaness", f(|r| r.gammaness)),
        // lstchain's code for a gamma-like reconstruction of an observed event.
        scalar("reco_type", Values::I64(vec![101; reco.len()])),
    ];
    row_type.append(&columns)?;
    let buffer = layout::join_rows(&kept, size, &columns);
    let config = config_json(args)?;
    std::fs::create_dir_all(&out_dir).map_err(io(&out_dir))?;
    let file = hdf5::File::create(&output).map_err(h5err)?;
    layout::versions(&file)?;
    layout::copy_group(&source, &file, "configuration")?;
    let table = layout::write_rows(&file, DL2_TABLE, &row_type, &buffer)?;
    layout::versions(&table)?;
    layout::text_attr(&table, "config", &config)?;
    layout::write_strings(&file, "source_filenames/filenames", &[input.display().to_string()])?;
    Ok(vec![output])
}

fn reconstruct(e: &Dl1Event, delta_t: f64) -> Reco {
    let reco_energy = 0.01 * e.intensity.max(1.0) / 50.0;
    let disp = 0.3 + e.length;
    let (dx, dy) = (disp * e.psi.cos(), disp * e.psi.sin());
    Reco {
        delta_t,
        log_reco_energy: reco_energy.log10(),
        reco_energy,
        reco_disp_norm: disp,
        reco_disp_sign: 1,
        reco_disp_sign_proba: 0.9,
        reco_disp_dx: dx,
        reco_disp_dy: dy,
        reco_src_x: e.x + dx,
        reco_src_y: e.y + dy,
        signed_time_gradient: e.time_gradient,
        signed_skewness: e.skewness,
        reco_alt: e.alt_tel + 0.001 * e.y,
        reco_az: e.az_tel + 0.001 * e.x,
        gammaness: (e.width / e.length.max(1e-6)).clamp(0.0, 1.0),
    }
}

fn run_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let pattern = dir.join("datacheck_dl1_LST-1.Run?????.h5");
    let mut files: Vec<PathBuf> = glob::glob(&pattern.display().to_string()).map_err(|e| e.to_string())?.filter_map(Result::ok).collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("no run-wise data-check file datacheck_dl1_LST-1.Run?????.h5 in {}", dir.display()));
    }
    Ok(files)
}

/// The run number in a file name (`…Run01807.…` → 1807; 0 when there is none).
pub fn run_number(path: &Path) -> i64 {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let Some(at) = name.find("Run") else { return 0 };
    name[at + 3..].chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap_or(0)
}

/// `lstchain_longterm_dl1_check --input-dir D --output-file F --muons-dir M --batch`: one
/// `/runsummary/table` row per run-wise data check, the cosmics/pedestals/flatfield rows, and
/// the `.log` and `.html` next to the file.
pub fn longterm(args: &Args) -> Result<Vec<PathBuf>, String> {
    let dir = PathBuf::from(args.require("input-dir")?);
    let output = PathBuf::from(args.get("output-file").unwrap_or("longterm_dl1_check.h5"));
    let inputs = run_files(&dir)?;
    let mut summary = Vec::new();
    let mut all = Vec::new();
    for input in &inputs {
        let [cosmics, pedestals, flatfield] = datacheck::class_rows(input)?;
        let count = |rows: &[SubrunCheck]| rows.iter().map(|r| r.num_events).sum::<i64>();
        summary.push(RunSummaryRow {
            runnumber: run_number(input),
            subruns: cosmics.len() as i64,
            num_events: count(&cosmics),
            num_pedestals: count(&pedestals),
            num_flatfield: count(&flatfield),
            elapsed_time: cosmics.iter().map(|r| r.elapsed_time).sum(),
        });
        all.extend(cosmics);
    }
    if let Some(parent) = output.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    // pandas `to_hdf(mode="w")`: the file is written anew.
    let file = hdf5::File::create(&output).map_err(h5err)?;
    write_table(&file, "runsummary/table", &summary)?;
    write_table(&file, "cosmics/table", &all)?;
    drop(file);
    let log = output.with_extension("log");
    std::fs::write(&log, format!("lstchain_longterm_dl1_check: {} runs from {}\n", inputs.len(), dir.display())).map_err(io(&log))?;
    let html = output.with_extension("html");
    let runs: Vec<String> = summary.iter().map(|r| format!("<li>run {:05}: {} events</li>", r.runnumber, r.num_events)).collect();
    std::fs::write(&html, format!("<!DOCTYPE html><html><body><h1>DL1 data check</h1><ul>{}</ul></body></html>\n", runs.join("")))
        .map_err(io(&html))?;
    Ok(vec![output, log, html])
}

/// `lstchain_cherenkov_transparency --update-datacheck-file F --input-dir D`: adds the
/// `cosmics_intensity_spectrum` table (one row per subrun) to the night's long-term file.
pub fn transparency(args: &Args) -> Result<Vec<PathBuf>, String> {
    let target = PathBuf::from(args.require("update-datacheck-file")?);
    let dir = PathBuf::from(args.require("input-dir")?);
    let mut rows = Vec::new();
    for input in run_files(&dir)? {
        let [cosmics, _, _] = datacheck::class_rows(&input)?;
        for row in &cosmics {
            rows.push(IntensitySpectrumRow {
                runnumber: run_number(&input),
                subrun: row.subrun_index,
                light_yield: row.num_cleaned_events as f64 / row.num_events.max(1) as f64,
                cosmics_rate_at_422_pe: row.num_events as f64 / row.elapsed_time.max(1e-3),
            });
        }
    }
    let file = hdf5::File::open_rw(&target).map_err(|e| format!("cannot open {}: {e}", target.display()))?;
    // pandas `to_hdf(mode="a")` replaces the key.
    if file.group("cosmics_intensity_spectrum").is_ok() {
        file.unlink("cosmics_intensity_spectrum").map_err(h5err)?;
    }
    write_table(&file, "cosmics_intensity_spectrum/table", &rows)?;
    Ok(vec![target])
}
