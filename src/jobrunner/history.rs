//! History files in LSTOSA's format, one line per try of a step:
//! `<run> <program> <prod_id> <YYYY-MM-DD> <HH:MM> <input_file> <config_file> <rc>`
//! (`RRRRR.SSSS` for a data subrun, `NNNNN` for the calibration job; `None` for an absent
//! input or config; the config is the file name only). Older files had other date layouts
//! and file names in other fields: readers rely on the program (token 2), the prod_id
//! (token 3) and the return code (last token) first, and use input and config only when the
//! line has exactly eight tokens.

use std::path::Path;

use chrono::NaiveDateTime;

/// One history line as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryLine {
    pub line: usize,
    pub run: String,
    pub program: String,
    pub prod_id: String,
    pub input: Option<String>,
    pub config: Option<String>,
    pub return_code: i64,
}

fn none_if_none(token: &str) -> Option<String> {
    (token != "None").then(|| token.to_string())
}

/// Reads a history file; a missing file is an empty history. Malformed lines are returned
/// as (line, reason) and skipped.
pub fn read(path: &Path) -> std::io::Result<(Vec<HistoryLine>, Vec<(usize, String)>)> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
        Err(e) => return Err(e),
    };
    let mut lines = Vec::new();
    let mut problems = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let tokens: Vec<&str> = raw.split_whitespace().collect();
        if tokens.is_empty() {
            continue;
        }
        let Some(return_code) = tokens.last().and_then(|t| t.parse::<i64>().ok()).filter(|_| tokens.len() >= 4) else {
            problems.push((index + 1, format!("not a history line (needs run, program, prod_id, ..., return code): {raw:?}")));
            continue;
        };
        let (input, config) = if tokens.len() == 8 { (none_if_none(tokens[5]), none_if_none(tokens[6])) } else { (None, None) };
        lines.push(HistoryLine {
            line: index + 1,
            run: tokens[0].to_string(),
            program: tokens[1].to_string(),
            prod_id: tokens[2].to_string(),
            input,
            config,
            return_code,
        });
    }
    Ok((lines, problems))
}

/// Formats one line; whitespace inside a field would shift the tokens, so it is replaced.
pub fn format_line(run: &str, program: &str, prod_id: &str, at: NaiveDateTime, input: Option<&str>, config: Option<&str>, rc: i64) -> String {
    let field = |f: Option<&str>| f.filter(|s| !s.is_empty()).map(|s| s.replace(char::is_whitespace, "_")).unwrap_or_else(|| "None".to_string());
    let prod_id = prod_id.replace(char::is_whitespace, "_");
    format!("{run} {program} {prod_id} {} {} {} {rc}\n", at.format("%Y-%m-%d %H:%M"), field(input), field(config))
}

/// Appends a line: whole, under the file's lock, even on a full disk (`appendlog`).
pub fn append(path: &Path, line: &str) -> std::io::Result<()> {
    crate::appendlog::append_lines(path, line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_and_legacy_layouts_are_tolerated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sequence_LST1_12003.0042.history");
        let at = chrono::NaiveDate::from_ymd_opt(2026, 1, 5).unwrap().and_hms_opt(8, 2, 0).unwrap();
        let ours = format_line(
            "12003.0042",
            "lstchain_data_r0_to_dl1",
            "v0.10",
            at,
            Some("/d/LST-1.1.Run12003.0042.fits.fz"),
            Some("standard config.json"),
            0,
        );
        assert_eq!(ours, "12003.0042 lstchain_data_r0_to_dl1 v0.10 2026-01-05 08:02 /d/LST-1.1.Run12003.0042.fits.fz standard_config.json 0\n");
        append(&path, &ours).unwrap();
        append(&path, "12003.0042 lstchain_dl1ab tailcut84 Thu Mar 25 12:53:40 UTC 2021 None dl1ab.json 1\n").unwrap();
        append(&path, "garbage\n").unwrap();
        let (lines, problems) = read(&path).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].input.as_deref(), Some("/d/LST-1.1.Run12003.0042.fits.fz"));
        assert_eq!(
            (lines[1].program.as_str(), lines[1].prod_id.as_str(), lines[1].return_code, lines[1].input.clone()),
            ("lstchain_dl1ab", "tailcut84", 1, None)
        );
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].0, 3);
        assert_eq!(read(&dir.path().join("missing.history")).unwrap().0, Vec::new());
    }
}
