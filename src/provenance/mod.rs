//! Provenance capture and reading: the night's provenance log in LSTOSA's line format, so
//! their tools and ours read each other's files.
//!
//! A line is `INFO provLogger __PROV__<UTC timestamp>__PROV__<payload>`. Our payload is a JSON
//! object; LSTOSA's is a Python dict literal ([`pyliteral`]); LSTOSA's run-level files hold
//! bare payloads, one per line. Records are told apart by their keys (session, activity
//! start, parameters, entity, used, generated, end, derivation). New here: entities carry the
//! `sha256` of the file's content, and a failed step still writes its records, with its
//! status and return code.
//!
//! Writing: one record per line; a batch is written with one `write` under an exclusive
//! `flock` on the file, so hundreds of array tasks appending to the same log never interleave,
//! and never leaves half a record (`appendlog`).
//! Reading never fails on content: malformed lines (and LSTOSA's unframed `WARNING` lines)
//! are reported with file:line and skipped.

pub mod integrity;
pub mod merge;
pub mod pyliteral;
pub mod trace;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

const FRAME: &str = "__PROV__";

/// One record: its payload keys, and the timestamp of its line when framed.
#[derive(Clone, Debug, PartialEq)]
pub struct ProvRecord {
    pub timestamp: Option<String>,
    pub fields: Map<String, Value>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKind {
    Session,
    ActivityStart,
    Parameters,
    Entity,
    Used,
    Generated,
    End,
    Derivation,
    /// A product moved to the final layout: `moved_from`, `filepath` (the new place), `hash`.
    Move,
    Other,
}

impl ProvRecord {
    pub fn new(fields: Map<String, Value>) -> Self {
        Self { timestamp: None, fields }
    }

    pub fn str(&self, key: &str) -> Option<&str> {
        self.fields.get(key).and_then(Value::as_str)
    }

    pub fn kind(&self) -> RecordKind {
        let has = |k: &str| self.fields.contains_key(k);
        if has("session_id") {
            RecordKind::Session
        } else if has("moved_from") {
            RecordKind::Move
        } else if has("activity_id") && has("used_id") {
            RecordKind::Used
        } else if has("activity_id") && has("generated_id") {
            RecordKind::Generated
        } else if has("activity_id") && has("endTime") {
            RecordKind::End
        } else if has("activity_id") && has("parameters") {
            RecordKind::Parameters
        } else if has("activity_id") && has("name") {
            RecordKind::ActivityStart
        } else if has("entity_id") && has("progenitor_id") {
            RecordKind::Derivation
        } else if has("entity_id") {
            RecordKind::Entity
        } else {
            RecordKind::Other
        }
    }

    /// The line as we write it.
    pub fn to_line(&self, timestamp: &str) -> String {
        format!("INFO provLogger {FRAME}{timestamp}{FRAME}{}\n", Value::Object(self.fields.clone()))
    }
}

/// A line that could not be read, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadProblem {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for ReadProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

/// Parses one line: framed (ours or LSTOSA's) or a bare payload. `Ok(None)` for blank lines.
pub fn parse_line(line: &str) -> Result<Option<ProvRecord>, String> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.trim().is_empty() {
        return Ok(None);
    }
    let (timestamp, payload) = if line.contains(FRAME) {
        let parts: Vec<&str> = line.split(FRAME).collect();
        if parts.len() != 3 {
            return Err(format!("expected prefix{FRAME}timestamp{FRAME}payload, found {} `{FRAME}` separators", parts.len() - 1));
        }
        (Some(parts[1].to_string()), parts[2])
    } else if line.trim_start().starts_with('{') {
        (None, line)
    } else {
        let head: String = line.chars().take(60).collect();
        return Err(format!("not a provenance record (no {FRAME} framing): {head:?}"));
    };
    let value = match serde_json::from_str::<Value>(payload) {
        Ok(value) => value,
        Err(_) => pyliteral::parse(payload).map_err(|e| format!("unreadable payload at byte {}: {}", e.offset, e.message))?,
    };
    match value {
        Value::Object(fields) => Ok(Some(ProvRecord { timestamp, fields })),
        other => Err(format!("payload is not a dict: {}", other.to_string().chars().take(40).collect::<String>())),
    }
}

