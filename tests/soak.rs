//! The soak: the daemon killed (`kill -9`) at random moments, again and again, through one
//! night on the real SLURM cluster and MariaDB. Every comment key reaches SLURM once, and the
//! night ends with the same rows as a clean run of the same shape.
//!
//! `OSA_SOAK_KILLS` sets the number of kills: 5 in the test suite (CI), 30 for the full soak
//! (`scripts/soak.sh`).

mod common;

use std::time::{Duration, Instant};

use common::night::*;

fn fast(config: &mut osa::config::Config) {
    config.schedules.poll = "*/2 * * * * *".to_string();
    config.schedules.closer = "*/3 * * * * *".to_string();
    config.schedules.poll_jitter_seconds = 0;
    config.watch.debounce_ms = 300;
    config.watch.settle_seconds = 0;
}

/// Runs a daemon to the night's close.
fn until_closed(h: &NightHarness) {
    let mut daemon = h.spawn_daemon(&[]);
    let start = Instant::now();
    loop {
        if let Some(status) = daemon.try_wait().unwrap() {
            assert!(status.success(), "{}", h.daemon_log());
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(300), "night not closed:\n{}", h.daemon_log());
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// (jobs, tasks, history rows, verified outputs) of a night.
fn rows(h: &NightHarness) -> (usize, usize, usize, usize) {
    let db = h.db();
    let jobs = db.jobs_of_night(h.night).unwrap();
    let runs: std::collections::BTreeSet<u32> = jobs.iter().map(|j| j.intent.run).collect();
    let outputs = runs.iter().map(|r| db.outputs_of_run(h.night, *r).unwrap().len()).sum();
    let history = db.history_counts(h.night, |_| None).unwrap().values().sum();
    (jobs.len(), db.tasks_of_night(h.night).unwrap().len(), history, outputs)
}

#[test]
fn slurm_soak_random_kills_keep_exactly_once_and_every_row() {
    let kills: u32 = std::env::var("OSA_SOAK_KILLS").ok().and_then(|k| k.parse().ok()).unwrap_or(5);
    let clean_db = common::TestDb::mysql();
    clean_db.open();
    let clean = NightHarness::with("slurm", &unique_night(41), None, |c| {
        fast(c);
        c.database.url = clean_db.url.clone();
    });
    until_closed(&clean);
    let expected = rows(&clean);

    let soak_db = common::TestDb::mysql();
    soak_db.open();
    let h = NightHarness::with("slurm", &unique_night(42), None, |c| {
        fast(c);
        c.database.url = soak_db.url.clone();
    });
    // Tasks slowed (60 ms per event: about a minute for the night) so that every kill falls
    // inside the night: the daemon never closes it between two kills.
    let slow = [("LSTCHAIN_SIM_EVENT_MS", "60")];
    for kill in 1..=kills {
        let mut daemon = h.spawn_daemon(&slow);
        std::thread::sleep(Duration::from_millis(rand::random_range(200..1500)));
        assert!(daemon.try_wait().unwrap().is_none(), "the night closed after {} kills of {kills}: slow the tasks down", kill - 1);
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(daemon.id() as i32), nix::sys::signal::Signal::SIGKILL).unwrap();
        let _ = daemon.wait();
        eprintln!("soak: kill {kill} of {kills}");
    }
    until_closed(&h);
    assert!(h.db().night(h.night).unwrap().unwrap().closed);
    for job in h.db().jobs_of_night(h.night).unwrap() {
        assert_eq!(jobs_with_comment(&h, &job.intent.comment_key).len(), 1, "{} reached SLURM once", job.intent.comment_key);
    }
    assert_eq!(rows(&h), expected, "(jobs, tasks, history rows, outputs) of the soaked night and of a clean one");
}
