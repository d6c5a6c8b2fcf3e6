//! The closing stages (DL1 and muon merges, run data check, DL2, long-term check) as jobs of
//! the executor: on the real SLURM cluster a DL2 failing once is retried by the known-failure
//! table, a DL2 failing every try is vetoed alone, a daemon killed between the merge's and
//! DL2's submissions submits nothing twice; on the local executor a closer crashing in the
//! middle of the moves to the final layout finishes them, every product once with its hash;
//! `osa provenance trace` reaches R0 and calibration files from every final product.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::night::*;
use osa::model::{AuditAction, RunType, Stage};
use osa::paths::Layout;

fn status(report: &serde_json::Value) -> &str {
    report["status"]["status"].as_str().unwrap_or("?")
}

fn fast(config: &mut osa::config::Config) {
    config.schedules.poll = "*/2 * * * * *".to_string();
    config.schedules.closer = "*/3 * * * * *".to_string();
    config.schedules.poll_jitter_seconds = 0;
    config.watch.debounce_ms = 300;
}

/// Jobs of the night per (run, stage), attempts in order.
fn attempts(h: &NightHarness) -> BTreeMap<(u32, String), Vec<u32>> {
    let mut out: BTreeMap<(u32, String), Vec<u32>> = BTreeMap::new();
    for job in h.db().jobs_of_night(h.night).unwrap() {
        out.entry((job.intent.run, job.intent.stage.to_string())).or_default().push(job.intent.attempt);
    }
    out
}

fn data_runs(h: &NightHarness) -> Vec<u32> {
    h.runs().into_iter().filter(|r| r.1 == RunType::Data).map(|r| r.0).collect()
}