/// Streams the records of a log to `each` (line number, record) without loading the file;
/// returns the problems met. Only an unreadable file is an error.
pub fn read_log(path: &Path, mut each: impl FnMut(usize, ProvRecord)) -> std::io::Result<Vec<ReadProblem>> {
    let reader = BufReader::new(File::open(path)?);
    let mut problems = Vec::new();
    for (index, line) in reader.split(b'\n').enumerate() {
        let bytes = line?;
        let text = String::from_utf8_lossy(&bytes);
        match parse_line(&text) {
            Ok(Some(record)) => each(index + 1, record),
            Ok(None) => {}
            Err(message) => problems.push(ReadProblem { file: path.to_path_buf(), line: index + 1, message }),
        }
    }
    Ok(problems)
}

/// Appends batches of records to a log shared by many processes.
pub struct ProvWriter {
    path: PathBuf,
}

impl ProvWriter {
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes every record of the batch, each on its own line, in one locked append (whole
    /// lines even on a full disk: `appendlog`).
    pub fn append(&self, records: &[ProvRecord]) -> std::io::Result<()> {
        let timestamp = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6f").to_string();
        let text: String = records.iter().map(|r| r.to_line(&timestamp)).collect();
        crate::appendlog::append_lines(&self.path, &text)
    }
}

/// An entity is a version of a file: the md5 of its path and content hash (LSTOSA keys by
/// the path alone, so a product made again, a failed try's partial output and an edited
/// configuration all collapsed into one entity). Without a hash (a file not there to hash),
/// LSTOSA's id: the md5 of the path.
pub fn entity_id(path: &Path, sha256: Option<&str>) -> String {
    use md5::Digest;
    let key = match sha256 {
        Some(hash) => format!("{}#sha256:{hash}", path.display()),
        None => path.display().to_string(),
    };
    md5::Md5::digest(key.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The role a step's file plays, as LSTOSA names its entities (`R0SubrunDataset`, ...).
pub fn entity_name(template: &str) -> &'static str {
    match template {
        "{r0_file}" => "R0SubrunDataset",
        "{drs4_r0_file}" => "RawObservationFile",
        "{drs4_file}" => "PedestalFile",
        "{calibration_file}" => "CoefficientsCalibrationFile",
        "{catb_file}" => "CatBCalibrationFile",
        "{drive_file}" => "PointingFile",
        "{run_summary}" => "RunSummaryFile",
        "{tailcuts_file}" => "TailCutsConfigFile",
        "{dl1a_file}" => "DL1SubrunDataset",
        "{muons_file}" => "MuonsSubrunDataset",
        "{dl1b_file}" => "DL1bSubrunDataset",
        "{datacheck_file}" => "DL1CheckSubrunDataset",
        "{dl1_run_file}" => "DL1MergedDataset",
        "{muons_run_file}" => "MuonsMergedDataset",
        "{datacheck_run_file}" => "DL1CheckHDF5File",
        "{datacheck_run_pdf}" => "DL1CheckPDFFile",
        "{dl2_run_file}" => "DL2Dataset",
        "{longterm_file}" => "DL1CheckLongTermFile",
        "{longterm_html}" => "DL1CheckLongTermPage",
        "{longterm_log}" => "DL1CheckLongTermLog",
        "{rf_models_dir}/*.sav" => "RFModelFile",
        // The default stages' patterns read the files above by the many: the same files, the
        // same names (an entity's label must not depend on which run's records name it).
        "{datacheck_dir}/datacheck_dl1_LST-1.Run{run_padded}.????.h5" => "DL1CheckSubrunDataset",
        "{datacheck_dir}/datacheck_dl1_LST-1.Run?????.h5" => "DL1CheckHDF5File",
        "config" => "ConfigFile",
        _ => "File",
    }
}

/// What a role's files are (IANA media types, as the entities' `contentType`).
fn role_content_type(role: &str) -> &'static str {
    match role {
        "R0SubrunDataset" | "RawObservationFile" | "MuonsSubrunDataset" | "MuonsMergedDataset" => "application/fits",
        "ConfigFile" | "TailCutsConfigFile" => "application/json",
        "DL1CheckPDFFile" => "application/pdf",
        "DL1CheckLongTermPage" => "text/html",
        "DL1CheckLongTermLog" | "PointingFile" | "RunSummaryFile" => "text/plain",
        "RFModelFile" | "File" => "application/octet-stream",
        _ => "application/x-hdf",
    }
}

/// A configured step or stage, as the description layer sees it.
pub struct StepShape<'a> {
    pub name: &'a str,
    pub program: &'a str,
    /// `calibration step`, `data step`, `pre-stage`, `closing stage`.
    pub kind: &'static str,
    pub inputs: &'a [String],
    pub outputs: &'a [String],
    pub config: bool,
}

