//! A reader for astropy's ECSV tables (versions 0.9 and 1.0): a YAML header in `# ` comment
//! lines (column names and types, delimiter, metadata), then a CSV header row and the rows.
//! No crate reads ECSV, so: `yaml-rust2` for the header, `csv` for the body. Every row keeps
//! its line number in the file, for messages.

use yaml_rust2::{Yaml, YamlLoader};

use super::LineProblem;

/// A table as read, values still text: the callers know what each column means.
#[derive(Debug)]
pub struct EcsvTable {
    /// `0.9` or `1.0`.
    pub version: String,
    /// Column names in order, from the header (and checked against the CSV header row).
    pub columns: Vec<String>,
    /// `meta` entries with scalar values, in order.
    pub meta: Vec<(String, String)>,
    /// Rows with their line numbers in the file.
    pub rows: Vec<(usize, Vec<String>)>,
}

impl EcsvTable {
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    pub fn meta(&self, key: &str) -> Option<&str> {
        self.meta.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// What went wrong reading the table.
#[derive(Debug)]
pub enum EcsvError {
    Problems(Vec<LineProblem>),
    /// The last row is cut short and has no newline: probably still being written.
    Incomplete {
        line: usize,
        message: String,
    },
}

fn problem(line: usize, message: impl Into<String>) -> EcsvError {
    EcsvError::Problems(vec![LineProblem { line, field: None, message: message.into() }])
}

pub fn parse(text: &str) -> Result<EcsvTable, EcsvError> {
    let lines: Vec<&str> = text.lines().collect();
    let first = lines.first().map(|l| l.trim()).unwrap_or("");
    let version = first
        .strip_prefix("# %ECSV")
        .map(|v| v.trim().to_string())
        .ok_or_else(|| problem(1, format!("expected the ECSV signature `# %ECSV 1.0`, found {first:?}")))?;
    if !matches!(version.as_str(), "0.9" | "1.0") {
        return Err(problem(1, format!("ECSV version {version:?} is not supported (0.9 or 1.0)")));
    }
    let header_len = lines.iter().take_while(|l| l.starts_with('#')).count();
    let yaml: String =
        lines[1..header_len].iter().map(|l| l.strip_prefix("# ").or_else(|| l.strip_prefix('#')).unwrap_or(l)).collect::<Vec<_>>().join("\n");
    // The YAML starts on file line 2 and its markers count lines from 1.
    let docs =
        YamlLoader::load_from_str(&yaml).map_err(|e| problem(e.marker().line() + 1, format!("ECSV header is not valid YAML: {}", e.info())))?;
    let header = docs.into_iter().next().unwrap_or(Yaml::Null);

    let Some(datatype) = header["datatype"].as_vec() else {
        return Err(problem(2, "ECSV header has no `datatype` list of columns"));
    };
    let mut columns = Vec::new();
    for (i, column) in datatype.iter().enumerate() {
        match column["name"].as_str() {
            Some(name) => columns.push(name.to_string()),
            None => return Err(problem(2, format!("column {} of the ECSV header has no name", i + 1))),
        }
    }
    let delimiter = match header["delimiter"].as_str() {
        None => b' ',
        Some(d) if d.len() == 1 => d.as_bytes()[0],
        Some(d) => return Err(problem(2, format!("ECSV delimiter {d:?} must be one character"))),
    };
    let meta = read_meta(&header["meta"]);

    let body_start = header_len + 1;
    let body = lines[header_len..].join("\n");
    let mut reader =
        csv::ReaderBuilder::new().delimiter(delimiter).has_headers(false).flexible(true).trim(csv::Trim::All).from_reader(body.as_bytes());
    let unterminated = !text.is_empty() && !text.ends_with('\n');
    let mut records = Vec::new();
    let mut problems = Vec::new();
    for record in reader.records() {
        match record {
            Ok(r) => {
                let line = header_len + r.position().map(|p| p.line() as usize).unwrap_or(0);
                if r.iter().all(str::is_empty) {
                    continue;
                }
                records.push((line, r.iter().map(str::to_string).collect::<Vec<_>>()));
            }
            Err(e) => {
                let line = header_len + e.position().map(|p| p.line() as usize).unwrap_or(0);
                problems.push(LineProblem { line, field: None, message: format!("unreadable CSV: {e}") });
            }
        }
    }
    if !problems.is_empty() {
        return Err(EcsvError::Problems(problems));
    }
    let mut records = records.into_iter();
    let Some((names_line, names)) = records.next() else {
        if unterminated {
            return Err(EcsvError::Incomplete { line: body_start, message: "the column header row is missing".to_string() });
        }
        return Err(problem(body_start, "the CSV column header row is missing after the ECSV header"));
    };
    if names != columns {
        return Err(problem(names_line, format!("column header row {} does not match the ECSV header {}", names.join(","), columns.join(","))));
    }

    let rows: Vec<(usize, Vec<String>)> = records.collect();
    let last = rows.len().saturating_sub(1);
    for (i, (line, values)) in rows.iter().enumerate() {
        if values.len() == columns.len() {
            continue;
        }
        let message = format!("expected {} columns, found {}", columns.len(), values.len());
        if i == last && unterminated && values.len() < columns.len() {
            if problems.is_empty() {
                return Err(EcsvError::Incomplete { line: *line, message });
            }
        } else {
            problems.push(LineProblem { line: *line, field: None, message });
        }
    }
    if !problems.is_empty() {
        return Err(EcsvError::Problems(problems));
    }
    Ok(EcsvTable { version, columns, meta, rows })
}

/// `meta` is an ordered map (`!!omap`: a list of one-key maps) or a plain map.
fn read_meta(meta: &Yaml) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut take = |hash: &yaml_rust2::yaml::Hash| {
        for (k, v) in hash {
            if let (Some(k), Some(v)) = (k.as_str(), scalar(v)) {
                out.push((k.to_string(), v));
            }
        }
    };
    match meta {
        Yaml::Array(items) => items.iter().filter_map(Yaml::as_hash).for_each(&mut take),
        Yaml::Hash(hash) => take(hash),
        _ => {}
    }
    out
}

fn scalar(value: &Yaml) -> Option<String> {
    match value {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}
