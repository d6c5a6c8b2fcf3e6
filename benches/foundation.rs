//! Foundation benchmarks (run with `cargo bench --bench foundation`): parsing a 200-run x
//! 150-subrun NightSummary, and classifying 200 R0 first-subrun files. Prints wall times;
//! nothing here asserts a speed.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use osa::summary::classify::classify_file;

const RUNS: u32 = 200;
const SUBRUNS: u32 = 150;
const ITERATIONS: u32 = 5;

fn best_of<T>(iterations: u32, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..iterations {
        let start = Instant::now();
        let value = f();
        best = best.min(start.elapsed());
        last = Some(value);
    }
    (best, last.expect("at least one iteration"))
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");

    // v1: one line per subrun, 30 000 lines.
    let mut v1 = String::new();
    for r in 0..RUNS {
        let run = 10_000 + r;
        let kind = match r {
            0 => "PEDESTAL",
            1 => "CALIBRATION",
            _ => "DATA",
        };
        for s in 1..=SUBRUNS {
            let minute = (r * 2 + s / 60) % 60;
            let hour = 21 + (r * 2 + s / 60) / 60;
            let (day, hour) = if hour >= 24 { (13, hour - 24) } else { (12, hour) };
            let _ = writeln!(
                v1,
                "{run} {s} {kind} 2020-01-{day} {hour:02}:{minute:02}:{:02} Crab-W0.40+180 16450 7.9 05:34:31 22:00:52 DEFAULT No_Test stdHV No_Filter",
                s % 60
            );
        }
    }
    let v1_file = dir.path().join("NightSummary_20200113_LST1.txt");
    std::fs::write(&v1_file, &v1).expect("write v1");
    let (elapsed, night) = best_of(ITERATIONS, || osa::summary::load(&v1_file).expect("parses"));
    assert_eq!(night.runs.len(), RUNS as usize);
    println!(
        "parse NightSummary v1, {RUNS} runs x {SUBRUNS} subruns ({} lines, {} KiB): {:.1} ms (best of {ITERATIONS}), {:.0} lines/s",
        RUNS * SUBRUNS,
        v1.len() / 1024,
        elapsed.as_secs_f64() * 1e3,
        f64::from(RUNS * SUBRUNS) / elapsed.as_secs_f64()
    );

    // RunSummary: one row per run.
    let demo_root = dir.path().join("night");
    let mut config = osa::config::Config::default();
    config.paths.data_root = demo_root.clone();
    let layout = osa::paths::Layout::new(&config);
    let night_date: osa::night::NightDate = "2026-01-05".parse().expect("date");
    let options = osa::demo::DemoOptions { data_runs: RUNS - 2, subruns: 1, events: 500, ..Default::default() };
    let start = Instant::now();
    let made = osa::demo::make_night(&layout, night_date, &options).expect("demo night");
    println!("write {} R0 files of 500 events + summaries: {:.1} ms", made.runs.len(), start.elapsed().as_secs_f64() * 1e3);
    let (elapsed, night) = best_of(ITERATIONS, || osa::summary::load(&made.run_summary).expect("parses"));
    println!("parse RunSummary ECSV, {} runs: {:.2} ms", night.runs.len(), elapsed.as_secs_f64() * 1e3);

    // Classification of every run's first subrun file.
    let files: Vec<_> = made.runs.iter().map(|r| layout.r0_file(night_date, 1, r.run, 0)).collect();
    let (elapsed, verdicts) = best_of(ITERATIONS, || files.iter().map(|f| classify_file(f)).collect::<Vec<_>>());
    assert!(verdicts.iter().all(|v| v.reason.is_none()));
    println!(
        "classify {} R0 first-subrun files (500 events each): {:.1} ms (best of {ITERATIONS}), {:.2} ms/file",
        files.len(),
        elapsed.as_secs_f64() * 1e3,
        elapsed.as_secs_f64() * 1e3 / files.len() as f64
    );
}
