//! `osa status`: its JSON validated against the documented schema (tests/status.schema.json,
//! by Python's jsonschema), and its table read off a real terminal (tmux).

mod common;

use std::process::Command;
use std::time::Duration;

use common::night::*;

/// Validates `osa status --json` output against tests/status.schema.json (Python's jsonschema).
fn follows_the_schema(h: &NightHarness, json: &[u8]) {
    let file = h.dir.path().join("status.json");
    std::fs::write(&file, json).unwrap();
    let check = Command::new("python3")
        .args(["-c", "import json, sys, jsonschema; jsonschema.validate(json.load(open(sys.argv[1])), json.load(open(sys.argv[2])))"])
        .arg(&file)
        .arg("tests/status.schema.json")
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "status JSON does not follow its schema (or jsonschema is missing: pip install -r tests/requirements.txt):\n{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

/// Shifters read words, not Rust's debug text: a failed calibration and the runs it blocks.
#[test]
fn status_says_why_in_words() {
    let h = NightHarness::new("local", &unique_night(31), Some(CALIBRATION_FAILS));
    h.run_to_end(Duration::from_secs(180));
    let out = h.osa(&["status", "--date", &h.night.to_string(), "--json"], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    follows_the_schema(&h, &out.stdout);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let night = &json["nights"][0];
    assert_eq!(night["state"], "needs_human", "{json:#}");
    let states: Vec<&str> = night["runs"].as_array().unwrap().iter().map(|r| r["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["failed: a task failed", "blocked: calibration failed", "blocked: calibration failed", "blocked: calibration failed"]);
    let problems = night["problems"].to_string();
    assert!(problems.contains("blocked: calibration failed") && !problems.contains("ParentFailed"), "{problems}");

    let out = h.osa(&["status", "--date", &h.night.to_string()], &[]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("blocked: calibration failed") && table.contains("failed: a task failed"), "{table}");
    assert!(!table.contains("Failed {") && !table.contains("ParentFailed"), "{table}");
}

#[test]
fn status_json_follows_its_schema_and_the_table_reads_on_a_terminal() {
    let h = NightHarness::new("local", &unique_night(30), None);
    h.run_to_end(Duration::from_secs(180));
    let (code, _) = h.close_to_end(&[], Duration::from_secs(180));
    assert_eq!(code, 0);

    let out = h.osa(&["status", "--date", &h.night.to_string(), "--json"], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["nights"][0]["state"], "closed");
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
