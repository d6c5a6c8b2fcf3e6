//! The status page shifters and operators open in a browser, served by the daemon (`[web]`)
//! and written as files by `osa status --html DIR`. Read-only: it shows, it never acts.
//! - `data`: what each page shows, read from the database (the same night view as `osa
//!   status`), each also served as JSON;
//! - `pages`: the HTML (maud, escaped by construction; no JavaScript, nothing fetched from
//!   elsewhere), with links for the live site or for files;
//! - `server`: axum routes, a cache so a page's data is read at most once per
//!   `web.cache_seconds` whatever the number of viewers, and the checks on the two inputs a
//!   visitor gives (a product path to trace, a graph or PDF to show);
//! - `export`: the same pages as files.

pub mod data;
pub mod export;
pub mod pages;
pub mod server;

use std::path::{Component, Path, PathBuf};

use crate::paths::Layout;

/// Why a page could not be made: what was being read (the nights, a night, a run) and why.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[error("reading {what}: {why}")]
pub struct PageError {
    pub what: String,
    pub why: String,
}

impl PageError {
    pub fn new(what: impl Into<String>, why: impl std::fmt::Display) -> Self {
        PageError { what: what.into(), why: why.to_string() }
    }
}

/// Why a visitor's path is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PathRefused {
    #[error("{0}: refused: a path with `..` in it")]
    Parent(String),
    #[error("{0}: refused: not an absolute path")]
    Relative(String),
    #[error("{0}: refused: outside the data root {1}")]
    Outside(String, String),
    #[error("{0}: refused: no such file")]
    Missing(String),
    #[error("{0}: refused: only the provenance graphs and data-check PDFs osa made are shown")]
    NotOurs(String),
}

/// A path a visitor gave, accepted only inside the data root (also once its links are
/// resolved, when it exists).
pub fn inside_data_root(data_root: &Path, given: &str) -> Result<PathBuf, PathRefused> {
    let path = Path::new(given);
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(PathRefused::Parent(given.to_string()));
    }
    if !path.is_absolute() {
        return Err(PathRefused::Relative(given.to_string()));
    }
    let outside = || PathRefused::Outside(given.to_string(), data_root.display().to_string());
    if !path.starts_with(data_root) {
        return Err(outside());
    }
    if let (Ok(real), Ok(root)) = (std::fs::canonicalize(path), std::fs::canonicalize(data_root))
        && !real.starts_with(&root)
    {
        return Err(outside());
    }
    Ok(path.to_path_buf())
}

/// A file to show, with its content type: a provenance graph osa wrote (`*_prov.svg` under
/// `OSA/Provenance/`) or a PDF osa's provenance records (`recorded`), judged and read at its
/// resolved place, so a link named `.svg` leads nowhere else.
pub fn shown_file(layout: &Layout, given: &str, recorded: impl Fn(&str) -> bool) -> Result<(PathBuf, &'static str), PathRefused> {
    let path = inside_data_root(layout.data_root(), given)?;
    let real = std::fs::canonicalize(&path).map_err(|_| PathRefused::Missing(given.to_string()))?;
    let name = real.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let graphs = std::fs::canonicalize(layout.osa_dir().join("Provenance"));
    if name.ends_with("_prov.svg") && graphs.is_ok_and(|g| real.starts_with(g)) {
        return Ok((real, "image/svg+xml"));
    }
    if name.ends_with(".pdf") && (recorded(given) || recorded(&real.display().to_string())) {
        return Ok((real, "application/pdf"));
    }
    Err(PathRefused::NotOurs(given.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_visitor_path_is_refused_outside_the_data_root_or_with_parent_steps() {
        let root = Path::new("/data");
        assert!(matches!(inside_data_root(root, "/data/../etc/passwd"), Err(PathRefused::Parent(_))));
        assert!(matches!(inside_data_root(root, "/data/DL1/../../etc"), Err(PathRefused::Parent(_))));
        assert!(matches!(inside_data_root(root, "DL1/x.h5"), Err(PathRefused::Relative(_))));
        assert!(matches!(inside_data_root(root, "/etc/passwd"), Err(PathRefused::Outside(..))));
        assert_eq!(inside_data_root(root, "/data/DL1/x.h5"), Ok(PathBuf::from("/data/DL1/x.h5")));
    }

    #[test]
    fn only_graphs_and_recorded_pdfs_are_shown_and_links_are_judged_where_they_lead() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = crate::config::Config::default();
        config.paths.data_root = dir.path().join("data");
        let layout = Layout::new(&config);
        let graphs = layout.osa_dir().join("Provenance/20260105/v0.10");
        std::fs::create_dir_all(&graphs).unwrap();
        let graph = graphs.join("night_20260105_prov.svg");
        let pdf = layout.data_root().join("DL1/check.pdf");
        let secret = layout.data_root().join("osa.sqlite");
        for file in [&graph, &pdf, &secret] {
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, "x").unwrap();
        }
        let shown = |path: &Path| shown_file(&layout, path.to_str().unwrap(), |p| p == pdf.to_str().unwrap()).map(|(_, kind)| kind);
        assert_eq!(shown(&graph), Ok("image/svg+xml"));
        assert_eq!(shown(&pdf), Ok("application/pdf"));
        assert!(matches!(shown(&secret), Err(PathRefused::NotOurs(_))));
        // A link named like a graph, leading to the database, or out of the data root.
        let disguised = graphs.join("run_prov.svg");
        std::os::unix::fs::symlink(&secret, &disguised).unwrap();
        assert!(matches!(shown(&disguised), Err(PathRefused::NotOurs(_))));
        let out = layout.data_root().join("etc");
        std::os::unix::fs::symlink("/etc", &out).unwrap();
        assert!(matches!(shown(&out.join("passwd")), Err(PathRefused::Outside(..))));
        let unrecorded = layout.data_root().join("DL1/other.pdf");
        std::fs::write(&unrecorded, "x").unwrap();
        assert!(matches!(shown(&unrecorded), Err(PathRefused::NotOurs(_))));
        assert!(matches!(shown(&layout.data_root().join("DL1/none.pdf")), Err(PathRefused::Missing(_))));
    }
}
