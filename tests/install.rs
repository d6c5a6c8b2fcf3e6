//! Installed as operators install it (`scripts/install.sh`, into a temporary root), the daemon
//! runs as the unprivileged `lstanalyzer` with the installed config (edited as the install
//! script asks: data root, database, executor), a night on the real SLURM cluster closes,
//! systemd hears READY, WATCHDOG and STATUS, and a shifter under their own account sees the
//! service's jobs in `osa status`. The installed unit passes `systemd-analyze verify` and its
//! `systemd-analyze security` exposure is 3.0 or better.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::night::*;
use osa::config::Config;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn gid_of(group: &str) -> u32 {
    nix::unistd::Group::from_name(group).unwrap().unwrap_or_else(|| panic!("no group {group}")).gid.as_raw()
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The installed unit checked by systemd's own tools; returns the exposure score.
fn systemd_analyze(unit: &Path, bin: &Path, dir: &Path) -> f64 {
    // The tree is not moved to `/`: the unit is checked with its binary where it lies.
    let text_unit = std::fs::read_to_string(unit).unwrap().replace("/usr/local/bin/osa", &bin.display().to_string());
    let checked = dir.join("osa.service");
    std::fs::write(&checked, text_unit).unwrap();
    let verify = Command::new("systemd-analyze").args(["verify", "--man=no"]).arg(&checked).output().unwrap();
    assert!(verify.status.success() && text(&verify.stderr).trim().is_empty(), "systemd-analyze verify:\n{}", text(&verify.stderr));
    let security = Command::new("systemd-analyze").args(["security", "--offline=true", "--no-pager"]).arg(&checked).output().unwrap();
    let report = text(&security.stdout);
    let line = report.lines().find(|l| l.contains("Overall exposure level")).unwrap_or_else(|| panic!("no score:\n{report}"));
    println!("systemd-analyze security: {line}");
    line.split(':').nth(1).and_then(|s| s.split_whitespace().next()).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("score of {line:?}"))
}

/// `osa` as `user`, with the installed config, as the unit runs it.
fn as_user(user: &str, bin: &Path, config: &Path, args: &[&str], env: &[(&str, String)]) -> Command {
    let mut command = Command::new("runuser");
    command.args(["-u", user, "--", "env"]).arg(format!("OSA_CONFIG={}", config.display()));
    for (key, value) in env {
        command.arg(format!("{key}={value}"));
    }
    command.arg(bin).args(args);
    for var in ["OSA_CONFIG", "OSA_DATA_ROOT", "OSA_DATABASE_URL", "OSA_EXECUTOR", "OSA_TEST_CRASH_AT"] {
        command.env_remove(var);
    }
    command
}

