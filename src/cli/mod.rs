//! The operator-facing edge: argument parsing (clap derive), one file per command, and the
//! one place where errors become messages and exit codes.
//!
//! Exit codes (stable; scripts rely on them):
//! - 0: success (warnings may have been printed)
//! - 1: failure (the message says what and where)
//! - 2: bad command line
//! - 3: invalid input: a summary rejected, an R0 file classified ERROR, a config with problems
//! - 4: incomplete input: a summary still being written; try again when it changes
//! - 20: `osa closer`: not yet (too early, jobs running, runs sent back)
//! - 5: the database schema is behind this osa: run `osa db migrate`
//! - 21: `osa closer`: the night needs a human

mod cancel_cmd;
mod classify_cmd;
mod closer_cmd;
mod config_cmd;
mod daemon_cmd;
mod db_cmd;
mod demo_cmd;
mod job_cmd;
mod output;
mod provenance_cmd;
mod rerun_cmd;
mod sequencer_cmd;
mod status_cmd;
mod summary_cmd;
mod verify_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::Layer as _;

use crate::closer::CloserError;
use crate::config::{self, Config, ConfigError, ConfigSource};
use crate::db::DbError;
use crate::operator::OperatorError;
use crate::sequencer::submit::SequencerError;
use crate::service::{ServiceError, Services};
use crate::summary::SummaryError;

pub use output::ColorChoice;

#[derive(Debug, Parser)]
#[command(name = "osa", version, about = "Nightly on-site analysis of LST-1", propagate_version = true)]
pub struct Cli {
    /// Config file (else $OSA_CONFIG, ./cfg/osa.toml, /etc/osa/osa.toml, built-in defaults).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The production to work on (else $OSA_PROD_ID, else the config's analysis.prod_id):
    /// the same night processed again under another production keeps its own records.
    #[arg(long, global = true, value_name = "PROD_ID")]
    pub prod_id: Option<String>,
    /// Colour in tables: auto (only on a terminal), always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate or print the configuration.
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
    /// Create, migrate and inspect the database.
    #[command(subcommand)]
    Db(db_cmd::DbCommand),
    /// Read night summaries.
    #[command(subcommand)]
    Summary(summary_cmd::SummaryCommand),
    /// Classify R0 files (DRS4, PEDCALIB, DATA or ERROR) from their event types.
    Classify(classify_cmd::ClassifyArgs),
    /// Synthetic nights for demos and tests.
    #[command(subcommand)]
    Demo(demo_cmd::DemoCommand),
    /// Plan a night, submit what must be submitted, print the sequencer table.
    Sequencer(sequencer_cmd::SequencerArgs),
    /// What array tasks run (called by the job scripts).
    #[command(subcommand)]
    Job(job_cmd::JobCommand),
    /// Verify, retry known failures, merge provenance, close the night, mail.
    Closer(closer_cmd::CloserArgs),
    /// Operator decisions on vetoed runs.
    #[command(subcommand)]
    Veto(closer_cmd::VetoCommand),
    /// The audit log: operator actions (vetoes and their lifts, reruns, cancels, forced closes).
    Audit {
        /// One night (default: the last `--limit` actions of every night).
        #[arg(long)]
        date: Option<crate::night::NightDate>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Hash a night's recorded products again and list files no record names.
    Verify(verify_cmd::VerifyArgs),
    /// Where products come from (from the database), PROV-JSON export.
    #[command(subcommand)]
    Provenance(provenance_cmd::ProvenanceCommand),
    /// The long-running service: watch summaries, poll, close nights.
    Daemon(daemon_cmd::DaemonArgs),
    /// Process a night (or one run) again, keeping the previous attempt aside.
    Rerun(rerun_cmd::RerunArgs),
    /// Stop a night's (or a run's) jobs and hold its runs until `veto lift` or `rerun`.
    Cancel(cancel_cmd::CancelArgs),
    /// Nights as a whole: forget one osa should never have planned.
    #[command(subcommand)]
    Night(cancel_cmd::NightCommand),
    /// The shifters' view: every open night, its runs and what needs a human.
    Status(status_cmd::StatusArgs),
    /// Supervisor of one local-executor job (started by the local executor).
    #[command(hide = true)]
    ExecutorLocal(job_cmd::ExecutorLocalArgs),
}

/// Exit codes, see the module doc.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success = 0,
    Failure = 1,
    /// `osa status`: the daemon is not running, or stuck.
    DaemonDown = 2,
    InvalidInput = 3,
    IncompleteInput = 4,
    SchemaBehind = 5,
    NotYet = 20,
    NeedsHuman = 21,
    /// `osa verify`: a product differs from its record, is missing, or is in no record.
    ProductsDiffer = 22,
}

