//! `RunSummary_YYYYMMDD.ecsv` (lstchain_create_run_summary, one row per run) and
//! `RunCatalog_YYYYMMDD.ecsv` (source names of DATA runs). Columns are found by name: files
//! before Nov 2023 lack `data_format` and `evb_preprocessing`, and only `run_id`, `n_subruns`
//! and `run_type` are required.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use chrono::DateTime;

use super::ecsv::{self, EcsvError, EcsvTable};
use super::{LineProblem, NightSummary, Run, RunType, SummaryError, SummaryFormat, Warning, date_from_file_name};
use crate::config::LimitsConfig;
use crate::night::NightDate;

fn from_ecsv(file: &Path, error: EcsvError) -> SummaryError {
    match error {
        EcsvError::Problems(problems) => SummaryError::Rejected { file: file.to_path_buf(), problems },
        EcsvError::Incomplete { line, message } => SummaryError::Incomplete { file: file.to_path_buf(), line, message },
    }
}

fn required(file: &Path, table: &EcsvTable, names: &[&str]) -> Result<Vec<usize>, SummaryError> {
    let mut found = Vec::new();
    let mut problems = Vec::new();
    for name in names {
        match table.column(name) {
            Some(i) => found.push(i),
            None => problems.push(LineProblem {
                line: 2,
                field: Some((*name).to_string()),
                message: format!("required column missing (columns: {})", table.columns.join(", ")),
            }),
        }
    }
    if problems.is_empty() { Ok(found) } else { Err(SummaryError::Rejected { file: file.to_path_buf(), problems }) }
}

pub(crate) fn parse_run_summary(file: &Path, text: &str) -> Result<NightSummary, SummaryError> {
    let table = ecsv::parse(text).map_err(|e| from_ecsv(file, e))?;
    let columns = required(file, &table, &["run_id", "n_subruns", "run_type"])?;
    let (run_col, subruns_col, type_col) = (columns[0], columns[1], columns[2]);
    let start_col = table.column("run_start");

    let meta_date = table.meta("date");
    let date = match (date_from_file_name(file), meta_date.and_then(|d| d.parse::<NightDate>().ok())) {
        (Some(date), _) | (None, Some(date)) => date,
        (None, None) => {
            return Err(SummaryError::FileName {
                file: file.to_path_buf(),
                message: "no date: neither RunSummary_YYYYMMDD.ecsv nor a `date` in the ECSV meta".to_string(),
            });
        }
    };
    let mut night = NightSummary { date, format: SummaryFormat::RunSummary, file: file.to_path_buf(), runs: Vec::new(), warnings: Vec::new() };
    if let Some(meta) = meta_date
        && meta.parse::<NightDate>().ok() != Some(date)
    {
        night.warn(2, format!("header date {meta:?} differs from the file name's date {date}"));
    }

    let mut problems = Vec::new();
    let mut first_line: HashMap<u32, usize> = HashMap::new();
    for (line, values) in &table.rows {
        let line = *line;
        let mut bad = |field: &str, message: String| {
            problems.push(LineProblem { line, field: Some(field.to_string()), message });
        };
        let run = values[run_col].parse::<u32>().map_err(|_| bad("run_id", format!("{:?} is not a run number", values[run_col])));
        let subruns =
            values[subruns_col].parse::<u32>().map_err(|_| bad("n_subruns", format!("{:?} is not a number of subruns", values[subruns_col])));
        let start = match start_col.map(|c| values[c].as_str()) {
            None | Some("-1") | Some("") | Some("None") => Ok(None),
            Some(ns) => ns
                .parse::<i64>()
                .map(|ns| Some(DateTime::from_timestamp_nanos(ns)))
                .map_err(|_| bad("run_start", format!("{ns:?} is not a time in ns"))),
        };
        let (Ok(run), Ok(subruns), Ok(start)) = (run, subruns, start) else { continue };
        if let Some(first) = first_line.get(&run) {
            night.warn(line, format!("run {run} listed again (first at line {first}); this line is ignored"));
            continue;
        }
        first_line.insert(run, line);
        let mut entry = Run::new(run, &values[type_col], subruns, line);
        entry.start = start;
        night.runs.push(entry);
    }
    if !problems.is_empty() {
        return Err(SummaryError::Rejected { file: file.to_path_buf(), problems });
    }
    if night.runs.is_empty() {
        night.warn(table.rows.first().map(|r| r.0).unwrap_or(1), "no runs in this summary");
    }
    check_runs(&mut night);
    Ok(night)
}

/// Warnings shared by every format: unknown types, zero subruns, runs out of order.
pub(crate) fn check_runs(night: &mut NightSummary) {
    let mut warnings = Vec::new();
    let mut warn = |line: usize, message: String| warnings.push(Warning { file: night.file.clone(), line, message });
    for run in &night.runs {
        if run.run_type == RunType::Unknown {
            warn(
                run.line,
                format!(
                    "run {} has unknown type {:?} (expected DRS4, PEDCALIB, DATA or ERROR); its R0 files will decide",
                    run.run, run.type_as_written
                ),
            );
        }
        if run.subruns == 0 {
            warn(run.line, format!("run {} has 0 subruns", run.run));
        }
    }
    for pair in night.runs.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        if after.run < before.run {
            warn(after.line, format!("run {} is listed after run {} (runs out of order)", after.run, before.run));
        } else if let (Some(a), Some(b)) = (before.start, after.start)
            && b < a
        {
            warn(after.line, format!("run {} starts at {b}, before run {} ({a}) that precedes it", after.run, before.run));
        }
    }
    night.warnings.extend(warnings);
}

/// Source names (and pointing declinations, where given) of a night's DATA runs.
#[derive(Debug, Default)]
pub struct RunCatalog {
    pub file: PathBuf,
    pub sources: HashMap<u32, String>,
    /// `source_dec`, degrees.
    pub declinations: HashMap<u32, f64>,
    pub warnings: Vec<Warning>,
}

pub fn load_catalog(file: &Path, limits: &LimitsConfig) -> Result<RunCatalog, SummaryError> {
    let text = super::read_text(file, limits)?;
    let table = ecsv::parse(&text).map_err(|e| from_ecsv(file, e))?;
    let columns = required(file, &table, &["run_id", "source_name"])?;
    let dec_column = table.columns.iter().position(|c| c == "source_dec");
    let mut catalog = RunCatalog { file: file.to_path_buf(), ..RunCatalog::default() };
    let mut seen = HashSet::new();
    for (line, values) in &table.rows {
        let Ok(run) = values[columns[0]].parse::<u32>() else {
            catalog.warnings.push(Warning {
                file: file.to_path_buf(),
                line: *line,
                message: format!("{:?} is not a run number; row ignored", values[columns[0]]),
            });
            continue;
        };
        if !seen.insert(run) {
            catalog.warnings.push(Warning { file: file.to_path_buf(), line: *line, message: format!("run {run} listed twice; the first is used") });
            continue;
        }
        let source = values[columns[1]].trim();
        if !source.is_empty() && source != "None" {
            catalog.sources.insert(run, super::printable(source));
        }
        if let Some(column) = dec_column {
            let text = values[column].trim();
            match text.parse::<f64>() {
                Ok(dec) if (-90.0..=90.0).contains(&dec) => {
                    catalog.declinations.insert(run, dec);
                }
                _ if text.is_empty() || text == "None" || text == "nan" => {}
                _ => catalog.warnings.push(Warning {
                    file: file.to_path_buf(),
                    line: *line,
                    message: format!("run {run}: source_dec {text:?} is not a declination in degrees; ignored"),
                }),
            }
        }
    }
    Ok(catalog)
}
