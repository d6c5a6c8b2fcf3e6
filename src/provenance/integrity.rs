//! A night's products checked after the fact: every product the closer recorded (its outputs
//! row: path, size, sha256) hashed again, and the night's product folders listed for files
//! no record names. What `osa verify` and the daemon's verify schedule report: one byte
//! changed in a product after closing is found here, never assumed away.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use crate::db::{Db, DbError, OutputRecord};
use crate::hashing::sha256_file;
use crate::night::NightDate;

/// One difference between the record and the disk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "finding", rename_all = "snake_case")]
pub enum Finding {
    /// Its content is not the one recorded.
    Changed {
        path: String,
        run: u32,
        subrun: u32,
        kind: String,
        recorded_sha256: String,
        sha256: String,
    },
    Missing {
        path: String,
        run: u32,
        subrun: u32,
        kind: String,
    },
    /// There, but it cannot be read.
    Unreadable {
        path: String,
        run: u32,
        subrun: u32,
        kind: String,
        error: String,
    },
    /// In the night's product folders, in no record.
    Unrecorded {
        path: String,
    },
}

impl Finding {
    pub fn path(&self) -> &str {
        match self {
            Self::Changed { path, .. } | Self::Missing { path, .. } | Self::Unreadable { path, .. } | Self::Unrecorded { path } => path,
        }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Changed { path, run, subrun, kind, recorded_sha256, sha256 } => {
                write!(f, "changed: {path} (run {run:05} subrun {subrun:04} {kind}: sha256 {sha256}, recorded {recorded_sha256})")
            }
            Self::Missing { path, run, subrun, kind } => write!(f, "missing: {path} (run {run:05} subrun {subrun:04} {kind})"),
            Self::Unreadable { path, run, subrun, kind, error } => {
                write!(f, "unreadable: {path} (run {run:05} subrun {subrun:04} {kind}): {error}")
            }
            Self::Unrecorded { path } => write!(f, "unrecorded: {path} (no record names it)"),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct IntegrityReport {
    pub date: String,
    pub run: Option<u32>,
    /// Recorded products hashed again.
    pub checked: usize,
    /// Files of the product folders looked at.
    pub listed: usize,
    pub findings: Vec<Finding>,
}

#[derive(Debug, thiserror::Error)]
pub enum IntegrityError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("night {night}: nothing recorded{}: is the night closed?", run.map(|r| format!(" for run {r:05}")).unwrap_or_default())]
    NothingRecorded { night: NightDate, run: Option<u32> },
    #[error("night {night}: cannot list {path}: {source}")]
    Io { night: NightDate, path: PathBuf, source: std::io::Error },
}

/// Checks the night's (or one run's) recorded products against the disk and lists the files
/// of `product_dirs` (the night's final layout) no record names (for one run: those whose
/// name carries its number).
pub fn check_night(db: &Db, night: NightDate, run: Option<u32>, product_dirs: &[PathBuf]) -> Result<IntegrityReport, IntegrityError> {
    let records = match run {
        Some(run) => db.outputs_of_run(night, run)?,
        None => db.outputs_of_night(night)?,
    };
    if records.is_empty() {
        return Err(IntegrityError::NothingRecorded { night, run });
    }
    let recorded: BTreeSet<&str> = records.iter().map(|r| r.path.as_str()).collect();
    // Only products found right were recorded as such: a bad one was never a product.
    let right: Vec<&OutputRecord> = records.iter().filter(|r| r.verdict == "ok").collect();
    let mut findings: Vec<Finding> = right.par_iter().filter_map(|r| check(r)).collect();
    let mut files = Vec::new();
    for dir in product_dirs {
        list_files(dir, &mut files).map_err(|source| IntegrityError::Io { night, path: dir.clone(), source })?;
    }
    let of_run = |path: &Path| run.is_none_or(|r| path.file_name().is_some_and(|n| n.to_string_lossy().contains(&format!("Run{r:05}"))));
    let listed: Vec<&PathBuf> = files.iter().filter(|f| of_run(f)).collect();
    findings
        .extend(listed.iter().map(|f| f.display().to_string()).filter(|f| !recorded.contains(f.as_str())).map(|path| Finding::Unrecorded { path }));
    findings.sort_by(|a, b| a.path().cmp(b.path()));
    Ok(IntegrityReport { date: night.to_string(), run, checked: right.len(), listed: listed.len(), findings })
}

fn check(record: &OutputRecord) -> Option<Finding> {
    let (path, run, subrun, kind) = (record.path.clone(), record.run, record.subrun, record.kind.clone());
    match sha256_file(Path::new(&record.path)) {
        Ok(sha256) if sha256 == record.sha256 => None,
        Ok(sha256) => Some(Finding::Changed { path, run, subrun, kind, recorded_sha256: record.sha256.clone(), sha256 }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(Finding::Missing { path, run, subrun, kind }),
        Err(e) => Some(Finding::Unreadable { path, run, subrun, kind, error: e.to_string() }),
    }
}

/// Regular files under `dir`, recursively; links are not products (the closer links to
/// products from elsewhere). A folder not made yet holds nothing.
fn list_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            list_files(&entry.path(), out)?;
        } else if kind.is_file() {
            out.push(entry.path());
        }
    }
    Ok(())
}
