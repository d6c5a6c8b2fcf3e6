//! The provenance log: concurrent appenders never interleave lines, and the reader takes
//! every record LSTOSA wrote (Python dict literals) and reports the lines it cannot read.

use std::path::Path;
use std::sync::{Arc, Barrier};

use osa::provenance::{ProvWriter, RecordKind, read_log, record};
use serde_json::json;

#[test]
fn sixteen_tasks_appending_at_once_write_only_whole_lines() {
    const TASKS: usize = 16;
    const BATCHES: usize = 40;
    const PER_BATCH: usize = 12;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("prov.log");
    let barrier = Arc::new(Barrier::new(TASKS));
    let handles: Vec<_> = (0..TASKS)
        .map(|task| {
            let (log, barrier) = (log.clone(), barrier.clone());
            std::thread::spawn(move || {
                let writer = ProvWriter::new(log);
                barrier.wait();
                for batch in 0..BATCHES {
                    // Long payloads make torn writes likely if the lock did not hold.
                    let records: Vec<_> = (0..PER_BATCH)
                        .map(|i| {
                            record(vec![
                                ("activity_id", json!(format!("t{task}b{batch}"))),
                                ("name", json!("r0_to_dl1")),
                                ("seq", json!(i)),
                                ("pad", json!("x".repeat(3000))),
                            ])
                        })
                        .collect();
                    writer.append(&records).unwrap();
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    let mut count = 0;
    let mut per_batch = std::collections::HashMap::<String, Vec<i64>>::new();
    let problems = read_log(&log, |_, r| {
        count += 1;
        per_batch.entry(r.str("activity_id").unwrap().to_string()).or_default().push(r.fields["seq"].as_i64().unwrap());
    })
    .unwrap();
    assert!(problems.is_empty(), "torn or interleaved lines: {:?}", &problems[..problems.len().min(3)]);
    assert_eq!(count, TASKS * BATCHES * PER_BATCH);
    assert!(per_batch.values().all(|seqs| *seqs == (0..PER_BATCH as i64).collect::<Vec<_>>()), "a batch's lines stay together and in order");
}

#[test]
fn every_record_of_lstosas_night_log_is_read_and_warnings_are_reported() {
    let path = Path::new("fixtures/provenance/prov_night_excerpt.log");
    let total = std::fs::read_to_string(path).unwrap().lines().count();
    let mut kinds = Vec::new();
    let problems = read_log(path, |_, r| kinds.push(r.kind())).unwrap();
    let warnings: Vec<usize> =
        std::fs::read_to_string(path).unwrap().lines().enumerate().filter(|(_, l)| l.starts_with("WARNING")).map(|(i, _)| i + 1).collect();
    assert_eq!(problems.iter().map(|p| p.line).collect::<Vec<_>>(), warnings, "{problems:?}");
    assert!(problems.iter().all(|p| p.file == path && p.message.contains("no __PROV__ framing")));
    assert_eq!(kinds.len() + problems.len(), total);
    assert!(!kinds.contains(&RecordKind::Other), "every record has a known kind");
    for kind in [RecordKind::Session, RecordKind::ActivityStart, RecordKind::Entity, RecordKind::Used, RecordKind::Generated, RecordKind::End] {
        assert!(kinds.contains(&kind), "{kind:?} missing");
    }
}

#[test]
fn every_line_of_lstosas_run_level_log_is_read() {
    let path = Path::new("fixtures/provenance/calibration_to_dl1_01807_prov.log");
    let total = std::fs::read_to_string(path).unwrap().lines().filter(|l| !l.trim().is_empty()).count();
    let mut sessions = Vec::new();
    let mut count = 0;
    let problems = read_log(path, |_, r| {
        count += 1;
        if r.kind() == RecordKind::Session {
            sessions.push(r.str("session_id").unwrap().to_string());
        }
    })
    .unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(count, total);
    assert_eq!(sessions, ["2020011701807"]);
}
