//! `osa status --html DIR`: the status pages as files, for a site that publishes them with its
//! own web server (cron, rsync) instead of opening the daemon's port. The same pages as the
//! daemon serves, with links between files, the graphs and data-check PDFs copied into
//! `files/`, and each page's JSON beside it. Every file is written whole, then renamed.

use std::path::{Path, PathBuf};

use super::data::{self, Health};
use super::pages::{self, Links, file_name};
use crate::night::NightDate;
use crate::operator::OperatorError;
use crate::service::Services;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Read(#[from] OperatorError),
    #[error("writing {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("copying {path} beside the pages: {source}")]
    Copy { path: PathBuf, source: std::io::Error },
}

/// Writes the pages of the nights `osa status` shows (or of `date`) into `dir`; returns the
/// pages written.
pub fn write(
    services: &Services,
    config_file: Option<String>,
    health: Health,
    date: Option<NightDate>,
    dir: &Path,
) -> Result<Vec<PathBuf>, ExportError> {
    let refresh = services.config.web.refresh_seconds;
    let mut out = Writer { dir, written: Vec::new() };
    let mut status = data::nights(services, config_file.clone(), health)?;
    if let Some(date) = date {
        status.nights.retain(|n| n.date == date.to_string());
    }
    out.page("index.html", &pages::nights(&status, Links::Files, refresh).into_string())?;
    out.file("nights.json", &serde_json::to_vec_pretty(&status).expect("JSON values serialise"))?;
    let nights: Vec<NightDate> = match date {
        Some(date) => vec![date],
        None => status.nights.iter().filter_map(|n| n.date.parse().ok()).collect(),
    };
    for night in nights {
        let Some(page) = data::night(services, config_file.clone(), health, night)? else { continue };
        let name = Links::Files.night(&night.to_string());
        out.page(&name, &pages::night(&page, Links::Files, refresh).into_string())?;
        out.file(&name.replace(".html", ".json"), &serde_json::to_vec_pretty(&page).expect("JSON values serialise"))?;
        out.copy(page.graph.as_deref())?;
        for run in page.status.nights.iter().flat_map(|n| &n.runs) {
            let Some(run_page) = data::run(services, night, run.run)? else { continue };
            let name = Links::Files.run(&night.to_string(), run.run);
            out.page(&name, &pages::run(&run_page, Links::Files, refresh).into_string())?;
            out.file(&name.replace(".html", ".json"), &serde_json::to_vec_pretty(&run_page).expect("JSON values serialise"))?;
            out.copy(run_page.graph.as_deref())?;
            for pdf in &run_page.datacheck_pdfs {
                out.copy(Some(pdf))?;
            }
        }
    }
    Ok(out.written)
}

struct Writer<'a> {
    dir: &'a Path,
    written: Vec<PathBuf>,
}

impl Writer<'_> {
    fn file(&mut self, name: &str, bytes: &[u8]) -> Result<PathBuf, ExportError> {
        let path = self.dir.join(name);
        let error = |source| ExportError::Write { path: path.clone(), source };
        std::fs::create_dir_all(path.parent().unwrap_or(self.dir)).map_err(error)?;
        let partial = self.dir.join(format!("{name}.partial"));
        std::fs::write(&partial, bytes).map_err(error)?;
        std::fs::rename(&partial, &path).map_err(error)?;
        Ok(path)
    }

    fn page(&mut self, name: &str, html: &str) -> Result<(), ExportError> {
        let path = self.file(name, html.as_bytes())?;
        self.written.push(path);
        Ok(())
    }

    fn copy(&mut self, source: Option<&str>) -> Result<(), ExportError> {
        let Some(source) = source else { return Ok(()) };
        let bytes = std::fs::read(source).map_err(|e| ExportError::Copy { path: PathBuf::from(source), source: e })?;
        self.file(&format!("files/{}", file_name(source)), &bytes)?;
        Ok(())
    }
}
