//! `trace`: where a product comes from, read from the database: the activity that made it
//! (with its parameters, host, job, software), then the same for each of its inputs, back to
//! files no activity made (R0). The traced file's content (or every file's) is compared with its recorded hash.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

use crate::db::{Db, DbError, ProvActivity, ProvEntity};

/// One step of a trace.
#[derive(Debug, Serialize)]
pub struct TraceStep {
    pub file: String,
    pub sha256: Option<String>,
    /// Its content now against the recorded hash: `unchanged`, `changed`, `missing`,
    /// `unreadable`; `None` without a recorded hash.
    pub current: Option<&'static str>,
    /// The activity that made it; `None` for inputs with no recorded maker (R0 files).
    pub activity: Option<String>,
    pub run: Option<i64>,
    pub subrun: Option<i64>,
    pub started_at: Option<String>,
    pub status: Option<String>,
    pub host: Option<String>,
    pub slurm_job: Option<String>,
    pub software: Option<String>,
    pub parameters: Vec<(String, String)>,
    /// Already shown above in this trace.
    pub repeated: bool,
    pub inputs: Vec<TraceStep>,
}

/// Which files of a trace are hashed again against their records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// The traced file only (a chain holds R0 files of gigabytes).
    Product,
    /// Every file of the chain.
    Chain,
}

/// What one level of the chain's records says, read a level at a time (a DL2 file's chain
/// holds a few hundred files: one query per file would take a second at archive scale).
#[derive(Default)]
struct Records {
    entities: HashMap<String, ProvEntity>,
    makers: HashMap<String, ProvActivity>,
    inputs: HashMap<String, Vec<String>>,
    parameters: HashMap<String, Vec<(String, String)>>,
}

/// The chain behind the file at `location`, back to files no activity made.
pub fn trace(db: &Db, location: &str, check: Check) -> Result<TraceStep, DbError> {
    let mut records = Records::default();
    let mut frontier = vec![location.to_string()];
    let mut looked: BTreeSet<String> = frontier.iter().cloned().collect();
    for _ in 0..=MAX_DEPTH {
        if frontier.is_empty() {
            break;
        }
        let entities = db.entities_at(&frontier)?;
        // A location's current version is the latest recorded.
        for entity in entities {
            match records.entities.get(&entity.location) {
                Some(known) if known.recorded_at >= entity.recorded_at => {}
                _ => {
                    records.entities.insert(entity.location.clone(), entity);
                }
            }
        }
        let ids: Vec<String> = frontier.iter().filter_map(|l| records.entities.get(l)).map(|e| e.id.clone()).collect();
        let makers = db.generators_of(&ids)?;
        let activities: Vec<String> = makers.iter().map(|(_, a)| a.id.clone()).collect();
        let (used, parameters) = db.inputs_of_many(&activities)?;
        for parameter in parameters {
            records.parameters.entry(parameter.activity_id).or_default().push((parameter.name, parameter.value));
        }
        frontier = Vec::new();
        for (activity, input, _role) in used {
            if looked.insert(input.location.clone()) {
                frontier.push(input.location.clone());
            }
            records.inputs.entry(activity).or_default().push(input.location);
        }
        records.makers.extend(makers);
    }
    Ok(step_of(&records, location, check, &mut BTreeSet::new(), 0))
}

/// Deeper than any chain osa writes (R0 -> DL1a -> DL1b -> merged -> DL2 is four).
const MAX_DEPTH: usize = 12;

fn step_of(records: &Records, location: &str, check: Check, seen: &mut BTreeSet<String>, depth: usize) -> TraceStep {
    let entity = records.entities.get(location);
    let sha256 = entity.and_then(|e| e.sha256.clone());
    let hashed = check == Check::Chain || depth == 0;
    let current = sha256.as_ref().filter(|_| hashed).map(|recorded| match crate::hashing::sha256_file(std::path::Path::new(location)) {
        Ok(now) if now == *recorded => "unchanged",
        Ok(_) => "changed",
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "missing",
        Err(_) => "unreadable",
    });
    let mut step = TraceStep {
        file: location.to_string(),
        sha256,
        current,
        activity: None,
        run: None,
        subrun: None,
        started_at: None,
        status: None,
        host: None,
        slurm_job: None,
        software: None,
        parameters: Vec::new(),
        repeated: false,
        inputs: Vec::new(),
    };
    let Some(entity) = entity else { return step };
    if depth > MAX_DEPTH || !seen.insert(entity.id.clone()) {
        step.repeated = true;
        return step;
    }
    let Some(activity) = records.makers.get(&entity.id) else { return step };
    step.activity = Some(activity.name.clone());
    step.run = Some(activity.run);
    step.subrun = activity.subrun;
    step.started_at = Some(activity.started_at.to_string());
    step.status = Some(activity.status.clone());
    step.host = activity.host.clone();
    step.slurm_job = activity.slurm_job.clone();
    step.software = activity.software.clone();
    step.parameters = records.parameters.get(&activity.id).cloned().unwrap_or_default();
    for input in records.inputs.get(&activity.id).into_iter().flatten() {
        step.inputs.push(step_of(records, input, check, seen, depth + 1));
    }
    step
}
