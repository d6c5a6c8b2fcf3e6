//! Night summaries: what the telescope says it observed in a night, read from any of the three
//! generations of file (see `summaries.md`) into one model, plus the check of each run's type
//! against its R0 files ([`classify`]).
//!
//! - `RunSummary_YYYYMMDD.ecsv` (current, lstchain): one row per run ([`runsummary`]).
//! - `NightSummary_YYYYMMDD_LST1.txt` (2020, v1): one line per subrun ([`legacy`]).
//! - `NightSummary_YYYYMMDD.txt` (2020-2021, v2): one line per run ([`legacy`]).
//!
//! Malformed lines reject the file, every one of them named by file, line and field; suspicious
//! but usable content (duplicates, gaps, unknown types, order) becomes a [`Warning`] with its
//! line, never a silent drop. A last line cut short without its newline is reported as
//! [`SummaryError::Incomplete`]: the file is probably still being written, and the daemon waits
//! for it to change instead of failing the night.

pub mod classify;
pub mod ecsv;
pub mod legacy;
pub mod runsummary;

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::LimitsConfig;
use crate::model::RunType;
use crate::night::NightDate;

/// Which generation of file a night was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum SummaryFormat {
    /// `RunSummary_YYYYMMDD.ecsv`
    #[serde(rename = "runsummary")]
    RunSummary,
    /// `NightSummary_YYYYMMDD_LST1.txt`, one line per subrun.
    #[serde(rename = "nightsummary-v1")]
    NightSummaryV1,
    /// `NightSummary_YYYYMMDD.txt`, one line per run.
    #[serde(rename = "nightsummary-v2")]
    NightSummaryV2,
}

impl fmt::Display for SummaryFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::RunSummary => "RunSummary (ECSV)",
            Self::NightSummaryV1 => "NightSummary v1 (per subrun)",
            Self::NightSummaryV2 => "NightSummary v2 (per run)",
        })
    }
}

/// One run of the night.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Run {
    pub run: u32,
    #[serde(rename = "type")]
    pub run_type: RunType,
    /// The type exactly as written in the file.
    pub type_as_written: String,
    pub subruns: u32,
    /// Source name (v1 lines, or the RunCatalog).
    pub source: Option<String>,
    /// Pointing declination in degrees (the RunCatalog's `source_dec`): picks the RF models
    /// of its DL2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_dec: Option<f64>,
    /// Start of the run, UTC.
    pub start: Option<DateTime<Utc>>,
    /// Number of events, where the file gives it (v1: sum over subrun lines).
    pub events: Option<u64>,
    /// Line of the file where the run first appears.
    pub line: usize,
    /// Type read from the first R0 subrun file, once checked.
    pub r0_type: Option<RunType>,
    /// The summary and the R0 file disagree: shown for a human, the summary still decides
    /// unless it said ERROR or something unknown.
    pub type_mismatch: bool,
}

impl Run {
    pub(crate) fn new(run: u32, type_as_written: &str, subruns: u32, line: usize) -> Self {
        Self {
            run,
            run_type: RunType::from_summary(type_as_written),
            type_as_written: printable(type_as_written),
            subruns,
            source: None,
            source_dec: None,
            start: None,
            events: None,
            line,
            r0_type: None,
            type_mismatch: false,
        }
    }

    /// The type the planner uses: the summary's, unless it is doubtful and R0 gave a verdict.
    pub fn effective_type(&self) -> RunType {
        self.run_type.effective(self.r0_type).unwrap_or(self.run_type)
    }

    /// Records the R0 verdict and whether it contradicts the summary.
    pub fn set_r0_type(&mut self, r0: RunType) {
        self.r0_type = Some(r0);
        self.type_mismatch =
            matches!(self.run_type, RunType::Drs4 | RunType::Pedcalib | RunType::Data) && r0 != RunType::Error && r0 != self.run_type;
    }
}

/// Something a human should look at; the file was still usable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Warning {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

