//! `[schedules]`, `[watch]` and `[logging]`: the daemon's cron schedules (UTC, seconds
//! first), the summary folders it watches and its own log files.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct ScheduleConfig {
    /// SLURM poll cycle (one squeue/sacct call for all open nights).
    pub poll: String,
    /// Random delay added to each poll, in seconds, so many daemons do not hit slurmctld at once.
    pub poll_jitter_seconds: u64,
    /// Closer attempts.
    pub closer: String,
    /// Retention of old logs.
    pub cleanup: String,
    /// The integrity check (`osa verify`) of the nights closed in the last `verify_nights`.
    pub verify: String,
    pub verify_nights: u32,
    /// A daemon whose last cycle is older than this, in seconds, no longer holds the database
    /// (its lease): another may take over. Keep it well above the poll period.
    pub lease_stale_seconds: u64,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self {
            poll: "0 * * * * *".to_string(),
            poll_jitter_seconds: 10,
            closer: "0 */15 8-20 * * *".to_string(),
            cleanup: "0 30 12 * * *".to_string(),
            verify: "0 0 13 * * *".to_string(),
            verify_nights: 7,
            lease_stale_seconds: 900,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct WatchConfig {
    /// More directories watched for summaries besides `paths.run_summary_dir` and
    /// `paths.night_summary_dir`; relative entries resolve against the config file's folder.
    pub extra_dirs: Vec<PathBuf>,
    /// Poll the directories instead of inotify (network filesystems such as NFS or Lustre
    /// do not deliver inotify events written on other hosts).
    pub use_polling: bool,
    /// Polling period when `use_polling` is set.
    pub poll_interval_seconds: u64,
    /// Quiet time after the last change before a summary is read.
    pub debounce_ms: u64,
    /// A summary changed less than this many seconds ago is still being written (a file cut
    /// at a line boundary parses as complete): the daemon plans it once it has settled.
    pub settle_seconds: u64,
    /// At start, summaries of nights the database does not know yet, up to this many nights
    /// back, are processed as if they had just appeared (older ones are history, never
    /// started by surprise).
    pub startup_scan_nights: u32,
}

impl Default for WatchConfig {
    fn default() -> Self {
        Self { extra_dirs: Vec::new(), use_polling: false, poll_interval_seconds: 30, debounce_ms: 2000, settle_seconds: 5, startup_scan_nights: 2 }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct LoggingConfig {
    /// Folder of the daemon's rolling daily logs, relative to `data_root/osa_dir` unless absolute.
    pub dir: PathBuf,
    /// Days of logs kept by the cleanup schedule.
    pub keep_days: u32,
    /// Default filter (`RUST_LOG` syntax), overridden by `RUST_LOG`.
    pub level: String,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self { dir: PathBuf::from("log"), keep_days: 30, level: "info".to_string() }
    }
}

pub(super) fn check_cron(expression: &str) -> Result<(), String> {
    if expression.split_whitespace().count() != 6 {
        return Err(format!("{expression:?} needs 6 fields (seconds first), in UTC"));
    }
    // The same parser and settings tokio-cron-scheduler uses, so what passes here runs there.
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(expression)
        .map(|_| ())
        .map_err(|e| format!("{expression:?} is not a valid cron expression: {e}"))
}

/// `[web]`: the status page the daemon serves (read-only). Off by default, and bound to the
/// loopback address unless told otherwise: a site network decides who may see it.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct WebConfig {
    pub enabled: bool,
    /// Address and port to listen on.
    pub listen: String,
    /// How often an open night's page reloads itself, in seconds.
    pub refresh_seconds: u32,
    /// A page's data is read from the database at most once in this many seconds, whatever
    /// the number of viewers.
    pub cache_seconds: u32,
    /// Names of this machine the page answers to, besides IP addresses and `localhost` (a
    /// request for any other name is refused: another site could point its name here).
    pub hostnames: Vec<String>,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self { enabled: false, listen: "127.0.0.1:8080".to_string(), refresh_seconds: 30, cache_seconds: 10, hostnames: Vec::new() }
    }
}
