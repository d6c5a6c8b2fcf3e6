//! Daemon benchmarks (`cargo bench --bench daemon`), printed, never asserted:
//! - idle: `osa daemon` with 30 open nights and the default schedules, RSS and CPU over a
//!   quiet minute (target: < 30 MB RSS, < 1 % CPU); `OSA_BENCH_IDLE_SECONDS` shortens it;
//! - one poll cycle (`Sequencer::cycle_nights`) with 200 runs x 150 subruns in flight: the
//!   scheduler's 30 000 task states stored, intents reconciled, the night planned.

use std::process::Command;
use std::time::{Duration, Instant};

use osa::config::Config;
use osa::db::{Db, JobIntent};
use osa::executor::{Executor, ExecutorError, JobSpec, Snapshot, TaskState, TaskStatus, comment_key};
use osa::model::ExecutorKind;
use osa::night::NightDate;
use osa::paths::Layout;
use osa::sequencer::script::OsaCommand;
use osa::sequencer::submit::Sequencer;

fn proc_field(pid: u32, file: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
    text.lines().find(|l| l.starts_with(key))?.split_whitespace().nth(1)?.parse().ok()
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    fields.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0) + fields.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
}

/// Answers polls with a fixed snapshot (the state of 200 runs x 150 subruns).
struct Frozen(Snapshot);

impl Executor for Frozen {
    fn kind(&self) -> ExecutorKind {
        ExecutorKind::Slurm
    }
    fn submit(&self, _: &JobSpec) -> Result<String, ExecutorError> {
        Ok("0".to_string())
    }
    fn poll(&self) -> Result<Snapshot, ExecutorError> {
        Ok(self.0.clone())
    }
    fn cancel(&self, _: &str) -> Result<(), ExecutorError> {
        Ok(())
    }
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.paths.data_root = dir.path().join("data");
    let config_file = dir.path().join("osa.toml");
    std::fs::write(&config_file, config.to_toml()).unwrap();
    let db = Db::open_and_migrate(&config.database_url(), &config.analysis.prod_id).unwrap();
    let first: NightDate = "2026-01-01".parse().unwrap();
    let mut night = first;
    for _ in 0..30 {
        db.ensure_night(night).unwrap();
        night = night.next();
    }

    // ---- idle ----
    let seconds: u64 = std::env::var("OSA_BENCH_IDLE_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(60);
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_osa"))
        .arg("--config")
        .arg(&config_file)
        .arg("daemon")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(5)); // start-up cycle over
    let pid = daemon.id();
    let (ticks0, t0) = (cpu_ticks(pid), Instant::now());
    std::thread::sleep(Duration::from_secs(seconds));
    let (ticks1, elapsed) = (cpu_ticks(pid), t0.elapsed().as_secs_f64());
    let rss = proc_field(pid, "status", "VmRSS:").unwrap_or(0);
    let hwm = proc_field(pid, "status", "VmHWM:").unwrap_or(0);
    let hz = 100.0; // USER_HZ on Linux
    println!(
        "daemon idle with 30 open nights over {seconds} s: RSS {:.1} MB (peak {:.1} MB), CPU {:.2} %",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0,
        100.0 * (ticks1 - ticks0) as f64 / hz / elapsed
    );
    let _ = daemon.kill();
    let _ = daemon.wait();

    // ---- one poll cycle, 200 runs x 150 subruns in flight ----
    let night: NightDate = "2026-02-01".parse().unwrap();
    let layout = Layout::new(&config);
    let mut options = osa::demo::DemoOptions { data_runs: 198, subruns: 150, events: 1, ..Default::default() };
    options.first_run = Some(20000);
    let runs = osa::demo::plan_runs(night, &options);
    // Only the summary is needed: write it through the generator's text.
    std::fs::create_dir_all(layout.run_summary_dir()).unwrap();
    osa::demo::make_night(&layout, night, &osa::demo::DemoOptions { subruns: 1, ..options.clone() }).unwrap();
    let mut text = std::fs::read_to_string(layout.run_summary_file(night)).unwrap();
    text = text.replace(",1,DATA,", ",150,DATA,");
    std::fs::write(layout.run_summary_file(night), text).unwrap();
    let mut tasks = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let subruns = if run.run_type == osa::model::RunType::Data { 150 } else { 1 };
        let comment = comment_key("v0.10", night, run.run, &osa::model::Stage::Sequence, 1);
        db.record_submission_intent(&JobIntent {
            stage: osa::model::Stage::Sequence,
            night,
            run: run.run,
            attempt: 1,
            executor: ExecutorKind::Slurm,
            job_name: format!("LST1_{:05}", run.run),
            comment_key: comment.clone(),
            array_range: if subruns > 1 { "0-149".into() } else { "0".into() },
            partition: "short".into(),
            account: "dpps".into(),
            mem_per_cpu: "6G".into(),
            time_limit: "01:15:00".into(),
            script_path: "/dev/null".into(),
            stops_before: None,
        })
        .unwrap();
        db.complete_submission(night, run.run, &osa::model::Stage::Sequence, 1, &(1000 + i).to_string()).unwrap();
        for task in 0..subruns {
            tasks.push(TaskStatus {
                job_id: (1000 + i).to_string(),
                task: (subruns > 1).then_some(task),
                name: format!("LST1_{:05}", run.run),
                comment: comment.clone(),
                state: if task % 3 == 0 { TaskState::Running } else { TaskState::Pending },
                reason: None,
                exit_code: None,
                cpu_seconds: Some(60),
                max_rss_kb: None,
                node: Some("cp01".into()),
                started_at: None,
                ended_at: None,
            });
        }
    }
    let executor = Frozen(Snapshot { tasks });
    let sequencer = Sequencer {
        config: &config,
        layout,
        db: &db,
        executor: &executor,
        osa: OsaCommand { program: "/usr/bin/osa".into(), config: None, prod_id: config.analysis.prod_id.clone() },
    };
    let start = Instant::now();
    let (results, polled) = sequencer.cycle_nights(&[night]).unwrap();
    assert!(polled);
    let plan = results[0].1.as_ref().unwrap().plan.as_ref().unwrap();
    assert!(plan.sequences.iter().all(|s| s.action.label() == "submitted"), "nothing resubmitted");
    println!("one poll cycle, 200 runs x 150 subruns in flight (30 000 task states stored, night planned): {:.2} s", start.elapsed().as_secs_f64());
}