/// A parsed night.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NightSummary {
    pub date: NightDate,
    pub format: SummaryFormat,
    pub file: PathBuf,
    pub runs: Vec<Run>,
    pub warnings: Vec<Warning>,
}

impl NightSummary {
    pub fn run(&self, run: u32) -> Option<&Run> {
        self.runs.iter().find(|r| r.run == run)
    }

    pub(crate) fn warn(&mut self, line: usize, message: impl Into<String>) {
        // Warnings quote the file's words: escape what a terminal would act on.
        self.warnings.push(Warning { file: self.file.clone(), line, message: printable(&message.into()) });
    }

    /// Fills source names from a `RunCatalog_YYYYMMDD.ecsv` (it knows DATA runs only).
    pub fn apply_catalog(&mut self, catalog: &runsummary::RunCatalog) {
        for run in &mut self.runs {
            if let Some(source) = catalog.sources.get(&run.run) {
                run.source = Some(source.clone());
            }
            if let Some(dec) = catalog.declinations.get(&run.run) {
                run.source_dec = Some(*dec);
            }
        }
        self.warnings.extend(catalog.warnings.iter().cloned());
    }
}

/// One reason a file was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineProblem {
    pub line: usize,
    /// The field concerned, when it is one field.
    pub field: Option<String>,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SummaryError {
    #[error("cannot read {file}: {source}")]
    Read { file: PathBuf, source: std::io::Error },
    #[error("{file}: {message}")]
    FileName { file: PathBuf, message: String },
    #[error("{} rejected:\n{}", file.display(), format_problems(file, problems))]
    Rejected { file: PathBuf, problems: Vec<LineProblem> },
    #[error("{}:{line}: incomplete last line (still being written?): {message}", file.display())]
    Incomplete { file: PathBuf, line: usize, message: String },
}

