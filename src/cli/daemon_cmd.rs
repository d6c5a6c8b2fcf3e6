//! `osa daemon [--now TIME] [--exit-when-closed DATE]`: the long-running service (see the
//! `daemon` module). Logs: a daily rolling file under `<osa_dir>/<logging.dir>` and stderr
//! (journald keeps it under systemd).

use chrono::{DateTime, Utc};

use super::{Context, Outcome};
use crate::daemon::{DaemonOptions, run as run_daemon};
use crate::night::NightDate;

#[derive(Debug, clap::Args)]
pub struct DaemonArgs {
    /// The closer's clock, RFC 3339 (tests and replays; default: the real time).
    #[arg(long, value_name = "TIME")]
    pub now: Option<DateTime<Utc>>,
    /// Exit once this night is closed (the demo).
    #[arg(long, value_name = "DATE")]
    pub exit_when_closed: Option<NightDate>,
}

pub fn run(context: &Context, args: DaemonArgs) -> anyhow::Result<Outcome> {
    run_daemon(DaemonOptions { config_source: context.config_source.clone(), now: args.now, exit_when_closed: args.exit_when_closed })?;
    Ok(Outcome::Success)
}
