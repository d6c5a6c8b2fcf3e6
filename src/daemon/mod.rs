//! `osa daemon`: the long-running service that replaces LSTOSA's cron scripts.
//!
//! - One instance per data root: an `flock` on `<osa_dir>/osa-daemon.lock` (the kernel drops
//!   it when the process dies, so a stale lock never blocks a restart).
//! - Triggers: the summary folders watched with `notify` (inotify, or polling for network
//!   filesystems), debounced; `tokio-cron-scheduler` schedules (UTC) for the SLURM poll cycle,
//!   closer attempts and log cleanup; SIGTERM/SIGINT (finish the current work, exit),
//!   SIGHUP (reload the config).
//! - Work runs one piece at a time on a blocking thread (diesel and sbatch are synchronous):
//!   a poll cycle is ONE executor poll for every open night, then each night planned and
//!   applied (`Sequencer::cycle_nights`); a close attempt runs the closer on nights before
//!   the current one. Everything the daemon knows is in the database and the executor, so a
//!   restart (even after `kill -9`) starts with a cycle that reconciles before submitting.
//! - Failures (database or SLURM unreachable) are logged and retried at the next trigger;
//!   the daemon keeps running and writes its health to `<osa_dir>/daemon-state.json`, which
//!   `osa status` reads.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use nix::fcntl::{Flock, FlockArg};
use notify::Watcher;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::closer::Status;
use crate::config::redact_url;
use crate::config::{Config, ConfigSource};
use crate::db::{Db, Lease, LeaseHolder};
use crate::model::NightState;
use crate::night::NightDate;
use crate::operator::overview::DaemonHealth;
use crate::operator::status::night_view;
use crate::paths::Layout;
use crate::service::Services;

/// What the daemon is asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Trigger {
    /// A summary appeared or changed.
    Summary(PathBuf),
    Poll,
    Close,
    Cleanup,
    Verify,
    Reload,
    Shutdown,
}

/// How a daemon runs (tests and the demo pin the clock and the end).
#[derive(Clone, Debug)]
pub struct DaemonOptions {
    pub config_source: ConfigSource,
    /// The closer's clock: `None` is the real time.
    pub now: Option<DateTime<Utc>>,
    /// Exit once this night is closed (the demo).
    pub exit_when_closed: Option<NightDate>,
}

/// Health, written after every piece of work, read by `osa status`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct DaemonState {
    pub pid: u32,
    pub started_at: String,
    pub last_cycle_at: Option<String>,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    /// The production it works on (`None` in files from before productions).
    #[serde(default)]
    pub production: Option<String>,
    /// Each open night as the last close attempt left it (`operator::status`'s view).
    #[serde(default)]
    pub nights: Vec<NightHealth>,
}

/// One open night in the daemon's health file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct NightHealth {
    pub date: NightDate,
    pub state: NightState,
    pub problems: Vec<String>,
}

pub fn state_file(layout: &Layout) -> PathBuf {
    layout.osa_dir().join("daemon-state.json")
}

/// The daemon's health as last written (`None` before a daemon wrote one, or if unreadable).
pub fn read_state(layout: &Layout) -> Option<DaemonState> {
    serde_json::from_slice(&std::fs::read(state_file(layout)).ok()?).ok()
}

pub fn lock_file(layout: &Layout) -> PathBuf {
    layout.osa_dir().join("osa-daemon.lock")
}

/// Whether a daemon holds the data root's lock (looked at without touching the lock file).
pub fn running(layout: &Layout) -> bool {
    let Ok(file) = std::fs::OpenOptions::new().read(true).open(lock_file(layout)) else { return false };
    Flock::lock(file, FlockArg::LockSharedNonblock).is_err()
}

/// Whether a daemon runs on this data root for `production`: one working on another
/// production will not plan this one's nights.
pub fn runs_production(layout: &Layout, production: &str) -> bool {
    running(layout) && read_state(layout).is_none_or(|s| s.production.as_deref().is_none_or(|p| p == production))
}

