//! `osa status`: its JSON validated against the documented schema (tests/status.schema.json,
//! by Python's jsonschema), and its table read off a real terminal (tmux).

mod common;

use std::process::Command;
use std::time::Duration;

use common::night::*;

/// Validates `osa status --json` output against tests/status.schema.json.
fn follows_the_schema(h: &NightHarness, json: &[u8]) {
    h.follows_schema(json, "status.schema.json");
}

/// Shifters read words, not Rust's debug text: a failed calibration and the runs it blocks.
#[test]
fn status_says_why_in_words() {
    let h = NightHarness::new("local", &unique_night(31), Some(CALIBRATION_FAILS));
    h.run_to_end(Duration::from_secs(180));
    let out = h.osa(&["status", "--date", &h.night.to_string(), "--json"], &[]);
    assert_eq!(out.status.code(), Some(2), "no daemon runs: exit 2\n{}", String::from_utf8_lossy(&out.stderr));
    follows_the_schema(&h, &out.stdout);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["daemon"]["state"], "down", "{json:#}");
    let night = &json["nights"][0];
    assert_eq!(night["state"], "needs_human", "{json:#}");
    assert_eq!(night["totals"]["failed"], 1, "{json:#}");
    assert_eq!(night["totals"]["blocked"], 3, "{json:#}");
    // Where to look: the failing step by name, the task's log, its last lines.
    let failure = &night["runs"][0]["failure"];
    assert_eq!(failure["step"], "drs4_baseline", "{json:#}");
    let log = std::path::PathBuf::from(failure["log"].as_str().unwrap());
    assert!(log.is_file(), "the log named is the task's: {}", log.display());
    assert!(!failure["tail"].as_array().unwrap().is_empty(), "{json:#}");
    let states: Vec<&str> = night["runs"].as_array().unwrap().iter().map(|r| r["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["failed: a task failed", "blocked: calibration failed", "blocked: calibration failed", "blocked: calibration failed"]);
    let problems = night["problems"].to_string();
    assert!(problems.contains("blocked: calibration failed") && !problems.contains("ParentFailed"), "{problems}");

    let out = h.osa(&["status", "--date", &h.night.to_string()], &[]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("blocked: calibration failed") && table.contains("failed: a task failed"), "{table}");
    assert!(!table.contains("Failed {") && !table.contains("ParentFailed"), "{table}");
    assert!(table.contains("4 runs: 0 done, 1 failed, 3 blocked"), "the night's totals: {table}");
    assert!(table.contains("step drs4_baseline failed; log "), "{table}");

    // Only the failed runs.
    let out = h.osa(&["status", "--date", &h.night.to_string(), "--state", "failed", "--json"], &[]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let runs: Vec<&str> = json["nights"][0]["runs"].as_array().unwrap().iter().map(|r| r["state"].as_str().unwrap()).collect();
    assert_eq!(runs, ["failed: a task failed"]);

    // A daemon alive (its lock held, a fresh cycle): the night needing a human is exit 1;
    // its last cycle 20 minutes old is a stale daemon, exit 2.
    let layout = osa::paths::Layout::new(&h.config);
    let _lock = osa::daemon::take_lock(&layout).unwrap();
    for (minutes, code, state) in [(0, 1, "running"), (20, 2, "stale")] {
        let at = chrono::Utc::now() - chrono::Duration::minutes(minutes);
        let health = osa::daemon::DaemonState { pid: std::process::id(), last_cycle_at: Some(at.to_rfc3339()), ..Default::default() };
        std::fs::write(osa::daemon::state_file(&layout), serde_json::to_string(&health).unwrap()).unwrap();
        let out = h.osa(&["status", "--date", &h.night.to_string(), "--json"], &[]);
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!((out.status.code(), json["daemon"]["state"].as_str()), (Some(code), Some(state)), "{json:#}");
    }
}

/// A 200-run night on an 80x24 terminal: the header (what is shown, the daemon) and the
/// night's totals come before the run table, on the first screen.
#[test]
fn a_200_run_night_says_how_it_is_on_the_first_screen() {
    let size = osa::demo::DemoOptions { data_runs: 199, subruns: 1, events: 50, ..Default::default() };
    let h = NightHarness::sized("local", &unique_night(32), None, size, |_| {});
    let out = h.osa(&["status", "--date", &h.night.to_string(), "--json"], &[]);
    follows_the_schema(&h, &out.stdout);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["nights"][0]["totals"]["runs"], 200, "{}", json["nights"][0]["totals"]);

    let session = format!("osa-status-200-{}", std::process::id());
    let command = format!("{} --config {} status --date {}; sleep 30", env!("CARGO_BIN_EXE_osa"), h.config_file.display(), h.night);
    let started = Command::new("tmux").args(["new-session", "-d", "-s", &session, "-x", "80", "-y", "24", &command]).status().unwrap();
    assert!(started.success());
    let mut screen = String::new();
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(200));
        // The whole scrollback from its first line: what the shifter saw first.
        let out = Command::new("tmux").args(["capture-pane", "-p", "-S", "-", "-E", "-", "-t", &session]).output().unwrap();
        screen = String::from_utf8_lossy(&out.stdout).into_owned();
        if screen.matches("waiting").count() > 2 {
            break;
        }
    }
    let _ = Command::new("tmux").args(["kill-session", "-t", &session]).status();
    println!("{screen}");
    let first: Vec<&str> = screen.lines().take(24).collect();
    let first = first.join("\n");
    for wanted in [
        "config:    /",
        "data root: /",
        "database:  sqlite://",
        "daemon:    not running",
        "executor:  local",
        &format!("night {}: ", h.night),
        "200 runs: 0 done, 200 waiting",
        "Run ",
    ] {
        assert!(first.contains(wanted), "{wanted:?} is not on the first screen:\n{first}");
    }
}

