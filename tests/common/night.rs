//! A whole night driven through the `osa` binary: a tiny generated night (1 DRS4 + 1 PEDCALIB
//! + 3 DATA runs x 4 subruns), a config with quick shell steps, SQLite in the temp dir, and the
//! executor the test names. The same scenarios run on the real SLURM and on the local executor.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use osa::config::Config;
use osa::db::Db;
use osa::demo::{DemoOptions, make_night};
use osa::model::{RunType, TaskState};
use osa::night::NightDate;
use osa::paths::Layout;

pub struct NightHarness {
    pub dir: tempfile::TempDir,
    pub config_file: PathBuf,
    pub config: Config,
    pub night: NightDate,
    pub executor: &'static str,
    /// `LSTCHAIN_SIM_FAIL` for every task of the night.
    pub sim_fail: Option<&'static str>,
    /// More environment for every command (and so every job) of the night.
    pub env: Vec<(&'static str, String)>,
}

/// The calibration job fails (its first step, every try).
pub const CALIBRATION_FAILS: &str = "program=onsite_create_drs4_pedestal_file";

impl NightHarness {
    /// The default lstchain steps, answered by the analysis simulator. `night` differs per
    /// test and per test run (see [`unique_night`]) so comment keys never collide with jobs
    /// of earlier runs still in SLURM's accounting.
    pub fn new(executor: &'static str, night: &str, sim_fail: Option<&'static str>) -> Self {
        Self::with(executor, night, sim_fail, |_| {})
    }

    /// As [`NightHarness::new`], with the config changed by `tweak` before it is written.
    pub fn with(executor: &'static str, night: &str, sim_fail: Option<&'static str>, tweak: impl FnOnce(&mut Config)) -> Self {
        Self::sized(executor, night, sim_fail, DemoOptions { data_runs: 3, subruns: 4, events: 50, ..DemoOptions::default() }, tweak)
    }

    /// As [`NightHarness::with`], for a night of another size.
    pub fn sized(executor: &'static str, night: &str, sim_fail: Option<&'static str>, size: DemoOptions, tweak: impl FnOnce(&mut Config)) -> Self {
        // Under /tmp, not a private mount: slurmd (root) runs the tasks there.
        let dir = tempfile::Builder::new().prefix("osa-night-").tempdir_in("/tmp").unwrap();
        let mut config = Config::default();
        config.paths.data_root = dir.path().join("data");
        config.database.url = format!("sqlite://{}", dir.path().join("osa.sqlite").display());
        config.executor.kind = if executor == "slurm" { osa::model::ExecutorKind::Slurm } else { osa::model::ExecutorKind::Local };
        config.executor.local_concurrency = 2;
        for job in [&mut config.slurm.calibration, &mut config.slurm.data] {
            job.time = "00:05:00".to_string();
            job.mem_per_cpu = "200M".to_string();
        }
        // DL2 asks 60G in production: more than this machine has.
        for stage in &mut config.closer.stages {
            stage.mem_per_cpu = Some("200M".to_string());
        }
        let bin = dir.path().join("bin");
        osa::demo::install_simulator(&bin, Path::new(env!("CARGO_BIN_EXE_lstchain-sim"))).unwrap();
        config.analysis.bin_dir = Some(bin);
        for (name, field) in [
            ("dl1a.json", &mut config.analysis.dl1a_config),
            ("dl1b.json", &mut config.analysis.dl1b_config),
            ("dl2.json", &mut config.analysis.dl2_config),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, "{}").unwrap();
            *field = path;
        }
        tweak(&mut config);
        let config_file = dir.path().join("osa.toml");
        std::fs::write(&config_file, config.to_toml()).unwrap();
        // As an installation does (`osa db migrate`): commands and tasks refuse an old schema.
        Db::open_and_migrate(&config.database_url(), &config.analysis.prod_id).unwrap();
        let night: NightDate = night.parse().unwrap();
        make_night(&Layout::new(&config), night, &size).unwrap();
        Self { dir, config_file, config, night, executor, sim_fail, env: Vec::new() }
    }

