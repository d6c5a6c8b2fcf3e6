//! Closing benchmark (`cargo bench --bench closing`), printed, never asserted: a night of
//! 198 DATA runs (+ DRS4 and PEDCALIB) x 150 subruns whose sequences are done (jobs and task
//! rows stored, every subrun product on disk, made once by the analysis simulator and
//! copied), closed by `osa daemon` on the local executor: the closing stages (merges, data
//! checks, DL2, long-term check) run as jobs. Printed: wall time from the daemon's start
//! (it verifies every subrun first) to the night closed, and the daemon's own CPU time and
//! peak RSS (targets: under 1 CPU-second per run and 50 MB).
//! `OSA_BENCH_RUNS` (default 198) and `OSA_BENCH_SUBRUNS` (default 150) size the night.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use osa::config::Config;
use osa::db::{Db, JobIntent, TaskRecord};
use osa::demo::{DemoOptions, make_night, plan_runs};
use osa::model::{ExecutorKind, RunType, Stage, TaskState};
use osa::night::NightDate;
use osa::paths::Layout;

fn env_or(name: &str, default: u32) -> u32 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = fields.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0) + fields.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
    ticks as f64 / 100.0
}

fn peak_rss_kb(pid: u32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines().find(|l| l.starts_with("VmHWM")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()).unwrap_or(0)
}

fn sim(bin: &Path, program: &str, args: &[String]) {
    let out = Command::new(bin.join(program)).args(args).output().unwrap();
    assert!(out.status.success(), "{program}: {}", String::from_utf8_lossy(&out.stderr));
}