/// The ProvDM description layer of the configured steps and stages: an ActivityDescription
/// each (its id from what it runs and on what: an edited step is another description), the
/// roles it uses and generates, and an EntityDescription per role.
pub fn describe(steps: &[StepShape]) -> crate::db::ProvDescriptions {
    use crate::db::{ProvActivityDescription, ProvEntityDescription, ProvRoleDescription};
    use md5::Digest;
    let mut out = crate::db::ProvDescriptions::default();
    let mut roles = std::collections::BTreeSet::new();
    for step in steps {
        let key = format!("{}|{}|{}|{}|{}|{}", step.kind, step.name, step.program, step.inputs.join(","), step.outputs.join(","), step.config);
        let digest: String = md5::Md5::digest(key.as_bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect();
        let id = format!("ad-{}-{digest}", step.name);
        out.activities.push(ProvActivityDescription {
            id: id.clone(),
            name: step.name.to_string(),
            program: step.program.to_string(),
            kind: step.kind.to_string(),
        });
        let inputs = step.inputs.iter().map(String::as_str).chain(step.config.then_some("config"));
        for (list, templates) in
            [(&mut out.usages, inputs.collect::<Vec<_>>()), (&mut out.generations, step.outputs.iter().map(String::as_str).collect())]
        {
            for template in templates {
                let role = entity_name(template);
                roles.insert(role);
                let description =
                    ProvRoleDescription { activity_description_id: id.clone(), role: role.to_string(), entity_description_id: format!("ed-{role}") };
                if !list.contains(&description) {
                    list.push(description);
                }
            }
        }
    }
    out.entities = roles
        .into_iter()
        .map(|role| ProvEntityDescription { id: format!("ed-{role}"), name: role.to_string(), content_type: role_content_type(role).to_string() })
        .collect();
    out
}

/// A fresh activity id (LSTOSA used 6 hex digits of a uuid4; 12 make clashes negligible).
pub fn activity_id() -> String {
    format!("{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff)
}

/// Shorthand to build a record from key/value pairs.
pub fn record(pairs: Vec<(&str, Value)>) -> ProvRecord {
    ProvRecord::new(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn both_line_formats_and_bare_payloads_parse() {
        let ours = record(vec![
            ("activity_id", json!("a1")),
            ("endTime", json!("2026-01-05T21:00:00")),
            ("status", json!("failed")),
            ("return_code", json!(1)),
        ]);
        let line = ours.to_line("2026-01-05T21:00:01.000000");
        let back = parse_line(&line).unwrap().unwrap();
        assert_eq!(back.fields, ours.fields);
        assert_eq!(back.kind(), RecordKind::End);

        let legacy = "INFO provLogger __PROV__2026-11-23T15:21:58.047489__PROV__{'activity_id': '1908fe', 'used_id': '00eb', 'used_role': 'Subrun for pedestal', 'session_tag': 'drs4_pedestal:01804-01809'}";
        let record = parse_line(legacy).unwrap().unwrap();
        assert_eq!(record.kind(), RecordKind::Used);
        assert_eq!(record.timestamp.as_deref(), Some("2026-11-23T15:21:58.047489"));

        let bare = "{'session_id': '2020011701807', 'name': '01807', 'system': {'num_cpus': 2}}";
        assert_eq!(parse_line(bare).unwrap().unwrap().kind(), RecordKind::Session);
    }

    #[test]
    fn bad_lines_are_reported_not_fatal() {
        assert!(parse_line("WARNING provLogger No info from entity").unwrap_err().contains("no __PROV__ framing"));
        assert!(parse_line("INFO provLogger __PROV__x__PROV__{'a': 1").is_err());
        assert!(parse_line("INFO __PROV__a__PROV__b__PROV__{}").is_err());
        assert_eq!(parse_line("   ").unwrap(), None);
    }
}
