//! The daemon: a summary dropped into a watched folder is enough for the night to close; one
//! daemon per data root; crashes (deterministic crash points, `kill -9`) never submit twice.

mod common;

use std::time::{Duration, Instant};

use common::night::*;

fn fast(config: &mut osa::config::Config) {
    config.schedules.poll = "*/2 * * * * *".to_string();
    config.schedules.closer = "*/3 * * * * *".to_string();
    config.schedules.poll_jitter_seconds = 0;
    config.watch.debounce_ms = 300;
}

fn wait(child: &mut std::process::Child, limit: Duration, h: &NightHarness) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("daemon still running after {limit:?}; its log:\n{}", h.daemon_log());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The daemon's health file, once it wrote one.
fn daemon_state(h: &NightHarness) -> Option<osa::daemon::DaemonState> {
    let file = osa::daemon::state_file(&osa::paths::Layout::new(&h.config));
    serde_json::from_slice(&std::fs::read(file).ok()?).ok()
}

/// Waits until the daemon finished its start-up cycle: it holds the lock, watches the summary
/// folders and has its schedules (all set up before that cycle runs).
fn wait_for_first_cycle(h: &NightHarness) {
    let start = Instant::now();
    while daemon_state(h).and_then(|s| s.last_cycle_at).is_none() {
        assert!(start.elapsed() < Duration::from_secs(60), "no start-up cycle:\n{}", h.daemon_log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn assert_each_run_submitted_once(h: &NightHarness) {
    let jobs = h.db().jobs_of_night(h.night).unwrap();
    let keys: std::collections::BTreeSet<(u32, String)> = jobs.iter().map(|j| (j.intent.run, j.intent.stage.to_string())).collect();
    assert_eq!(jobs.len(), keys.len(), "one submission per run and stage: {jobs:#?}");
    for job in &jobs {
        let found = jobs_with_comment(h, &job.intent.comment_key);
        assert_eq!(found.len(), 1, "{} reached the scheduler once ({found:?}); the daemon's log:\n{}", job.intent.comment_key, h.daemon_log());
    }
}

fn summary_dropped_closes_the_night(executor: &'static str, offset: i64) {
    let h = NightHarness::with(executor, &unique_night(offset), None, fast);
    let summaries = h.hide_summaries();
    let mut daemon = h.spawn_daemon(&[]);
    wait_for_first_cycle(&h);
    let (aside, watched) = &summaries[0];
    std::fs::rename(aside, watched).unwrap();
    let status = wait(&mut daemon, Duration::from_secs(240), &h);
    assert!(status.success(), "daemon: {status}\n{}", h.daemon_log());
    assert!(h.db().night(h.night).unwrap().unwrap().closed, "{}", h.daemon_log());
    assert_each_run_submitted_once(&h);
}

#[test]
fn local_a_dropped_summary_is_enough_to_close_the_night() {
    summary_dropped_closes_the_night("local", 20);
}

#[test]
fn slurm_a_dropped_summary_is_enough_to_close_the_night() {
    summary_dropped_closes_the_night("slurm", 21);
}

/// Regression (issue 12): one absurd field of one night's summary aborted the daemon at every
/// start. Now that summary is refused with its file and line, its night is shown as needing a
/// human, and the other nights are served.
#[test]
fn an_absurd_summary_is_refused_and_the_other_nights_close() {
    let h = NightHarness::with("local", &unique_night(32), None, fast);
    let layout = osa::paths::Layout::new(&h.config);
    // A night before, its summary already there when the daemon starts.
    let other = h.night.previous();
    let good = std::fs::read_to_string(layout.run_summary_file(h.night)).unwrap();
    let mut lines: Vec<String> = good.lines().map(str::to_string).collect();
    let last = lines.last_mut().unwrap();
    let fields: Vec<&str> = last.split(',').collect();
    *last = std::iter::once(fields[0]).chain(std::iter::once("4294967295")).chain(fields[2..].iter().copied()).collect::<Vec<_>>().join(",");
    let bad_line = lines.len();
    std::fs::write(layout.run_summary_file(other), lines.join("\n") + "\n").unwrap();

    let mut daemon = h.spawn_daemon(&[]);
    let status = wait(&mut daemon, Duration::from_secs(240), &h);
    assert!(status.success(), "{}", h.daemon_log());
    assert!(h.db().night(h.night).unwrap().unwrap().closed, "{}", h.daemon_log());
    assert_eq!(h.db().night(other).unwrap().unwrap().state, osa::model::NightState::NeedsHuman);
    assert!(h.db().jobs_of_night(other).unwrap().is_empty());

    let out = h.osa(&["status", "--date", &other.to_string(), "--json"], &[]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let night = &json["nights"][0];
    assert_eq!(night["state"], "needs_human");
    let problems = night["problems"].to_string();
    assert!(problems.contains(&format!(".ecsv:{bad_line}:")) && problems.contains("limits.max_subruns_per_run"), "{problems}");
}

/// Regression (issue 12): two daemons on one database (two data roots) were not detected; the
/// second one's closer resubmitted every run of the first. The database's lease refuses it.
#[test]
fn a_second_daemon_on_the_same_database_refuses_to_start() {
    let db = common::TestDb::mysql();
    db.open();
    let first = NightHarness::with("local", &unique_night(33), None, |c| {
        fast(c);
        c.database.url = db.url.clone();
    });
    first.hide_summaries();
    let mut running = first.spawn_daemon(&[]);
    wait_for_first_cycle(&first);
    let second = NightHarness::with("local", &unique_night(34), None, |c| {
        fast(c);
        c.database.url = db.url.clone();
    });
    let refused = second.osa(&["daemon"], &[]);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(running.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let stopped = wait(&mut running, Duration::from_secs(60), &first);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    let first_root = osa::paths::Layout::new(&first.config).data_root().display().to_string();
    assert!(stderr.contains("another osa daemon holds database") && stderr.contains(&first_root), "{stderr}");
    assert!(second.db().jobs_of_night(second.night).unwrap().is_empty(), "the refused daemon submitted nothing");
    assert!(stopped.success(), "{}", first.daemon_log());

    // Stopped cleanly, the first gave its lease back: the second may start now.
    let mut taking_over = second.spawn_daemon(&[]);
    wait_for_first_cycle(&second);
    let _ = taking_over.kill();
    let _ = taking_over.wait();
}

/// Regression (issue 12): four `osa closer --force` at once sent four mails; the closing is
/// now under the night's lock.
#[test]
fn closers_racing_on_one_night_close_it_once() {
    let h = NightHarness::with("local", &unique_night(35), None, |c| {
        c.mail.enabled = true;
        c.mail.to = vec!["shifters@example.org".to_string()];
        c.mail.file_dir = Some(c.paths.data_root.join("OSA/mail"));
    });
    h.run_to_end(Duration::from_secs(180));
    let outcomes: Vec<Option<i32>> = std::thread::scope(|scope| {
        let closers: Vec<_> = (0..4).map(|_| scope.spawn(|| h.close_to_end(&["--force"], Duration::from_secs(180)).0)).collect();
        closers.into_iter().map(|c| Some(c.join().unwrap())).collect()
    });
    assert!(outcomes.iter().all(|c| *c == Some(0)), "{outcomes:?}");
    let mails = std::fs::read_dir(h.root().join("data/OSA/mail")).unwrap().count();
    assert_eq!(mails, 1, "one night, one closing mail");
    assert_each_run_submitted_once(&h);
}

/// The summary watcher alone starts a night: the poll and close schedules are set far beyond
/// the test's deadline, and the start-up cycle runs before the summary exists.
#[test]
fn the_summary_watcher_alone_starts_the_night() {
    let h = NightHarness::with("local", &unique_night(28), None, |c| {
        c.schedules.poll = "0 0 0 1 1 *".to_string();
        c.schedules.closer = "0 0 0 1 1 *".to_string();
        c.watch.debounce_ms = 300;
    });
    let summaries = h.hide_summaries();
    let mut daemon = h.spawn_daemon(&[]);
    wait_for_first_cycle(&h);
    assert!(h.db().jobs_of_night(h.night).unwrap().is_empty(), "nothing to submit before the summary");
    let (aside, watched) = &summaries[0];
    std::fs::rename(aside, watched).unwrap();
    let start = Instant::now();
    let mut jobs: Vec<osa::db::JobRecord> = Vec::new();
    while jobs.len() < 4 || jobs.iter().any(|j| j.job_id.is_none()) {
        assert!(start.elapsed() < Duration::from_secs(60), "the dropped summary did not start the night:\n{}", h.daemon_log());
        std::thread::sleep(Duration::from_millis(200));
        jobs = h.db().jobs_of_night(h.night).unwrap();
    }
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert!(jobs.iter().all(|j| j.job_id.is_some()), "{jobs:#?}");
    assert!(h.daemon_log().contains("submitted"), "{}", h.daemon_log());
}

#[test]
fn a_second_daemon_on_the_same_data_root_refuses_to_start() {
    let h = NightHarness::with("local", &unique_night(22), None, fast);
    h.hide_summaries();
    let mut first = h.spawn_daemon(&[]);
    let layout = osa::paths::Layout::new(&h.config);
    let start = Instant::now();
    while !osa::daemon::running(&layout) {
        assert!(start.elapsed() < Duration::from_secs(30), "the first daemon never took the lock:\n{}", h.daemon_log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let second = h.osa(&["daemon"], &[]);
    let _ = first.kill();
    let _ = first.wait();
    assert_eq!(second.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("another osa daemon already runs on data root"), "{stderr}");
}

#[test]
fn local_a_daemon_killed_after_sbatch_and_while_jobs_run_submits_nothing_twice() {
    killed_daemons_submit_nothing_twice("local", 23);
}

#[test]
fn slurm_a_daemon_killed_after_sbatch_and_while_jobs_run_submits_nothing_twice() {
    killed_daemons_submit_nothing_twice("slurm", 26);
}

fn killed_daemons_submit_nothing_twice(executor: &'static str, offset: i64) {
    let h = NightHarness::with(executor, &unique_night(offset), None, fast);
    // Dies right after its first sbatch, before storing the job id.
    let mut crashing = h.spawn_daemon(&[("OSA_TEST_CRASH_AT", "after-sbatch")]);
    let status = wait(&mut crashing, Duration::from_secs(60), &h);
    assert!(!status.success(), "the crash point aborts the daemon");
    assert_eq!(h.db().pending_submissions().unwrap().len(), 1);

    // Restarted, then killed -9 while jobs run.
    let mut second = h.spawn_daemon(&[]);
    let start = Instant::now();
    while h.db().tasks_of_run(h.night, h.runs().iter().find(|r| r.1 == osa::model::RunType::Data).map(|r| r.0).unwrap_or(0)).unwrap().is_empty() {
        assert!(start.elapsed() < Duration::from_secs(120), "no DATA task started:\n{}", h.daemon_log());
        std::thread::sleep(Duration::from_millis(300));
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(second.id() as i32), nix::sys::signal::Signal::SIGKILL).unwrap();
    let _ = second.wait();

    let mut third = h.spawn_daemon(&[]);
    let status = wait(&mut third, Duration::from_secs(240), &h);
    assert!(status.success(), "{}", h.daemon_log());
    assert!(h.db().night(h.night).unwrap().unwrap().closed);
    assert_each_run_submitted_once(&h);
}

/// A `slurm.bin_dir` whose `sbatch` takes 3 s, as a busy slurmctld does, and leaves a mark
/// in the folder each time it starts; the other commands are SLURM's own.
fn slow_sbatch() -> tempfile::TempDir {
    // Under /tmp: slurmd and the test both see it.
    let dir = tempfile::Builder::new().prefix("osa-slow-sbatch-").tempdir_in("/tmp").unwrap();
    let sbatch = dir.path().join("sbatch");
    std::fs::write(&sbatch, format!("#!/bin/sh\ntouch \"{}/started.$$\"\nsleep 3\nexec /usr/bin/sbatch \"$@\"\n", dir.path().display())).unwrap();
    std::fs::set_permissions(&sbatch, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    for program in ["squeue", "sacct", "scancel"] {
        std::os::unix::fs::symlink(format!("/usr/bin/{program}"), dir.path().join(program)).unwrap();
    }
    dir
}

fn sbatch_starts(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().starts_with("started.")).count()
}

/// Regression (issue 12): a daemon killed while its `sbatch` ran left that `sbatch` running;
/// the restarted daemon did not see the job yet and submitted the same attempt again. Three
/// kills, each while a slowed `sbatch` is in flight: every comment key reaches SLURM once.
#[test]
fn slurm_killed_while_a_slow_sbatch_runs_submits_nothing_twice() {
    let wrappers = slow_sbatch();
    let h = NightHarness::with("slurm", &unique_night(29), None, |c| {
        fast(c);
        c.slurm.bin_dir = Some(wrappers.path().to_path_buf());
    });
    for kill in 1..=3 {
        let before = sbatch_starts(wrappers.path());
        let mut daemon = h.spawn_daemon(&[]);
        let start = Instant::now();
        while sbatch_starts(wrappers.path()) == before {
            assert!(start.elapsed() < Duration::from_secs(60), "kill {kill}: no sbatch started:\n{}", h.daemon_log());
            std::thread::sleep(Duration::from_millis(50));
        }
        // The sbatch child goes on: SIGKILL reaches the daemon alone.
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(daemon.id() as i32), nix::sys::signal::Signal::SIGKILL).unwrap();
        let _ = daemon.wait();
    }
    let mut last = h.spawn_daemon(&[]);
    let status = wait(&mut last, Duration::from_secs(300), &h);
    assert!(status.success(), "{}", h.daemon_log());
    assert!(h.db().night(h.night).unwrap().unwrap().closed, "{}", h.daemon_log());
    assert_each_run_submitted_once(&h);
    let log = h.daemon_log();
    assert!(
        log.contains("looked for again before resubmitting") || log.contains("still runs"),
        "a restart waited for the interrupted sbatch:\n{log}"
    );
}

#[test]
fn rerun_of_a_closed_night_keeps_the_old_records_and_closes_a_new_attempt() {
    let h = NightHarness::new("local", &unique_night(24), None);
    h.run_to_end(Duration::from_secs(180));
    let (code, _) = h.close_to_end(&[], Duration::from_secs(180));
    assert_eq!(code, 0);
    let layout = osa::paths::Layout::new(&h.config);
    let jobs_before = h.db().jobs_of_night(h.night).unwrap().len();

    let out = h.osa(&["rerun", "--date", &h.night.to_string(), "--reason", "new calibration"], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let night_dir = layout.analysis_dir(h.night);
    let aside: Vec<_> = std::fs::read_dir(night_dir.parent().unwrap())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".before-rerun-"))
        .collect();
    assert_eq!(aside.len(), 1, "the previous attempt's files are kept aside");
    assert!(!h.db().night(h.night).unwrap().unwrap().closed);

    h.run_to_end(Duration::from_secs(180));
    let (code, report) = h.close_to_end(&[], Duration::from_secs(180));
    assert_eq!(code, 0, "{report:#}");
    let jobs = h.db().jobs_of_night(h.night).unwrap();
    assert_eq!(jobs.len(), 2 * jobs_before, "old submissions kept, one new per run and stage");
    assert!(
        jobs.iter().filter(|j| !j.intent.stage.is_sequence()).all(|j| j.intent.attempt <= 2),
        "no stage retried: the final layout was moved aside too"
    );
    assert!(jobs.iter().any(|j| j.intent.attempt == 2));
    assert!(h.db().audit_of_night(h.night).unwrap().iter().any(|e| e.action == osa::model::AuditAction::Rerun));
}

#[test]
fn the_daemon_survives_a_database_cut_of_30_seconds_and_the_night_still_closes() {
    let db = common::TestDb::mysql();
    db.open();
    let url = mysql_server_url();
    let rest = url.trim_start_matches("mysql://");
    let (user, host_port) = rest.rsplit_once('@').unwrap_or(("root", rest));
    let host_port = if host_port.contains(':') { host_port.to_string() } else { format!("{host_port}:3306") };
    let proxy = common::proxy::Proxy::start(&host_port);
    let through_proxy = format!("mysql://{user}@127.0.0.1:{}/{}", proxy.port, db.database_name().unwrap());
    let h = NightHarness::with("local", &unique_night(25), None, |c| {
        fast(c);
        c.database.url = through_proxy.clone();
    });
    let mut daemon = h.spawn_daemon(&[]);
    // Cut once the first jobs are submitted, for 30 s.
    let start = Instant::now();
    while h.db().jobs_of_night(h.night).map(|j| j.is_empty()).unwrap_or(true) {
        assert!(start.elapsed() < Duration::from_secs(60), "{}", h.daemon_log());
        std::thread::sleep(Duration::from_millis(200));
    }
    proxy.cut();
    std::thread::sleep(Duration::from_secs(30));
    assert!(daemon.try_wait().unwrap().is_none(), "the daemon died while the database was away:\n{}", h.daemon_log());
    proxy.restore();
    let status = wait(&mut daemon, Duration::from_secs(240), &h);
    assert!(status.success(), "{}", h.daemon_log());
    assert!(h.daemon_log().contains("retrying"), "the cut was noticed and logged:\n{}", h.daemon_log());
    assert!(h.db().night(h.night).unwrap().unwrap().closed);
    assert_each_run_submitted_once(&h);
}

fn mysql_server_url() -> String {
    common::mysql_server_url()
}

#[test]
fn reading_a_summary_does_not_wake_the_daemon() {
    // Schedules that do not fire during the test: only the start-up cycle may run, unless the
    // daemon's own reads of the summary were taken for news (they were, once).
    let h = NightHarness::with("local", &unique_night(27), None, |c| {
        c.schedules.poll = "0 0 0 * * *".to_string();
        c.schedules.closer = "0 0 0 * * *".to_string();
        c.watch.debounce_ms = 300;
        c.watch.settle_seconds = 0;
    });
    let mut daemon = h.spawn_daemon(&[]);
    let last_cycle = || daemon_state(&h).and_then(|s| s.last_cycle_at);
    wait_for_first_cycle(&h);
    std::thread::sleep(Duration::from_secs(2));
    let settled = last_cycle();
    std::thread::sleep(Duration::from_secs(6));
    let later = last_cycle();
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert_eq!(settled, later, "the daemon kept cycling with nothing to do:\n{}", h.daemon_log());
}

/// Regression (issue 12): a summary cut at a line boundary parses as a complete one. The
/// daemon plans a summary only once it has stopped changing: written in two halves a second
/// apart, no run is submitted before the second half is there.
#[test]
fn a_summary_still_being_written_is_planned_once_complete() {
    let h = NightHarness::with("local", &unique_night(39), None, |c| {
        fast(c);
        c.watch.settle_seconds = 3;
    });
    let summaries = h.hide_summaries();
    let mut daemon = h.spawn_daemon(&[]);
    wait_for_first_cycle(&h);
    let (aside, watched) = &summaries[0];
    let text = std::fs::read_to_string(aside).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let cut = lines.len() - 2;
    std::fs::write(watched, lines[..cut].join("\n") + "\n").unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    std::fs::write(watched, &text).unwrap();
    let complete = osa::db::now();
    let status = wait(&mut daemon, Duration::from_secs(240), &h);
    assert!(status.success(), "{}", h.daemon_log());
    let jobs: Vec<_> = h.db().jobs_of_night(h.night).unwrap().into_iter().filter(|j| j.intent.stage.is_sequence()).collect();
    assert_eq!(jobs.len(), 4, "one sequence per run: {jobs:#?}");
    assert!(jobs.iter().all(|j| j.intent_at >= complete), "a run was submitted from the half-written summary: {jobs:#?}");
}

/// A watched folder outside the data root is not the daemon's to create (installed next to
/// /etc/osa, `../night_summaries` would be /etc/night_summaries): a missing one stops the
/// start with an error naming it, and nothing is created.
#[test]
fn a_missing_extra_watch_folder_is_named_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("night_summaries");
    let h = NightHarness::with("local", &unique_night(62), None, |c| c.watch.extra_dirs = vec![missing.clone()]);
    let mut daemon = h.spawn_daemon(&[]);
    let status = wait(&mut daemon, Duration::from_secs(60), &h);
    assert!(!status.success(), "{}", h.daemon_log());
    assert!(h.daemon_log().contains(&format!("the watched folder {} (watch.extra_dirs", missing.display())), "{}", h.daemon_log());
    assert!(!missing.exists(), "not created");
}