/// sacct's job names of the night's jobs: each stage shows in its name.
fn sacct_names(job_ids: &[String]) -> BTreeSet<String> {
    let out = std::process::Command::new("sacct").args(["-n", "-X", "-P", "-o", "JobName", "-j", &job_ids.join(",")]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().map(|l| l.trim().to_string()).collect()
}

#[test]
fn slurm_a_dl2_failing_once_is_retried_by_the_known_failure_table_and_the_night_closes() {
    let night = unique_night(50);
    let victim = data_run(&night, 1);
    let rule = leak(format!("program=lstchain_dl1_to_dl2,run={victim},kind=exists,attempts=1"));
    let h = NightHarness::new("slurm", &night, Some(rule));
    h.run_to_end(Duration::from_secs(300));
    let (code, report) = h.close_to_end(&[], Duration::from_secs(400));
    assert_eq!((code, status(&report)), (0, "closed"), "{report:#}");

    let jobs = attempts(&h);
    assert_eq!(jobs[&(victim, "dl2".to_string())], [1, 2], "the failed DL2 went again once: {jobs:?}");
    for run in data_runs(&h).into_iter().filter(|r| *r != victim) {
        for stage in ["merge_dl1", "merge_muons", "datacheck_run", "dl2"] {
            assert_eq!(jobs[&(run, stage.to_string())], [1], "run {run} {stage}: {jobs:?}");
        }
    }
    for stage in ["longterm", "transparency"] {
        assert_eq!(jobs[&(0, stage.to_string())], [1], "night stage {stage}: {jobs:?}");
    }
    let history = h.db().history_of_task(h.night, victim, &Stage::closing("dl2"), 0).unwrap();
    assert_eq!(history.iter().map(|r| r.return_code == 0).collect::<Vec<_>>(), [false, true], "{history:?}");

    // Every stage is a SLURM job named after its stage.
    let ids: Vec<String> = h.db().jobs_of_night(h.night).unwrap().into_iter().filter_map(|j| j.job_id).collect();
    let names = sacct_names(&ids);
    for name in [format!("LST1_{victim:05}_dl2"), format!("LST1_{victim:05}_merge_dl1"), "LST1_night_longterm".to_string()] {
        assert!(names.contains(&name), "{name} not in sacct: {names:?}");
    }

    // The final layout: each DATA run's merged DL1, muons, data check and DL2, the night's
    // long-term check, and links back in running_analysis.
    let layout = Layout::new(&h.config);
    for run in data_runs(&h) {
        for file in [
            layout.dl1_run_file(h.night, run),
            layout.muons_run_file(h.night, run),
            layout.datacheck_run_file(h.night, run),
            layout.datacheck_run_pdf(h.night, run),
        ] {
            assert!(file.is_file(), "{} missing", file.display());
        }
        let dl2 = Layout::dl2_run_file(&layout.dl2_dir(h.night, run).join("nsb_tuning_0.14"), run);
        assert!(dl2.is_file(), "{} missing", dl2.display());
        let link = layout.dl1b_file(h.night, run, 0);
        assert_eq!(std::fs::read_link(&link).unwrap(), layout.final_dl1b_file(h.night, run, 0), "running_analysis links to the final file");
    }
    assert!(layout.longterm_file(h.night).is_file());
}

#[test]
fn slurm_a_dl2_failing_every_try_vetoes_that_runs_dl2_only() {
    let night = unique_night(51);
    let victim = data_run(&night, 0);
    let rule = leak(format!("program=lstchain_dl1_to_dl2,run={victim}"));
    let h = NightHarness::with("slurm", &night, Some(rule), |c| c.retries.max_tries_per_run = 2);
    h.run_to_end(Duration::from_secs(300));
    let (code, report) = h.close_to_end(&[], Duration::from_secs(400));
    assert_eq!((code, status(&report)), (21, "needs_human"), "{report:#}");
    let problems = report["problems"].to_string();
    // Said as decided ("vetoed: <why>") or, at later passes, with the command that lifts it.
    assert!(
        problems.contains(&format!("run {victim:05} stage dl2 vetoed")) || problems.contains(&format!("run {victim:05} stage dl2 is vetoed")),
        "{problems}"
    );
    assert!(!h.db().night(h.night).unwrap().unwrap().closed);

    let audit = h.db().audit_of_night(h.night).unwrap();
    let vetoes: Vec<_> = audit.iter().filter(|e| e.action == AuditAction::Veto).collect();
    assert_eq!(vetoes.len(), 1, "{audit:?}");
    assert_eq!((vetoes[0].run, vetoes[0].stage.clone()), (Some(victim), Stage::closing("dl2")));

    // Everything else is done: the other runs' DL2, the victim's merges and data check, the
    // night's long-term check. Read at the next pass: the pass that decided the veto planned
    // the DL2 as failed.
    let (code, report) = h.closer(&[]);
    assert_eq!((code, status(&report)), (21, "needs_human"), "{report:#}");
    let layout = Layout::new(&h.config);
    let stages: Vec<(u32, String, String)> = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["run"].as_u64().unwrap() as u32, s["stage"].as_str().unwrap().to_string(), s["action"]["action"].as_str().unwrap().to_string()))
        .collect();
    for (run, stage, action) in &stages {
        let expected = if *run == victim && stage == "dl2" { "vetoed" } else { "done" };
        assert_eq!(action, expected, "run {run} {stage}: {stages:?}");
    }
    assert!(layout.dl1_run_file(h.night, victim).is_file());
    assert!(layout.longterm_file(h.night).is_file());
    assert_eq!(attempts(&h)[&(victim, "dl2".to_string())], [1, 2]);

    // The lifted veto gives DL2 a fresh budget; with the cause gone the night closes.
    let lifted =
        h.osa(&["veto", "lift", "--date", &h.night.to_string(), "--run", &victim.to_string(), "--stage", "dl2", "--reason", "models fixed"], &[]);
    assert!(lifted.status.success(), "{}", String::from_utf8_lossy(&lifted.stderr));
    let fixed = NightHarness { sim_fail: None, ..h };
    let (code, report) = fixed.close_to_end(&[], Duration::from_secs(300));
    assert_eq!((code, status(&report)), (0, "closed"), "{report:#}");
}

