//! Job runner benchmarks (`cargo bench --bench jobrunner`):
//! - provenance log writing: one step's records (start, parameters, 3 inputs, 2 outputs, end)
//!   appended under the lock, per step;
//! - sha256 throughput of the job runner's file hashing, next to `openssl speed -evp sha256`
//!   (one core, 16 KiB blocks) and `sha256sum` on the same file, in one run.
//! Prints figures; asserts nothing about speed.

use std::io::Write;
use std::process::Command;
use std::time::Instant;

use osa::provenance::{ProvWriter, record};
use serde_json::json;

fn main() {
    let dir = tempfile::tempdir().unwrap();

    let writer = ProvWriter::new(dir.path().join("prov.log"));
    let step: Vec<_> = std::iter::once(record(vec![("activity_id", json!("a1b2c3d4e5f6")), ("name", json!("r0_to_dl1")), ("startTime", json!("2026-01-05T21:00:00.000000"))]))
        .chain(std::iter::once(record(vec![("activity_id", json!("a1b2c3d4e5f6")), ("parameters", json!({"arguments": ["--input-file=/data/R0G/20260105/LST-1.1.Run12003.0042.fits.fz", "--output-dir=/data/running_analysis/20260105/v0.10"]}))])))
        .chain((0..5).flat_map(|i| {
            [
                record(vec![("entity_id", json!(format!("{i:032x}"))), ("name", json!("DL1SubrunDataset")), ("filepath", json!("/data/running_analysis/20260105/v0.10/dl1_LST-1.Run12003.0042.h5")), ("hash", json!("ab".repeat(32))), ("hash_type", json!("sha256"))]),
                record(vec![("activity_id", json!("a1b2c3d4e5f6")), ("used_id", json!(format!("{i:032x}"))), ("used_role", json!("input"))]),
            ]
        }))
        .chain(std::iter::once(record(vec![("activity_id", json!("a1b2c3d4e5f6")), ("endTime", json!("2026-01-05T21:30:00.000000")), ("status", json!("ok")), ("return_code", json!(0))])))
        .collect();
    let steps = 3000;
    let start = Instant::now();
    for _ in 0..steps {
        writer.append(&step).unwrap();
    }
    let per_step = start.elapsed().as_secs_f64() / steps as f64;
    println!("provenance: {} records per step appended under flock: {:.1} µs per step", step.len(), per_step * 1e6);

    let size: usize = std::env::var("OSA_BENCH_HASH_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(512) << 20;
    let file = dir.path().join("payload.bin");
    let mut f = std::fs::File::create(&file).unwrap();
    let block: Vec<u8> = (0..(1 << 20)).map(|i| (i * 31 % 251) as u8).collect();
    for _ in 0..size >> 20 {
        f.write_all(&block).unwrap();
    }
    drop(f);
    let _ = osa::hashing::sha256_file(&file).unwrap(); // page cache warm
    let start = Instant::now();
    osa::hashing::sha256_file(&file).unwrap();
    let ours = size as f64 / start.elapsed().as_secs_f64() / 1e6;

    let start = Instant::now();
    let status = Command::new("sha256sum").arg(&file).stdout(std::process::Stdio::null()).status();
    let coreutils = status.ok().filter(|s| s.success()).map(|_| size as f64 / start.elapsed().as_secs_f64() / 1e6);

    let openssl = Command::new("openssl").args(["speed", "-evp", "sha256", "-seconds", "3", "-bytes", "16384"]).output().ok().and_then(|out| {
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        // Last line: "sha256   <value>k" in 1000s of bytes per second.
        let line = text.lines().rev().find(|l| l.trim_start().starts_with("sha256"))?;
        let value = line.split_whitespace().last()?.trim_end_matches('k').parse::<f64>().ok()?;
        Some(value * 1000.0 / 1e6)
    });
    println!("sha256 of a {} MiB file: osa (sha2 crate, 1 MiB reads) {ours:.0} MB/s", size >> 20);
    match openssl {
        Some(o) => println!("  openssl speed -evp sha256 (16 KiB blocks, one core): {o:.0} MB/s -> osa at {:.0} % of openssl", 100.0 * ours / o),
        None => println!("  openssl speed: not available"),
    }
    match coreutils {
        Some(c) => println!("  sha256sum: {c:.0} MB/s"),
        None => println!("  sha256sum: not available"),
    }
}
