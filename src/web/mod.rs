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

/// Why a visitor's path is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PathRefused {
    #[error("{0}: refused: a path with `..` in it")]
    Parent(String),
    #[error("{0}: refused: not an absolute path")]
    Relative(String),
    #[error("{0}: refused: outside the data root {1}")]
    Outside(String, String),
    #[error("{0}: refused: only the SVG graphs and PDF data checks osa made are shown")]
    Kind(String),
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

/// A graph or data-check PDF to show: inside the data root, and one of the two kinds.
pub fn shown_file(data_root: &Path, given: &str) -> Result<(PathBuf, &'static str), PathRefused> {
    let path = inside_data_root(data_root, given)?;
    let kind = match path.extension().and_then(|e| e.to_str()) {
        Some("svg") => "image/svg+xml",
        Some("pdf") => "application/pdf",
        _ => return Err(PathRefused::Kind(given.to_string())),
    };
    Ok((path, kind))
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
        assert!(matches!(shown_file(root, "/data/DL1/x.h5"), Err(PathRefused::Kind(_))));
        assert_eq!(shown_file(root, "/data/OSA/g.svg").map(|(_, k)| k), Ok("image/svg+xml"));
    }

    #[test]
    fn a_link_out_of_the_data_root_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("data");
        std::fs::create_dir_all(&root).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("etc")).unwrap();
        let given = root.join("etc/passwd");
        assert!(matches!(inside_data_root(&root, given.to_str().unwrap()), Err(PathRefused::Outside(..))));
    }
}