fn format_problems(file: &Path, problems: &[LineProblem]) -> String {
    problems
        .iter()
        .map(|p| match &p.field {
            Some(field) => format!("  {}:{}: field `{field}`: {}", file.display(), p.line, p.message),
            None => format!("  {}:{}: {}", file.display(), p.line, p.message),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Text from a file, safe to print: control characters (terminal escape sequences, carriage
/// returns) are shown escaped (`\u{1b}`), never sent to a terminal or a log as they are.
pub fn printable(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

/// Text of a summary with what every reader must tolerate already removed: a UTF-8 BOM.
/// Line splitting (`str::lines`) drops CR of CRLF endings. A file larger than
/// `limits.summary_max_bytes` is refused before it is read, a line longer than
/// `limits.summary_max_line_length` after.
pub(crate) fn read_text(file: &Path, limits: &LimitsConfig) -> Result<String, SummaryError> {
    let refuse = |line: usize, message: String| SummaryError::Rejected {
        file: file.to_path_buf(),
        problems: vec![LineProblem { line, field: None, message }],
    };
    let size = std::fs::metadata(file).map_err(|source| SummaryError::Read { file: file.to_path_buf(), source })?.len();
    if size > limits.summary_max_bytes {
        return Err(refuse(1, format!("the file has {size} bytes, more than limits.summary_max_bytes ({})", limits.summary_max_bytes)));
    }
    let bytes = std::fs::read(file).map_err(|source| SummaryError::Read { file: file.to_path_buf(), source })?;
    let text = String::from_utf8(bytes).map_err(|e| SummaryError::Rejected {
        file: file.to_path_buf(),
        problems: vec![LineProblem {
            line: line_of_offset(e.as_bytes(), e.utf8_error().valid_up_to()),
            field: None,
            message: "not UTF-8 text".to_string(),
        }],
    })?;
    if let Some((index, line)) = text.lines().enumerate().find(|(_, l)| l.chars().count() > limits.summary_max_line_length) {
        return Err(refuse(
            index + 1,
            format!("a line of {} characters, more than limits.summary_max_line_length ({})", line.chars().count(), limits.summary_max_line_length),
        ));
    }
    Ok(text.strip_prefix('\u{feff}').map(str::to_string).unwrap_or(text))
}

/// Refuses a night with more runs, or a run with more subruns, than the limits allow.
fn check_limits(night: &NightSummary, limits: &LimitsConfig) -> Result<(), SummaryError> {
    let mut problems: Vec<LineProblem> = night
        .runs
        .iter()
        .filter(|r| r.subruns > limits.max_subruns_per_run)
        .map(|r| LineProblem {
            line: r.line,
            field: Some("n_subruns".to_string()),
            message: format!("run {} has {} subruns, more than limits.max_subruns_per_run ({})", r.run, r.subruns, limits.max_subruns_per_run),
        })
        .collect();
    if let Some(first_extra) = night.runs.get(limits.max_runs_per_night) {
        problems.push(LineProblem {
            line: first_extra.line,
            field: None,
            message: format!("{} runs, more than limits.max_runs_per_night ({})", night.runs.len(), limits.max_runs_per_night),
        });
    }
    if problems.is_empty() { Ok(()) } else { Err(SummaryError::Rejected { file: night.file.clone(), problems }) }
}

fn line_of_offset(bytes: &[u8], offset: usize) -> usize {
    bytes[..offset].iter().filter(|&&b| b == b'\n').count() + 1
}

/// The `YYYYMMDD` in a summary's file name (`RunSummary_20260105.ecsv`, `NightSummary_20200113_LST1.txt`).
pub fn date_from_file_name(file: &Path) -> Option<NightDate> {
    let name = file.file_name()?.to_str()?;
    let rest = name.split_once('_')?.1;
    NightDate::from_compact(rest.get(..8)?).ok()
}

/// Reads any summary file, telling the generation from its content (ECSV header, or the
/// number of fields of a text line), within the default limits.
pub fn load(file: &Path) -> Result<NightSummary, SummaryError> {
    load_within(file, &LimitsConfig::default())
}

/// As [`load`], within the configured limits.
pub fn load_within(file: &Path, limits: &LimitsConfig) -> Result<NightSummary, SummaryError> {
    let text = read_text(file, limits)?;
    let night = if text.trim_start().starts_with("# %ECSV") || file.extension().is_some_and(|e| e == "ecsv") {
        runsummary::parse_run_summary(file, &text)?
    } else {
        legacy::parse(file, &text, limits)?
    };
    check_limits(&night, limits)?;
    Ok(night)
}

/// Loads a summary and, where a `RunCatalog_YYYYMMDD.ecsv` is found beside it or in
/// `catalog_dir`, takes the source names from it. An unreadable catalog is a warning.
pub fn load_with_catalog(file: &Path, catalog_dir: Option<&Path>, limits: &LimitsConfig) -> Result<NightSummary, SummaryError> {
    let mut night = load_within(file, limits)?;
    let name = format!("RunCatalog_{}.ecsv", night.date.compact());
    // Beside the summary, in the standard sibling `monitoring/RunCatalog`, then the configured one.
    let beside = file.parent().map(|d| d.join(&name));
    let sibling = file.parent().and_then(Path::parent).map(|d| d.join("RunCatalog").join(&name));
    let mut candidates = beside.into_iter().chain(sibling).chain(catalog_dir.map(|d| d.join(&name)));
    if let Some(catalog_file) = candidates.find(|p| p.is_file()) {
        match runsummary::load_catalog(&catalog_file, limits) {
            Ok(catalog) => night.apply_catalog(&catalog),
            Err(e) => night.warn(0, format!("run catalog not used: {e}")),
        }
    }
    Ok(night)
}

/// Refuses a summary that is a symbolic link to a file outside `root` (the data root): a
/// summary is the telescope's, never `/etc/passwd` echoed into a log.
pub fn refuse_foreign_link(file: &Path, root: &Path) -> Result<(), SummaryError> {
    let is_link = std::fs::symlink_metadata(file).map_err(|source| SummaryError::Read { file: file.to_path_buf(), source })?.file_type().is_symlink();
    if !is_link {
        return Ok(());
    }
    let target = std::fs::canonicalize(file).map_err(|source| SummaryError::Read { file: file.to_path_buf(), source })?;
    if target.starts_with(std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf())) {
        return Ok(());
    }
    Err(SummaryError::Rejected {
        file: file.to_path_buf(),
        problems: vec![LineProblem {
            line: 1,
            field: None,
            message: format!("a symbolic link to {}, outside the data root {}: not followed", target.display(), root.display()),
        }],
    })
}

/// The summary of `night` among `dirs`: a RunSummary wins over the legacy files, the per-run
/// legacy file over the per-subrun one.
pub fn locate(dirs: &[PathBuf], night: NightDate) -> Option<PathBuf> {
    let n = night.compact();
    let names = [format!("RunSummary_{n}.ecsv"), format!("NightSummary_{n}.txt"), format!("NightSummary_{n}_LST1.txt")];
    names.iter().find_map(|name| dirs.iter().map(|d| d.join(name)).find(|p| p.is_file()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_generation_spelling_maps() {
        for (text, expected) in [
            ("PEDESTAL", RunType::Drs4),
            ("DRS4", RunType::Drs4),
            ("CALIBRATION", RunType::Pedcalib),
            ("CALI", RunType::Pedcalib),
            ("PEDCALIB", RunType::Pedcalib),
            ("DATA", RunType::Data),
            ("data", RunType::Data),
            ("CONF", RunType::Error),
            ("ERROR", RunType::Error),
            ("EDATA", RunType::Excluded),
            ("ERRPEDCALIB", RunType::Excluded),
            ("SKY", RunType::Unknown),
        ] {
            assert_eq!(RunType::from_summary(text), expected, "{text}");
        }
    }

    #[test]
    fn r0_verdict_decides_only_doubtful_runs_and_flags_mismatches() {
        let mut run = Run::new(1, "DATA", 3, 1);
        run.set_r0_type(RunType::Pedcalib);
        assert!(run.type_mismatch);
        assert_eq!(run.effective_type(), RunType::Data);

        let mut run = Run::new(2, "ERROR", 3, 2);
        run.set_r0_type(RunType::Pedcalib);
        assert!(!run.type_mismatch);
        assert_eq!(run.effective_type(), RunType::Pedcalib);

        let mut run = Run::new(3, "DATA", 3, 3);
        run.set_r0_type(RunType::Error);
        assert!(!run.type_mismatch, "an unreadable R0 file is not a contradiction");

        let mut run = Run::new(4, "EDATA", 3, 4);
        run.set_r0_type(RunType::Data);
        assert_eq!(run.effective_type(), RunType::Excluded);
    }

    #[test]
    fn run_summary_wins_over_legacy_files() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        let night: NightDate = "2021-03-01".parse().unwrap();
        assert_eq!(locate(&[a.clone(), b.clone()], night), None);
        std::fs::write(a.join("NightSummary_20210301_LST1.txt"), "").unwrap();
        assert_eq!(locate(&[a.clone(), b.clone()], night), Some(a.join("NightSummary_20210301_LST1.txt")));
        std::fs::write(a.join("NightSummary_20210301.txt"), "").unwrap();
        assert_eq!(locate(&[a.clone(), b.clone()], night), Some(a.join("NightSummary_20210301.txt")));
        std::fs::write(b.join("RunSummary_20210301.ecsv"), "").unwrap();
        assert_eq!(locate(&[a, b.clone()], night), Some(b.join("RunSummary_20210301.ecsv")));
    }

    #[test]
    fn date_comes_from_the_file_name() {
        assert_eq!(date_from_file_name(Path::new("/x/RunSummary_20260105.ecsv")).unwrap().to_string(), "2026-01-05");
        assert_eq!(date_from_file_name(Path::new("NightSummary_20200113_LST1.txt")).unwrap().to_string(), "2020-01-13");
        assert_eq!(date_from_file_name(Path::new("summary.txt")), None);
    }
}