/// Takes the single-instance lock, or says who holds it.
pub fn take_lock(layout: &Layout) -> anyhow::Result<Flock<std::fs::File>> {
    let path = lock_file(layout);
    std::fs::create_dir_all(path.parent().expect("lock has a folder")).with_context(|| format!("creating {}", path.display()))?;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    // `osa status` peeks with a shared lock for an instant: try for a second before saying
    // another daemon runs.
    let mut attempts = 0;
    let locked = loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => break Ok(lock),
            Err((back, e)) if attempts < 10 => {
                let _ = e;
                file = back;
                attempts += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(other) => break Err(other),
        }
    };
    match locked {
        Ok(mut lock) => {
            use std::io::{Seek, Write};
            lock.set_len(0)?;
            lock.seek(std::io::SeekFrom::Start(0))?;
            writeln!(lock, "{}", std::process::id())?;
            Ok(lock)
        }
        Err(_) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            anyhow::bail!(
                "another osa daemon already runs on data root {} (pid {}; lock {})",
                layout.data_root().display(),
                holder.trim(),
                path.display()
            )
        }
    }
}

/// Writes the health file (atomically). A failure (a full disk) is logged; `osa status` then
/// sees the file fall behind the lease's heartbeat in the database and says so.
fn write_state(layout: &Layout, state: &DaemonState) {
    let path = state_file(layout);
    let partial = path.with_extension("partial");
    let written = serde_json::to_vec_pretty(state)
        .map_err(std::io::Error::other)
        .and_then(|text| std::fs::write(&partial, text))
        .and_then(|()| std::fs::rename(&partial, &path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&partial);
        tracing::error!("cannot write the health file {}: {e}", path.display());
    }
}

/// The night a summary file belongs to.
fn night_of(path: &Path) -> Option<NightDate> {
    crate::summary::date_from_file_name(path)
}

/// A daemon whose last cycle is older than this is stale (cycles run every minute).
const STALE_AFTER_MINUTES: i64 = 15;

/// The daemon as its health file, the process table and its lease in the database say.
pub fn health(layout: &Layout, db: &Db) -> Result<DaemonHealth, crate::db::DbError> {
    let state = read_state(layout);
    let running = running(layout);
    let in_db = db.lease_holder()?.map(|l| l.heartbeat_at.and_utc());
    let mut health = match state {
        Some(state) => DaemonHealth {
            running,
            state: "down",
            pid: running.then_some(state.pid),
            last_cycle_at: state.last_cycle_at,
            last_cycle_age_seconds: None,
            last_cycle_in_database: None,
            last_error: state.last_error,
        },
        None => DaemonHealth {
            state: "down",
            running,
            pid: None,
            last_cycle_at: None,
            last_cycle_age_seconds: None,
            last_cycle_in_database: None,
            last_error: None,
        },
    };
    health.last_cycle_in_database = in_db.map(|t| t.to_rfc3339());
    // The daemon renews its lease at every cycle: a health file far behind it is one the
    // daemon cannot write (a full disk), and its own errors would go unseen.
    let file = health.last_cycle_at.as_deref().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).map(|t| t.to_utc());
    if running
        && let Some(db_at) = in_db
        && file.is_none_or(|f| db_at - f > chrono::Duration::minutes(10))
    {
        let path = state_file(layout);
        health.last_error = Some(format!(
            "the daemon cannot write its health file {} (its last cycle per the database: {}); is the disk full?",
            path.display(),
            db_at.format("%Y-%m-%d %H:%M:%S UTC")
        ));
    }
    health.last_cycle_age_seconds = file.map(|at| (chrono::Utc::now() - at).num_seconds().max(0));
    health.state = match (running, health.last_cycle_age_seconds, &health.last_error) {
        (false, _, _) => "down",
        (true, Some(age), _) if age > STALE_AFTER_MINUTES * 60 => "stale",
        (true, _, Some(_)) => "failing",
        (true, _, None) => "running",
    };
    Ok(health)
}