#[test]
fn slurm_a_daemon_killed_between_the_merge_and_dl2_submissions_submits_nothing_twice() {
    let h = NightHarness::with("slurm", &unique_night(52), None, fast);
    // Dies right after the first merge's sbatch, before its job id is stored and before its
    // DL2 (afterok on it) is submitted.
    let mut crashing = h.spawn_daemon(&[("OSA_TEST_CRASH_AT", "after-sbatch:merge_dl1")]);
    let status = exited(&mut crashing, &h);
    assert!(!status.success(), "the crash point aborts the daemon");
    let pending = h.db().pending_submissions().unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0].intent.stage, Stage::closing("merge_dl1"));
    assert!(!h.db().jobs_of_night(h.night).unwrap().iter().any(|j| j.intent.stage == Stage::closing("dl2")), "no DL2 yet");

    let mut daemon = h.spawn_daemon(&[]);
    let status = exited(&mut daemon, &h);
    assert!(status.success(), "{}", h.daemon_log());
    assert!(h.db().night(h.night).unwrap().unwrap().closed, "{}", h.daemon_log());
    let jobs = h.db().jobs_of_night(h.night).unwrap();
    let keys: BTreeSet<(u32, String)> = jobs.iter().map(|j| (j.intent.run, j.intent.stage.to_string())).collect();
    assert_eq!(jobs.len(), keys.len(), "one submission per run and stage: {jobs:#?}");
    for job in &jobs {
        assert_eq!(jobs_with_comment(&h, &job.intent.comment_key).len(), 1, "{} reached SLURM once", job.intent.comment_key);
    }
}

#[test]
fn a_product_spoilt_while_the_daemon_runs_the_closing_stages_is_found_before_the_night_closes() {
    let h = NightHarness::with("local", &unique_night(55), None, fast);
    let victim = data_run(&h.night.to_string(), 0);
    let layout = Layout::new(&h.config);
    // DL1a stays in running_analysis and no stage reads it: only the closer looks at it again.
    let dl1a = layout.dl1a_file(h.night, victim, 0);
    let mut daemon = h.spawn_daemon(&[]);
    let start = Instant::now();
    loop {
        let merging = h.db().jobs_of_night(h.night).unwrap().iter().any(|j| j.intent.run == victim && j.intent.stage == Stage::closing("merge_dl1"));
        if merging {
            break;
        }
        assert!(daemon.try_wait().unwrap().is_none(), "the daemon ended before the stages:\n{}", h.daemon_log());
        assert!(start.elapsed() < Duration::from_secs(300), "no merge submitted:\n{}", h.daemon_log());
        std::thread::sleep(Duration::from_millis(50));
    }
    // The run is settled (verified, moved, its stages submitted) when its merge is submitted.
    std::fs::write(&dl1a, b"spoilt").unwrap();
    let status = exited(&mut daemon, &h);
    assert!(status.success(), "{}", h.daemon_log());
    let mut file = std::fs::File::open(&dl1a).unwrap();
    let mut head = [0u8; 8];
    std::io::Read::read_exact(&mut file, &mut head).unwrap();
    assert_eq!(&head, b"\x89HDF\r\n\x1a\n", "{} was made again before the night closed:\n{}", dl1a.display(), h.daemon_log());
    assert_eq!(attempts(&h)[&(victim, "sequence".to_string())], vec![1, 2], "the spoilt subrun went back once");
}

