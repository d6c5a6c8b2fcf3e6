//! Lineage queries on a closed night: what a configuration made, what an R0 file led to
//! (`osa provenance made-with`, `derived-from`), their JSON against tests/lineage.schema.json.

mod common;

use std::time::Duration;

use common::night::*;
use osa::paths::Layout;

fn lineage(h: &NightHarness, args: &[&str]) -> Vec<String> {
    let mut all = vec!["provenance"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = h.osa(&all, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    h.follows_schema(&out.stdout, "lineage.schema.json");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    json.as_array().unwrap().iter().map(|e| e["location"].as_str().unwrap().to_string()).collect()
}

#[test]
fn a_configuration_and_an_r0_file_answer_what_they_made() {
    let h = NightHarness::new("local", &unique_night(92), None);
    // Each configuration its own content (the harness writes them all as `{}`).
    std::fs::write(&h.config.analysis.dl1b_config, r#"{"note": "the DL1b cleaning of the lineage test"}"#).unwrap();
    h.run_to_end(Duration::from_secs(180));
    let (code, report) = h.close_to_end(&[], Duration::from_secs(180));
    assert_eq!(code, 0, "{report:#}");
    let layout = Layout::new(&h.config);
    let runs: Vec<(u32, u32)> = h.runs().into_iter().filter(|r| r.1 == osa::model::RunType::Data).map(|r| (r.0, r.2)).collect();

    // The DL1b configuration made every DL1b subrun file of the night, and nothing else.
    let config_hash = osa::hashing::sha256_file(&h.config.analysis.dl1b_config).unwrap();
    let made = lineage(&h, &["made-with", &config_hash]);
    let mut expected: Vec<String> =
        runs.iter().flat_map(|(run, subruns)| (0..*subruns).map(|s| layout.final_dl1b_file(h.night, *run, s).display().to_string())).collect();
    expected.sort();
    assert_eq!(made, expected);

    // The first R0 file of a run led to its subrun's products, the run's merged DL1 and its
    // DL2, and to nothing of another run.
    let (run, other) = (runs[0].0, runs[1].0);
    let r0 = layout.r0_file(h.night, 1, run, 0);
    let derived = lineage(&h, &["derived-from", r0.to_str().unwrap()]);
    for product in [layout.dl1a_file(h.night, run, 0), layout.final_dl1b_file(h.night, run, 0), layout.dl1_run_file(h.night, run)] {
        assert!(derived.contains(&product.display().to_string()), "{} not derived from {}: {derived:#?}", product.display(), r0.display());
    }
    assert!(derived.iter().any(|d| d.ends_with(&format!("dl2_LST-1.Run{run:05}.h5"))), "{derived:#?}");
    assert!(!derived.iter().any(|d| d.contains(&format!("Run{other:05}"))), "{derived:#?}");

    // The trace of the merged DL1 says what ran: the program's version, osa's version and
    // configuration hash, every input's hash (the pointing and RunSummary among them).
    let source = osa::config::ConfigSource::Flag(h.config_file.clone());
    let config_hash = osa::hashing::sha256_bytes(osa::config::Config::load(&source).unwrap().to_toml().as_bytes());
    let out = h.osa(&["provenance", "trace", layout.dl1_run_file(h.night, run).to_str().unwrap(), "--json"], &[]);
    h.follows_schema(&out.stdout, "trace.schema.json");
    let trace: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut steps = vec![&trace];
    let mut files = Vec::new();
    while let Some(step) = steps.pop() {
        files.push(step["file"].as_str().unwrap().to_string());
        assert!(step["sha256"].as_str().is_some_and(|s| s.len() == 64), "{} has no hash", step["file"]);
        if step["activity"].is_string() && !step["repeated"].as_bool().unwrap_or(false) {
            let parameters: std::collections::BTreeMap<String, String> = step["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (p[0].as_str().unwrap().to_string(), p[1].as_str().unwrap().to_string()))
                .collect();
            assert_eq!(parameters.get("osa_version").map(String::as_str), Some(env!("CARGO_PKG_VERSION")), "{}", step["file"]);
            assert_eq!(parameters.get("osa_config_sha256"), Some(&config_hash), "{}", step["file"]);
            assert!(parameters.contains_key("arguments") && step["software"].is_string(), "{step:#}");
        }
        steps.extend(step["inputs"].as_array().unwrap());
    }
    for input in [layout.drive_file(h.night), layout.run_summary_file(h.night)] {
        assert!(files.contains(&input.display().to_string()), "{} not in the trace", input.display());
    }

    // Every session and relation of the run's PROV-JSON resolves.
    let doc: serde_json::Value = serde_json::from_slice(
        &std::fs::read(layout.provenance_records_dir(h.night).join(format!("calibration_to_dl2_{run:05}_prov.json"))).unwrap(),
    )
    .unwrap();
    let keys = |section: &str| doc[section].as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
    let (entities, activities) = (keys("entity"), keys("activity"));
    for (key, activity) in doc["activity"].as_object().unwrap() {
        let session = activity["in_session"].as_str().unwrap();
        assert!(entities.contains(&session.to_string()), "{key}: session {session} is no entity");
        assert_eq!(activity["osa_version"], env!("CARGO_PKG_VERSION"), "{key}");
    }
    for section in ["used", "wasGeneratedBy"] {
        for relation in doc[section].as_object().unwrap().values() {
            assert!(activities.contains(&relation["prov:activity"].as_str().unwrap().to_string()), "{relation}");
            assert!(entities.contains(&relation["prov:entity"].as_str().unwrap().to_string()), "{relation}");
        }
    }
}

fn lineage_with_hashes(h: &NightHarness, args: &[&str]) -> Vec<(String, String)> {
    let mut all = vec!["provenance"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = h.osa(&all, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    json.as_array().unwrap().iter().map(|e| (e["location"].as_str().unwrap().to_string(), e["sha256"].as_str().unwrap_or("").to_string())).collect()
}

/// Entities are versions: a run made again with an edited DL1b configuration keeps both
/// attempts' products apart (the first where the rerun moved them), each answering for its
/// own configuration; a failed try's partial output is a version of its own.
#[test]
fn a_rerun_with_a_changed_configuration_keeps_both_attempts_apart() {
    let size = osa::demo::DemoOptions { data_runs: 1, subruns: 2, events: 50, ..Default::default() };
    let crash_once = "program=lstchain_dl1ab,subrun=0,kind=crash,attempts=1";
    let h = NightHarness::sized("local", &unique_night(93), Some(crash_once), size, |_| {});
    let config = h.config.analysis.dl1b_config.clone();
    std::fs::write(&config, r#"{"note": "cleaning, first version"}"#).unwrap();
    let first = osa::hashing::sha256_file(&config).unwrap();
    h.run_to_end(Duration::from_secs(180));
    assert_eq!(h.close_to_end(&[], Duration::from_secs(180)).0, 0);
    let layout = Layout::new(&h.config);
    let run = h.runs().into_iter().find(|r| r.1 == osa::model::RunType::Data).unwrap().0;
    let finals: Vec<String> = (0..2).map(|s| layout.final_dl1b_file(h.night, run, s).display().to_string()).collect();
    // The crashed try made a partial file with it too: a version of its own.
    let partial = layout.dl1b_file(h.night, run, 0).display().to_string();
    let made: Vec<String> = lineage_with_hashes(&h, &["made-with", &first]).into_iter().map(|(l, _)| l).collect();
    assert_eq!(made, [finals.clone(), vec![partial.clone()]].concat());

    let out = h.osa(&["rerun", "--date", &h.night.to_string(), "--run", &run.to_string(), "--reason", "new cleaning"], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(&config, r#"{"note": "cleaning, second version"}"#).unwrap();
    let second = osa::hashing::sha256_file(&config).unwrap();
    h.run_to_end(Duration::from_secs(180));
    assert_eq!(h.close_to_end(&[], Duration::from_secs(180)).0, 0);

    // Each configuration answers for its own attempt's products: the first's moved aside
    // by the rerun, the second's in the final place.
    let old: Vec<String> = lineage_with_hashes(&h, &["made-with", &first]).into_iter().map(|(l, _)| l).collect();
    assert_eq!(old.len(), 3, "{old:#?}");
    assert!(old[2].starts_with(&format!("{partial}.before-rerun-")), "the partial file's record moved aside with the run's files: {old:#?}");
    for (moved, original) in old.iter().zip(&finals) {
        assert!(moved.starts_with(&format!("{original}.before-rerun-")) && std::path::Path::new(moved).is_file(), "{moved}");
    }
    let new: Vec<String> = lineage_with_hashes(&h, &["made-with", &second]).into_iter().map(|(l, _)| l).collect();
    assert_eq!(new, finals);

    // The R0 file led to both attempts' DL1b, and to the partial file of the try that crashed.
    let r0 = layout.r0_file(h.night, 1, run, 0);
    let derived = lineage_with_hashes(&h, &["derived-from", r0.to_str().unwrap()]);
    let versions_of =
        |prefix: &str| derived.iter().filter(|(l, _)| l.starts_with(prefix)).map(|(_, sha)| sha.clone()).collect::<std::collections::BTreeSet<_>>();
    assert_eq!(versions_of(&finals[0]).len(), 2, "the final file and the first attempt's moved aside: {derived:#?}");
    assert!(derived.iter().any(|(l, _)| l.starts_with(&partial)), "the crashed try's partial output has its own record: {derived:#?}");

    // The trace of the final file names the configuration it was made with.
    let out = h.osa(&["provenance", "trace", &finals[0], "--json"], &[]);
    let trace: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let inputs: Vec<&str> = trace["inputs"].as_array().unwrap().iter().filter_map(|i| i["sha256"].as_str()).collect();
    assert!(inputs.contains(&second.as_str()) && !inputs.contains(&first.as_str()), "{trace:#}");
}