/// Runs until SIGTERM/SIGINT (or the demo night is closed). Returns an error only when the
/// daemon cannot start (config, lock, runtime).
pub fn run(options: DaemonOptions) -> anyhow::Result<()> {
    tune_malloc();
    let config = Config::load(&options.config_source)?;
    let layout = Layout::new(&config);
    let _lock = take_lock(&layout)?;
    let host = nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_else(|_| "localhost".to_string());
    let me = LeaseHolder::me(&host, std::process::id(), &layout.data_root().display().to_string(), crate::db::now());
    // The lock keeps one daemon per data root, the lease one per database. A database that
    // does not answer yet is claimed at the first cycle instead.
    match Db::open_and_migrate(&config.database_url(), &config.analysis.prod_id) {
        Ok(db) => claim(&db, &me, &config)?,
        Err(e) => tracing::warn!("database not reachable at start ({e}): its lease is claimed at the first cycle"),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().context("starting the runtime")?;
    let result = runtime.block_on(serve(options, config.clone(), me.clone()));
    if let Err(e) = Db::open(&config.database_url(), &config.analysis.prod_id).and_then(|db| db.release_lease(&me)) {
        tracing::warn!("daemon lease not released ({e}): another daemon may take it once it is stale");
    }
    result
}

/// Another daemon holds the database.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct LeaseRefused(String);

/// Takes or renews this daemon's lease on the database, or says who holds it.
fn claim(db: &Db, me: &LeaseHolder, config: &Config) -> anyhow::Result<()> {
    // On this host: a holder of this data root is gone (this process holds the data root's
    // flock, which the kernel gave up when it died, even if its pid was reused since); one
    // of another data root is gone if its process is.
    let is_dead = |holder: &LeaseHolder| {
        holder.host == me.host
            && (holder.data_root == me.data_root
                || nix::sys::signal::kill(nix::unistd::Pid::from_raw(holder.pid as i32), None) == Err(nix::errno::Errno::ESRCH))
    };
    match db.claim_lease(me, config.schedules.lease_stale_seconds as i64, is_dead)? {
        Lease::Held => Ok(()),
        Lease::Refused(holder) => Err(LeaseRefused(format!(
            "another osa daemon holds database {}: host {} pid {} on data root {} (last cycle {} UTC); stop it, or wait until its last cycle is {} s old",
            redact_url(&config.database_url()),
            holder.host,
            holder.pid,
            holder.data_root,
            holder.heartbeat_at.format("%Y-%m-%d %H:%M:%S"),
            config.schedules.lease_stale_seconds
        ))
        .into()),
    }
}

async fn serve(options: DaemonOptions, config: Config, me: LeaseHolder) -> anyhow::Result<()> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Trigger>();
    let layout = Layout::new(&config);
    let mut state = DaemonState {
        pid: std::process::id(),
        started_at: Utc::now().to_rfc3339(),
        production: Some(config.analysis.prod_id.clone()),
        ..DaemonState::default()
    };
    write_state(&layout, &state);
    tracing::info!(data_root = %layout.data_root().display(), executor = ?config.executor.kind, "osa daemon started");

    let _watcher = watch(&config, tx.clone())?;
    let web = serve_pages(&config, &options.config_source).await;
    let mut scheduler = schedule(&config, tx.clone()).await?;
    // The lease is renewed on a timer too, not only when work starts: one long piece of work
    // (a closer hashing and merging for an hour) must not let it go stale. Lost to another
    // daemon, this one stops.
    let renewal = {
        let (config, me, lost) = (config.clone(), me.clone(), tx.clone());
        tokio::spawn(async move {
            let period = Duration::from_secs((config.schedules.lease_stale_seconds / 3).max(20));
            loop {
                tokio::time::sleep(period).await;
                let (config, me) = (config.clone(), me.clone());
                let renewed = tokio::task::spawn_blocking(move || {
                    Db::open(&config.database_url(), &config.analysis.prod_id).map_err(anyhow::Error::from).and_then(|db| claim(&db, &me, &config))
                })
                .await;
                match renewed {
                    Ok(Err(e)) if e.is::<LeaseRefused>() => {
                        tracing::error!("{e:#}: stopping");
                        let _ = lost.send(Trigger::Shutdown);
                        return;
                    }
                    // A database away is handled (and reported) by the next piece of work.
                    Ok(Err(e)) => tracing::warn!("lease not renewed: {e:#}"),
                    _ => {}
                }
            }
        })
    };
    let signals = tx.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int), Ok(mut hup)) =
            (signal(SignalKind::terminate()), signal(SignalKind::interrupt()), signal(SignalKind::hangup()))
        else {
            return;
        };
        loop {
            let trigger = tokio::select! {
                _ = term.recv() => Trigger::Shutdown,
                _ = int.recv() => Trigger::Shutdown,
                _ = hup.recv() => Trigger::Reload,
            };
            let _ = signals.send(trigger);
        }
    });

    // Repair before resuming: one full cycle (poll, reconcile, plan) at start; its first
    // successful opening of the database applies pending migrations.
    let mut migrated = false;
    let _ = tx.send(Trigger::Poll);
    let _ = tx.send(Trigger::Close);
    let mut config = config;
    // The closer's memory of settled runs, kept across pieces of work (see `closer::Settled`).
    let mut settled = std::sync::Arc::new(crate::closer::Settled::default());
    let told = std::sync::Arc::new(Told::default());
    let debounce = Duration::from_millis(config.watch.debounce_ms);
    // systemd (Type=notify) hears "ready" once the first cycle (the repair) is over.
    let mut told_ready = false;
    while let Some(first) = rx.recv().await {
        // Coalesce: a burst of file events (or ticks) becomes one piece of work.
        let mut batch = vec![first];
        if matches!(batch[0], Trigger::Summary(_)) {
            tokio::time::sleep(debounce).await;
        }
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        if batch.contains(&Trigger::Shutdown) {
            tracing::info!("stopping on signal");
            break;
        }
        if batch.contains(&Trigger::Reload) {
            match Config::load(&options.config_source) {
                // The lock, state file, logs and watches belong to the root and database the
                // daemon started with: changing those needs a restart.
                Ok(new)
                    if new.paths.data_root != config.paths.data_root
                        || new.paths.osa_dir != config.paths.osa_dir
                        || new.database_url() != config.database_url()
                        || new.logging != config.logging
                        || new.watch != config.watch
                        || new.schedules != config.schedules
                        || new.web != config.web =>
                {
                    tracing::error!(
                        "config not reloaded: data root, database, logging, watch, schedules or web changed; restart the daemon for those"
                    );
                }
                Ok(new) => {
                    tracing::info!("config reloaded");
                    config = new;
                    // The steps (hence the products) may have changed: look at every one again.
                    settled = std::sync::Arc::new(crate::closer::Settled::default());
                }
                Err(e) => tracing::error!("config not reloaded, keeping the old one: {e}"),
            }
        }
        let summaries: BTreeSet<NightDate> = batch.iter().filter_map(|t| if let Trigger::Summary(p) = t { night_of(p) } else { None }).collect();
        let poll = batch.contains(&Trigger::Poll) || !summaries.is_empty();
        let close = batch.contains(&Trigger::Close);
        let cleanup = batch.contains(&Trigger::Cleanup);
        let verify = batch.contains(&Trigger::Verify);
        let work_config = config.clone();
        let source = options.config_source.clone();
        let now = options.now;
        let work = Work {
            summaries,
            poll,
            close,
            cleanup,
            verify,
            now,
            starting: !migrated,
            lease: me.clone(),
            settled: settled.clone(),
            told: told.clone(),
        };
        let result = tokio::task::spawn_blocking(move || work.run(work_config, &source)).await;
        give_back_freed_memory();
        let at = Utc::now().to_rfc3339();
        match result {
            Ok(Ok(WorkOutcome { closed, problems, nights, unsettled })) => {
                migrated = true;
                for (file, wait) in unsettled {
                    let again = tx.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(wait).await;
                        let _ = again.send(Trigger::Summary(file));
                    });
                }
                state.last_cycle_at = Some(at.clone());
                if let Some(nights) = nights {
                    state.nights = nights;
                }
                if problems.is_empty() {
                    state.last_error = None;
                } else {
                    state.last_error = Some(problems.join("; "));
                    state.last_error_at = Some(at);
                }
                if let Some(night) = options.exit_when_closed
                    && closed.contains(&night)
                {
                    tracing::info!(night.date = %night, "the night is closed: exiting as asked");
                    write_state(&layout, &state);
                    break;
                }
            }
            Ok(Err(e)) => {
                tracing::error!("cycle failed, retrying at the next trigger: {e:#}");
                state.last_error = Some(format!("{e:#}"));
                state.last_error_at = Some(at);
            }
            Err(e) => {
                tracing::error!("cycle panicked: {e}");
                state.last_error = Some(format!("cycle panicked: {e}"));
                state.last_error_at = Some(at);
            }
        }
        write_state(&layout, &state);
        tell_systemd(&state, !told_ready);
        told_ready = true;
    }
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    renewal.abort();
    if let Some(web) = web {
        web.abort();
    }
    let _ = scheduler.shutdown().await;
    Ok(())
}