fn ensure_shifter() -> &'static str {
    let shifter = "osashifter";
    if nix::unistd::User::from_name(shifter).unwrap().is_none() {
        let made =
            Command::new("useradd").args(["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "-G", "lstanalyzer", shifter]).status();
        assert!(made.unwrap().success(), "useradd {shifter}");
    }
    shifter
}

#[test]
fn slurm_installed_as_lstanalyzer_a_night_closes_and_a_shifter_sees_its_jobs() {
    // Installed into a temporary root, with the binary this test was built with.
    let root = tempfile::Builder::new().prefix("osa-install-").tempdir_in("/tmp").unwrap();
    chmod(root.path(), 0o755);
    let out = Command::new("bash")
        .arg("scripts/install.sh")
        .env("DESTDIR", root.path())
        .env("OSA_BIN", env!("CARGO_BIN_EXE_osa"))
        .env_remove("OSA_CONFIG")
        .output()
        .unwrap();
    assert!(out.status.success(), "install.sh failed:\n{}\n{}", text(&out.stdout), text(&out.stderr));
    let bin = root.path().join("usr/local/bin/osa");
    let config_file = root.path().join("etc/osa/osa.toml");
    let unit = root.path().join("etc/systemd/system/osa.service");
    let meta = std::fs::metadata(&config_file).unwrap();
    assert_eq!((meta.mode() & 0o777, meta.gid()), (0o640, gid_of("lstanalyzer")), "the config may hold a password: group lstanalyzer only");

    let score = systemd_analyze(&unit, &bin, root.path());
    assert!(score <= 3.0, "systemd-analyze security rates the unit {score}: 3.0 or better wanted");

    // The operator's edit: where the data is, which database, SLURM. The rest is as shipped.
    let db = common::TestDb::mysql();
    let h = NightHarness::with("slurm", &unique_night(60), None, |c| c.database.url = db.url.clone());
    let mut installed = Config::from_file(&config_file).unwrap();
    assert_eq!(installed.slurm.user, "lstanalyzer", "install.sh makes the poll read the service account's jobs");
    installed.paths.data_root = h.config.paths.data_root.clone();
    installed.database.url = db.url.clone();
    installed.executor.kind = osa::model::ExecutorKind::Slurm;
    installed.slurm.calibration = h.config.slurm.calibration.clone();
    installed.slurm.data = h.config.slurm.data.clone();
    installed.closer.stages = h.config.closer.stages.clone();
    installed.analysis.bin_dir = h.config.analysis.bin_dir.clone();
    installed.analysis.dl1a_config = h.config.analysis.dl1a_config.clone();
    installed.analysis.dl1b_config = h.config.analysis.dl1b_config.clone();
    installed.analysis.dl2_config = h.config.analysis.dl2_config.clone();
    // A test night closes in seconds, not at the next quarter hour.
    installed.schedules.poll = "*/2 * * * * *".to_string();
    installed.schedules.closer = "*/3 * * * * *".to_string();
    installed.schedules.poll_jitter_seconds = 0;
    std::fs::write(&config_file, installed.to_toml()).unwrap();
    // The data root belongs to the service account, as on the site's disk.
    chmod(h.root(), 0o755);
    let owned = Command::new("chown").args(["-R", "lstanalyzer:lstanalyzer"]).arg(h.root()).status().unwrap();
    assert!(owned.success());

    // systemd's notification socket, played by the test.
    let socket_path = root.path().join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    chmod(&socket_path, 0o777);
    socket.set_read_timeout(Some(Duration::from_millis(200))).unwrap();

    let log = std::fs::File::create(h.root().join("daemon.log")).unwrap();
    let night = h.night.to_string();
    let now = format!("{}T09:00:00Z", h.night.next());
    let env = [
        ("NOTIFY_SOCKET", socket_path.display().to_string()),
        // Slow enough for the shifter to see the jobs running.
        ("LSTCHAIN_SIM_EVENT_MS", "40".to_string()),
        ("LSTCHAIN_SIM_STATE", h.root().join("sim-state").display().to_string()),
        ("RUST_LOG", "osa=info".to_string()),
    ];
    let mut daemon = as_user("lstanalyzer", &bin, &config_file, &["daemon", "--now", &now, "--exit-when-closed", &night], &env)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let daemon_log = || std::fs::read_to_string(h.root().join("daemon.log")).unwrap_or_default();

    // A shifter, under their own account, sees lstanalyzer's jobs while they run.
    let shifter = ensure_shifter();
    let start = Instant::now();
    let mut notes: Vec<String> = Vec::new();
    let mut seen: Option<serde_json::Value> = None;
    let exit = loop {
        let mut buffer = [0u8; 4096];
        while let Ok(n) = socket.recv(&mut buffer) {
            notes.push(text(&buffer[..n]));
        }
        if seen.is_none() {
            let out: Output = as_user(shifter, &bin, &config_file, &["status", "--date", &night, "--json"], &[]).output().unwrap();
            if let Ok(json) = serde_json::from_slice::<serde_json::Value>(&out.stdout) {
                let active = json["nights"][0]["runs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|r| matches!(r["job_state"].as_str(), Some("pending" | "running")));
                if active {
                    assert_eq!(json["executor"]["polled_user"], "lstanalyzer", "{json:#}");
                    assert_eq!(out.status.code(), Some(0), "the daemon runs and nothing needs a human: {json:#}\n{}", text(&out.stderr));
                    seen = Some(json);
                }
            } else {
                assert!(start.elapsed() < Duration::from_secs(60), "the shifter's status fails:\n{}", text(&out.stderr));
            }
        }
        if let Some(status) = daemon.try_wait().unwrap() {
            break status;
        }
        assert!(start.elapsed() < Duration::from_secs(400), "night not closed:\n{}", daemon_log());
        std::thread::sleep(Duration::from_millis(500));
    };
    let mut buffer = [0u8; 4096];
    while let Ok(n) = socket.recv(&mut buffer) {
        notes.push(text(&buffer[..n]));
    }
    assert!(exit.success(), "daemon as lstanalyzer: {exit}\n{}", daemon_log());
    assert!(seen.is_some(), "the shifter never saw a pending or running job of lstanalyzer:\n{}", daemon_log());
    assert!(h.db().night(h.night).unwrap().unwrap().closed, "{}", daemon_log());

    let notes = notes.join("\n");
    for wanted in ["READY=1", "WATCHDOG=1", "STATUS=", "STOPPING=1"] {
        assert!(notes.contains(wanted), "systemd was not told {wanted}:\n{notes}");
    }
    // Everything the daemon and its jobs wrote belongs to the service account.
    let lstanalyzer = nix::unistd::User::from_name("lstanalyzer").unwrap().unwrap().uid.as_raw();
    let layout = osa::paths::Layout::new(&h.config);
    for written in [osa::daemon::state_file(&layout), layout.analysis_dir(h.night), layout.provenance_records_dir(h.night)] {
        assert_eq!(std::fs::metadata(&written).unwrap().uid(), lstanalyzer, "{} is lstanalyzer's", written.display());
    }
    let _: PathBuf = socket_path;
}

/// Under systemd (JOURNAL_STREAM set) every log line reaches the journal with the priority of
/// its level, so `journalctl -u osa -p warning` finds the warnings and errors. The journal's
/// socket is played by the test (these machines run no journald).
#[test]
fn under_systemd_the_journal_gets_each_line_with_its_priority() {
    let journal = Path::new("/run/systemd/journal/socket");
    assert!(!journal.exists(), "a real journald runs here: this test plays its socket and needs the path free");
    std::fs::create_dir_all(journal.parent().unwrap()).unwrap();
    let socket = std::os::unix::net::UnixDatagram::bind(journal).unwrap();
    struct Unbind<'a>(&'a Path);
    impl Drop for Unbind<'_> {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(self.0);
        }
    }
    let _unbind = Unbind(journal);
    socket.set_read_timeout(Some(Duration::from_millis(300))).unwrap();

    // A database that does not answer: a warning at start, an error at the first cycle.
    let h = NightHarness::new("local", &unique_night(61), None);
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_osa"))
        .arg("--config")
        .arg(&h.config_file)
        .arg("daemon")
        .env("OSA_DATABASE_URL", "mysql://root@127.0.0.1:1/osa_nowhere")
        .env("JOURNAL_STREAM", "8:12345")
        .env("RUST_LOG", "osa=info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    // (PRIORITY, MESSAGE) of each entry.
    let mut entries: Vec<(String, String)> = Vec::new();
    let mut buffer = vec![0u8; 65536];
    let has = |entries: &[(String, String)], priority: &str, needle: &str| entries.iter().any(|(p, m)| p == priority && m.contains(needle));
    while start.elapsed() < Duration::from_secs(60) {
        if let Ok(n) = socket.recv(&mut buffer) {
            let fields = journal_fields(&buffer[..n]);
            let field = |key: &str| fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap_or_default();
            entries.push((field("PRIORITY"), field("MESSAGE")));
        }
        if has(&entries, "3", "cycle failed") && has(&entries, "4", "database not reachable at start") && has(&entries, "5", "osa daemon started") {
            break;
        }
    }
    let _ = daemon.kill();
    let out = daemon.wait_with_output().unwrap();
    let all = format!("{entries:#?}");
    assert!(has(&entries, "5", "osa daemon started"), "info is notice (5):\n{all}");
    assert!(has(&entries, "4", "database not reachable at start"), "warn is warning (4):\n{all}");
    assert!(has(&entries, "3", "cycle failed"), "error is err (3):\n{all}");
    assert!(text(&out.stderr).trim().is_empty(), "under systemd the lines go to the journal, not twice through stderr:\n{}", text(&out.stderr));
}

/// The fields of one entry in journald's native protocol: `KEY=value\n`, or `KEY\n` followed
/// by the value's length (8 bytes, little-endian), the value and `\n`.
fn journal_fields(mut data: &[u8]) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    while !data.is_empty() {
        let Some(end) = data.iter().position(|b| *b == b'\n') else { break };
        let line = &data[..end];
        if let Some(eq) = line.iter().position(|b| *b == b'=') {
            fields.push((text(&line[..eq]), text(&line[eq + 1..])));
            data = &data[end + 1..];
        } else {
            let size = u64::from_le_bytes(data[end + 1..end + 9].try_into().unwrap()) as usize;
            fields.push((text(line), text(&data[end + 9..end + 9 + size])));
            data = &data[(end + 10 + size).min(data.len())..];
        }
    }
    fields
}
