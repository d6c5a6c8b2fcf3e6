//! Merging a night's `prov.log` into run-level and night-level records, as LSTOSA's
//! provprocess does but streamed and with content hashes kept:
//! - one pass splits the log into one spool file per run (records carry their run in their
//!   `session_tag`), so memory holds one run at a time, never the night;
//! - per run, every subrun activity of a step collapses into one run-level activity, and the
//!   subrun files of each kind into a collection entity (`SetCollection`, with `hadMember`);
//!   files shared by all subruns (calibration, configs) stay single entities;
//! - the run record is written as W3C PROV-JSON (`…_prov.json`) and a graph (`…_prov.svg`,
//!   rendered by layout-rs), and stored in the database (run-level and subrun-level rows, so
//!   `osa provenance trace` reaches the R0 files, hosts and SLURM jobs);
//! - a DATA run's documents carry the night's calibration too, as LSTOSA's provprocess
//!   writes them: `calibration_to_dl1_RRRRR_prov.json` (calibration, R0 to DL1, DL1b, the
//!   data checks, the merges) and `calibration_to_dl2_RRRRR_prov.json` (the same and DL2);
//! - a product moved to the final layout keeps its entity (id, hash) with its new location,
//!   so the closing stages that read it at its new place link to the step that made it;
//! - the night record lists the run-level activities and collections of every run, and the
//!   sessions they belong to.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::{ProvRecord, ReadProblem, RecordKind, read_log};
use crate::db::{Db, DbError, ProvActivity, ProvAgent, ProvAssociation, ProvBatch, ProvDescriptions, ProvEntity, ProvLink, ProvParameter};
use crate::night::NightDate;

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("night {night}: provenance {path}: {source}")]
    Io { night: NightDate, path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Db(#[from] DbError),
}

impl MergeError {
    /// For `map_err`: an I/O error on `path` while merging `night`.
    fn io(night: NightDate, path: &Path) -> impl FnOnce(std::io::Error) -> MergeError + use<> {
        let path = path.to_path_buf();
        move |source| MergeError::Io { night, path, source }
    }
}

/// What a merge needs to know of the night besides its log.
#[derive(Clone, Debug, Default)]
pub struct MergeOptions {
    /// The PEDCALIB run of the night's calibration (its records join every DATA run's
    /// documents); `None` when the calibration came from an earlier night.
    pub calibration_run: Option<u32>,
    /// Steps that make DL2: only in the `calibration_to_dl2` documents.
    pub dl2_steps: BTreeSet<String>,
    /// The production merged (see [`RunRecord::production`]).
    pub production: String,
    /// Runs whose last subrun was dropped: the subruns kept and the audited words, written on
    /// the run's session.
    pub subrun_overrides: BTreeMap<u32, (u32, String)>,
    /// The ProvDM description layer of the configured steps and stages.
    pub descriptions: ProvDescriptions,
}

/// What a merge produced.
#[derive(Debug, Default)]
pub struct MergeReport {
    /// (run, PROV-JSON file, SVG file): per DATA run its `calibration_to_dl1` and
    /// `calibration_to_dl2` documents, the calibration's, and the night stages'.
    pub runs: Vec<(u32, PathBuf, PathBuf)>,
    pub night_json: Option<PathBuf>,
    pub records: usize,
    pub problems: Vec<ReadProblem>,
}

fn md5_hex(text: &str) -> String {
    use md5::Digest;
    md5::Md5::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The run a record belongs to, from its tag (`step:RRRRR`, calibration `step:DDDDD-PPPPP`)
/// or, for sessions, its name.
fn run_of(record: &ProvRecord) -> Option<u32> {
    let tag = record
        .str("session_tag")
        .map(|t| t.rsplit(':').next().unwrap_or(t))
        .or_else(|| record.str("name").filter(|_| record.kind() == RecordKind::Session))?;
    tag.rsplit('-').next()?.parse().ok()
}

fn parse_time(text: Option<&str>) -> Option<chrono::NaiveDateTime> {
    let text = text?;
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").ok()
}

/// Splits the log into per-run spool files (one JSON record per line).
fn split(log: &Path, spool: &Path, night: NightDate) -> Result<(BTreeMap<u32, PathBuf>, usize, Vec<ReadProblem>), MergeError> {
    let io = |path: &Path| MergeError::io(night, path);
    std::fs::create_dir_all(spool).map_err(io(spool))?;
    let mut writers: HashMap<u32, BufWriter<File>> = HashMap::new();
    let mut files = BTreeMap::new();
    let mut count = 0;
    let mut failure = None;
    let mut problems = read_log(log, |line, record| {
        if failure.is_some() {
            return;
        }
        let Some(run) = run_of(&record) else {
            tracing::warn!("{}:{line}: record without a run tag, not merged", log.display());
            return;
        };
        count += 1;
        if !writers.contains_key(&run) {
            let path = spool.join(format!("run_{run}.jsonl"));
            match File::create(&path) {
                Ok(file) => {
                    files.insert(run, path);
                    writers.insert(run, BufWriter::new(file));
                }
                Err(e) => {
                    failure = Some(e);
                    return;
                }
            }
        }
        let writer = writers.get_mut(&run).expect("just inserted");
        let mut fields = record.fields;
        // When a version of a file was seen: of the versions at one place, the latest is current.
        if let Some(at) = record.timestamp.filter(|_| fields.contains_key("entity_id")) {
            fields.insert("logged_at".to_string(), json!(at));
        }
        if let Err(e) = writeln!(writer, "{}", Value::Object(fields)) {
            failure = Some(e);
        }
    })
    .map_err(io(log))?;
    if let Some(e) = failure {
        return Err(MergeError::Io { night, path: spool.to_path_buf(), source: e });
    }
    for (_, mut writer) in writers {
        writer.flush().map_err(io(spool))?;
    }
    problems.sort_by_key(|p| p.line);
    Ok((files, count, problems))
}

/// A run's records collapsed.
#[derive(Clone, Debug, Default)]
pub struct RunRecord {
    pub run: u32,
    pub session: Option<Map<String, Value>>,
    /// step name → run-level activity
    pub steps: BTreeMap<String, StepSummary>,
    /// entity id → entity fields (subrun members and singles)
    pub entities: BTreeMap<String, Map<String, Value>>,
    /// subrun activity id → (step, fields of its start record + end)
    pub activities: BTreeMap<String, Map<String, Value>>,
    pub used: BTreeSet<(String, String, String)>,
    pub generated: BTreeSet<(String, String, String)>,
    pub agents: BTreeSet<String>,
    /// The production whose `prov.log` it comes from: part of the run-level ids, so the same
    /// night and run merged under two productions keep two sets of records.
    pub production: String,
    /// The ProvDM descriptions its steps may point at (by step name).
    pub descriptions: ProvDescriptions,
}

impl RunRecord {
    /// This run's record with `other`'s (the calibration's) steps, activities, entities and
    /// links added; the session stays this run's.
    fn with(&self, other: &RunRecord) -> RunRecord {
        let mut out = self.clone();
        for (name, step) in &other.steps {
            out.steps.entry(name.clone()).or_insert_with(|| step.clone());
        }
        for (id, fields) in &other.activities {
            out.activities.entry(id.clone()).or_insert_with(|| fields.clone());
        }
        for (id, fields) in &other.entities {
            out.entities.entry(id.clone()).or_insert_with(|| fields.clone());
        }
        out.used.extend(other.used.iter().cloned());
        out.generated.extend(other.generated.iter().cloned());
        out.agents.extend(other.agents.iter().cloned());
        let d = &mut out.descriptions;
        let o = &other.descriptions;
        union(&mut d.activities, &o.activities);
        union(&mut d.entities, &o.entities);
        union(&mut d.usages, &o.usages);
        union(&mut d.generations, &o.generations);
        out
    }

    /// A run's record rebuilt from its database rows (`osa provenance export`): what
    /// [`run_batch`] stored, so the documents written from it are the merge's.
    pub fn from_batch(batch: &ProvBatch, run: u32, production: &str) -> RunRecord {
        let mut r = RunRecord { run, production: production.to_string(), descriptions: batch.descriptions.clone(), ..RunRecord::default() };
        let mut parameters: HashMap<&str, Map<String, Value>> = HashMap::new();
        for p in &batch.parameters {
            parameters.entry(p.activity_id.as_str()).or_default().insert(p.name.clone(), json!(p.value));
        }
        // The run-level views are made again from the subrun-level activities, as the merge
        // makes them.
        for a in batch.activities.iter().filter(|a| a.status != MERGED) {
            let mut fields = Map::new();
            let mut parameters = parameters.remove(a.id.as_str()).unwrap_or_default();
            let step = r.steps.entry(a.name.clone()).or_default();
            step.subrun_activities += 1;
            let start = iso(a.started_at);
            if step.start.as_ref().is_none_or(|old| start < *old) {
                step.start = Some(start.clone());
            }
            if let Some(Value::String(script)) = parameters.remove("script") {
                step.scripts.insert(script.clone());
                fields.insert("script".to_string(), json!(script));
            }
            if a.status == "failed" {
                step.failed_tries += 1;
            }
            if let Some(end) = a.ended_at.map(iso) {
                if step.end.as_ref().is_none_or(|old| end > *old) {
                    step.end = Some(end.clone());
                }
                fields.insert("endTime".to_string(), json!(end));
                fields.insert("status".to_string(), json!(a.status));
            }
            fields.insert("name".to_string(), json!(a.name));
            fields.insert("startTime".to_string(), json!(start));
            let optional = [
                ("subrun", a.subrun.map(Value::from)),
                ("return_code", a.return_code.map(Value::from)),
                ("attempt", a.attempt.map(Value::from)),
                ("host", a.host.clone().map(Value::from)),
                ("slurm_job", a.slurm_job.clone().map(Value::from)),
                ("software", a.software.clone().map(Value::from)),
            ];
            for (key, value) in optional {
                if let Some(value) = value {
                    fields.insert(key.to_string(), value);
                }
            }
            if !parameters.is_empty() {
                fields.insert("parameters".to_string(), Value::Object(parameters));
            }
            r.activities.insert(a.id.clone(), fields);
        }
        r.agents = batch.agents.iter().map(|a| a.id.clone()).collect();
        for e in batch.entities.iter().filter(|e| !e.kind.starts_with("collection:")) {
            let mut fields = Map::new();
            fields.insert("entity_id".to_string(), json!(e.id));
            fields.insert("name".to_string(), json!(e.label.as_deref().unwrap_or("File")));
            fields.insert("filepath".to_string(), json!(e.location));
            if let Some(content_type) = &e.content_type {
                fields.insert("contentType".to_string(), json!(content_type));
            }
            if let Some(hash) = &e.sha256 {
                fields.insert("hash".to_string(), json!(hash));
                fields.insert("hash_type".to_string(), json!("sha256"));
            }
            r.entities.insert(e.id.clone(), fields);
        }
        let link = |l: &crate::db::ProvLink| (l.activity_id.clone(), l.entity_id.clone(), l.role.clone());
        r.used = batch.used.iter().filter(|l| r.activities.contains_key(&l.activity_id)).map(link).collect();
        r.generated = batch.generated.iter().filter(|l| r.activities.contains_key(&l.activity_id)).map(link).collect();
        r
    }

    /// Without the given steps (their activities and links).
    fn without(&self, steps: &BTreeSet<String>) -> RunRecord {
        let mut out = self.clone();
        out.steps.retain(|name, _| !steps.contains(name));
        let dropped: BTreeSet<String> = out
            .activities
            .iter()
            .filter(|(_, f)| f.get("name").and_then(Value::as_str).is_some_and(|n| steps.contains(n)))
            .map(|(id, _)| id.clone())
            .collect();
        out.activities.retain(|id, _| !dropped.contains(id));
        out.used.retain(|(a, _, _)| !dropped.contains(a));
        out.generated.retain(|(a, _, _)| !dropped.contains(a));
        out
    }
}

/// Adds what `other` has and `list` has not.
fn union<T: Clone + PartialEq>(list: &mut Vec<T>, other: &[T]) {
    for item in other {
        if !list.contains(item) {
            list.push(item.clone());
        }
    }
}

/// The status of a run-level view's activity in the database (its subrun activities have
/// `ok` or `failed`).
const MERGED: &str = "merged";

fn iso(at: chrono::NaiveDateTime) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

#[derive(Clone, Debug, Default)]
pub struct StepSummary {
    pub start: Option<String>,
    pub end: Option<String>,
    pub subrun_activities: usize,
    pub failed_tries: usize,
    pub hosts: BTreeSet<String>,
    pub scripts: BTreeSet<String>,
}

fn read_run(path: &Path, run: u32, production: &str) -> std::io::Result<RunRecord> {
    let mut r = RunRecord { run, production: production.to_string(), ..RunRecord::default() };
    let mut step_of: HashMap<String, String> = HashMap::new();
    // A moved product's entity id at its new place → its id where it was made.
    let mut moved: HashMap<String, String> = HashMap::new();
    for line in BufReader::new(File::open(path)?).lines() {
        let line = line?;
        let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(&line) else { continue };
        let record = ProvRecord::new(fields);
        let s = |k: &str| record.str(k).map(str::to_string);
        let entity = |k: &str| s(k).map(|id| moved.get(&id).cloned().unwrap_or(id));
        match record.kind() {
            RecordKind::Move => {
                let (Some(from), Some(to)) = (s("moved_from"), s("filepath")) else { continue };
                let hash = s("hash");
                let (old, new) = (super::entity_id(Path::new(&from), hash.as_deref()), super::entity_id(Path::new(&to), hash.as_deref()));
                if let Some(fields) = r.entities.get_mut(&old) {
                    fields.insert("filepath".to_string(), json!(to));
                    fields.insert("moved_from".to_string(), json!(from));
                }
                moved.insert(new, old);
            }
            RecordKind::Session => {
                if r.session.is_none() {
                    r.session = Some(record.fields.clone());
                }
            }
            RecordKind::ActivityStart => {
                let (Some(id), Some(name)) = (s("activity_id"), s("name")) else { continue };
                step_of.insert(id.clone(), name.clone());
                let step = r.steps.entry(name).or_default();
                step.subrun_activities += 1;
                if let Some(start) = s("startTime")
                    && step.start.as_ref().is_none_or(|old| start < *old)
                {
                    step.start = Some(start);
                }
                if let Some(script) = s("script") {
                    step.scripts.insert(script);
                }
                if let Some(agent) = s("agent_name") {
                    r.agents.insert(agent);
                }
                r.activities.insert(id, record.fields.clone());
            }
            RecordKind::End => {
                let Some(id) = s("activity_id") else { continue };
                if let Some(activity) = r.activities.get_mut(&id) {
                    for key in ["endTime", "status", "return_code"] {
                        if let Some(v) = record.fields.get(key) {
                            activity.insert(key.to_string(), v.clone());
                        }
                    }
                }
                if let Some(step) = step_of.get(&id).and_then(|n| r.steps.get_mut(n)) {
                    if record.str("status") == Some("failed") {
                        step.failed_tries += 1;
                    }
                    if let Some(end) = s("endTime")
                        && step.end.as_ref().is_none_or(|old| end > *old)
                    {
                        step.end = Some(end);
                    }
                }
            }
            RecordKind::Entity => {
                let Some(id) = entity("entity_id") else { continue };
                match r.entities.get_mut(&id) {
                    // A moved product read again at its new place: it keeps the name it was
                    // made under; its hash is the latest seen.
                    Some(known) if known.contains_key("moved_from") => {
                        for key in ["hash", "hash_type"] {
                            if let Some(v) = record.fields.get(key) {
                                known.insert(key.to_string(), v.clone());
                            }
                        }
                    }
                    _ => {
                        let mut fields = record.fields.clone();
                        fields.insert("entity_id".to_string(), json!(id));
                        r.entities.insert(id, fields);
                    }
                }
            }
            RecordKind::Used => {
                if let (Some(a), Some(e)) = (s("activity_id"), entity("used_id")) {
                    r.used.insert((a, e, s("used_role").unwrap_or_default()));
                }
            }
            RecordKind::Generated => {
                if let (Some(a), Some(e)) = (s("activity_id"), entity("generated_id")) {
                    r.generated.insert((a, e, s("generated_role").unwrap_or_default()));
                }
            }
            RecordKind::Parameters => {
                if let (Some(id), Some(parameters)) = (s("activity_id"), record.fields.get("parameters"))
                    && let Some(activity) = r.activities.get_mut(&id)
                {
                    activity.insert("parameters".to_string(), parameters.clone());
                }
            }
            RecordKind::Derivation | RecordKind::Other => {}
        }
    }
    // Hosts of each step, from the session records' system block when present.
    let host = r.session.as_ref().and_then(|s| s.get("system")).and_then(|s| s.get("host")).and_then(Value::as_str).map(str::to_string);
    if let Some(host) = host {
        for step in r.steps.values_mut() {
            step.hosts.insert(host.clone());
        }
    }
    Ok(r)
}

fn is_subrun_entity(fields: &Map<String, Value>) -> bool {
    fields.get("name").and_then(Value::as_str).is_some_and(|n| n.contains("Subrun"))
}

/// Run-level ids: stable, so re-merging a night rewrites the same records; the production
/// keeps another production's merge of the same night and run apart.
fn step_activity_id(night: NightDate, r: &RunRecord, step: &str) -> String {
    md5_hex(&format!("{}:{night}:{}:{step}", r.production, r.run))[..12].to_string()
}

fn collection_id(night: NightDate, r: &RunRecord, name: &str) -> String {
    md5_hex(&format!("{}:{night}:{}:{name}:collection", r.production, r.run))
}

/// The run-level view: (collections: id → (name, members, folder)), and the run-level
/// used/generated links (activity id, entity or collection id, role).
struct RunView {
    collections: BTreeMap<String, (String, Vec<String>, String)>,
    used: BTreeSet<(String, String, String)>,
    generated: BTreeSet<(String, String, String)>,
}

fn run_view(night: NightDate, r: &RunRecord) -> RunView {
    let step_of = |activity: &str| r.activities.get(activity).and_then(|a| a.get("name")).and_then(Value::as_str).map(str::to_string);
    let name_of = |entity: &str| r.entities.get(entity).and_then(|f| f.get("name")).and_then(Value::as_str).unwrap_or("File").to_string();
    // Files of one kind a step reads or writes by the many (a night stage's run-wise data
    // checks) form a collection too, as subrun files do.
    let mut many: HashMap<(String, String), BTreeSet<String>> = HashMap::new();
    for (activity, entity, _) in r.used.iter().chain(&r.generated) {
        if let Some(step) = step_of(activity) {
            many.entry((step, name_of(entity))).or_default().insert(entity.clone());
        }
    }
    let grouped: BTreeSet<String> = many.into_values().filter(|e| e.len() > 1).flatten().collect();
    let mut collections: BTreeMap<String, (String, Vec<String>, String)> = BTreeMap::new();
    let mut target = |entity: &str| -> String {
        match r.entities.get(entity) {
            Some(fields) if is_subrun_entity(fields) || grouped.contains(entity) => {
                let name = fields.get("name").and_then(Value::as_str).unwrap_or("File").replace("Subrun", "");
                let id = collection_id(night, r, &name);
                let folder = fields
                    .get("filepath")
                    .and_then(Value::as_str)
                    .and_then(|p| Path::new(p).parent())
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                let entry = collections.entry(id.clone()).or_insert_with(|| (format!("{name}Collection"), Vec::new(), folder));
                if !entry.1.iter().any(|m| m == entity) {
                    entry.1.push(entity.to_string());
                }
                id
            }
            _ => entity.to_string(),
        }
    };
    let mut used = BTreeSet::new();
    let mut generated = BTreeSet::new();
    for (activity, entity, role) in &r.used {
        if let Some(step) = step_of(activity) {
            used.insert((step_activity_id(night, r, &step), target(entity), role.replace("Subrun", "")));
        }
    }
    for (activity, entity, role) in &r.generated {
        if let Some(step) = step_of(activity) {
            generated.insert((step_activity_id(night, r, &step), target(entity), role.replace("Subrun", "")));
        }
    }
    RunView { collections, used, generated }
}

fn id(x: &str) -> String {
    format!("id:{x}")
}

/// The W3C PROV-JSON document of one run (run-level view).
pub fn run_prov_json(night: NightDate, r: &RunRecord) -> Value {
    let descriptions = &r.descriptions;
    let view = run_view(night, r);
    let mut entity = Map::new();
    let mut activity = Map::new();
    let mut agent = Map::new();
    let mut used = Map::new();
    let mut generated = Map::new();
    let mut members = Map::new();
    let mut association = Map::new();
    let session_id = format!("{}{:05}", night.compact(), r.run);
    entity.insert(
        id(&session_id),
        json!({"prov:label": format!("{:05}", r.run), "prov:type": "ExecutionSession", "observation_date": night.compact()}),
    );
    for (name, step) in &r.steps {
        let mut fields = json!({
            "prov:label": name,
            "in_session": id(&session_id),
            "subrun_activities": step.subrun_activities,
            "failed_tries": step.failed_tries,
        });
        // What its tasks ran: the program's version, osa's version and configuration hash,
        // the production and config file, the attempts (one value, or each one seen).
        let tasks: Vec<&Map<String, Value>> = r.activities.values().filter(|a| a.get("name").and_then(Value::as_str) == Some(name)).collect();
        let parameter = |key: &str| -> Vec<Value> {
            let values: BTreeSet<String> = tasks
                .iter()
                .filter_map(|a| a.get(key).or_else(|| a.get("parameters").and_then(|p| p.get(key))))
                .filter(|v| !v.is_null())
                .map(|v| v.to_string())
                .collect();
            values.iter().filter_map(|v| serde_json::from_str(v).ok()).collect()
        };
        for key in ["software", "osa_version", "osa_config_sha256", "prod_id", "config_file", "attempt"] {
            match parameter(key).as_slice() {
                [] => {}
                [one] => fields[key] = one.clone(),
                many => fields[key] = json!(many),
            }
        }
        if let Some(start) = &step.start {
            fields["prov:startTime"] = json!(start);
        }
        if let Some(end) = &step.end {
            fields["prov:endTime"] = json!(end);
        }
        if let Some(description) = descriptions.activities.iter().find(|d| d.name == *name) {
            fields["voprov:description"] = json!(id(&description.id));
        }
        activity.insert(id(&step_activity_id(night, r, name)), fields);
    }
    describe_in(&mut entity, &described(descriptions, r));
    let mut n = 0;
    let mut next = || {
        n += 1;
        format!("_:id{n}")
    };
    for (collection, (name, member_ids, folder)) in &view.collections {
        entity.insert(id(collection), json!({"prov:label": name, "prov:type": "SetCollection", "size": member_ids.len(), "filepath": folder}));
        for member in member_ids {
            if let Some(fields) = r.entities.get(member) {
                entity.insert(id(member), entity_json(fields));
            }
            members.insert(next(), json!({"prov:collection": id(collection), "prov:entity": id(member)}));
        }
    }
    for (a, e, role) in &view.used {
        if !view.collections.contains_key(e)
            && let Some(fields) = r.entities.get(e)
        {
            entity.insert(id(e), entity_json(fields));
        }
        used.insert(next(), json!({"prov:activity": id(a), "prov:entity": id(e), "prov:role": role}));
    }
    for (a, e, role) in &view.generated {
        if !view.collections.contains_key(e)
            && let Some(fields) = r.entities.get(e)
        {
            entity.insert(id(e), entity_json(fields));
        }
        generated.insert(next(), json!({"prov:entity": id(e), "prov:activity": id(a), "prov:role": role}));
    }
    // Each run-level activity's outputs derive from its inputs.
    let mut derived = Map::new();
    for (a, generated_entity, _) in &view.generated {
        for (_, used_entity, _) in view.used.iter().filter(|(user, _, _)| user == a) {
            derived.insert(
                format!("_:d{}", derived.len() + 1),
                json!({"prov:generatedEntity": id(generated_entity), "prov:usedEntity": id(used_entity), "prov:activity": id(a)}),
            );
        }
    }
    for name in &r.agents {
        agent.insert(id(name), json!({"prov:label": name}));
        for step in r.steps.keys() {
            association.insert(next(), json!({"prov:activity": id(&step_activity_id(night, r, step)), "prov:agent": id(name)}));
        }
    }
    let mut doc = Map::new();
    doc.insert("prefix".into(), prefix());
    for (key, value) in [
        ("entity", entity),
        ("activity", activity),
        ("agent", agent),
        ("used", used),
        ("wasGeneratedBy", generated),
        ("wasDerivedFrom", derived),
        ("wasAssociatedWith", association),
        ("hadMember", members),
    ] {
        if !value.is_empty() {
            doc.insert(key.into(), Value::Object(value));
        }
    }
    Value::Object(doc)
}

/// The descriptions of the steps a run record holds.
fn described(descriptions: &ProvDescriptions, r: &RunRecord) -> ProvDescriptions {
    let activities: Vec<_> = descriptions.activities.iter().filter(|d| r.steps.contains_key(&d.name)).cloned().collect();
    let of = |list: &[crate::db::ProvRoleDescription]| -> Vec<_> {
        list.iter().filter(|u| activities.iter().any(|a| a.id == u.activity_description_id)).cloned().collect()
    };
    let (usages, generations) = (of(&descriptions.usages), of(&descriptions.generations));
    let entities =
        descriptions.entities.iter().filter(|e| usages.iter().chain(&generations).any(|u| u.entity_description_id == e.id)).cloned().collect();
    ProvDescriptions { activities, entities, usages, generations }
}

/// The description layer as PROV entities of ProvDM's types (`voprov:`), each usage and
/// generation description pointing at its activity and entity descriptions.
fn describe_in(entity: &mut Map<String, Value>, d: &ProvDescriptions) {
    for a in &d.activities {
        entity.insert(
            id(&a.id),
            json!({"prov:type": "voprov:ActivityDescription", "prov:label": a.name, "voprov:name": a.name, "voprov:program": a.program, "voprov:kind": a.kind}),
        );
    }
    for e in &d.entities {
        entity.insert(id(&e.id), json!({"prov:type": "voprov:EntityDescription", "prov:label": e.name, "voprov:contentType": e.content_type}));
    }
    for (kind, list) in [("voprov:UsageDescription", &d.usages), ("voprov:GenerationDescription", &d.generations)] {
        for u in list {
            let key = format!("{}-{}-{}", if kind.contains("Usage") { "ud" } else { "gd" }, u.activity_description_id, u.role);
            entity.insert(
                id(&key),
                json!({
                    "prov:type": kind,
                    "prov:label": u.role,
                    "voprov:role": u.role,
                    "voprov:activityDescription": id(&u.activity_description_id),
                    "voprov:entityDescription": id(&u.entity_description_id),
                }),
            );
        }
    }
}

fn entity_json(fields: &Map<String, Value>) -> Value {
    let mut out = json!({"prov:label": fields.get("name").cloned().unwrap_or(json!("File")), "prov:type": "File"});
    for key in ["filepath", "hash", "hash_type", "contentType"] {
        if let Some(v) = fields.get(key) {
            out[key] = v.clone();
        }
    }
    out
}

/// Graphs up to this many nodes are drawn (a run's has about 30).
const MAX_DRAWN_NODES: usize = 200;

/// PROV's colours: entities yellow ellipses, activities blue boxes, agents orange.
const ENTITY_COLOUR: &str = "#fffc87";
const ACTIVITY_COLOUR: &str = "#9fb1fc";
const AGENT_COLOUR: &str = "#fed37f";

/// What a node says: a file's name (a collection's folder and size), an activity's step and
/// run, an agent's name.
fn node_label(v: &Value, run: Option<&str>) -> String {
    let label = v.get("prov:label").and_then(Value::as_str).unwrap_or("?");
    let file = v.get("filepath").and_then(Value::as_str).and_then(|p| Path::new(p).file_name()).map(|n| n.to_string_lossy().into_owned());
    let text = match (v.get("size").and_then(Value::as_u64), file, run) {
        (Some(size), Some(folder), _) => format!("{size} {label} in {folder}/"),
        (None, Some(name), _) => name,
        (_, None, Some(run)) => format!("{label} (run {run})"),
        (_, None, None) => label.to_string(),
    };
    text.replace('"', "'")
}

/// The run graph as DOT, rendered to SVG by layout-rs: coloured by kind, files by name,
/// activities with their run, a title node and a legend.
pub fn run_svg(doc: &Value, title: &str, run: Option<u32>) -> String {
    let run = run.map(|r| format!("{r:05}"));
    let mut dot = graph_head(title);
    let node = |key: &str| format!("n{}", &md5_hex(key)[..10]);
    let mut shown = BTreeSet::new();
    for (key, value) in doc.get("activity").and_then(Value::as_object).into_iter().flatten() {
        dot.push_str(&format!(
            "  {} [shape=box, style=filled, fillcolor=\"{ACTIVITY_COLOUR}\", label=\"{}\"];\n",
            node(key),
            node_label(value, run.as_deref())
        ));
        shown.insert(key.clone());
    }
    for (key, value) in doc.get("agent").and_then(Value::as_object).into_iter().flatten() {
        dot.push_str(&format!(
            "  {} [shape=ellipse, style=filled, fillcolor=\"{AGENT_COLOUR}\", label=\"{}\"];\n",
            node(key),
            node_label(value, None)
        ));
        shown.insert(key.clone());
    }
    let entities = doc.get("entity").and_then(Value::as_object);
    let mut edge = |from: &str, to: &str, dot: &mut String| {
        for key in [from, to] {
            if shown.insert(key.to_string()) {
                let l = entities.and_then(|e| e.get(key)).map(|v| node_label(v, None)).unwrap_or_else(|| key.to_string());
                dot.push_str(&format!("  {} [shape=ellipse, style=filled, fillcolor=\"{ENTITY_COLOUR}\", label=\"{l}\"];\n", node(key)));
            }
        }
        dot.push_str(&format!("  {} -> {};\n", node(from), node(to)));
    };
    for relation in doc.get("used").and_then(Value::as_object).into_iter().flatten().map(|(_, v)| v) {
        if let (Some(e), Some(a)) = (relation["prov:entity"].as_str(), relation["prov:activity"].as_str()) {
            edge(e, a, &mut dot);
        }
    }
    for relation in doc.get("wasGeneratedBy").and_then(Value::as_object).into_iter().flatten().map(|(_, v)| v) {
        if let (Some(e), Some(a)) = (relation["prov:entity"].as_str(), relation["prov:activity"].as_str()) {
            edge(a, e, &mut dot);
        }
    }
    for relation in doc.get("wasAssociatedWith").and_then(Value::as_object).into_iter().flatten().map(|(_, v)| v) {
        if let (Some(a), Some(agent)) = (relation["prov:activity"].as_str(), relation["prov:agent"].as_str()) {
            edge(a, agent, &mut dot);
        }
    }
    dot.push_str("}\n");
    // The layout library's crossing optimiser grows much faster than the graph: a graph
    // this large is left undrawn (the PROV-JSON beside it holds everything).
    if shown.len() > MAX_DRAWN_NODES {
        tracing::warn!("provenance graph not drawn: {} nodes (more than {MAX_DRAWN_NODES})", shown.len());
        return String::new();
    }
    draw(&dot)
}

/// A graph's DOT opening: its title, and the legend hanging under it.
fn graph_head(title: &str) -> String {
    let mut dot = String::from("digraph prov {\n");
    dot.push_str(&format!("  title [shape=box, fillcolor=white, fontsize=18, label=\"{}\"];\n", title.replace('"', "'")));
    for (kind, shape, colour) in [("entity", "ellipse", ENTITY_COLOUR), ("activity", "box", ACTIVITY_COLOUR), ("agent", "ellipse", AGENT_COLOUR)] {
        dot.push_str(&format!("  legend_{kind} [shape={shape}, style=filled, fillcolor=\"{colour}\", fontsize=12, label=\"{kind}\"];\n"));
    }
    // White edges: the legend hangs under the title without saying anything.
    dot.push_str("  title -> legend_entity [color=white];\n  title -> legend_activity [color=white];\n  title -> legend_agent [color=white];\n");
    dot
}

/// DOT drawn as SVG by layout-rs; empty (and said in the log) when it cannot be.
fn draw(dot: &str) -> String {
    if !dot.contains("-> n") {
        tracing::warn!("provenance graph not drawn: no used/generated relation to draw");
        return String::new();
    }
    let mut parser = layout::gv::DotParser::new(dot);
    let Ok(graph) = parser.process() else {
        tracing::warn!("provenance graph not drawn: the DOT text did not parse");
        return String::new();
    };
    // The layout library panics on graphs it cannot place: a missing picture must not stop
    // the closing of a night.
    let drawn = std::panic::catch_unwind(move || {
        let mut builder = layout::gv::GraphBuilder::new();
        builder.visit_graph(&graph);
        let mut visual = builder.get();
        let mut svg = layout::backends::svg::SVGWriter::new();
        visual.do_it(false, false, false, &mut svg);
        svg.finalize()
    });
    match drawn {
        Ok(svg) => with_sorted_style(&svg),
        Err(_) => {
            tracing::warn!("provenance graph not drawn: the layout library failed on it");
            String::new()
        }
    }
}

/// The layout library writes its font classes in hash order: sorted, the same graph is the
/// same file (a night merged again, or exported, rewrites identical graphs).
fn with_sorted_style(svg: &str) -> String {
    let (Some(start), Some(end)) = (svg.find("<style>\n"), svg.find("</style>")) else { return svg.to_string() };
    let body = start + "<style>\n".len();
    if body > end {
        return svg.to_string();
    }
    let mut classes: Vec<&str> = svg[body..end].lines().collect();
    classes.sort_unstable();
    let mut out = String::with_capacity(svg.len());
    out.push_str(&svg[..body]);
    for class in classes {
        out.push_str(class);
        out.push('\n');
    }
    out.push_str(&svg[end..]);
    out
}

/// The night's graph, one node per step and per role of file (the night's PROV-JSON holds
/// tens of thousands of records: too many to draw one by one), with how many tasks and files.
#[derive(Default)]
struct NightGraph {
    runs: usize,
    /// step → (runs, tasks)
    steps: BTreeMap<String, (usize, usize)>,
    /// role → its files
    files: BTreeMap<String, BTreeSet<String>>,
    used: BTreeSet<(String, String)>,
    generated: BTreeSet<(String, String)>,
}

impl NightGraph {
    fn add(&mut self, r: &RunRecord) {
        self.runs += 1;
        for (name, step) in &r.steps {
            let counts = self.steps.entry(name.clone()).or_default();
            counts.0 += 1;
            counts.1 += step.subrun_activities;
        }
        let step_of = |activity: &str| r.activities.get(activity).and_then(|a| a.get("name")).and_then(Value::as_str).map(str::to_string);
        for ((a, e, role), generated) in r.used.iter().map(|l| (l, false)).chain(r.generated.iter().map(|l| (l, true))) {
            let Some(step) = step_of(a) else { continue };
            self.files.entry(role.clone()).or_default().insert(e.clone());
            if generated {
                self.generated.insert((step, role.clone()));
            } else {
                self.used.insert((role.clone(), step));
            }
        }
    }

    fn svg(&self, title: &str) -> String {
        let mut dot = graph_head(title);
        let node = |kind: &str, key: &str| format!("n{}", &md5_hex(&format!("{kind}:{key}"))[..10]);
        for (step, (runs, tasks)) in &self.steps {
            let label = format!("{step}: {tasks} task(s) in {runs} run(s)");
            dot.push_str(&format!("  {} [shape=box, style=filled, fillcolor=\"{ACTIVITY_COLOUR}\", label=\"{label}\"];\n", node("step", step)));
        }
        for (role, files) in &self.files {
            let label = format!("{role}: {} file(s)", files.len());
            dot.push_str(&format!("  {} [shape=ellipse, style=filled, fillcolor=\"{ENTITY_COLOUR}\", label=\"{label}\"];\n", node("role", role)));
        }
        for (role, step) in &self.used {
            dot.push_str(&format!("  {} -> {};\n", node("role", role), node("step", step)));
        }
        for (step, role) in &self.generated {
            dot.push_str(&format!("  {} -> {};\n", node("step", step), node("role", role)));
        }
        dot.push_str("}\n");
        draw(&dot)
    }
}

/// Database rows of a run: subrun-level records (for tracing) plus the run-level view.
pub fn run_batch(night: NightDate, r: &RunRecord) -> ProvBatch {
    let descriptions = &r.descriptions;
    let view = run_view(night, r);
    let mut batch = ProvBatch { descriptions: described(descriptions, r), ..ProvBatch::default() };
    let description_of = |name: &str| descriptions.activities.iter().find(|d| d.name == name).map(|d| d.id.clone());
    let n = night.to_string();
    let run = i64::from(r.run);
    let software = r.session.as_ref().and_then(|s| s.get("software_version")).and_then(Value::as_str).map(str::to_string);
    let slurm = r.session.as_ref().and_then(|s| s.get("system")).and_then(|s| s.get("slurm_job")).and_then(Value::as_str).map(str::to_string);
    let host = r.session.as_ref().and_then(|s| s.get("system")).and_then(|s| s.get("host")).and_then(Value::as_str).map(str::to_string);
    let member_of: HashMap<&str, &str> =
        view.collections.iter().flat_map(|(c, (_, members, _))| members.iter().map(move |m| (m.as_str(), c.as_str()))).collect();
    for (activity_id, fields) in &r.activities {
        let get = |k: &str| fields.get(k).and_then(Value::as_str);
        let Some(started) = parse_time(get("startTime")) else { continue };
        batch.activities.push(ProvActivity {
            id: activity_id.clone(),
            night: n.clone(),
            run,
            subrun: fields.get("subrun").and_then(Value::as_i64),
            name: get("name").unwrap_or("?").to_string(),
            started_at: started,
            ended_at: parse_time(get("endTime")),
            status: get("status").unwrap_or("ok").to_string(),
            return_code: fields.get("return_code").and_then(Value::as_i64),
            host: get("host").map(str::to_string).or_else(|| host.clone()),
            slurm_job: get("slurm_job").map(str::to_string).or_else(|| slurm.clone()),
            software: get("software").map(str::to_string).or_else(|| software.clone()),
            attempt: fields.get("attempt").and_then(Value::as_i64),
            description_id: get("name").and_then(description_of),
        });
        if let Some(script) = get("script") {
            batch.parameters.push(ProvParameter { activity_id: activity_id.clone(), name: "script".to_string(), value: script.to_string() });
        }
        // What was run: arguments (as JSON), the config file, production, osa's version and
        // configuration hash.
        for (name, value) in fields.get("parameters").and_then(Value::as_object).into_iter().flatten() {
            let value = match value {
                Value::String(text) => text.clone(),
                Value::Null => continue,
                other => other.to_string(),
            };
            batch.parameters.push(ProvParameter { activity_id: activity_id.clone(), name: name.clone(), value });
        }
    }
    for (name, step) in &r.steps {
        let Some(started) = parse_time(step.start.as_deref()) else { continue };
        let activity = step_activity_id(night, r, name);
        batch.activities.push(ProvActivity {
            id: activity.clone(),
            night: n.clone(),
            run,
            subrun: None,
            name: name.clone(),
            started_at: started,
            ended_at: parse_time(step.end.as_deref()),
            status: MERGED.to_string(),
            return_code: None,
            host: None,
            slurm_job: None,
            software: software.clone(),
            attempt: None,
            description_id: description_of(name),
        });
        batch.parameters.push(ProvParameter {
            activity_id: activity.clone(),
            name: "subrun_activities".to_string(),
            value: step.subrun_activities.to_string(),
        });
        batch.parameters.push(ProvParameter {
            activity_id: activity.clone(),
            name: "failed_tries".to_string(),
            value: step.failed_tries.to_string(),
        });
        for agent in &r.agents {
            batch.associations.push(ProvAssociation { activity_id: activity.clone(), agent_id: agent.clone(), role: "operator".to_string() });
        }
    }
    for agent in &r.agents {
        batch.agents.push(ProvAgent { id: agent.clone(), name: agent.clone(), kind: "person".to_string() });
    }
    for (entity_id, fields) in &r.entities {
        batch.entities.push(ProvEntity {
            id: entity_id.clone(),
            night: n.clone(),
            run: Some(run),
            location: fields.get("filepath").and_then(Value::as_str).unwrap_or_default().to_string(),
            kind: "file".to_string(),
            sha256: fields
                .get("hash")
                .and_then(Value::as_str)
                .filter(|_| fields.get("hash_type").and_then(Value::as_str) == Some("sha256"))
                .map(str::to_string),
            member_of: member_of.get(entity_id.as_str()).map(|c| c.to_string()),
            recorded_at: parse_time(fields.get("logged_at").and_then(Value::as_str)),
            label: fields.get("name").and_then(Value::as_str).map(str::to_string),
            content_type: fields.get("contentType").and_then(Value::as_str).map(str::to_string),
        });
    }
    for (collection, (name, _, folder)) in &view.collections {
        batch.entities.push(ProvEntity {
            id: collection.clone(),
            night: n.clone(),
            run: Some(run),
            location: folder.clone(),
            kind: format!("collection:{name}"),
            sha256: None,
            member_of: None,
            recorded_at: None,
            label: Some(name.clone()),
            content_type: None,
        });
    }
    // An entity id may appear in two runs (shared calibration files): keep one row per id.
    let mut seen = BTreeSet::new();
    batch.entities.retain(|e| seen.insert(e.id.clone()));
    for (a, e, role) in r.used.iter().chain(&view.used) {
        batch.used.push(ProvLink { activity_id: a.clone(), entity_id: e.clone(), role: role.clone() });
    }
    for (a, e, role) in r.generated.iter().chain(&view.generated) {
        batch.generated.push(ProvLink { activity_id: a.clone(), entity_id: e.clone(), role: role.clone() });
    }
    batch
}

/// Merges the night: per-run PROV-JSON + SVG in `out_dir`, the night's PROV-JSON, and the
/// database rows. Streams the log (one run in memory at a time).
pub fn merge_night(night: NightDate, log: &Path, out_dir: &Path, db: Option<&Db>, options: &MergeOptions) -> Result<MergeReport, MergeError> {
    let io = |path: &Path| MergeError::io(night, path);
    std::fs::create_dir_all(out_dir).map_err(io(out_dir))?;
    let spool = out_dir.join(".spool");
    let (files, records, problems) = split(log, &spool, night)?;
    let read = |run: u32, path: &Path| -> Result<RunRecord, MergeError> {
        let mut record = read_run(path, run, &options.production).map_err(io(path))?;
        record.descriptions = options.descriptions.clone();
        Ok(record)
    };
    let calibration = match options.calibration_run.and_then(|run| files.get(&run).map(|path| (run, path))) {
        Some((run, path)) => Some(read(run, path)?),
        None => None,
    };
    let mut documents = Documents::create(night, out_dir, &spool, options, calibration)?;
    for (run, path) in &files {
        let record = read(*run, path)?;
        if let Some(db) = db {
            db.store_provenance(&run_batch(night, &record))?;
        }
        documents.add(record)?;
    }
    let mut report = documents.finish()?;
    report.records = records;
    report.problems = problems;
    let _ = std::fs::remove_dir_all(&spool);
    Ok(report)
}

/// The night's documents written again from the database (`osa provenance export`): the same
/// files the merge writes, from the rows it stored; with `run`, that run's documents only.
pub fn export_night(night: NightDate, db: &Db, out_dir: &Path, options: &MergeOptions, run: Option<u32>) -> Result<MergeReport, MergeError> {
    let io = |path: &Path| MergeError::io(night, path);
    std::fs::create_dir_all(out_dir).map_err(io(out_dir))?;
    let spool = out_dir.join(".spool");
    std::fs::create_dir_all(&spool).map_err(io(&spool))?;
    let read =
        |run: u32| -> Result<RunRecord, MergeError> { Ok(RunRecord::from_batch(&db.provenance_of_run(night, run)?, run, &options.production)) };
    let runs: Vec<u32> = db.provenance_runs_of_night(night)?.into_iter().map(|(run, _)| run).filter(|r| run.is_none_or(|one| one == *r)).collect();
    let calibration = match options.calibration_run.filter(|c| runs.contains(c) || run.is_some()) {
        Some(c) => Some(read(c)?),
        None => None,
    };
    let mut documents = Documents::create(night, out_dir, &spool, options, calibration)?;
    for r in &runs {
        documents.add(read(*r)?)?;
    }
    let report = if run.is_some() { documents.runs_only() } else { documents.finish()? };
    let _ = std::fs::remove_dir_all(&spool);
    Ok(report)
}

/// Writes a night's documents, a run at a time, whichever way its records were read: per run
/// its PROV-JSON and graph (a DATA run's with the night's calibration, as LSTOSA's
/// provprocess writes them), and at the end the night's PROV-JSON and graph.
struct Documents<'a> {
    night: NightDate,
    out_dir: &'a Path,
    options: &'a MergeOptions,
    calibration: Option<RunRecord>,
    night_doc: NightDocument,
    graph: NightGraph,
    report: MergeReport,
}

impl<'a> Documents<'a> {
    fn create(
        night: NightDate,
        out_dir: &'a Path,
        spool: &Path,
        options: &'a MergeOptions,
        calibration: Option<RunRecord>,
    ) -> Result<Self, MergeError> {
        let night_doc = NightDocument::create(spool).map_err(MergeError::io(night, spool))?;
        Ok(Documents { night, out_dir, options, calibration, night_doc, graph: NightGraph::default(), report: MergeReport::default() })
    }

    fn add(&mut self, record: RunRecord) -> Result<(), MergeError> {
        let (night, run) = (self.night, record.run);
        let io = |path: &Path| MergeError::io(night, path);
        self.graph.add(&record);
        let documents: Vec<(String, RunRecord)> = if Some(run) == self.options.calibration_run {
            vec![(format!("calibration_{run:05}"), record)]
        } else if run == crate::model::NIGHT_WIDE {
            vec![(format!("night_{}_closing", night.compact()), record)]
        } else {
            let whole = match &self.calibration {
                Some(c) => record.with(c),
                None => record,
            };
            vec![(format!("calibration_to_dl1_{run:05}"), whole.without(&self.options.dl2_steps)), (format!("calibration_to_dl2_{run:05}"), whole)]
        };
        for (name, record) in documents {
            let mut doc = run_prov_json(night, &record);
            if let Some((kept, why)) = self.options.subrun_overrides.get(&run) {
                let session = &mut doc["entity"][id(&format!("{}{run:05}", night.compact()))];
                session["subruns_kept"] = json!(kept);
                session["subrun_override"] = json!(why);
            }
            let json_path = self.out_dir.join(format!("{name}_prov.json"));
            let svg_path = self.out_dir.join(format!("{name}_prov.svg"));
            std::fs::write(&json_path, serde_json::to_vec_pretty(&doc).expect("JSON values serialise")).map_err(io(&json_path))?;
            let title = format!("{name}: night {night}");
            let graph_run = (run != crate::model::NIGHT_WIDE).then_some(run);
            std::fs::write(&svg_path, run_svg(&doc, &title, graph_run)).map_err(io(&svg_path))?;
            self.night_doc.add(&doc).map_err(io(&json_path))?;
            self.report.runs.push((run, json_path, svg_path));
        }
        Ok(())
    }

    /// The runs' documents written, the night's left as they were.
    fn runs_only(self) -> MergeReport {
        self.report
    }

    fn finish(mut self) -> Result<MergeReport, MergeError> {
        let night = self.night;
        let io = |path: &Path| MergeError::io(night, path);
        let night_path = self.out_dir.join(format!("night_{}_prov.json", night.compact()));
        self.night_doc.finish(&night_path).map_err(io(&night_path))?;
        let night_svg = self.out_dir.join(format!("night_{}_prov.svg", night.compact()));
        let title = format!("night {night}: {} run(s), every step", self.graph.runs);
        std::fs::write(&night_svg, self.graph.svg(&title)).map_err(io(&night_svg))?;
        self.report.night_json = Some(night_path);
        Ok(self.report)
    }
}

/// The namespaces of every document osa writes.
fn prefix() -> Value {
    json!({
        "default": "urn:lst1:osa:attr:",
        "id": "urn:lst1:osa:",
        "osa": "urn:lst1:osa:attr:",
        "voprov": "http://www.ivoa.net/documents/ProvenanceDM/ns/voprov/",
    })
}

/// The night-level PROV-JSON, written while the runs are merged: each section goes to a spool
/// file and the document is put together at the end, so the night (every run's activities,
/// sessions, entities and relations) is never one value in memory. What several documents
/// share (the calibration's activities in every DATA run's, a run's relations in both its
/// documents) is written once.
struct NightDocument {
    /// (section name, spool file, its writer, entries written so far).
    sections: Vec<(&'static str, PathBuf, BufWriter<File>, usize)>,
    /// Keys written, per section (relations keyed by what they link).
    seen: HashSet<(usize, String)>,
}

impl NightDocument {
    const SECTIONS: [&'static str; 5] = ["entity", "activity", "used", "wasGeneratedBy", "wasDerivedFrom"];
    const ENTITY: usize = 0;
    const ACTIVITY: usize = 1;
    const USED: usize = 2;
    const GENERATED: usize = 3;
    const DERIVED: usize = 4;

    fn create(spool: &Path) -> std::io::Result<Self> {
        let mut sections = Vec::new();
        for name in Self::SECTIONS {
            let path = spool.join(format!("night.{name}"));
            sections.push((name, path.clone(), BufWriter::new(File::create(&path)?), 0));
        }
        Ok(NightDocument { sections, seen: HashSet::new() })
    }

    fn write(&mut self, section: usize, key: &str, value: &Value) -> std::io::Result<()> {
        let (_, _, writer, count) = &mut self.sections[section];
        writer.write_all(if *count == 0 { b"\n    " } else { b",\n    " })?;
        serde_json::to_writer(&mut *writer, key)?;
        writer.write_all(b": ")?;
        serde_json::to_writer(&mut *writer, value)?;
        *count += 1;
        Ok(())
    }

    /// Adds a run document's activities, their sessions, its relations and the entities they
    /// touch.
    fn add(&mut self, doc: &Value) -> std::io::Result<()> {
        let entities = doc.get("entity").and_then(Value::as_object);
        let entity = |this: &mut Self, key: &str| -> std::io::Result<()> {
            if let Some(e) = entities.and_then(|all| all.get(key))
                && this.seen.insert((Self::ENTITY, key.to_string()))
            {
                this.write(Self::ENTITY, key, e)?;
            }
            Ok(())
        };
        for (key, value) in doc.get("activity").and_then(Value::as_object).into_iter().flatten() {
            if self.seen.insert((Self::ACTIVITY, key.clone())) {
                self.write(Self::ACTIVITY, key, value)?;
            }
            if let Some(session) = value.get("in_session").and_then(Value::as_str) {
                entity(self, session)?;
            }
        }
        // The description layer, once.
        for (key, value) in entities.into_iter().flatten() {
            if value.get("prov:type").and_then(Value::as_str).is_some_and(|t| t.starts_with("voprov:")) {
                entity(self, key)?;
            }
        }
        for value in doc.get("wasDerivedFrom").and_then(Value::as_object).into_iter().flatten().map(|(_, v)| v) {
            let (generated, used) =
                (value["prov:generatedEntity"].as_str().unwrap_or_default(), value["prov:usedEntity"].as_str().unwrap_or_default());
            entity(self, generated)?;
            entity(self, used)?;
            if self.seen.insert((Self::DERIVED, format!("{generated}|{used}|{}", value["prov:activity"]))) {
                let n = self.sections[Self::DERIVED].3 + 1;
                self.write(Self::DERIVED, &format!("_:d{n}"), value)?;
            }
        }
        for section in [Self::USED, Self::GENERATED] {
            let kind = Self::SECTIONS[section];
            for value in doc.get(kind).and_then(Value::as_object).into_iter().flatten().map(|(_, v)| v) {
                entity(self, value["prov:entity"].as_str().unwrap_or_default())?;
                let relation = format!("{}|{}|{}", value["prov:activity"], value["prov:entity"], value["prov:role"]);
                if self.seen.insert((section, relation)) {
                    let n = self.sections[Self::USED].3 + self.sections[Self::GENERATED].3 + 1;
                    self.write(section, &format!("_:r{n}"), value)?;
                }
            }
        }
        Ok(())
    }

    /// Writes the document beside `path` and renames it there, so a reader never sees half of it.
    fn finish(self, path: &Path) -> std::io::Result<()> {
        let partial = path.with_extension("json.partial");
        let mut out = BufWriter::new(File::create(&partial)?);
        out.write_all(br#"{"prefix": "#)?;
        serde_json::to_writer(&mut out, &prefix())?;
        for (name, spool, writer, count) in self.sections {
            drop(writer.into_inner().map_err(|e| e.into_error())?);
            write!(out, ",\n  \"{name}\": {{")?;
            std::io::copy(&mut File::open(&spool)?, &mut out)?;
            out.write_all(if count == 0 { b"}" } else { b"\n  }" })?;
        }
        out.write_all(b"\n}\n")?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&partial, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_graph_is_coloured_by_kind_labelled_by_file_and_run_with_title_and_legend() {
        let doc = json!({
            "entity": {
                "id:e1": {"prov:label": "r0_file", "filepath": "/d/R0G/20260105/LST-1.1.Run12003.0000.fits.fz"},
                "id:e2": {"prov:label": "dl1a_file", "filepath": "/d/running_analysis/20260105/v0.10/dl1_LST-1.Run12003.0000.h5"}
            },
            "activity": {"id:a1": {"prov:label": "r0_to_dl1"}},
            "agent": {"id:g1": {"prov:label": "lstanalyzer"}},
            "used": {"_:1": {"prov:activity": "id:a1", "prov:entity": "id:e1"}},
            "wasGeneratedBy": {"_:2": {"prov:activity": "id:a1", "prov:entity": "id:e2"}},
            "wasAssociatedWith": {"_:3": {"prov:activity": "id:a1", "prov:agent": "id:g1"}}
        });
        let svg = run_svg(&doc, "calibration_to_dl1_12003: night 2026-01-05", Some(12003));
        for text in [
            "calibration_to_dl1_12003: night 2026-01-05",
            "LST-1.1.Run12003.0000.fits.fz",
            "dl1_LST-1.Run12003.0000.h5",
            "r0_to_dl1 (run 12003)",
            "lstanalyzer",
            ">entity<",
            ">activity<",
            ">agent<",
        ] {
            assert!(svg.contains(text), "{text:?} not in the graph:\n{svg}");
        }
        for colour in [ENTITY_COLOUR, ACTIVITY_COLOUR, AGENT_COLOUR] {
            assert!(svg.to_lowercase().contains(colour), "{colour} not in the graph");
        }
    }
}