/// The status page (`[web]`), when enabled: served beside the work, read-only. An address
/// it cannot listen on is logged and the daemon goes on without the page (the night's
/// analysis matters more than its page).
async fn serve_pages(config: &Config, source: &ConfigSource) -> Option<tokio::task::JoinHandle<()>> {
    if !config.web.enabled {
        return None;
    }
    let listener = match tokio::net::TcpListener::bind(&config.web.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!("status page not served: cannot listen on {} ({e}); fix web.listen and restart the daemon", config.web.listen);
            return None;
        }
    };
    tracing::info!("status page on http://{}/", config.web.listen);
    let site = crate::web::server::Site::new(config.clone(), source.clone(), health);
    Some(tokio::spawn(async move {
        if let Err(e) = crate::web::server::serve(listener, site).await {
            tracing::error!("status page stopped: {e}");
        }
    }))
}

/// The failing step, task log and its last lines of each run of the night that failed, for
/// the warning mail (the shifters' `osa status` view).
fn failure_lines(services: &crate::service::Services, night: NightDate) -> Vec<String> {
    crate::operator::status::night_view(&services.sequencer(), night, None).map(|view| view.failure_lines()).unwrap_or_default()
}

/// Tells systemd how the daemon is after a cycle: alive (`WATCHDOG=1`: a loop stuck for the
/// unit's `WatchdogSec=` gets the daemon restarted), a one-line state for `systemctl status`,
/// and ready after the first. Without `NOTIFY_SOCKET` (not under systemd) nothing is sent.
fn tell_systemd(state: &DaemonState, ready: bool) {
    use sd_notify::NotifyState;
    let line = status_line(state);
    let mut message = vec![NotifyState::Watchdog, NotifyState::Status(&line)];
    if ready {
        message.push(NotifyState::Ready);
    }
    if let Err(e) = sd_notify::notify(&message) {
        tracing::warn!("systemd not told the daemon's state ({e}): is NOTIFY_SOCKET right?");
    }
}

