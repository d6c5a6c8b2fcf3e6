//! Closer benchmarks (`cargo bench --bench closer`), printed, never asserted:
//! - verify + hash 30 000 small outputs and three 2 GiB ones (page cache dropped first when
//!   allowed), next to the disk's read bandwidth (`dd iflag=direct`) and to
//!   `openssl speed -evp sha256 -multi <cores>`;
//! - merge the provenance of a 200-run x 150-subrun night (`osa provenance merge --no-db`,
//!   whole process): time and peak RSS (target under 30 s and 100 MB).
//! `OSA_BENCH_BIG_GB` (default 2) sizes the big files; `OSA_BENCH_SUBRUNS` (default 150) the night.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use nix::sys::resource::{UsageWho, getrusage};
use osa::closer::verify::{Product, verify};
use osa::provenance::{ProvWriter, record};
use serde_json::json;

fn drop_caches() -> bool {
    let _ = Command::new("sync").status();
    std::fs::write("/proc/sys/vm/drop_caches", "3").is_ok()
}

fn dd_direct(path: &Path) -> Option<f64> {
    let out = Command::new("dd").arg(format!("if={}", path.display())).args(["of=/dev/null", "bs=4M", "iflag=direct"]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    let line = text.lines().last()?;
    let bytes: f64 = line.split_whitespace().next()?.parse().ok()?;
    let seconds: f64 = line.split(", ").nth(2)?.split_whitespace().next()?.replace(',', ".").parse().ok()?;
    Some(bytes / seconds / 1e6)
}

fn openssl_multi(cores: usize) -> Option<f64> {
    let out =
        Command::new("openssl").args(["speed", "-evp", "sha256", "-multi", &cores.to_string(), "-bytes", "16384", "-seconds", "2"]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text.lines().rev().find(|l| l.trim_start().starts_with("sha256"))?;
    Some(line.split_whitespace().last()?.trim_end_matches('k').parse::<f64>().ok()? * 1000.0 / 1e6)
}

fn measure_merge(config: &str, date: &str) {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_osa")).args(["--config", config, "provenance", "merge", "--date", date, "--no-db"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let elapsed = start.elapsed();
    let peak = getrusage(UsageWho::RUSAGE_CHILDREN).map(|u| u.max_rss()).unwrap_or(0);
    println!(
        "provenance merge, whole process: {:.1} s, peak RSS {:.1} MB ({})",
        elapsed.as_secs_f64(),
        peak as f64 / 1024.0,
        String::from_utf8_lossy(&out.stdout).trim()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--measure-merge") {
        return measure_merge(&args[i + 1], &args[i + 2]);
    }
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();

    // ---- verification ----
    let small: Vec<PathBuf> = (0..30_000).map(|i| dir.path().join(format!("small/{:03}/f{i}.h5", i / 1000))).collect();
    let chunk: Vec<u8> = (0..16384u32).map(|i| (i % 251) as u8).collect();
    for path in &small {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, &chunk).unwrap();
    }
    let gib: usize = std::env::var("OSA_BENCH_BIG_GB").ok().and_then(|v| v.parse().ok()).unwrap_or(2);
    let block: Vec<u8> = (0..(4 << 20)).map(|i| (i * 7 % 253) as u8).collect();
    let big: Vec<PathBuf> = (0..3).map(|i| dir.path().join(format!("big{i}.h5"))).collect();
    for path in &big {
        let mut f = std::fs::File::create(path).unwrap();
        for _ in 0..(gib << 8) {
            f.write_all(&block).unwrap();
        }
    }
    let product = |path: &PathBuf| Product { run: 1, subrun: 0, kind: "{bench}".to_string(), path: path.clone(), r0_files: Vec::new() };

    let cold = drop_caches();
    let start = Instant::now();
    let checked = verify(small.iter().map(product).collect());
    let small_time = start.elapsed().as_secs_f64();
    assert!(checked.iter().all(|c| c.sha256.len() == 64));
    println!(
        "verify + hash 30 000 files of 16 KiB{}: {:.2} s, {:.0} files/s, {:.0} MB/s",
        if cold { " (cold cache)" } else { "" },
        small_time,
        30_000.0 / small_time,
        30_000.0 * 16384.0 / small_time / 1e6
    );

    let dd = dd_direct(&big[0]);
    let cold = drop_caches();
    let start = Instant::now();
    let checked = verify(big.iter().map(product).collect());
    let big_time = start.elapsed().as_secs_f64();
    assert!(checked.iter().all(|c| c.sha256.len() == 64));
    let big_rate = (3 * gib) as f64 * (1u64 << 30) as f64 / big_time / 1e6;
    let openssl = openssl_multi(cores);
    println!(
        "verify + hash 3 files of {gib} GiB{}: {:.1} s, {:.0} MB/s",
        if cold { " (cold cache)" } else { " (page cache: drop_caches not allowed)" },
        big_time,
        big_rate
    );
    println!("  disk read, dd iflag=direct bs=4M: {}", dd.map(|d| format!("{d:.0} MB/s")).unwrap_or_else(|| "unavailable".to_string()));
    println!("  openssl speed -evp sha256 -multi {cores}: {}", openssl.map(|o| format!("{o:.0} MB/s")).unwrap_or_else(|| "unavailable".to_string()));
    if let Some(limit) = [dd, openssl].into_iter().flatten().reduce(f64::min) {
        println!("  osa reaches {:.0} % of the lower of the two ({limit:.0} MB/s)", 100.0 * big_rate / limit);
    }
    for path in &big {
        let _ = std::fs::remove_file(path);
    }

    // ---- provenance merge of a 200 x 150 night ----
    let subruns: u32 = std::env::var("OSA_BENCH_SUBRUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(150);
    let root = dir.path().join("data");
    let config = dir.path().join("osa.toml");
    std::fs::write(&config, format!("[paths]\ndata_root = \"{}\"\n", root.display())).unwrap();
    let date = "2026-01-05";
    let log = root.join("running_analysis/20260105/v0.10/prov.log");
    let writer = ProvWriter::new(log.clone());
    let start = Instant::now();
    for run in 10_000..10_200u32 {
        for subrun in 0..subruns {
            let tag_run = format!("{run:05}");
            let mut batch = vec![record(vec![
                ("session_id", json!(format!("20260105{tag_run}"))),
                ("name", json!(tag_run)),
                ("startTime", json!("2026-01-05T21:00:00.000000")),
                ("system", json!({"host": "cp01", "slurm_job": format!("4800_{subrun}")})),
            ])];
            let files = [
                ("R0SubrunDataset", format!("/data/R0G/20260105/LST-1.1.Run{run}.{subrun:04}.fits.fz")),
                ("DL1SubrunDataset", format!("/data/running_analysis/20260105/v0.10/dl1_LST-1.Run{run}.{subrun:04}.h5")),
                ("DL1bSubrunDataset", format!("/data/running_analysis/20260105/v0.10/tailcut84/dl1_LST-1.Run{run}.{subrun:04}.h5")),
                ("DL1CheckSubrunDataset", format!("/data/running_analysis/20260105/v0.10/tailcut84/datacheck_dl1_LST-1.Run{run}.{subrun:04}.h5")),
            ];
            for (i, step) in ["r0_to_dl1", "dl1ab", "check_dl1"].iter().enumerate() {
                let id = format!("{run}{subrun:04}{i}");
                let tag = format!("{step}:{tag_run}");
                batch.push(record(vec![
                    ("activity_id", json!(id)),
                    ("name", json!(step)),
                    ("startTime", json!("2026-01-05T21:00:00.000000")),
                    ("in_session", json!(format!("20260105{tag_run}"))),
                    ("agent_name", json!("lstanalyzer")),
                    ("subrun", json!(subrun)),
                    ("session_tag", json!(tag)),
                ]));
                batch.push(record(vec![
                    ("activity_id", json!(id)),
                    ("parameters", json!({"arguments": ["--input-file=x", "--output-dir=y"]})),
                    ("session_tag", json!(tag)),
                ]));
                for (link, role, (name, path)) in [("used_id", "used_role", &files[i]), ("generated_id", "generated_role", &files[i + 1])] {
                    let hash = "ab".repeat(32);
                    let entity = osa::provenance::entity_id(Path::new(path), Some(&hash));
                    batch.push(record(vec![
                        ("entity_id", json!(entity)),
                        ("name", json!(name)),
                        ("filepath", json!(path)),
                        ("hash", json!(hash)),
                        ("hash_type", json!("sha256")),
                        ("session_tag", json!(tag)),
                    ]));
                    batch.push(record(vec![("activity_id", json!(id)), (link, json!(entity)), (role, json!(name)), ("session_tag", json!(tag))]));
                }
                batch.push(record(vec![
                    ("activity_id", json!(id)),
                    ("endTime", json!("2026-01-05T21:10:00.000000")),
                    ("status", json!("ok")),
                    ("return_code", json!(0)),
                    ("session_tag", json!(tag)),
                ]));
            }
            writer.append(&batch).unwrap();
        }
    }
    let size = std::fs::metadata(&log).unwrap().len();
    println!("wrote a prov.log of 200 runs x {subruns} subruns: {:.0} MB in {:.1} s", size as f64 / 1e6, start.elapsed().as_secs_f64());
    let status = Command::new(std::env::current_exe().unwrap()).args(["--measure-merge", config.to_str().unwrap(), date]).status().unwrap();
    assert!(status.success());
}
