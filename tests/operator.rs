//! Operator verbs that check before they act: `osa rerun --dry-run` changes nothing, `osa
//! cancel` stops a night's jobs on both executors and holds its runs (the closer does not
//! retry them), `osa night forget` removes only a night without products. All audited, with
//! the real person as the actor.

mod common;

use std::time::{Duration, Instant};

use common::night::*;
use osa::model::AuditAction;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn rerun_dry_run_lists_what_would_move_and_changes_nothing() {
    let h = NightHarness::new("local", &unique_night(70), None);
    h.run_to_end(Duration::from_secs(180));
    let night = h.night.to_string();
    let layout = osa::paths::Layout::new(&h.config);
    let out = h.osa(&["rerun", "--date", &night, "--dry-run"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(
        said.contains(&format!("would move {} -> {}.before-rerun-", layout.analysis_dir(h.night).display(), layout.analysis_dir(h.night).display())),
        "{said}"
    );
    assert!(said.contains("dry run, nothing changed"), "{said}");
    assert!(layout.analysis_dir(h.night).is_dir(), "nothing moved");
    let parent = layout.analysis_dir(h.night).parent().unwrap().to_path_buf();
    assert!(std::fs::read_dir(&parent).unwrap().flatten().all(|e| !e.file_name().to_string_lossy().contains("before-rerun")));
    assert!(h.db().audit_of_night(h.night).unwrap().is_empty(), "nothing audited");
    let again = h.sequencer(&[]);
    assert!(again["submitted"].as_array().unwrap().is_empty(), "nothing reset: {again:#}");
}

/// Submits a slow night, cancels it: its jobs end cancelled, its runs are held (never
/// resubmitted by the sequencer or retried by the closer), the audit log names who.
fn a_cancelled_night_stops_and_stays_held(executor: &'static str, offset: i64) {
    let h = NightHarness::new(executor, &unique_night(offset), None);
    let night = h.night.to_string();
    let slow = [("LSTCHAIN_SIM_EVENT_MS", "400")];
    let first = h.sequencer(&slow);
    let jobs = job_ids(&first);
    assert_eq!(jobs.len(), 4, "{first:#}");

    let out = h.osa(&["cancel", "--date", &night, "--run", "999999"], &[]);
    assert!(!out.status.success() && text(&out.stderr).contains("is not one of its runs"), "{}", text(&out.stderr));

    let out = h.osa(&["cancel", "--date", &night, "--reason", "wrong source coordinates"], &[("SUDO_USER", "shifter-anna")]);
    assert!(out.status.success(), "{}\n{}", text(&out.stdout), text(&out.stderr));
    let said = text(&out.stdout);
    for job in &jobs {
        assert!(said.contains(&format!("cancelled job {job} ")), "{job}: {said}");
    }
    // The executor ends them as cancelled; nothing goes again.
    let start = Instant::now();
    loop {
        let cycle = h.sequencer(&slow);
        assert!(cycle["submitted"].as_array().unwrap().is_empty(), "a held run is not resubmitted: {cycle:#}");
        let held = actions(&cycle).iter().all(|(_, a)| a == "vetoed");
        let out = h.osa(&["status", "--date", &night, "--json"], &[]);
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let active = status["nights"][0]["runs"].as_array().unwrap().iter().any(|r| matches!(r["job_state"].as_str(), Some("pending" | "running")));
        if held && !active {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(90), "jobs not ended cancelled: {cycle:#}");
        std::thread::sleep(Duration::from_millis(700));
    }
    let (_, report) = h.closer(&[]);
    assert!(!report.to_string().contains("resubmit"), "the closer retries nothing a human stopped: {report:#}");
    let audit = h.db().audit_of_night(h.night).unwrap();
    assert_eq!(audit.iter().filter(|e| e.action == AuditAction::Cancel).count(), 4, "{audit:?}");
    assert!(audit.iter().all(|e| e.actor == "shifter-anna" && e.reason == "wrong source coordinates"), "{audit:?}");
    let vetoes = h.osa(&["veto", "list", "--date", &night], &[]);
    assert!(text(&vetoes.stdout).matches("wrong source coordinates").count() == 4, "{}", text(&vetoes.stdout));
}

#[test]
fn cancel_on_the_local_executor_stops_the_night() {
    a_cancelled_night_stops_and_stays_held("local", 71);
}

#[test]
fn slurm_cancel_stops_the_night() {
    a_cancelled_night_stops_and_stays_held("slurm", 72);
}

#[test]
fn forget_removes_only_a_night_without_products() {
    let out = {
        let h = NightHarness::new("local", &unique_night(73), None);
        h.osa(&["night", "forget", "--date", "2011-01-01"], &[])
    };
    assert!(!out.status.success() && text(&out.stderr).contains("osa has never seen it"), "{}", text(&out.stderr));

    // Planned and run, no product made (its calibration failed: the R0 files of a wrong date
    // are not there, say): its summary must go first; then it is forgotten, its working folder
    // moved aside.
    let h = NightHarness::new("local", &unique_night(74), Some(CALIBRATION_FAILS));
    h.run_to_end(Duration::from_secs(180));
    let night = h.night.to_string();
    let out = h.osa(&["night", "forget", "--date", &night], &[]);
    assert!(!out.status.success() && text(&out.stderr).contains("would be planned again"), "{}", text(&out.stderr));
    h.hide_summaries();
    let out = h.osa(&["night", "forget", "--date", &night, "--reason", "summary under the wrong date"], &[("SUDO_USER", "operator-ben")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(h.db().night(h.night).unwrap().is_none(), "the night's row is gone");
    assert!(h.db().runs_of_night(h.night).unwrap().is_empty());
    let layout = osa::paths::Layout::new(&h.config);
    assert!(!layout.analysis_dir(h.night).exists(), "its working folder is moved aside");
    let moved = text(&out.stdout).lines().find_map(|l| l.strip_prefix("moved its working folder aside: ").map(std::path::PathBuf::from)).unwrap();
    assert!(moved.is_dir(), "{}", moved.display());
    let audit = h.db().audit_of_night(h.night).unwrap();
    assert!(audit.iter().any(|e| e.action == AuditAction::Forget && e.actor == "operator-ben"), "{audit:?}");

    // A closed night has products in its final layout: refused, nothing removed.
    let h = NightHarness::new("local", &unique_night(75), None);
    h.run_to_end(Duration::from_secs(180));
    let (code, _) = h.close_to_end(&[], Duration::from_secs(180));
    assert_eq!(code, 0);
    h.hide_summaries();
    let out = h.osa(&["night", "forget", "--date", &h.night.to_string()], &[]);
    assert!(!out.status.success() && text(&out.stderr).contains("has files on disk"), "{}", text(&out.stderr));
    assert!(h.db().night(h.night).unwrap().is_some());
}