/// The daemon's state in one line: the open nights, or the last cycle's failure.
pub fn status_line(state: &DaemonState) -> String {
    if let Some(error) = &state.last_error {
        let short: String = error.chars().take(200).collect();
        return format!("last cycle failed: {short}");
    }
    let nights: Vec<String> = state.nights.iter().map(|n| format!("{} {}", n.date, n.state.as_str())).collect();
    let at = state
        .last_cycle_at
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.to_utc().format("%H:%M:%S UTC").to_string());
    match (nights.is_empty(), at) {
        (true, Some(at)) => format!("no open night; last cycle {at}"),
        (false, Some(at)) => format!("{}; last cycle {at}", nights.join(", ")),
        (_, None) => "starting".to_string(),
    }
}

/// Hands the memory a piece of work freed back to the system. glibc keeps freed blocks in
/// its per-thread arenas, and the blocks a pass leaves between live ones are not returned by
/// themselves: over a night of passes a long-running daemon would creep up to the sum of its
/// largest passes.
fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: a plain libc call; it only releases memory no allocation holds.
    unsafe {
        nix::libc::malloc_trim(0);
    }
}

/// Keeps glibc's malloc from holding on to what a piece of work freed. By default every
/// thread that allocates may get an arena of its own (up to eight per core: the runtime's
/// workers, the blocking pool, the verification pool), each keeping its high-water mark; and
/// the threshold above which a block is mapped on its own grows with every large block freed,
/// so the buffers of a closer pass end up inside the arenas, where they stay resident. The
/// daemon does one piece of work at a time, so one arena costs it no contention; mapping the
/// large blocks costs CPU (closing bench: 0.65 -> 0.89 s per run, for 50 -> 43 MB peak).
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: plain libc calls; glibc takes its own lock.
    unsafe {
        nix::libc::mallopt(nix::libc::M_ARENA_MAX, 1);
        nix::libc::mallopt(nix::libc::M_MMAP_THRESHOLD, 64 << 10);
        nix::libc::mallopt(nix::libc::M_TRIM_THRESHOLD, 128 << 10);
    }
}