    pub fn osa(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_osa"));
        command.arg("--config").arg(&self.config_file).args(args);
        for var in ["OSA_CONFIG", "OSA_DATA_ROOT", "OSA_DATABASE_URL", "OSA_EXECUTOR", "OSA_TEST_CRASH_AT"] {
            command.env_remove(var);
        }
        command.env("LSTCHAIN_SIM_STATE", self.dir.path().join("sim-state")).env("LSTCHAIN_SIM_EVENT_MS", "2");
        match self.sim_fail {
            Some(rule) => command.env("LSTCHAIN_SIM_FAIL", rule),
            None => command.env_remove("LSTCHAIN_SIM_FAIL"),
        };
        command.envs(self.env.iter().map(|(k, v)| (*k, v.as_str())));
        command.envs(env.iter().copied());
        command.output().unwrap()
    }

    /// One `osa sequencer --json` cycle.
    pub fn sequencer(&self, env: &[(&str, &str)]) -> serde_json::Value {
        let out = self.osa(&["sequencer", "--date", &self.night.to_string(), "--json"], env);
        assert!(out.status.success(), "osa sequencer failed:\n{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn db(&self) -> Db {
        Db::open(&self.config.database_url(), &self.config.analysis.prod_id).unwrap()
    }

    /// `osa closer --json` at 09:00 UTC the next morning; (exit code, report).
    pub fn closer(&self, extra: &[&str]) -> (i32, serde_json::Value) {
        let now = format!("{}T09:00:00Z", self.night.next());
        let night = self.night.to_string();
        let mut args = vec!["closer", "--date", &night, "--now", &now, "--json"];
        args.extend_from_slice(extra);
        let out = self.osa(&args, &[]);
        let code = out.status.code().unwrap_or(-1);
        let report = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("closer printed no JSON (exit {code}):\n{}", String::from_utf8_lossy(&out.stderr)));
        (code, report)
    }

    /// Calls the closer until the night is closed or needs a human (the closing stages are
    /// jobs: they run between the calls); (exit code, last report).
    pub fn close_to_end(&self, extra: &[&str], limit: Duration) -> (i32, serde_json::Value) {
        let start = Instant::now();
        loop {
            let (code, report) = self.closer(extra);
            if !matches!(report["status"]["status"].as_str(), Some("stages" | "retrying" | "running")) {
                return (code, report);
            }
            assert!(start.elapsed() < limit, "night not closed after {limit:?}:\n{report:#}");
            std::thread::sleep(Duration::from_millis(700));
        }
    }

    /// Starts `osa daemon` for this night (closer clock at 09:00 UTC the next morning, exits
    /// once the night is closed).
    pub fn spawn_daemon(&self, env: &[(&str, &str)]) -> std::process::Child {
        self.daemon(&["--exit-when-closed", &self.night.to_string()], env)
    }

    /// A daemon that stays after the night is closed (its status page, say).
    pub fn spawn_lasting_daemon(&self, env: &[(&str, &str)]) -> std::process::Child {
        self.daemon(&[], env)
    }

