//! What a run needs before it starts. Input gates: a run is submitted only once its inputs
//! are on disk (the night's gain-selection flag, its R0 folder and every R0 subrun file the
//! summary announces). Until then it is "waiting for ..." with what is missing; each cycle
//! looks again; still waiting at the closer's hour, the night needs a human. A night without
//! calibration runs uses an earlier night's, also one LSTOSA left on disk. A run whose cleaning
//! comes from the tail-cut finder waits for the finder's file.

mod common;

use common::night::*;
use osa::paths::Layout;

fn states(h: &NightHarness) -> Vec<String> {
    let out = h.osa(&["status", "--date", &h.night.to_string(), "--json"], &[]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    json["nights"][0]["runs"].as_array().unwrap().iter().map(|r| r["state"].as_str().unwrap().to_string()).collect()
}

#[test]
fn a_night_without_its_r0_folder_waits_then_runs_when_the_files_appear() {
    let h = NightHarness::new("local", &unique_night(80), None);
    let layout = Layout::new(&h.config);
    let r0 = layout.r0_night_dir(h.night);
    let aside = h.root().join("r0-not-yet");
    std::fs::rename(&r0, &aside).unwrap();
    for _ in 0..2 {
        let cycle = h.sequencer(&[]);
        assert!(cycle["submitted"].as_array().unwrap().is_empty(), "{cycle:#}");
        assert!(actions(&cycle).iter().all(|(_, a)| a == "waiting"), "{cycle:#}");
    }
    let wanted = format!("waiting for the R0 folder {}", r0.display());
    assert!(states(&h).iter().all(|s| *s == wanted), "{:?}", states(&h));

    std::fs::rename(&aside, &r0).unwrap();
    let cycle = h.sequencer(&[]);
    assert_eq!(cycle["submitted"].as_array().unwrap().len(), 4, "the files are there: everything goes: {cycle:#}");
}

#[test]
fn a_missing_middle_subrun_keeps_its_run_waiting_and_the_closer_asks_a_human() {
    let h = NightHarness::new("local", &unique_night(81), None);
    let layout = Layout::new(&h.config);
    // The night as planned (nothing written): its second DATA run loses its middle subrun.
    let out = h.osa(&["sequencer", "--date", &h.night.to_string(), "--simulate", "--json"], &[]);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let data: Vec<&serde_json::Value> = plan["sequences"].as_array().unwrap().iter().filter(|s| s["type"] == "DATA").collect();
    let victim = data[1]["run"].as_u64().unwrap() as u32;
    assert!(data[1]["subruns"].as_u64().unwrap() >= 3, "{plan:#}");
    let missing = layout.r0_file(h.night, 1, victim, 2);
    let aside = h.root().join("subrun-not-yet.fits.fz");
    std::fs::rename(&missing, &aside).unwrap();

    let start = std::time::Instant::now();
    let end = loop {
        let cycle = h.sequencer(&[]);
        if actions(&cycle).iter().all(|(_, a)| a == "done" || a == "waiting") {
            break cycle;
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(180), "{cycle:#}");
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    let waiting: Vec<(u64, String)> = actions(&end).into_iter().filter(|(_, a)| a != "done").collect();
    assert_eq!(waiting, [(u64::from(victim), "waiting".to_string())], "the others went: {end:#}");
    let state = states(&h).into_iter().find(|s| s.starts_with("waiting")).unwrap();
    assert_eq!(state, format!("waiting for R0 subrun 0002 ({})", missing.display()));

    // The closer's hour: the night needs a human, who is told what is missing.
    let (code, report) = h.close_to_end(&[], std::time::Duration::from_secs(180));
    assert_eq!(code, 21, "the others' closing stages ran, then the night waits for a human: {report:#}");
    assert!(report["problems"].to_string().contains(&format!("run {victim:05} is still waiting for R0 subrun 0002")), "{report:#}");

    std::fs::rename(&aside, &missing).unwrap();
    let cycle = h.sequencer(&[]);
    let submitted: Vec<u64> = cycle["submitted"].as_array().unwrap().iter().map(|s| s["run"].as_u64().unwrap()).collect();
    assert_eq!(submitted, [u64::from(victim)], "{cycle:#}");
}

#[test]
fn without_the_gain_selection_flag_nothing_is_submitted_and_with_it_everything_is() {
    let h = NightHarness::new("local", &unique_night(82), None);
    let flag = Layout::new(&h.config).gain_selection_flag(h.night);
    std::fs::remove_file(&flag).unwrap();
    let cycle = h.sequencer(&[]);
    assert!(cycle["submitted"].as_array().unwrap().is_empty(), "{cycle:#}");
    assert!(states(&h).iter().all(|s| s.starts_with("waiting for the gain selection")), "{:?}", states(&h));

    std::fs::write(&flag, "done\n").unwrap();
    let cycle = h.sequencer(&[]);
    assert_eq!(cycle["submitted"].as_array().unwrap().len(), 4, "{cycle:#}");
}

#[test]
fn the_gain_selection_gate_can_be_turned_off() {
    let h = NightHarness::with("local", &unique_night(83), None, |c| c.inputs.gain_selection = false);
    std::fs::remove_file(Layout::new(&h.config).gain_selection_flag(h.night)).unwrap();
    let cycle = h.sequencer(&[]);
    assert_eq!(cycle["submitted"].as_array().unwrap().len(), 4, "{cycle:#}");
}

/// LSTOSA's Cat-A tree for one calibration of `night`: files under a version folder, `pro`
/// links to it, as `onsite_create_*` leave them. Returns the DRS4 and charge files through
/// the links.
fn lstosa_calibration(layout: &Layout, night: osa::night::NightDate, drs4_run: u32, pedcal_run: u32) -> Vec<std::path::PathBuf> {
    let cat_a = layout.drs4_file(night, 0).ancestors().nth(4).unwrap().to_path_buf();
    let mut files = Vec::new();
    for (kind, name) in [
        ("drs4_baseline", format!("drs4_pedestal.Run{drs4_run:05}.0000.h5")),
        ("calibration", format!("calibration_filters_52.Run{pedcal_run:05}.0000.h5")),
    ] {
        let dir = cat_a.join(kind).join(night.compact());
        std::fs::create_dir_all(dir.join("v0.1.1")).unwrap();
        hdf5::File::create(dir.join("v0.1.1").join(&name)).unwrap().create_group("tel_1").unwrap();
        std::os::unix::fs::symlink("v0.1.1", dir.join("pro")).unwrap();
        files.push(dir.join("pro").join(name));
    }
    files
}

#[test]
fn a_night_without_calibration_uses_lstosas_cat_a_files_three_nights_earlier() {
    let h = NightHarness::new("local", &unique_night(84), None);
    let layout = Layout::new(&h.config);
    // Tonight took no calibration runs.
    let summary = layout.run_summary_file(h.night);
    let text = std::fs::read_to_string(&summary).unwrap();
    let kept: Vec<&str> = text.lines().filter(|l| !l.split(',').any(|f| f == "DRS4" || f == "PEDCALIB")).collect();
    std::fs::write(&summary, kept.join("\n") + "\n").unwrap();
    let plan = h.osa(&["sequencer", "--date", &h.night.to_string(), "--simulate", "--json"], &[]);
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    assert!(plan["sequences"].as_array().unwrap().iter().all(|s| s["action"] == "blocked"), "nothing to calibrate with yet: {plan:#}");

    let earlier = h.night.previous().previous().previous();
    let files = lstosa_calibration(&layout, earlier, 500, 501);
    let plan = h.osa(&["sequencer", "--date", &h.night.to_string(), "--simulate", "--json"], &[]);
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let said = format!("no calibration tonight: using night {earlier}'s (DRS4 run 500, PEDCALIB run 501), found on disk: {}", files[1].display());
    assert!(plan["notes"].as_array().unwrap().iter().any(|n| n == &said), "{plan:#}");

    let end = h.run_to_end(std::time::Duration::from_secs(180));
    assert!(actions(&end).iter().all(|(_, a)| a == "done"), "{end:#}");
    let (code, report) = h.close_to_end(&[], std::time::Duration::from_secs(180));
    assert_eq!(code, 0, "{report:#}");

    // Each DL1a file was calibrated with LSTOSA's files, found through the `pro` links.
    let run = plan["sequences"][0]["run"].as_u64().unwrap() as u32;
    let dl1a = layout.dl1a_file(h.night, run, 0);
    let out = h.osa(&["provenance", "trace", dl1a.to_str().unwrap(), "--json"], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let trace = String::from_utf8_lossy(&out.stdout).into_owned();
    for file in &files {
        assert!(trace.contains(&file.display().to_string()), "trace lacks {}:\n{trace}", file.display());
    }
}

/// What the tail-cut finder leaves for a run (lstchain's `dl1ab_RunRRRRR.json` and log).
fn finder_output(layout: &Layout, run: u32, picture: u32, boundary: u32, nsb_rate: f64) {
    let dir = layout.tailcuts_finder_dir();
    let cleaning = serde_json::json!({"tailcuts_clean_with_pedestal_threshold": {"picture_thresh": picture, "boundary_thresh": boundary, "sigma": 2.5}, "tailcut": {}});
    std::fs::write(dir.join(format!("dl1ab_Run{run:05}.json")), cleaning.to_string()).unwrap();
    let log = format!("Cleaning settings:\n{cleaning}\nAdditional NSB rate (over dark MC): {nsb_rate:.4} p.e./ns\n");
    std::fs::write(dir.join(format!("log_find_tailcuts_Run{run:05}.log")), log).unwrap();
}

#[test]
fn each_run_takes_its_cleaning_from_the_tail_cut_finder_and_waits_for_it() {
    let h = NightHarness::with("local", &unique_night(87), None, |c| c.analysis.tailcuts_from_finder = true);
    let layout = Layout::new(&h.config);
    let out = h.osa(&["sequencer", "--date", &h.night.to_string(), "--simulate", "--json"], &[]);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let data: Vec<u32> =
        plan["sequences"].as_array().unwrap().iter().filter(|s| s["type"] == "DATA").map(|s| s["run"].as_u64().unwrap() as u32).collect();
    let (usual, bright, late) = (data[0], data[1], data[2]);
    // A brighter sky for one run: pedestal charge 6.5 p.e., tail cuts 10/5, NSB level 0.38.
    finder_output(&layout, bright, 10, 5, 0.4343);
    let nsb_038 = layout.rf_models_dir().join(format!("{}nsb_tuning_0.38", h.config.analysis.mc_prod));
    for track in ["dec_2276", "dec_3476"] {
        for model in osa::demo::RF_MODEL_FILES {
            std::fs::create_dir_all(nsb_038.join(track)).unwrap();
            std::fs::write(nsb_038.join(track).join(model), "simulated RF model\n").unwrap();
        }
    }
    let late_file = layout.tailcuts_file(late);
    std::fs::remove_file(&late_file).unwrap();

    let cycle = h.sequencer(&[]);
    let waiting: Vec<(u64, String)> = actions(&cycle).into_iter().filter(|(_, a)| a == "waiting").collect();
    assert_eq!(waiting, [(u64::from(late), "waiting".to_string())], "{cycle:#}");
    let state = states(&h).into_iter().find(|s| s.starts_with("waiting")).unwrap();
    assert_eq!(state, format!("waiting for its tail cuts ({} missing)", late_file.display()));

    finder_output(&layout, late, 8, 4, 0.12);
    h.run_to_end(std::time::Duration::from_secs(180));
    let (code, report) = h.close_to_end(&[], std::time::Duration::from_secs(180));
    assert_eq!(code, 0, "{report:#}");

    let production = h.config.resolve(&h.config.paths.dl1_dir).join(h.night.compact()).join(&h.config.analysis.prod_id);
    let dl2 = h.config.resolve(&h.config.paths.dl2_dir).join(h.night.compact()).join(&h.config.analysis.prod_id);
    for (run, level, nsb) in
        [(usual, "tailcut84", "nsb_tuning_0.14"), (bright, "tailcut1005", "nsb_tuning_0.38"), (late, "tailcut84", "nsb_tuning_0.14")]
    {
        let merged = production.join(level).join(format!("dl1_LST-1.Run{run:05}.h5"));
        assert!(merged.is_file(), "run {run}: {} missing", merged.display());
        let check = production.join(level).join("datacheck").join(format!("datacheck_dl1_LST-1.Run{run:05}.h5"));
        assert!(check.is_file(), "run {run}: {} missing", check.display());
        let dl2 = dl2.join(level).join(nsb).join(format!("dl2_LST-1.Run{run:05}.h5"));
        assert!(dl2.is_file(), "run {run}: {} missing", dl2.display());
        // Its DL1b step ran with the finder's file, and says its level in the history.
        let history = std::fs::read_to_string(layout.history_file(h.night, run, Some(0))).unwrap();
        let dl1ab = history.lines().find(|l| l.contains("lstchain_dl1ab")).unwrap();
        assert!(dl1ab.contains(&format!(" {level} ")) && dl1ab.contains(&format!("dl1ab_Run{run:05}.json")), "{dl1ab}");
    }
    assert!(!production.join("tailcut1005").join(format!("dl1_LST-1.Run{usual:05}.h5")).exists());
}

/// LSTOSA's two pre-stages of a DATA run, as a site configures them: the tail-cut finder
/// over the run's DL1a files and the run's Cat-B calibration, which the DL1b step then reads.
fn with_pre_stages(c: &mut osa::config::Config) {
    let strings = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    c.analysis.tailcuts_from_finder = true;
    c.analysis.pre_stages = vec![
        osa::config::StageConfig {
            name: "find_tailcuts".to_string(),
            program: "lstchain_find_tailcuts".to_string(),
            args: strings(&["-d", "{analysis_dir}", "-r", "{run}", "-o", "{tailcuts_finder_dir}"]),
            inputs: strings(&["{analysis_dir}/dl1_LST-1.Run{run_padded}.????.h5"]),
            outputs: strings(&["{tailcuts_file}"]),
            mem_per_cpu: Some("200M".to_string()),
            ..Default::default()
        },
        osa::config::StageConfig {
            name: "cat_b_calibration".to_string(),
            program: "onsite_create_cat_B_calibration_file".to_string(),
            args: strings(&["-r", "{run}", "-b", "{data_root}", "--r0-dir={r0_dir}", "-y"]),
            inputs: strings(&["{r0_file}", "{calibration_file}"]),
            outputs: strings(&["{catb_file}"]),
            mem_per_cpu: Some("200M".to_string()),
            ..Default::default()
        },
    ];
    let dl1ab = c.analysis.data_steps.iter_mut().find(|s| s.name == "dl1ab").unwrap();
    dl1ab.args.push("--catB-calibration-file={catb_file}".to_string());
    dl1ab.inputs.push("{catb_file}".to_string());
}

/// Two DATA runs under different skies: the finder, run by osa as each run's pre-stage
/// between its two parts, gives them tail cuts 8/4 and 10/5; their DL1b, merged DL1 and DL2
/// land under `tailcut84` and `tailcut1005`, the DL2 under the NSB tuning of the finder's
/// NSB level.
fn pre_stages_choose_each_runs_cleaning(executor: &'static str, night: &str) {
    let size = osa::demo::DemoOptions { data_runs: 2, subruns: 3, events: 50, ..Default::default() };
    let mut h = NightHarness::sized(executor, night, None, size, with_pre_stages);
    let layout = Layout::new(&h.config);
    // The demo's finder files go: the pre-stages must make them.
    std::fs::remove_dir_all(layout.tailcuts_finder_dir()).unwrap();
    let out = h.osa(&["sequencer", "--date", &h.night.to_string(), "--simulate", "--json"], &[]);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let data: Vec<u32> =
        plan["sequences"].as_array().unwrap().iter().filter(|s| s["type"] == "DATA").map(|s| s["run"].as_u64().unwrap() as u32).collect();
    let (usual, bright) = (data[0], data[1]);
    // A 95 % pedestal charge of 6.5 p.e.: lstchain's table gives 10/5, NSB 0.43 -> tuning 0.38.
    h.env.push(("LSTCHAIN_SIM_NSB", format!("{bright}=6.5")));
    let nsb_038 = layout.rf_models_dir().join(format!("{}nsb_tuning_0.38", h.config.analysis.mc_prod));
    for track in ["dec_2276", "dec_3476"] {
        std::fs::create_dir_all(nsb_038.join(track)).unwrap();
        for model in osa::demo::RF_MODEL_FILES {
            std::fs::write(nsb_038.join(track).join(model), "simulated RF model\n").unwrap();
        }
    }

    let first = h.sequencer(&[]);
    let db = h.db();
    let mut seen_pre_stages = false;
    let start = std::time::Instant::now();
    loop {
        let cycle = h.sequencer(&[]);
        let states = states(&h);
        seen_pre_stages |= states.iter().any(|s| s.starts_with("waiting for its pre-stages ("));
        if cycle["sequences"].as_array().unwrap().iter().all(|s| s["action"] == "done") {
            break;
        }
        assert!(
            cycle["sequences"].as_array().unwrap().iter().all(|s| !matches!(s["action"].as_str(), Some("failed" | "blocked" | "vetoed"))),
            "{cycle:#}"
        );
        assert!(start.elapsed() < std::time::Duration::from_secs(240), "night not done:\n{first:#}\n{cycle:#}");
        std::thread::sleep(std::time::Duration::from_millis(700));
    }
    assert!(seen_pre_stages, "the status said the runs waited for their pre-stages");
    let (code, report) = h.close_to_end(&[], std::time::Duration::from_secs(240));
    assert_eq!(code, 0, "{report:#}");

    let jobs = db.jobs_of_night(h.night).unwrap();
    let production = h.config.resolve(&h.config.paths.dl1_dir).join(h.night.compact()).join(&h.config.analysis.prod_id);
    let dl2 = h.config.resolve(&h.config.paths.dl2_dir).join(h.night.compact()).join(&h.config.analysis.prod_id);
    for (run, level, nsb) in [(usual, "tailcut84", "nsb_tuning_0.14"), (bright, "tailcut1005", "nsb_tuning_0.38")] {
        // The run went in two parts around its two pre-stages, each one job.
        let of_run: Vec<(String, Option<String>)> = jobs
            .iter()
            .filter(|j| j.intent.run == run && j.job_id.is_some())
            .map(|j| (j.intent.stage.to_string(), j.intent.stops_before.clone()))
            .filter(|(stage, _)| ["sequence", "find_tailcuts", "cat_b_calibration"].contains(&stage.as_str()))
            .collect();
        let expected = [("cat_b_calibration", None), ("find_tailcuts", None), ("sequence", Some("dl1ab")), ("sequence", None)];
        assert_eq!(of_run, expected.map(|(s, b)| (s.to_string(), b.map(str::to_string))), "run {run}");
        let merged = production.join(level).join(format!("dl1_LST-1.Run{run:05}.h5"));
        assert!(merged.is_file(), "run {run}: {} missing", merged.display());
        let dl2 = dl2.join(level).join(nsb).join(format!("dl2_LST-1.Run{run:05}.h5"));
        assert!(dl2.is_file(), "run {run}: {} missing", dl2.display());
        // Its DL1b step read the finder's file (history) and its Cat-B calibration (provenance).
        let history = std::fs::read_to_string(layout.history_file(h.night, run, Some(0))).unwrap();
        let dl1ab = history.lines().find(|l| l.contains("lstchain_dl1ab")).unwrap();
        assert!(dl1ab.contains(&format!(" {level} ")) && dl1ab.contains(&format!("dl1ab_Run{run:05}.json")), "{dl1ab}");
        let catb = layout.catb_file(h.night, run).display().to_string();
        let prov = std::fs::read_to_string(layout.provenance_log(h.night)).unwrap();
        assert!(prov.contains(&format!("--catB-calibration-file={catb}")), "run {run}: the DL1b step's arguments lack {catb}");
        // The pre-stages are traced in the run's provenance with its steps.
        let doc = std::fs::read_to_string(layout.provenance_records_dir(h.night).join(format!("calibration_to_dl1_{run:05}_prov.json"))).unwrap();
        assert!(doc.contains("find_tailcuts") && doc.contains("cat_b_calibration"), "run {run}: pre-stages not in its PROV-JSON");
    }
    assert!(!production.join("tailcut1005").join(format!("dl1_LST-1.Run{usual:05}.h5")).exists());
}

#[test]
fn pre_stages_choose_each_runs_cleaning_on_the_local_executor() {
    pre_stages_choose_each_runs_cleaning("local", &unique_night(88));
}

#[test]
fn slurm_pre_stages_choose_each_runs_cleaning() {
    let out = std::process::Command::new("sinfo").arg("-h").output();
    assert!(out.is_ok_and(|o| o.status.success()), "SLURM does not answer; {}", common::HOW_TO_START);
    pre_stages_choose_each_runs_cleaning("slurm", &unique_night(89));
}

/// A pre-stage is retried like a closing stage: a finder output cut short is found by the
/// verification and made again, a Cat-B job failing on an existing file goes through the
/// known-failure table; the run's second part waits for both.
#[test]
fn a_failed_pre_stage_is_retried_before_the_run_goes_on() {
    let size = osa::demo::DemoOptions { data_runs: 1, subruns: 2, events: 50, ..Default::default() };
    let fail = "program=lstchain_find_tailcuts,kind=truncate,attempts=1;program=onsite_create_cat_B_calibration_file,kind=exists,attempts=1";
    let h = NightHarness::sized("local", &unique_night(90), Some(fail), size, with_pre_stages);
    std::fs::remove_dir_all(Layout::new(&h.config).tailcuts_finder_dir()).unwrap();
    let cycle = h.run_to_end(std::time::Duration::from_secs(180));
    assert!(cycle["sequences"].as_array().unwrap().iter().all(|s| s["action"] == "done"), "{cycle:#}");
    let (code, report) = h.close_to_end(&[], std::time::Duration::from_secs(180));
    assert_eq!(code, 0, "{report:#}");

    let db = h.db();
    let run = h.runs().into_iter().find(|r| r.1 == osa::model::RunType::Data).unwrap().0;
    let tries = |stage: &str| db.jobs_of_night(h.night).unwrap().iter().filter(|j| j.intent.run == run && j.intent.stage.as_str() == stage).count();
    assert_eq!((tries("find_tailcuts"), tries("cat_b_calibration")), (2, 2));
    let retries: Vec<String> = db
        .audit_of_night(h.night)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == osa::model::AuditAction::Retry)
        .map(|e| format!("{} {}", e.stage, e.reason))
        .collect();
    assert!(retries.iter().any(|r| r.starts_with("find_tailcuts verification:")), "{retries:?}");
    assert!(retries.iter().any(|r| r.starts_with("cat_b_calibration") && r.contains("output_exists")), "{retries:?}");
    // The second part ran once, after both: its DL1b under the finder's level.
    let seconds = db
        .jobs_of_night(h.night)
        .unwrap()
        .iter()
        .filter(|j| j.intent.run == run && j.intent.stage.is_sequence() && j.intent.stops_before.is_none())
        .count();
    assert_eq!(seconds, 1);
}