/// One piece of work, run on a blocking thread: what the batch of triggers asked for.
struct Work {
    /// Nights whose summary appeared or changed.
    summaries: BTreeSet<NightDate>,
    poll: bool,
    close: bool,
    cleanup: bool,
    verify: bool,
    /// The closer's clock (`None`: the real time).
    now: Option<DateTime<Utc>>,
    /// The daemon's first piece of work (until one succeeds): apply pending migrations, and
    /// take up summaries that appeared while no daemon watched.
    starting: bool,
    /// This daemon's lease on the database, renewed by every piece of work.
    lease: LeaseHolder,
    settled: std::sync::Arc<crate::closer::Settled>,
    told: std::sync::Arc<Told>,
}

/// What this daemon last said needs a human in each night: the warning (log line and mail)
/// comes once per change of it, not at every closer tick.
#[derive(Default)]
struct Told(std::sync::Mutex<std::collections::HashMap<NightDate, Vec<String>>>);

impl Told {
    /// Whether `problems` differ from what was last told for the night (and remembers them).
    fn is_news(&self, night: NightDate, problems: &[String]) -> bool {
        let mut told = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if told.get(&night).is_some_and(|last| last == problems) {
            return false;
        }
        told.insert(night, problems.to_vec());
        true
    }

    fn forget(&self, night: NightDate) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(&night);
    }
}

impl Work {
    fn run(self, config: Config, source: &ConfigSource) -> anyhow::Result<WorkOutcome> {
        let url = config.database_url();
        let production = &config.analysis.prod_id;
        let db = if self.starting { Db::open_and_migrate(&url, production)? } else { Db::open(&url, production)? };
        claim(&db, &self.lease, &config)?;
        let services = Services::with_db(config, source, db)?;
        let sequencer = services.sequencer();
        let db = &services.db;
        let now = self.now.unwrap_or_else(Utc::now);
        let current = NightDate::current_at(now);
        let open: BTreeSet<NightDate> = db.open_nights()?.into_iter().map(|n| n.night).collect();
        let mut considered: BTreeSet<NightDate> = open.iter().copied().filter(|n| *n <= current).collect();
        considered.insert(current);
        considered.extend(self.summaries);
        if self.starting {
            considered.extend(unknown_recent_nights(&services.config, db, current)?);
        }
        let mut problems = Vec::new();
        // A summary still being written is planned once it has settled (a re-trigger then).
        let settle = Duration::from_secs(services.config.watch.settle_seconds);
        let mut unsettled = Vec::new();
        for night in considered.clone() {
            let Some(file) = crate::summary::locate(&services.config.summary_dirs(), night) else { continue };
            let age = std::fs::metadata(&file).and_then(|m| m.modified()).ok().and_then(|m| m.elapsed().ok());
            if let Some(age) = age.filter(|a| *a < settle) {
                tracing::info!(night.date = %night, file = %file.display(), "summary changed {} ms ago: planned once it settles", age.as_millis());
                considered.remove(&night);
                unsettled.push((file, settle - age));
            }
        }
        if self.poll {
            let nights: Vec<NightDate> = considered.iter().copied().collect();
            let (results, polled) = sequencer.cycle_nights(&nights)?;
            let closer = services.closer(now);
            for (night, result) in results {
                // Each submission is logged once, by the sequencer that made it.
                let pre_stages = result.map_err(|e| e.to_string()).and_then(|cycle| closer.pre_stages(night, &cycle).map_err(|e| e.to_string()));
                if let Err(e) = pre_stages {
                    tracing::error!(night.date = %night, "cycle failed: {e}");
                    problems.push(format!("night {night}: {e}"));
                }
            }
            if !polled {
                problems.push("the executor did not answer the poll (job states unknown)".to_string());
            }
        }
        let mut nights = None;
        if self.close {
            let closer = services.closer(now).remembering(&self.settled);
            let mut health = Vec::new();
            for record in db.open_nights()? {
                let night = record.night;
                // One night's trouble (a rejected summary, say) must not keep the others open.
                match closer.close(night, false, false) {
                    Ok(report) => match &report.status {
                        Status::Closed => {
                            tracing::info!(night.date = %night, verified = report.verified, "night closed");
                            self.told.forget(night);
                        }
                        Status::NeedsHuman if self.told.is_news(night, &report.problems) => {
                            tracing::warn!(night.date = %night, "needs a human: {}", report.problems.join("; "));
                            match crate::closer::mail::send_warning(&services.config, night, &report.problems, &failure_lines(&services, night)) {
                                Ok(Some(to)) => tracing::info!(night.date = %night, "warning mail sent ({to})"),
                                Ok(None) => {}
                                Err(e) => tracing::warn!(night.date = %night, "warning mail NOT sent: {e}"),
                            }
                        }
                        Status::NeedsHuman => tracing::debug!(night.date = %night, "still needs a human (told already)"),
                        _ => {}
                    },
                    Err(e) => {
                        tracing::error!(night.date = %night, "closer failed: {e:#}");
                        problems.push(format!("night {night}: closer failed: {e}"));
                    }
                }
                // What the shifters' `osa status` would say, from the states just stored.
                match night_view(&sequencer, night, None) {
                    Ok(view) if view.state != NightState::Closed => {
                        health.push(NightHealth { date: night, state: view.state, problems: view.problems })
                    }
                    Ok(_) => {}
                    Err(e) => problems.push(format!("night {night}: {e}")),
                }
            }
            nights = Some(health);
        }
        if self.cleanup {
            clean_logs(&services.config);
        }
        if self.verify {
            problems.extend(verify_closed_nights(&services, current));
        }
        let mut closed = Vec::new();
        for night in considered.into_iter().chain(open) {
            if db.night(night)?.is_some_and(|n| n.closed) {
                closed.push(night);
            }
        }
        Ok(WorkOutcome { closed, problems, nights, unsettled })
    }
}

