//! The two legacy text NightSummary formats (2020-2021), whitespace separated, no header:
//!
//! - v1, `NightSummary_YYYYMMDD_LST1.txt`: one line per subrun, 14 fields
//!   `run subrun type date time source[-Wwobble] nevents zd ra dec l2table test hv filter`.
//! - v2, `NightSummary_YYYYMMDD.txt`: one line per run, 11 fields
//!   `run n_subruns type date time` + six DRAGON/TIB counters (unused here).
//!
//! The generation is told by the field count of the first line. Rows dated from the evening
//! before the file's date to the morning after are normal (files were named either way).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use chrono::{Duration, NaiveDateTime};

use super::{LineProblem, NightSummary, Run, SummaryError, SummaryFormat, date_from_file_name};
use crate::config::LimitsConfig;
use crate::night::NightDate;

const V1_FIELDS: usize = 14;
const V2_FIELDS: usize = 11;

pub(crate) fn parse(file: &Path, text: &str, limits: &LimitsConfig) -> Result<NightSummary, SummaryError> {
    let lines: Vec<(usize, Vec<&str>)> =
        text.lines().enumerate().map(|(i, l)| (i + 1, l.split_whitespace().collect::<Vec<_>>())).filter(|(_, fields)| !fields.is_empty()).collect();
    let unterminated = !text.is_empty() && !text.ends_with('\n');

    let name_says_v1 = file.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.contains("_LST1"));
    let format = match lines.first().map(|(_, f)| f.len()) {
        Some(V1_FIELDS) => SummaryFormat::NightSummaryV1,
        Some(V2_FIELDS) => SummaryFormat::NightSummaryV2,
        _ if name_says_v1 => SummaryFormat::NightSummaryV1,
        _ => SummaryFormat::NightSummaryV2,
    };
    let expected = if format == SummaryFormat::NightSummaryV1 { V1_FIELDS } else { V2_FIELDS };

    let date = match date_from_file_name(file) {
        Some(date) => date,
        None => lines.first().and_then(|(_, f)| f.get(3)).and_then(|d| d.parse::<NightDate>().ok()).ok_or_else(|| SummaryError::FileName {
            file: file.to_path_buf(),
            message: "no YYYYMMDD date in the file name (NightSummary_YYYYMMDD[_LST1].txt) nor in the first line".to_string(),
        })?,
    };

    let mut night = NightSummary { date, format, file: file.to_path_buf(), runs: Vec::new(), warnings: Vec::new() };
    if lines.is_empty() {
        night.warn(1, "empty file: no runs");
        return Ok(night);
    }

    let mut problems = Vec::new();
    let mut incomplete = None;
    let mut rows = Vec::new();
    let last = lines.len() - 1;
    for (index, (line, fields)) in lines.iter().enumerate() {
        if fields.len() != expected {
            let message = format!("expected {expected} fields ({format}), found {}", fields.len());
            if index == last && unterminated && fields.len() < expected {
                incomplete = Some((*line, message));
            } else {
                problems.push(LineProblem { line: *line, field: None, message });
            }
            continue;
        }
        match parse_row(format, *line, fields) {
            // v1 counts subruns from the highest subrun number: bound it before counting.
            Ok(row) if format == SummaryFormat::NightSummaryV1 && row.subrun >= limits.max_subruns_per_run => problems.push(LineProblem {
                line: *line,
                field: Some("subrun".to_string()),
                message: format!("subrun {} of run {}: more than limits.max_subruns_per_run ({})", row.subrun, row.run, limits.max_subruns_per_run),
            }),
            Ok(row) => rows.push(row),
            Err(mut row_problems) => problems.append(&mut row_problems),
        }
    }
    if !problems.is_empty() {
        return Err(SummaryError::Rejected { file: file.to_path_buf(), problems });
    }
    if let Some((line, message)) = incomplete {
        return Err(SummaryError::Incomplete { file: file.to_path_buf(), line, message });
    }

    let earliest = date.date().and_hms_opt(12, 0, 0).expect("noon exists") - Duration::days(1);
    let latest = earliest + Duration::days(2);
    for row in &rows {
        if row.start < earliest || row.start >= latest {
            night.warn(row.line, format!("run {} is dated {}, outside the night of the file ({date})", row.run, row.start));
        }
    }

    match format {
        SummaryFormat::NightSummaryV1 => aggregate_subruns(&mut night, rows),
        _ => collect_runs(&mut night, rows),
    }
    super::runsummary::check_runs(&mut night);
    Ok(night)
}