    fn daemon(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Child {
        let mut command = Command::new(env!("CARGO_BIN_EXE_osa"));
        command.arg("--config").arg(&self.config_file).args(["daemon", "--now", &format!("{}T09:00:00Z", self.night.next())]).args(args);
        for var in ["OSA_CONFIG", "OSA_DATA_ROOT", "OSA_DATABASE_URL", "OSA_EXECUTOR", "OSA_TEST_CRASH_AT"] {
            command.env_remove(var);
        }
        command.env("LSTCHAIN_SIM_STATE", self.dir.path().join("sim-state")).env("LSTCHAIN_SIM_EVENT_MS", "2").env("RUST_LOG", "osa=info");
        match self.sim_fail {
            Some(rule) => command.env("LSTCHAIN_SIM_FAIL", rule),
            None => command.env_remove("LSTCHAIN_SIM_FAIL"),
        };
        command.envs(self.env.iter().map(|(k, v)| (*k, v.as_str())));
        command.envs(env.iter().copied());
        let log = std::fs::File::options().create(true).append(true).open(self.dir.path().join("daemon.log")).unwrap();
        command.stdout(log.try_clone().unwrap()).stderr(log);
        command.spawn().unwrap()
    }

    /// Moves the night's summaries out of the watched folders; returns where they went.
    pub fn hide_summaries(&self) -> Vec<(PathBuf, PathBuf)> {
        let layout = Layout::new(&self.config);
        let hold = self.dir.path().join("hold");
        std::fs::create_dir_all(&hold).unwrap();
        let mut moved = Vec::new();
        let [v2, v1] = layout.night_summary_files(self.night);
        for file in [layout.run_summary_file(self.night), v2, v1] {
            let aside = hold.join(file.file_name().unwrap());
            std::fs::rename(&file, &aside).unwrap();
            moved.push((aside, file));
        }
        moved
    }

    pub fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    pub fn runs(&self) -> Vec<(u32, RunType, u32)> {
        self.db().runs_of_night(self.night).unwrap().into_iter().map(|r| (r.run, r.summary_type, r.subruns)).collect()
    }

    /// Runs cycles until every sequence is done, failed or blocked.
    pub fn run_to_end(&self, limit: Duration) -> serde_json::Value {
        let start = Instant::now();
        loop {
            let cycle = self.sequencer(&[]);
            let settled =
                cycle["sequences"].as_array().unwrap().iter().all(|s| matches!(s["action"].as_str(), Some("done" | "failed" | "blocked" | "vetoed")));
            if settled {
                return cycle;
            }
            assert!(start.elapsed() < limit, "night not settled after {limit:?}:\n{cycle:#}");
            std::thread::sleep(Duration::from_millis(700));
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Validates a command's `--json` output against its documented schema in tests/
    /// (Python's jsonschema, an independent reader).
    pub fn follows_schema(&self, json: &[u8], schema: &str) {
        let file = self.dir.path().join(schema.replace(".schema", ""));
        std::fs::write(&file, json).unwrap();
        let check = Command::new("python3")
            .args(["-c", "import json, sys, jsonschema; jsonschema.validate(json.load(open(sys.argv[1])), json.load(open(sys.argv[2])))"])
            .arg(&file)
            .arg(Path::new("tests").join(schema))
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "JSON does not follow tests/{schema} (or jsonschema is missing: pip install -r tests/requirements.txt):\n{}",
            String::from_utf8_lossy(&check.stderr)
        );
    }
}

/// The k-th DATA run of a night of the harness's default size (known before anything runs,
/// so failure rules can name it from the first submission on).
pub fn data_run(night: &str, k: usize) -> u32 {
    let options = DemoOptions { data_runs: 3, subruns: 4, events: 50, ..DemoOptions::default() };
    osa::demo::plan_runs(night.parse().unwrap(), &options)[2 + k].run
}

/// A failure rule (or any text) for a harness field that wants `&'static str`.
pub fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

/// A night no earlier test run used: a random date far in the future, plus `offset` so the
/// tests of one run differ too.
pub fn unique_night(offset: i64) -> String {
    static BASE: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    let base = *BASE.get_or_init(|| {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64;
        (nanos / 1000 + i64::from(std::process::id())) % 6_000 * 10
    });
    let start = chrono::NaiveDate::from_ymd_opt(2040, 1, 1).unwrap();
    (start + chrono::Duration::days(base + offset)).format("%Y-%m-%d").to_string()
}

pub fn actions(cycle: &serde_json::Value) -> Vec<(u64, String)> {
    cycle["sequences"].as_array().unwrap().iter().map(|s| (s["run"].as_u64().unwrap(), s["action"].as_str().unwrap().to_string())).collect()
}

pub fn job_ids(cycle: &serde_json::Value) -> Vec<String> {
    cycle["sequences"].as_array().unwrap().iter().filter_map(|s| s["job_id"].as_str().map(str::to_string)).collect()
}

// ---- the scenarios, shared by the SLURM and local test binaries ----

fn executor_of(h: &NightHarness) -> Box<dyn osa::executor::Executor> {
    match h.executor {
        "slurm" => Box::new(osa::executor::slurm::Slurm::new(None, std::time::Duration::from_secs(60))),
        _ => Box::new(
            osa::executor::local::Local::new(h.root().join("data/OSA/local-executor"), 2).with_program(PathBuf::from(env!("CARGO_BIN_EXE_osa"))),
        ),
    }
}

/// Job ids the scheduler knows under a comment key.
pub fn jobs_with_comment(h: &NightHarness, comment: &str) -> std::collections::BTreeSet<String> {
    let snapshot = executor_of(h).poll().expect("the executor answers");
    snapshot.tasks.iter().filter(|t| t.comment == comment).map(|t| t.job_id.clone()).collect()
}

/// The `afterok` parent of a job, as the scheduler holds it.
fn dependency_of(h: &NightHarness, job_id: &str) -> Option<String> {
    match h.executor {
        "slurm" => {
            let out = Command::new("scontrol").args(["show", "job", job_id]).output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let dependency = text.split_whitespace().find_map(|w| w.strip_prefix("Dependency="))?;
            dependency.strip_prefix("afterok:").map(|d| d.split('(').next().unwrap_or(d).split('_').next().unwrap().to_string())
        }
        _ => {
            let spec: serde_json::Value =
                serde_json::from_slice(&std::fs::read(h.root().join(format!("data/OSA/local-executor/jobs/{job_id}/spec.json"))).unwrap()).unwrap();
            spec["spec"]["after"][0].as_str().map(str::to_string)
        }
    }
}

/// sacct's own word on a job's tasks (independent of osa's parser).
fn sacct_states(job_id: &str) -> Vec<String> {
    let out = Command::new("sacct").args(["-n", "-X", "-P", "-o", "State", "-j", job_id]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().map(|l| l.split_whitespace().next().unwrap_or("").to_string()).collect()
}

fn comment(h: &NightHarness, run: u64, attempt: u32) -> String {
    osa::executor::comment_key(&h.config.analysis.prod_id, h.night, run as u32, &osa::model::Stage::Sequence, attempt)
}

pub fn whole_night_is_chained_run_and_never_submitted_twice(executor: &'static str) {
    let h = NightHarness::new(executor, &unique_night(0), None);
    let first = h.sequencer(&[]);
    assert_eq!(first["submitted"].as_array().unwrap().len(), 4, "{first:#}");
    let ids = job_ids(&first);
    let (calibration, data) = (&ids[0], &ids[1..]);
    for job in data {
        assert_eq!(dependency_of(&h, job).as_deref(), Some(calibration.as_str()), "DATA job {job} waits afterok on the calibration");
    }
    let again = h.sequencer(&[]);
    assert!(again["submitted"].as_array().unwrap().is_empty(), "a second run submits nothing: {again:#}");

    let end = h.run_to_end(Duration::from_secs(240));
    assert!(actions(&end).iter().all(|(_, a)| a == "done"), "{end:#}");
    let db = h.db();
    let runs = db.runs_of_night(h.night).unwrap();
    for seq in end["sequences"].as_array().unwrap() {
        let run = seq["run"].as_u64().unwrap() as u32;
        let expected = if seq["type"] == "PEDCALIB" { 1 } else { runs.iter().find(|r| r.run == run).unwrap().subruns as usize };
        let tasks = db.tasks_of_run(h.night, run).unwrap();
        assert_eq!(tasks.len(), expected, "run {run}: {tasks:?}");
        assert!(tasks.iter().all(|t| t.state == TaskState::Completed && t.exit_code == Some(0)), "run {run}: {tasks:?}");
    }
    assert_eq!(db.jobs_of_night(h.night).unwrap().len(), 4, "one submission per run");
    // Every task ran the job runner and the simulator: every product is there.
    let layout = Layout::new(&h.config);
    let calibration = runs.iter().filter(|r| r.summary_type != RunType::Data).map(|r| r.run).collect::<Vec<_>>();
    assert!(layout.drs4_file(h.night, calibration[0]).is_file() && layout.calibration_file(h.night, calibration[1]).is_file());
    for run in runs.iter().filter(|r| r.summary_type == RunType::Data) {
        for subrun in 0..run.subruns {
            for file in [
                layout.dl1a_file(h.night, run.run, subrun),
                layout.muons_file(h.night, run.run, subrun),
                layout.dl1b_file(h.night, run.run, subrun),
                layout.datacheck_file(h.night, run.run, subrun),
            ] {
                assert!(file.is_file(), "{} missing", file.display());
            }
        }
    }
    if executor == "slurm" {
        for job in &ids {
            let states = sacct_states(job);
            assert!(!states.is_empty() && states.iter().all(|s| s == "COMPLETED"), "sacct says {states:?} for job {job}");
        }
    }
    let last = h.sequencer(&[]);
    assert!(last["submitted"].as_array().unwrap().is_empty());
}

pub fn a_failed_calibration_blocks_its_data_runs(executor: &'static str) {
    let h = NightHarness::new(executor, &unique_night(1), Some(CALIBRATION_FAILS));
    let first = h.sequencer(&[]);
    let ids = job_ids(&first);
    assert_eq!(ids.len(), 4);
    let end = h.run_to_end(Duration::from_secs(180));
    let found = actions(&end);
    assert_eq!(found[0].1, "failed", "{end:#}");
    assert!(found[1..].iter().all(|(_, a)| a == "blocked"), "{end:#}");
    let db = h.db();
    for (run, _) in &found[1..] {
        let tasks = db.tasks_of_run(h.night, *run as u32).unwrap();
        assert!(!tasks.is_empty() && tasks.iter().all(|t| t.state == TaskState::Blocked), "run {run}: {tasks:?}");
    }
    if executor == "slurm" {
        for job in &ids[1..] {
            let states = sacct_states(job);
            assert!(states.iter().all(|s| s == "CANCELLED"), "left pending? sacct says {states:?} for {job}");
        }
    }
    std::thread::sleep(Duration::from_secs(1));
    let again = h.sequencer(&[]);
    assert!(again["submitted"].as_array().unwrap().is_empty(), "blocked runs are not resubmitted: {again:#}");
    assert_eq!(actions(&again), found, "a cancelled child stays blocked on the next cycles, not failed");
    assert_eq!(db.jobs_of_night(h.night).unwrap().len(), 4);
}

pub fn a_crash_around_submission_never_submits_twice(executor: &'static str) {
    let (night_a, night_b) = (&unique_night(2), &unique_night(3));
    // Crash right after the intent is written: nothing reached the scheduler.
    let h = NightHarness::new(executor, night_a, None);
    let crashed = h.osa(&["sequencer", "--date", night_a.as_str()], &[("OSA_TEST_CRASH_AT", "after-intent")]);
    assert!(!crashed.status.success(), "the test hook aborts");
    let pending = h.db().pending_submissions().unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    let calibration_run = pending[0].intent.run as u64;
    assert!(jobs_with_comment(&h, &comment(&h, calibration_run, 1)).is_empty());
    let end = h.run_to_end(Duration::from_secs(240));
    assert!(actions(&end).iter().all(|(_, a)| a == "done"), "{end:#}");
    for (run, _) in actions(&end) {
        assert_eq!(jobs_with_comment(&h, &comment(&h, run, 1)).len(), 1, "run {run} submitted exactly once");
    }
    assert!(h.db().pending_submissions().unwrap().is_empty());

    // Crash right after sbatch returned, before the job id was stored: the job exists.
    let h = NightHarness::new(executor, night_b, None);
    let crashed = h.osa(&["sequencer", "--date", night_b.as_str()], &[("OSA_TEST_CRASH_AT", "after-sbatch")]);
    assert!(!crashed.status.success());
    let pending = h.db().pending_submissions().unwrap();
    assert_eq!(pending.len(), 1);
    let key = pending[0].intent.comment_key.clone();
    assert_eq!(jobs_with_comment(&h, &key).len(), 1, "the job reached the scheduler before the crash");
    let next = h.sequencer(&[]);
    let submitted: Vec<u64> = next["submitted"].as_array().unwrap().iter().map(|s| s["run"].as_u64().unwrap()).collect();
    assert!(!submitted.contains(&(pending[0].intent.run as u64)), "the calibration was found, not resubmitted: {next:#}");
    assert_eq!(jobs_with_comment(&h, &key).len(), 1);
    let end = h.run_to_end(Duration::from_secs(240));
    assert!(actions(&end).iter().all(|(_, a)| a == "done"), "{end:#}");
    assert_eq!(h.db().jobs_of_night(h.night).unwrap().len(), 4);
}