/// Nights with a summary in the watched folders, at most `watch.startup_scan_nights` before
/// `current`, that the database does not know: they appeared while no daemon watched.
fn unknown_recent_nights(config: &Config, db: &Db, current: NightDate) -> anyhow::Result<BTreeSet<NightDate>> {
    let earliest = NightDate::new(current.date() - chrono::Duration::days(i64::from(config.watch.startup_scan_nights)));
    let mut found = BTreeSet::new();
    for dir in config.summary_dirs() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if let Some(night) = night_of(&entry.path()).filter(|n| *n >= earliest && *n <= current)
                && db.night(night)?.is_none()
            {
                tracing::info!(night.date = %night, file = %entry.path().display(), "summary found at start for a night not known yet");
                found.insert(night);
            }
        }
    }
    Ok(found)
}

/// What a piece of work found: nights closed, and trouble that did not stop it.
struct WorkOutcome {
    closed: Vec<NightDate>,
    problems: Vec<String>,
    /// The open nights' health, when close attempts ran.
    nights: Option<Vec<NightHealth>>,
    /// Summaries still changing, and when to look again.
    unsettled: Vec<(PathBuf, Duration)>,
}

/// The daemon's rolling log files: systemd's `LogsDirectory=` when the unit gives one
/// (`LOGS_DIRECTORY`), else `<osa_dir>/<logging.dir>` under the data root.
pub fn log_dir(config: &Config) -> PathBuf {
    match std::env::var_os("LOGS_DIRECTORY").filter(|d| !d.is_empty()) {
        // systemd lists one folder per LogsDirectory= entry, separated by ':'; ours is the first.
        Some(dirs) => PathBuf::from(dirs.to_string_lossy().split(':').next().unwrap_or_default()),
        None => config.resolve(&config.paths.osa_dir).join(&config.logging.dir),
    }
}

/// Deletes the daemon's log files older than `logging.keep_days`.
fn clean_logs(config: &Config) {
    let dir = log_dir(config);
    let limit = std::time::SystemTime::now() - Duration::from_secs(u64::from(config.logging.keep_days) * 86400);
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let ours = entry.file_name().to_string_lossy().starts_with("osa-daemon.log");
        if ours && entry.metadata().and_then(|m| m.modified()).is_ok_and(|t| t < limit) && std::fs::remove_file(entry.path()).is_ok() {
            tracing::info!("removed old log {}", entry.path().display());
        }
    }
}