#[test]
fn status_json_follows_its_schema_and_the_table_reads_on_a_terminal() {
    let h = NightHarness::new("local", &unique_night(30), None);
    h.run_to_end(Duration::from_secs(180));
    let (code, _) = h.close_to_end(&[], Duration::from_secs(180));
    assert_eq!(code, 0);

    let out = h.osa(&["status", "--date", &h.night.to_string(), "--json"], &[]);
    assert_eq!(out.status.code(), Some(2), "no daemon runs: exit 2\n{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["nights"][0]["state"], "closed");
    assert_eq!(json["nights"][0]["totals"]["dl1_percent"], 100, "{json:#}");
    assert_eq!(json["nights"][0]["totals"]["dl2_percent"], 100, "{json:#}");
    assert_eq!(json["nights"][0]["runs"].as_array().unwrap().len(), 4);
    // The closing stages: each DATA run's DL2 and data check, the night's long-term check.
    assert_eq!(json["nights"][0]["longterm"], "longterm: done");
    for run in json["nights"][0]["runs"].as_array().unwrap().iter().filter(|r| r["type"] == "DATA") {
        assert_eq!((&run["dl2_percent"], &run["datacheck"]), (&serde_json::json!(100), &serde_json::json!("datacheck_run: done")), "{run}");
    }
    follows_the_schema(&h, &out.stdout);

    // On a terminal: tmux runs it, capture-pane reads the screen with its colours.
    let session = format!("osa-status-{}", std::process::id());
    let command = format!("{} --config {} status --date {}; sleep 30", env!("CARGO_BIN_EXE_osa"), h.config_file.display(), h.night);
    let started = Command::new("tmux")
        .args(["new-session", "-d", "-s", &session, "-x", "200", "-y", "40", &command])
        .status()
        .expect("tmux is installed by scripts/install-deps.sh");
    assert!(started.success());
    let mut screen = String::new();
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(200));
        let out = Command::new("tmux").args(["capture-pane", "-p", "-e", "-t", &session]).output().unwrap();
        screen = String::from_utf8_lossy(&out.stdout).into_owned();
        if screen.contains("Subruns done") {
            break;
        }
    }
    let _ = Command::new("tmux").args(["kill-session", "-t", &session]).status();
    assert!(screen.contains(&format!("night {}:", h.night)) && screen.contains("Subruns done"), "{screen}");
    let state_line = screen.lines().find(|l| l.contains(&format!("night {}:", h.night))).unwrap_or_default();
    assert!(state_line.contains("\u{1b}[") && state_line.contains("closed"), "the night's state is coloured on a terminal: {state_line:?}");
    assert!(screen.contains("4/4"), "{screen}");
    assert!(screen.contains("DL2%") && screen.contains("datacheck_run: done") && screen.contains("long-term data check: longterm: done"), "{screen}");
}

/// `--watch` redraws the screen: a cycle that submits the night shows up without a new
/// command.
#[test]
fn status_watch_redraws_what_changed() {
    let h = NightHarness::new("local", &unique_night(33), None);
    let session = format!("osa-status-watch-{}", std::process::id());
    let command = format!("{} --config {} status --date {} --watch 1", env!("CARGO_BIN_EXE_osa"), h.config_file.display(), h.night);
    assert!(Command::new("tmux").args(["new-session", "-d", "-s", &session, "-x", "200", "-y", "50", &command]).status().unwrap().success());
    let screen = || text_of(Command::new("tmux").args(["capture-pane", "-p", "-t", &session]).output().unwrap().stdout);
    let seen = |wanted: &str| {
        let start = std::time::Instant::now();
        loop {
            let now = screen();
            if now.contains(wanted) {
                return now;
            }
            if start.elapsed() > Duration::from_secs(60) {
                let _ = Command::new("tmux").args(["kill-session", "-t", &session]).status();
                panic!("{wanted:?} never shown:\n{now}");
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    };
    let before = seen("4 runs: 0 done, 4 waiting");
    assert!(before.starts_with("config:"), "drawn from the top of a cleared screen:\n{before}");
    h.run_to_end(Duration::from_secs(180));
    let after = seen("4 runs: 4 done");
    let _ = Command::new("tmux").args(["kill-session", "-t", &session]).status();
    assert!(!after.contains("waiting"), "{after}");
}

fn text_of(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&bytes).into_owned()
}