/// How a daemon ended (within 400 s).
fn exited(daemon: &mut std::process::Child, h: &NightHarness) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = daemon.try_wait().unwrap() {
            return status;
        }
        assert!(start.elapsed() < Duration::from_secs(400), "the daemon did not end:\n{}", h.daemon_log());
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_closer_crashing_in_the_middle_of_the_moves_finishes_them_each_product_once() {
    let h = NightHarness::new("local", &unique_night(53), None);
    h.run_to_end(Duration::from_secs(180));
    let layout = Layout::new(&h.config);
    let mut before = BTreeMap::new();
    for run in data_runs(&h) {
        for subrun in 0..4 {
            for (old, new) in [
                (layout.dl1b_file(h.night, run, subrun), layout.final_dl1b_file(h.night, run, subrun)),
                (layout.datacheck_file(h.night, run, subrun), layout.final_datacheck_file(h.night, run, subrun)),
                (layout.muons_file(h.night, run, subrun), layout.final_muons_file(h.night, run, subrun)),
            ] {
                before.insert(new, (old.clone(), osa::hashing::sha256_file(&old).unwrap()));
            }
        }
    }
    let now = format!("{}T09:00:00Z", h.night.next());
    let night = h.night.to_string();
    let crashed = h.osa(&["closer", "--date", &night, "--now", &now, "--json"], &[("OSA_TEST_CRASH_AT", "mid-moves")]);
    assert!(!crashed.status.success(), "the crash point aborts the closer");
    let moved = before.keys().filter(|new| new.exists()).count();
    assert!(moved >= 1 && moved < before.len(), "the crash came in the middle: {moved} of {} moved", before.len());

    let (code, report) = h.close_to_end(&[], Duration::from_secs(180));
    assert_eq!((code, status(&report)), (0, "closed"), "{report:#}");
    for (new, (old, sha)) in &before {
        let meta = std::fs::symlink_metadata(new).unwrap();
        assert!(meta.file_type().is_file(), "{} is a file at its final place", new.display());
        assert_eq!(&osa::hashing::sha256_file(new).unwrap(), sha, "{} kept its content", new.display());
        assert_eq!(&std::fs::read_link(old).unwrap(), new, "{} links to its final place", old.display());
    }
    // Nowhere else in the final tree: each product is a regular file once. (The DL1a files
    // in running_analysis share the DL1b names; they stay where they were made.)
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for entry in walk(&h.config.paths.data_root.join("DL1")) {
        if entry.symlink_metadata().unwrap().file_type().is_file() {
            *names.entry(entry.file_name().unwrap().to_string_lossy().into_owned()).or_default() += 1;
        }
    }
    for new in before.keys() {
        assert_eq!(names.get(&new.file_name().unwrap().to_string_lossy().into_owned()), Some(&1), "{} once", new.display());
    }
    // The outputs table says where each product is now.
    let run = data_runs(&h)[0];
    let outputs = h.db().outputs_of_run(h.night, run).unwrap();
    let dl1b = outputs.iter().find(|o| o.kind == "dl1b_file" && o.subrun == 0).unwrap();
    assert_eq!(dl1b.path, layout.final_dl1b_file(h.night, run, 0).display().to_string());
    assert_eq!(dl1b.sha256, before[&layout.final_dl1b_file(h.night, run, 0)].1);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if entry.file_type().unwrap().is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn every_final_product_traces_back_to_its_r0_and_calibration_files() {
    let h = NightHarness::new("local", &unique_night(54), None);
    h.run_to_end(Duration::from_secs(180));
    let (code, report) = h.close_to_end(&[], Duration::from_secs(180));
    assert_eq!((code, status(&report)), (0, "closed"), "{report:#}");
    let layout = Layout::new(&h.config);
    let run = data_runs(&h)[1];
    let products = [
        layout.dl1_run_file(h.night, run),
        Layout::dl2_run_file(&layout.dl2_dir(h.night, run).join("nsb_tuning_0.14"), run),
        layout.datacheck_run_pdf(h.night, run),
        layout.datacheck_run_file(h.night, run),
        layout.muons_run_file(h.night, run),
        layout.longterm_file(h.night),
    ];
    for product in products {
        let out = h.osa(&["provenance", "trace", product.to_str().unwrap(), "--json"], &[]);
        assert!(out.status.success(), "{}: {}", product.display(), String::from_utf8_lossy(&out.stderr));
        let trace: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut leaves = Vec::new();
        collect(&trace, &mut leaves);
        let r0 = leaves.iter().find(|(file, _)| file.contains(&format!("LST-1.1.Run{run:05}.")));
        assert!(r0.is_some_and(|(_, sha)| sha.len() == 64), "{} reaches its R0 files with their sha256: {leaves:?}", product.display());
        for calibration in ["calibration_filters_52", "drs4_pedestal"] {
            let found = leaves.iter().find(|(file, _)| file.contains(calibration));
            assert!(found.is_some_and(|(_, sha)| sha.len() == 64), "{} reaches the {calibration} file with its sha256", product.display());
        }
        assert_eq!(trace["sha256"].as_str().map(str::len), Some(64), "{} has its own sha256", product.display());
    }
}

/// (file, sha256) of every step of a trace.
fn collect(step: &serde_json::Value, out: &mut Vec<(String, String)>) {
    out.push((step["file"].as_str().unwrap_or_default().to_string(), step["sha256"].as_str().unwrap_or_default().to_string()));
    for input in step["inputs"].as_array().into_iter().flatten() {
        collect(input, out);
    }
}