/// Watches the summary folders. Those under the data root are created if missing (a watch
/// never fails on a fresh root); an extra folder elsewhere is not the daemon's to create: a
/// missing one is an error naming it.
fn watch(config: &Config, tx: mpsc::UnboundedSender<Trigger>) -> anyhow::Result<Box<dyn Watcher + Send>> {
    let handler = move |event: notify::Result<notify::Event>| {
        use notify::EventKind;
        use notify::event::{AccessKind, AccessMode};
        if let Ok(event) = event {
            // Reading a summary (the daemon does, every cycle) is no news: only writes,
            // creations, renames and removals are.
            let news = match event.kind {
                EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
                EventKind::Access(_) | EventKind::Other => false,
                _ => true,
            };
            if !news {
                return;
            }
            for path in event.paths {
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if name.starts_with("RunSummary_") || name.starts_with("NightSummary_") {
                    let _ = tx.send(Trigger::Summary(path));
                }
            }
        }
    };
    let mut watcher: Box<dyn Watcher + Send> = if config.watch.use_polling {
        let poll = notify::Config::default().with_poll_interval(Duration::from_secs(config.watch.poll_interval_seconds)).with_compare_contents(true);
        Box::new(notify::PollWatcher::new(handler, poll)?)
    } else {
        Box::new(notify::recommended_watcher(handler)?)
    };
    let data_root = config.paths.data_root.clone();
    for dir in config.summary_dirs() {
        if dir.starts_with(&data_root) {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating the watched folder {}", dir.display()))?;
        } else if !dir.is_dir() {
            anyhow::bail!(
                "the watched folder {} (watch.extra_dirs, relative to the config file's folder {}) does not exist: create it, or remove it from the config",
                dir.display(),
                config.config_dir.as_deref().unwrap_or(Path::new(".")).display()
            );
        }
        watcher.watch(&dir, notify::RecursiveMode::NonRecursive).with_context(|| format!("watching {}", dir.display()))?;
        tracing::info!("watching {}", dir.display());
    }
    Ok(watcher)
}

/// The integrity check of the nights closed in the last `schedules.verify_nights`: every
/// difference logged as an error, and one line per night in the cycle's problems (the health
/// file, so `osa status` shows it).
fn verify_closed_nights(services: &Services, current: NightDate) -> Vec<String> {
    let mut problems = Vec::new();
    for back in 0..=services.config.schedules.verify_nights {
        let night = NightDate::new(current.date() - chrono::Duration::days(i64::from(back)));
        if !services.db.night(night).ok().flatten().is_some_and(|n| n.closed) {
            continue;
        }
        match crate::provenance::integrity::check_night(&services.db, night, None, &services.layout.product_dirs(night)) {
            Ok(report) if report.findings.is_empty() => tracing::info!(night.date = %night, checked = report.checked, "products as recorded"),
            Ok(report) => {
                for finding in &report.findings {
                    tracing::error!(night.date = %night, "{finding}");
                }
                problems.push(format!("night {night}: {} product(s) differ from their records (`osa verify --date {night}`)", report.findings.len()));
            }
            Err(e) => {
                tracing::error!(night.date = %night, "integrity check failed: {e}");
                problems.push(format!("night {night}: integrity check failed: {e}"));
            }
        }
    }
    problems
}

async fn schedule(config: &Config, tx: mpsc::UnboundedSender<Trigger>) -> anyhow::Result<tokio_cron_scheduler::JobScheduler> {
    use tokio_cron_scheduler::{Job, JobScheduler};
    let scheduler = JobScheduler::new().await.context("starting the scheduler")?;
    let jitter = config.schedules.poll_jitter_seconds;
    for (cron, trigger) in [
        (&config.schedules.poll, Trigger::Poll),
        (&config.schedules.closer, Trigger::Close),
        (&config.schedules.cleanup, Trigger::Cleanup),
        (&config.schedules.verify, Trigger::Verify),
    ] {
        let tx = tx.clone();
        let job = Job::new_async(cron.as_str(), move |_, _| {
            let (tx, trigger) = (tx.clone(), trigger.clone());
            Box::pin(async move {
                // Jitter the poll so many daemons do not hit slurmctld in the same second.
                if trigger == Trigger::Poll && jitter > 0 {
                    tokio::time::sleep(Duration::from_millis(rand::random::<u64>() % (jitter * 1000))).await;
                }
                let _ = tx.send(trigger);
            })
        })
        .with_context(|| format!("schedule {cron:?}"))?;
        scheduler.add(job).await.context("adding a schedule")?;
    }
    scheduler.start().await.context("starting the schedules")?;
    Ok(scheduler)
}
