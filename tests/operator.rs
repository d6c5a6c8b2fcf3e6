//! Operator verbs that check before they act: `osa rerun --dry-run` changes nothing, `osa
//! cancel` stops a night's jobs on both executors and holds its runs (the closer does not
//! retry them), `osa night forget` removes only a night without products. All audited, with
//! the real person as the actor. A night closed under one production is processed again
//! under another, leaving the first one's records and products as they were.

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

/// How a production's lstchain environment looks to osa: Python console scripts of package
/// `lstchain <version>` (its metadata in the environment's site-packages, as pip leaves it),
/// each handing over to the analysis simulator. osa reads the version as for the real one.
fn simulated_lstchain(dir: &std::path::Path, version: &str) -> std::path::PathBuf {
    let env = dir.join(format!("lstchain-{version}"));
    let dist = env.join(format!("lib/python3.11/site-packages/lstchain-{version}.dist-info"));
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::create_dir_all(env.join("bin")).unwrap();
    std::os::unix::fs::symlink("/usr/bin/python3", env.join("bin/python3")).unwrap();
    std::fs::write(dist.join("METADATA"), format!("Metadata-Version: 2.1\nName: lstchain\nVersion: {version}\n")).unwrap();
    let scripts: String = osa::demo::SIMULATED_PROGRAMS.iter().map(|p| format!("{p} = lstchain.scripts:main\n")).collect();
    std::fs::write(dist.join("entry_points.txt"), format!("[console_scripts]\n{scripts}")).unwrap();
    let simulator = env!("CARGO_BIN_EXE_lstchain-sim");
    for program in osa::demo::SIMULATED_PROGRAMS {
        let script = env.join("bin").join(program);
        std::fs::write(&script, format!("#!{}/bin/python3\nimport os, sys\nos.execv({simulator:?}, sys.argv)\n", env.display())).unwrap();
        std::os::unix::fs::PermissionsExt::set_mode(&mut std::fs::metadata(&script).unwrap().permissions(), 0o755);
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    env.join("bin")
}

/// Every regular file under `dir` with its sha256 (links are pointers, not products).
fn hashes(dir: &std::path::Path) -> std::collections::BTreeMap<std::path::PathBuf, String> {
    let mut out = std::collections::BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                todo.push(entry.path());
            } else if kind.is_file() {
                out.insert(entry.path(), osa::hashing::sha256_file(&entry.path()).unwrap());
            }
        }
    }
    out
}

