//! Executor behaviour that needs no cluster: a transient sbatch failure whose job did go
//! through is found by its comment key instead of being submitted again; the local executor
//! survives the death of a job's supervisor.

mod common;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use osa::config::Config;
use osa::executor::local::Local;
use osa::executor::{Executor, ExecutorError, JobSpec, Snapshot, TaskState, TaskStatus};
use osa::model::ExecutorKind;
use osa::paths::Layout;
use osa::sequencer::script::OsaCommand;
use osa::sequencer::submit::Sequencer;

/// A scheduler whose first sbatch times out after having queued the job anyway.
#[derive(Default)]
struct FlakyScheduler {
    submits: Mutex<u32>,
    jobs: Mutex<Vec<TaskStatus>>,
}

impl Executor for FlakyScheduler {
    fn kind(&self) -> ExecutorKind {
        ExecutorKind::Slurm
    }

    fn submit(&self, spec: &JobSpec) -> Result<String, ExecutorError> {
        let mut submits = self.submits.lock().unwrap();
        *submits += 1;
        let id = (100 + *submits).to_string();
        self.jobs.lock().unwrap().push(TaskStatus {
            job_id: id.clone(),
            task: None,
            name: spec.name.clone(),
            comment: spec.comment.clone(),
            state: TaskState::Pending,
            reason: None,
            exit_code: None,
            cpu_seconds: None,
            max_rss_kb: None,
            node: None,
            started_at: None,
            ended_at: None,
        });
        if *submits == 1 {
            return Err(ExecutorError::Failed {
                command: "sbatch".to_string(),
                status: "exit status: 1".to_string(),
                stderr: "sbatch: error: Batch job submission failed: Socket timed out on send/recv operation".to_string(),
                transient: true,
            });
        }
        Ok(id)
    }

    fn poll(&self) -> Result<Snapshot, ExecutorError> {
        Ok(Snapshot { tasks: self.jobs.lock().unwrap().clone() })
    }

    fn cancel(&self, _job_id: &str) -> Result<(), ExecutorError> {
        Ok(())
    }
}

/// A small demo night (calibration + one DATA run of 2 subruns) on SQLite, planned against
/// a [`FlakyScheduler`].
struct FlakyNight {
    _dir: tempfile::TempDir,
    config: Config,
    db: osa::db::Db,
    scheduler: FlakyScheduler,
    night: osa::night::NightDate,
}

impl FlakyNight {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.paths.data_root = dir.path().join("data");
        config.database.url = format!("sqlite://{}", dir.path().join("osa.sqlite").display());
        let night = "2026-01-05".parse().unwrap();
        let options = osa::demo::DemoOptions { data_runs: 1, subruns: 2, events: 20, ..Default::default() };
        osa::demo::make_night(&Layout::new(&config), night, &options).unwrap();
        let db = osa::db::Db::open_and_migrate(&config.database_url(), &config.analysis.prod_id).unwrap();
        Self { _dir: dir, config, db, scheduler: FlakyScheduler::default(), night }
    }

    fn sequencer(&self) -> Sequencer<'_> {
        let osa = OsaCommand { program: "/usr/bin/osa".into(), config: None, prod_id: "v0.10".into() };
        Sequencer { config: &self.config, layout: Layout::new(&self.config), db: &self.db, executor: &self.scheduler, osa }
    }
}

#[test]
fn a_timed_out_sbatch_is_reconciled_by_comment_not_resubmitted() {
    let h = FlakyNight::new();
    let (sequencer, db, scheduler, night) = (h.sequencer(), &h.db, &h.scheduler, h.night);
    let cycle = sequencer.cycle(night, false).unwrap();
    assert_eq!(cycle.submitted.len(), 2, "{:?}", cycle.submitted);
    assert_eq!(cycle.submitted[0].1, "101", "the job queued by the timed-out sbatch is the calibration's");
    assert_eq!(*scheduler.submits.lock().unwrap(), 2, "one sbatch per run: the timeout was not followed by a second calibration sbatch");
    let jobs = db.jobs_of_night(night).unwrap();
    assert_eq!(jobs.iter().map(|j| j.job_id.as_deref()).collect::<Vec<_>>(), [Some("101"), Some("102")]);
}