fn main() {
    let runs = env_or("OSA_BENCH_RUNS", 198);
    let subruns = env_or("OSA_BENCH_SUBRUNS", 150);
    let dir = tempfile::Builder::new().prefix("osa-bench-closing-").tempdir_in("/tmp").unwrap();
    let mut config = Config::default();
    config.paths.data_root = dir.path().join("data");
    config.database.url = format!("sqlite://{}", dir.path().join("osa.sqlite").display());
    config.executor.kind = ExecutorKind::Local;
    config.executor.local_concurrency = 2;
    config.schedules.poll = "*/5 * * * * *".to_string();
    config.schedules.closer = "*/5 * * * * *".to_string();
    config.schedules.poll_jitter_seconds = 0;
    let bin = dir.path().join("bin");
    osa::demo::install_simulator(&bin, Path::new(env!("CARGO_BIN_EXE_lstchain-sim"))).unwrap();
    config.analysis.bin_dir = Some(bin.clone());
    for (name, field) in [
        ("dl1a.json", &mut config.analysis.dl1a_config),
        ("dl1b.json", &mut config.analysis.dl1b_config),
        ("dl2.json", &mut config.analysis.dl2_config),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, "{}").unwrap();
        *field = path;
    }
    let config_file = dir.path().join("osa.toml");
    std::fs::write(&config_file, config.to_toml()).unwrap();
    let db = Db::open_and_migrate(&config.database_url(), &config.analysis.prod_id).unwrap();
    let layout = Layout::new(&config);
    let night: NightDate = "2026-02-03".parse().unwrap();
    let options = DemoOptions { data_runs: runs, subruns, events: 1, ..DemoOptions::default() };
    let started = Instant::now();
    make_night(&layout, night, &options).unwrap();
    let planned = plan_runs(night, &options);
    let (drs4, pedcal) = (planned[0].run, planned[1].run);

    // The calibration's products, then one subrun's products made by the simulator and
    // copied to every subrun (one event each: the same content passes verification).
    let r0 = layout.r0_night_dir(night).parent().unwrap().to_path_buf();
    let base = config.paths.data_root.display().to_string();
    sim(&bin, "onsite_create_drs4_pedestal_file", &["-r".into(), drs4.to_string(), "-b".into(), base.clone(), format!("--r0-dir={}", r0.display())]);
    sim(
        &bin,
        "onsite_create_calibration_file",
        &["-p".into(), drs4.to_string(), "-r".into(), pedcal.to_string(), "-b".into(), base, format!("--r0-dir={}", r0.display())],
    );
    let first = planned[2].run;
    let analysis = layout.analysis_dir(night);
    sim(
        &bin,
        "lstchain_data_r0_to_dl1",
        &[format!("--input-file={}", layout.r0_file(night, 1, first, 0).display()), format!("--output-dir={}", analysis.display())],
    );
    let (dl1a, dl1b, check, muons) = (
        layout.dl1a_file(night, first, 0),
        layout.dl1b_file(night, first, 0),
        layout.datacheck_file(night, first, 0),
        layout.muons_file(night, first, 0),
    );
    sim(&bin, "lstchain_dl1ab", &[format!("--input-file={}", dl1a.display()), format!("--output-file={}", dl1b.display())]);
    sim(&bin, "lstchain_check_dl1", &[format!("--input-file={}", dl1b.display()), format!("--output-dir={}", dl1b.parent().unwrap().display())]);
    let templates = [dl1a.clone(), dl1b.clone(), check.clone(), muons.clone()];
    let contents: Vec<Vec<u8>> = templates.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let mut tasks = Vec::new();
    let data: Vec<u32> = planned.iter().filter(|r| r.run_type == RunType::Data).map(|r| r.run).collect();
    for (i, run) in std::iter::once(pedcal).chain(data.iter().copied()).enumerate() {
        let calibration = run == pedcal;
        let intent = JobIntent {
            night,
            run,
            stage: Stage::Sequence,
            attempt: 1,
            executor: ExecutorKind::Local,
            job_name: format!("LST1_{run:05}"),
            comment_key: osa::executor::comment_key("v0.10", night, run, &Stage::Sequence, 1),
            array_range: if calibration { "0".to_string() } else { format!("0-{}", subruns - 1) },
            partition: "short".to_string(),
            account: "dpps".to_string(),
            mem_per_cpu: "6G".to_string(),
            time_limit: "01:15:00".to_string(),
            script_path: "bench.sh".to_string(),
            stops_before: None,
        };
        db.record_submission_intent(&intent).unwrap();
        db.complete_submission(night, run, &Stage::Sequence, 1, &format!("bench{i}")).unwrap();
        for subrun in 0..if calibration { 1 } else { subruns } {
            tasks.push(TaskRecord {
                night,
                run,
                stage: Stage::Sequence,
                subrun,
                attempt: 1,
                state: TaskState::Completed,
                exit_code: Some(0),
                cpu_seconds: None,
                max_rss_kb: None,
                node: None,
                started_at: None,
                ended_at: None,
            });
            if calibration {
                continue;
            }
            let paths = [
                layout.dl1a_file(night, run, subrun),
                layout.dl1b_file(night, run, subrun),
                layout.datacheck_file(night, run, subrun),
                layout.muons_file(night, run, subrun),
            ];
            for (path, content) in paths.iter().zip(&contents) {
                if !path.exists() {
                    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                    std::fs::write(path, content).unwrap();
                }
            }
        }
    }
    db.upsert_tasks(&tasks).unwrap();
    println!("night of {} DATA runs x {subruns} subruns laid out in {:.0} s", data.len(), started.elapsed().as_secs_f64());

    let start = Instant::now();
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_osa"))
        .arg("--config")
        .arg(&config_file)
        .args(["daemon", "--now", &format!("{}T09:00:00Z", night.next()), "--exit-when-closed", &night.to_string()])
        .env("LSTCHAIN_SIM_STATE", dir.path().join("sim-state"))
        .env_remove("LSTCHAIN_SIM_FAIL")
        .stdout(std::fs::File::create(dir.path().join("daemon.log")).unwrap())
        .stderr(std::fs::File::create(dir.path().join("daemon.err")).unwrap())
        .spawn()
        .unwrap();
    let pid = daemon.id();
    let (mut cpu, mut rss) = (0.0, 0);
    let status = loop {
        if let Some(status) = daemon.try_wait().unwrap() {
            break status;
        }
        cpu = cpu_seconds(pid).max(cpu);
        rss = peak_rss_kb(pid).max(rss);
        assert!(start.elapsed() < Duration::from_secs(7200), "the night did not close in 2 hours");
        std::thread::sleep(Duration::from_millis(200));
    };
    let wall = start.elapsed().as_secs_f64();
    let closed_at = chrono::Utc::now().naive_utc();
    assert!(status.success(), "{}", std::fs::read_to_string(dir.path().join("daemon.err")).unwrap_or_default());
    let jobs = db.jobs_of_night(night).unwrap();
    let stage_jobs = jobs.iter().filter(|j| !j.intent.stage.is_sequence()).count();
    // Every subrun is verified once the last run's merge is asked for (a run's merge follows
    // its verification and moves).
    let verified_at = jobs.iter().filter(|j| j.intent.stage == Stage::closing("merge_dl1")).map(|j| j.intent_at).max().unwrap();
    println!(
        "closing {} runs x {subruns} subruns on the local executor: {wall:.0} s from the daemon's start to closed, {:.0} s of it after \
         every subrun was verified; {stage_jobs} stage jobs; daemon CPU {cpu:.1} s ({:.2} s per run; target < 1), peak RSS {:.1} MB (target < 50)",
        data.len(),
        (closed_at - verified_at).num_milliseconds() as f64 / 1000.0,
        cpu / data.len() as f64,
        rss as f64 / 1024.0
    );
}