impl From<Outcome> for ExitCode {
    fn from(outcome: Outcome) -> Self {
        ExitCode::from(outcome as u8)
    }
}

/// Parsed arguments plus what every command needs.
pub struct Context {
    pub config_source: ConfigSource,
    pub color: ColorChoice,
}

impl Context {
    /// Loads the configuration; commands that do not need one never call this.
    pub fn config(&self) -> Result<Config, ConfigError> {
        Config::load(&self.config_source)
    }

    /// The database (schema current), the executor, and how job scripts call this osa back:
    /// what commands that plan, submit or close a night need besides the config.
    fn services(&self, config: Config) -> anyhow::Result<Services> {
        Ok(Services::open(config, &self.config_source)?)
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let _log_guard = match &cli.command {
        Command::Daemon(_) => init_daemon_logging(&config::locate(cli.config.as_deref())),
        _ => {
            init_logging();
            None
        }
    };
    // A reader that goes away (`osa status | head -1`) ends a command quietly, as it does any
    // Unix tool. The daemon, tasks and supervisors keep Rust's default (the write fails, they
    // carry on); commands print after they have acted, so nothing is cut half-way.
    if !matches!(cli.command, Command::Daemon(_) | Command::Job(_) | Command::ExecutorLocal(_) | Command::Demo(_)) {
        // SAFETY: setting a signal disposition at start, before any thread is spawned.
        let _ = unsafe { nix::sys::signal::signal(nix::sys::signal::Signal::SIGPIPE, nix::sys::signal::SigHandler::SigDfl) };
    }
    if let Some(prod_id) = &cli.prod_id {
        // Through the environment, so every config this process loads (a daemon's reloads
        // included) and the programs it starts work on that production.
        // SAFETY: at start, before any thread is spawned.
        unsafe { std::env::set_var(config::ENV_PROD_ID, prod_id) };
    }
    let context = Context { config_source: config::locate(cli.config.as_deref()), color: cli.color };
    let result = match cli.command {
        Command::Config(command) => config_cmd::run(&context, command),
        Command::Db(command) => db_cmd::run(&context, command),
        Command::Summary(command) => summary_cmd::run(&context, command),
        Command::Classify(args) => classify_cmd::run(&context, args),
        Command::Demo(command) => demo_cmd::run(&context, command),
        Command::Sequencer(args) => sequencer_cmd::run(&context, args),
        Command::Job(command) => job_cmd::run(&context, command),
        Command::ExecutorLocal(args) => job_cmd::executor_local(args),
        Command::Closer(args) => closer_cmd::run(&context, args),
        Command::Status(args) => status_cmd::run(&context, args),
        Command::Daemon(args) => daemon_cmd::run(&context, args),
        Command::Rerun(args) => rerun_cmd::run(&context, args),
        Command::Cancel(args) => cancel_cmd::cancel(&context, args),
        Command::Night(command) => cancel_cmd::night(&context, command),
        Command::Veto(command) => closer_cmd::veto(&context, command),
        Command::Audit { date, limit } => closer_cmd::audit(&context, date, limit),
        Command::Provenance(command) => provenance_cmd::run(&context, command),
        Command::Verify(args) => verify_cmd::run(&context, args),
    };
    match result {
        Ok(outcome) => outcome.into(),
        Err(error) => {
            eprintln!("osa: error: {error:#}");
            exit_code_for(&error).into()
        }
    }
}

fn exit_code_for(error: &anyhow::Error) -> Outcome {
    for cause in error.chain() {
        if let Some(e) = summary_error(cause) {
            return match e {
                SummaryError::Incomplete { .. } => Outcome::IncompleteInput,
                SummaryError::Rejected { .. } | SummaryError::FileName { .. } => Outcome::InvalidInput,
                SummaryError::Read { .. } => Outcome::Failure,
            };
        }
        if let Some(ConfigError::Invalid { .. } | ConfigError::Syntax { .. }) = cause.downcast_ref::<ConfigError>() {
            return Outcome::InvalidInput;
        }
        if let Some(DbError::SchemaBehind { .. }) = db_error(cause) {
            return Outcome::SchemaBehind;
        }
    }
    Outcome::Failure
}

// The library's wrapper variants are `#[error(transparent)]`: the wrapped error is not a
// cause of its own in the chain, so the wrappers are looked into here.

fn sequencer_error<'a>(cause: &'a (dyn std::error::Error + 'static)) -> Option<&'a SequencerError> {
    cause.downcast_ref::<SequencerError>().or(match (cause.downcast_ref::<CloserError>(), cause.downcast_ref::<OperatorError>()) {
        (Some(CloserError::Sequencer(e)), _) | (_, Some(OperatorError::Sequencer(e))) => Some(e),
        _ => None,
    })
}

fn summary_error<'a>(cause: &'a (dyn std::error::Error + 'static)) -> Option<&'a SummaryError> {
    cause.downcast_ref::<SummaryError>().or(match sequencer_error(cause) {
        Some(SequencerError::Summary(e)) => Some(e),
        _ => None,
    })
}

fn db_error<'a>(cause: &'a (dyn std::error::Error + 'static)) -> Option<&'a DbError> {
    cause.downcast_ref::<DbError>().or(match (cause.downcast_ref::<ServiceError>(), sequencer_error(cause), cause.downcast_ref::<OperatorError>()) {
        (Some(ServiceError::Db(e)), _, _) | (_, Some(SequencerError::Db(e)), _) | (_, _, Some(OperatorError::Db(e))) => Some(e),
        _ => None,
    })
}

/// The daemon logs to stderr (journald) and to a daily rolling file; the returned guard
/// flushes the file when dropped.
fn init_daemon_logging(source: &ConfigSource) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let config = Config::load(source).ok();
    let level = config.as_ref().map(|c| c.logging.level.clone()).unwrap_or_else(|| "info".to_string());
    // The scheduler's own bookkeeping ("Job creator created", ...) is not news for an operator.
    let default = format!("{level},tokio_cron_scheduler=warn");
    let filter = || tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default.as_str().into());
    use std::io::IsTerminal;
    // Under systemd (JOURNAL_STREAM set) the journal gets each line with its priority
    // (`journalctl -u osa -p warning`); elsewhere stderr, colours only on a terminal.
    let journald = std::env::var_os("JOURNAL_STREAM").and_then(|_| tracing_journald::layer().ok()).map(|l| l.with_filter(filter()));
    let stderr = journald
        .is_none()
        .then(|| tracing_subscriber::fmt::layer().with_ansi(std::io::stderr().is_terminal()).with_writer(std::io::stderr).with_filter(filter()));
    let appender = config.map(|c| crate::daemon::log_dir(&c)).filter(|d| std::fs::create_dir_all(d).is_ok()).map(|dir| {
        tracing_appender::rolling::Builder::new()
            .rotation(tracing_appender::rolling::Rotation::DAILY)
            .filename_prefix("osa-daemon.log")
            .build(&dir)
            .map_err(|e| (dir, e))
    });
    let appender = match appender {
        Some(Ok(appender)) => appender,
        other => {
            let _ = tracing_subscriber::registry().with(stderr).with(journald).try_init();
            if let Some(Err((dir, e))) = other {
                tracing::warn!("no log file in {} ({e}): logging to stderr only", dir.display());
            }
            return None;
        }
    };
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let file = tracing_subscriber::fmt::layer().with_ansi(false).with_writer(writer).with_filter(filter());
    let _ = tracing_subscriber::registry().with(stderr).with(journald).with(file).try_init();
    Some(guard)
}

/// Logs go to stderr (journald keeps them under systemd); `RUST_LOG` filters, default `warn`
/// for commands so their output stays readable.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }
}