fn night_state(h: &NightHarness, prod_id: &str) -> (String, String) {
    let out = h.osa(&["--prod-id", prod_id, "status", "--date", &h.night.to_string(), "--json"], &[]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (json["production"].as_str().unwrap().to_string(), json["nights"][0]["state"].as_str().unwrap().to_string())
}

/// (file, software) of every step of a product's trace, from the product back to R0.
fn trace_software(h: &NightHarness, product: &std::path::Path) -> Vec<(String, String)> {
    fn collect(step: &serde_json::Value, out: &mut Vec<(String, String)>) {
        if let Some(software) = step["software"].as_str() {
            out.push((step["file"].as_str().unwrap_or_default().to_string(), software.to_string()));
        }
        for input in step["inputs"].as_array().into_iter().flatten() {
            collect(input, out);
        }
    }
    let out = h.osa(&["provenance", "trace", product.to_str().unwrap(), "--json"], &[]);
    assert!(out.status.success(), "{}: {}", product.display(), text(&out.stderr));
    let mut found = Vec::new();
    collect(&serde_json::from_slice(&out.stdout).unwrap(), &mut found);
    found
}

/// A run's provenance as the database holds it for production v0.10, exported from its rows.
fn export_v10(h: &NightHarness, run: u32, to: &str) -> String {
    let dir = h.root().join(to);
    let (night, run_text) = (h.night.to_string(), run.to_string());
    let out = h.osa(&["--prod-id", "v0.10", "provenance", "export", "--date", &night, "--run", &run_text, "--out", dir.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::fs::read_to_string(dir.join(format!("calibration_to_dl1_{run:05}_prov.json"))).unwrap()
}

#[test]
fn a_night_closed_under_one_production_is_processed_again_under_another_leaving_the_first_as_it_was() {
    let mut h = NightHarness::new("local", &unique_night(86), None);
    let write = |h: &NightHarness| std::fs::write(&h.config_file, h.config.to_toml()).unwrap();
    h.config.analysis.bin_dir = Some(simulated_lstchain(h.root(), "0.10.12"));
    write(&h);
    h.run_to_end(Duration::from_secs(180));
    let (code, report) = h.close_to_end(&[], Duration::from_secs(240));
    assert_eq!(code, 0, "closed under v0.10: {report:#}");
    let before = hashes(&h.config.paths.data_root);
    let v10 = osa::paths::Layout::new(&h.config);
    let run = h.runs().iter().find(|r| r.1 == osa::model::RunType::Data).unwrap().0;
    let exported = export_v10(&h, run, "export-before");

    // The same night, the same database: production v0.11 with lstchain 0.11.
    let night = h.night.to_string();
    h.config.analysis.bin_dir = Some(simulated_lstchain(h.root(), "0.11.0"));
    write(&h);
    let unknown = h.osa(&["--prod-id", "v0.11", "rerun", "--date", "2001-01-01", "--reason", "typo"], &[]);
    assert!(!unknown.status.success(), "a date without a summary starts nothing");
    let started = h.osa(&["--prod-id", "v0.11", "rerun", "--date", &night, "--reason", "reprocessing with lstchain 0.11"], &[]);
    assert!(started.status.success(), "{}", text(&started.stderr));
    assert_eq!(night_state(&h, "v0.10"), ("v0.10".to_string(), "closed".to_string()), "v0.10 stays closed");
    h.config.analysis.prod_id = "v0.11".to_string();
    write(&h);
    let plan = h.sequencer(&[]);
    assert!(plan["notes"].to_string().contains("already on disk"), "v0.10's calibration is used, not made again: {plan:#}");
    h.run_to_end(Duration::from_secs(180));
    let (code, report) = h.close_to_end(&[], Duration::from_secs(240));
    assert_eq!(code, 0, "closed under v0.11: {report:#}");
    let v11 = osa::paths::Layout::new(&h.config);

    assert_eq!(night_state(&h, "v0.11"), ("v0.11".to_string(), "closed".to_string()));
    assert_eq!(night_state(&h, "v0.10"), ("v0.10".to_string(), "closed".to_string()));
    let after = hashes(&h.config.paths.data_root);
    // The local executor's own bookkeeping (its job counter, its jobs' files) is not a product.
    let executor = h.config.paths.data_root.join("OSA/local-executor");
    for (path, sha) in before.iter().filter(|(p, _)| !p.starts_with(&executor)) {
        assert_eq!(after.get(path), Some(sha), "{} of v0.10 changed or gone", path.display());
    }
    assert!(after.len() > before.len(), "v0.11 has products of its own");
    assert_eq!(export_v10(&h, run, "export-after"), exported, "v0.10's provenance rows are as they were");

    // The next night took no calibration: v0.11 uses the one it reused (it made none itself).
    let next = h.night.next();
    let options = osa::demo::DemoOptions { data_runs: 1, subruns: 2, events: 20, ..Default::default() };
    osa::demo::make_night(&v11, next, &options).unwrap();
    let summary = v11.run_summary_file(next);
    let kept: Vec<String> = std::fs::read_to_string(&summary)
        .unwrap()
        .lines()
        .filter(|l| !l.split(',').any(|f| f == "DRS4" || f == "PEDCALIB"))
        .map(String::from)
        .collect();
    std::fs::write(&summary, kept.join("\n") + "\n").unwrap();
    let out = h.osa(&["sequencer", "--date", &next.to_string(), "--simulate", "--json"], &[]);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(plan["notes"].to_string().contains(&format!("using night {}'s", h.night)), "{plan:#}");

    // Each production's products were made by its own lstchain; v0.11 used v0.10's
    // calibration, and its trace says so (those files were made by lstchain 0.10.12).
    for (layout, mine) in [(&v10, "lstchain 0.10.12"), (&v11, "lstchain 0.11.0")] {
        let merged = layout.dl1_run_file(h.night, run);
        assert!(merged.is_file(), "{}", merged.display());
        let steps = trace_software(&h, &merged);
        assert!(steps.iter().any(|(file, _)| file.contains("drs4_pedestal")), "the chain reaches the calibration: {steps:#?}");
        for (file, software) in &steps {
            let calibration = file.contains("/Cat-A/");
            let expected = if calibration { "lstchain 0.10.12" } else { mine };
            assert_eq!(software, expected, "{file} in the trace of {}", merged.display());
        }
    }
}