/// One valid line, before subrun lines are folded into runs.
struct Row<'a> {
    line: usize,
    run: u32,
    /// v1: the subrun number; v2: the number of subruns.
    subrun: u32,
    run_type: &'a str,
    start: NaiveDateTime,
    source: Option<&'a str>,
    events: Option<u64>,
}

fn parse_row<'a>(format: SummaryFormat, line: usize, f: &[&'a str]) -> Result<Row<'a>, Vec<LineProblem>> {
    let mut problems = Vec::new();
    let mut problem = |field: &str, message: String| {
        problems.push(LineProblem { line, field: Some(field.to_string()), message });
    };
    let run = f[0].parse::<u32>().map_err(|_| problem("run", format!("{:?} is not a run number", f[0]))).ok();
    let (count_name, count_what) = match format {
        SummaryFormat::NightSummaryV1 => ("subrun", "a subrun number"),
        _ => ("n_subruns", "a number of subruns"),
    };
    let subrun = f[1].parse::<u32>().map_err(|_| problem(count_name, format!("{:?} is not {count_what}", f[1]))).ok();
    let start = NaiveDateTime::parse_from_str(&format!("{} {}", f[3], f[4]), "%Y-%m-%d %H:%M:%S")
        .map_err(|_| problem("date time", format!("{:?} is not a date and time YYYY-MM-DD HH:MM:SS", format!("{} {}", f[3], f[4]))))
        .ok();
    let (source, events) = if format == SummaryFormat::NightSummaryV1 {
        let source = f[5].split_once("-W").map(|(s, _)| s).unwrap_or(f[5]);
        let events = f[6].parse::<u64>().map_err(|_| problem("nevents", format!("{:?} is not a number of events", f[6]))).ok();
        if f[7].parse::<f64>().is_err() {
            problem("zd", format!("{:?} is not a zenith distance in degrees", f[7]));
        }
        (Some(source), events)
    } else {
        (None, None)
    };
    match (run, subrun, start) {
        (Some(run), Some(subrun), Some(start)) if problems.is_empty() => Ok(Row { line, run, subrun, run_type: f[2], start, source, events }),
        _ => Err(problems),
    }
}

/// v1: one line per subrun, folded into runs in order of first appearance.
fn aggregate_subruns(night: &mut NightSummary, rows: Vec<Row>) {
    let mut index: HashMap<u32, usize> = HashMap::new();
    let mut seen: Vec<BTreeSet<u32>> = Vec::new();
    for row in rows {
        let Some(&i) = index.get(&row.run) else {
            let mut run = Run::new(row.run, row.run_type, 0, row.line);
            run.source = row.source.map(super::printable);
            run.start = Some(row.start.and_utc());
            run.events = row.events;
            index.insert(row.run, night.runs.len());
            night.runs.push(run);
            seen.push(BTreeSet::from([row.subrun]));
            continue;
        };
        if !seen[i].insert(row.subrun) {
            night.warn(row.line, format!("run {} subrun {} listed twice; this line is ignored", row.run, row.subrun));
            continue;
        }
        let run = &mut night.runs[i];
        if run.type_as_written != row.run_type {
            let message = format!(
                "run {} subrun {} has type {} but the run started as {}; the first type is kept",
                row.run, row.subrun, row.run_type, run.type_as_written
            );
            night.warn(row.line, message);
        }
        let run = &mut night.runs[i];
        run.events = run.events.zip(row.events).map(|(a, b)| a + b);
    }
    for (run, subruns) in night.runs.iter_mut().zip(&seen) {
        let first = if subruns.first() == Some(&0) { 0 } else { 1 };
        let last = *subruns.last().expect("every run has a line");
        run.subruns = last + 1 - first;
        let missing: Vec<String> = (first..=last).filter(|s| !subruns.contains(s)).map(|s| s.to_string()).collect();
        if !missing.is_empty() {
            let message = format!("run {} has no line for subrun(s) {} (counted as {} subruns)", run.run, missing.join(", "), run.subruns);
            night.warnings.push(super::Warning { file: night.file.clone(), line: run.line, message });
        }
    }
}

/// v2: one line per run; a repeated run keeps its first line.
fn collect_runs(night: &mut NightSummary, rows: Vec<Row>) {
    let mut first_line: HashMap<u32, usize> = HashMap::new();
    for row in rows {
        if let Some(first) = first_line.get(&row.run) {
            night.warn(row.line, format!("run {} listed again (first at line {first}); this line is ignored", row.run));
            continue;
        }
        first_line.insert(row.run, row.line);
        let mut run = Run::new(row.run, row.run_type, row.subrun, row.line);
        run.start = Some(row.start.and_utc());
        night.runs.push(run);
    }
}