/// Regression (issue 12): every poll stored the task states of every job of the SLURM user,
/// other installations' nights included (same comment keys, another database).
#[test]
fn a_poll_keeps_only_the_jobs_this_database_submitted() {
    let h = FlakyNight::new();
    let (sequencer, db, scheduler, night) = (h.sequencer(), &h.db, &h.scheduler, h.night);
    sequencer.cycle(night, false).unwrap();
    // Another installation's job of the same night, run and attempt: the same comment key.
    let ours = db.jobs_of_night(night).unwrap();
    let foreign = TaskStatus { job_id: "999".to_string(), state: TaskState::Running, ..scheduler.jobs.lock().unwrap()[1].clone() };
    assert_eq!(foreign.comment, ours[1].intent.comment_key);
    scheduler.jobs.lock().unwrap().push(foreign);
    sequencer.cycle(night, false).unwrap();
    let stored: Vec<TaskState> = db.tasks_of_night(night).unwrap().iter().map(|t| t.state).collect();
    assert!(!stored.is_empty() && stored.iter().all(|s| *s == TaskState::Pending), "the foreign job's state was stored: {stored:?}");
}

#[test]
fn the_local_executor_survives_the_death_of_a_supervisor() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("job.sh");
    std::fs::write(&script, "sleep 1\necho task $SLURM_ARRAY_TASK_ID done\n").unwrap();
    let local = Local::new(dir.path().join("spool"), 1).with_program(env!("CARGO_BIN_EXE_osa").into());
    let spec = JobSpec {
        name: "LST1_00001".to_string(),
        comment: "osa:2026-01-05:1:1".to_string(),
        script,
        workdir: dir.path().to_path_buf(),
        array: Some(vec![0, 1, 2]),
        time_limit_seconds: None,
        after: Vec::new(),
        output: "out_%A_%a.log".to_string(),
        error: "err_%A_%a.log".to_string(),
    };
    let id = local.submit(&spec).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let job: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join(format!("spool/jobs/{id}/spec.json"))).unwrap()).unwrap();
    let pid = job["supervisor_pid"].as_i64().unwrap() as i32;
    nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL).unwrap();

    let start = Instant::now();
    loop {
        local.tend().unwrap();
        let snapshot = local.poll().unwrap();
        let states: Vec<TaskState> = snapshot.tasks_of(&id).map(|t| t.state).collect();
        if states.iter().all(|s| *s == TaskState::Completed) {
            break;
        }
        assert!(!states.iter().any(|s| s.is_finished() && *s != TaskState::Completed), "{states:?}");
        assert!(start.elapsed() < Duration::from_secs(30), "not resumed: {states:?}");
        std::thread::sleep(Duration::from_millis(300));
    }
    let log = std::fs::read_to_string(dir.path().join(format!("out_{id}_2.log"))).unwrap();
    assert_eq!(log, "task 2 done\n");
}

/// The submission lock: while an `sbatch` runs (here a stand-in that takes 2 s), the
/// submission is in flight for anyone who looks, and a second `sbatch` of the same attempt is
/// refused; once it has ended, neither.
#[test]
fn an_sbatch_in_flight_holds_its_submission() {
    use osa::executor::slurm::Slurm;
    let dir = tempfile::tempdir().unwrap();
    let sbatch = dir.path().join("sbatch");
    std::fs::write(&sbatch, "#!/bin/sh\nsleep 2\necho 4242\n").unwrap();
    std::fs::set_permissions(&sbatch, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let slurm = std::sync::Arc::new(Slurm::new(Some(dir.path().to_path_buf()), std::time::Duration::from_secs(60)));
    let spec = JobSpec {
        name: "LST1_00001".to_string(),
        comment: "osa:2026-01-05:1:1".to_string(),
        script: dir.path().join("sequence_LST1_00001_attempt1.sh"),
        workdir: dir.path().to_path_buf(),
        array: None,
        time_limit_seconds: None,
        after: Vec::new(),
        output: "out".to_string(),
        error: "err".to_string(),
    };
    assert!(!slurm.submission_in_flight(&spec));
    let first = {
        let (slurm, spec) = (slurm.clone(), spec.clone());
        std::thread::spawn(move || slurm.submit(&spec))
    };
    std::thread::sleep(Duration::from_millis(500));
    assert!(slurm.submission_in_flight(&spec), "in flight while sbatch runs");
    assert!(matches!(slurm.submit(&spec), Err(ExecutorError::InFlight { .. })), "a second sbatch of the same attempt is refused");
    assert_eq!(first.join().unwrap().unwrap(), "4242");
    assert!(!slurm.submission_in_flight(&spec), "free once sbatch has ended");
}
