//! One way to build what planning, submitting and closing a night need from a config: the
//! database, the executor the config names, the night's layout and how job scripts call this
//! osa back. The CLI commands and the daemon both build their [`Services`] here, so the two
//! cannot wire them differently.

use std::path::PathBuf;

use chrono::{DateTime, Utc};

use crate::closer::Closer;
use crate::config::{Config, ConfigSource};
use crate::db::{Db, DbError};
use crate::executor::{Executor, local::Local, slurm::Slurm};
use crate::model::ExecutorKind;
use crate::paths::Layout;
use crate::sequencer::script::OsaCommand;
use crate::sequencer::submit::Sequencer;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("cannot find the osa binary the job scripts call back: {0}")]
    Program(std::io::Error),
    #[error("cannot make the config path {path} absolute for the job scripts: {source}")]
    ConfigPath { path: PathBuf, source: std::io::Error },
    #[error(
        "data root {0} does not exist: is its filesystem mounted, are OSA_DATA_ROOT and paths.data_root right? (only the daemon and the demo create it)"
    )]
    NoDataRoot(PathBuf),
}

/// Everything a night's work needs besides the night.
pub struct Services {
    pub config: Config,
    pub layout: Layout,
    pub db: Db,
    pub executor: Box<dyn Executor>,
    /// How job scripts call osa back.
    pub osa: OsaCommand,
}

impl Services {
    /// Builds the services around an open database.
    pub fn with_db(config: Config, source: &ConfigSource, db: Db) -> Result<Self, ServiceError> {
        let config_file =
            source.path().map(|p| std::path::absolute(p).map_err(|source| ServiceError::ConfigPath { path: p.to_path_buf(), source })).transpose()?;
        let osa =
            OsaCommand { program: osa_program().map_err(ServiceError::Program)?, config: config_file, prod_id: config.analysis.prod_id.clone() };
        Ok(Self { layout: Layout::new(&config), executor: executor_for(&config), db, osa, config })
    }

    /// Opens the database (its schema must be current: see `db`) and builds the services.
    pub fn open(config: Config, source: &ConfigSource) -> Result<Self, ServiceError> {
        // A command never makes an installation out of a mistyped path: the root must be there.
        let root = config.paths.data_root.clone();
        if !root.is_dir() {
            return Err(ServiceError::NoDataRoot(root));
        }
        let db = Db::open(&config.database_url(), &config.analysis.prod_id)?;
        Self::with_db(config, source, db)
    }

    pub fn sequencer(&self) -> Sequencer<'_> {
        Sequencer { config: &self.config, layout: self.layout.clone(), db: &self.db, executor: self.executor.as_ref(), osa: self.osa.clone() }
    }

    /// The closer, with its clock (tests and the demo pin it).
    pub fn closer(&self, now: DateTime<Utc>) -> Closer<'_> {
        Closer::new(self.sequencer(), now)
    }
}

/// The executor the config (or `OSA_EXECUTOR`) names.
pub fn executor_for(config: &Config) -> Box<dyn Executor> {
    match config.executor.kind {
        ExecutorKind::Slurm => {
            let user = Some(config.slurm.user.clone()).filter(|u| !u.is_empty());
            Box::new(
                Slurm::new(config.slurm.bin_dir.clone(), std::time::Duration::from_secs(config.slurm.command_timeout_seconds)).polling_user(user),
            )
        }
        ExecutorKind::Local => Box::new(Local::new(config.resolve(&config.paths.osa_dir).join("local-executor"), config.executor.local_concurrency)),
    }
}

/// The `osa` binary for job scripts. A binary replaced on disk (an upgrade) shows as
/// `… (deleted)` in /proc: its path, which now holds the new binary, is what scripts need.
fn osa_program() -> std::io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let text = exe.to_string_lossy();
    Ok(text.strip_suffix(" (deleted)").map(PathBuf::from).unwrap_or(exe))
}
