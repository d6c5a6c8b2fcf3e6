//! `osa verify`: a closed night's products hashed again against their records (one byte
//! changed, a file gone, a file nobody recorded), its JSON against tests/verify.schema.json,
//! and `provenance trace` saying a product is no longer what was recorded.

mod common;

use std::time::Duration;

use common::night::*;
use osa::paths::Layout;

fn verify(h: &NightHarness, extra: &[&str]) -> (i32, serde_json::Value) {
    let night = h.night.to_string();
    let mut args = vec!["verify", "--date", &night, "--json"];
    args.extend_from_slice(extra);
    let out = h.osa(&args, &[]);
    h.follows_schema(&out.stdout, "verify.schema.json");
    (out.status.code().unwrap_or(-1), serde_json::from_slice(&out.stdout).unwrap())
}

fn findings(report: &serde_json::Value) -> Vec<(String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["finding"].as_str().unwrap().to_string(), f["path"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn a_byte_changed_after_closing_is_found_by_verify_and_by_trace() {
    let h = NightHarness::new("local", &unique_night(91), None);
    h.run_to_end(Duration::from_secs(180));
    let (code, report) = h.close_to_end(&[], Duration::from_secs(180));
    assert_eq!(code, 0, "{report:#}");
    let (code, clean) = verify(&h, &[]);
    assert_eq!((code, findings(&clean)), (0, Vec::new()), "a night just closed is as recorded: {clean:#}");
    assert!(clean["checked"].as_u64().unwrap() > 20 && clean["listed"].as_u64().unwrap() > 10, "{clean:#}");

    let layout = Layout::new(&h.config);
    let runs: Vec<u32> = h.runs().into_iter().filter(|r| r.1 == osa::model::RunType::Data).map(|r| r.0).collect();
    let merged = layout.dl1_run_file(h.night, runs[0]);
    let mut bytes = std::fs::read(&merged).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&merged, bytes).unwrap();
    let gone = layout.datacheck_run_file(h.night, runs[1]);
    std::fs::remove_file(&gone).unwrap();
    let stray = layout.dl1_dir(h.night, runs[0]).join(format!("dl1_LST-1.Run{:05}.copy.h5", runs[0]));
    std::fs::write(&stray, "left here by hand").unwrap();

    let (code, report) = verify(&h, &[]);
    assert_eq!(code, 22, "{report:#}");
    let mut expected = vec![
        ("changed".to_string(), merged.display().to_string()),
        ("missing".to_string(), gone.display().to_string()),
        ("unrecorded".to_string(), stray.display().to_string()),
    ];
    expected.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(findings(&report), expected);
    // One run: only its differences.
    let (code, one) = verify(&h, &["--run", &runs[1].to_string()]);
    assert_eq!((code, findings(&one)), (22, vec![("missing".to_string(), gone.display().to_string())]));

    let out = h.osa(&["provenance", "trace", merged.to_str().unwrap(), "--json"], &[]);
    let trace: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(trace["current"], "changed", "{trace:#}");
    assert!(trace["inputs"].as_array().unwrap().iter().all(|i| i["current"].is_null()), "only the traced file is hashed: {trace:#}");
    let out = h.osa(&["provenance", "trace", merged.to_str().unwrap(), "--json", "--check-all"], &[]);
    let trace: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(trace["inputs"].as_array().unwrap().iter().all(|i| i["current"] == "unchanged"), "its inputs are as recorded: {trace:#}");
    let out = h.osa(&["provenance", "trace", merged.to_str().unwrap()], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().next().unwrap().ends_with("[CHANGED since recorded: `osa verify`]"), "{text}");
}
