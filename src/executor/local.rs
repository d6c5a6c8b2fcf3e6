//! The local executor: the embedded default for demos and newcomers, no cluster needed. It
//! behaves like a one-node SLURM seen through the same trait: array tasks run the same job
//! scripts (with `SLURM_ARRAY_TASK_ID` set), `afterok` dependencies hold, a child of a failed
//! parent stays pending with reason `DependencyNeverSatisfied`, and states use SLURM's names.
//!
//! Everything lives in a spool folder, so it survives its own restart: `jobs/<id>/spec.json`,
//! one `task-<n>.json` per task (written atomically), and a detached supervisor process per
//! job (`osa executor-local`) that waits for the dependency and runs the tasks. A poll that
//! finds a job unfinished and its supervisor dead starts a new one, which re-runs the tasks
//! that had not finished (the job runner resumes from its history). A global limit on running
//! tasks is kept with lock files (`slots/slot-<k>.lock`, `flock`ed while a task runs), so it
//! holds across supervisors and is released if one dies.

use std::fs::{self, File, OpenOptions};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{SubsecRound, Utc};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use super::{Executor, ExecutorError, JobSpec, Snapshot, TaskState, TaskStatus, expand_pattern};
use crate::model::{DEPENDENCY_NEVER_SATISFIED, ExecutorKind};

pub struct Local {
    spool: PathBuf,
    concurrency: usize,
    /// The `osa` binary that supervises jobs (the running one, unless a test says otherwise).
    program: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct JobFile {
    id: String,
    spec: JobSpec,
    supervisor_pid: Option<i32>,
}

fn spool_error(path: &Path, message: impl std::fmt::Display) -> ExecutorError {
    ExecutorError::Spool { path: path.to_path_buf(), message: message.to_string() }
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), ExecutorError> {
    let partial = path.with_extension("partial");
    let text = serde_json::to_vec_pretty(value).map_err(|e| spool_error(path, e))?;
    fs::write(&partial, text).map_err(|e| spool_error(&partial, e))?;
    fs::rename(&partial, path).map_err(|e| spool_error(path, e))
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, ExecutorError> {
    let text = fs::read(path).map_err(|e| spool_error(path, e))?;
    serde_json::from_slice(&text).map_err(|e| spool_error(path, e))
}

fn alive(pid: i32) -> bool {
    // Signal 0 checks existence; a zombie (exited, not reaped) counts as dead.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
        && !fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.split_whitespace().nth(2) == Some("Z"))
}

impl Local {
    pub fn new(spool: PathBuf, concurrency: usize) -> Self {
        let concurrency = if concurrency == 0 { std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) } else { concurrency };
        let program = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("osa"));
        Self { spool, concurrency, program }
    }

    pub fn with_program(mut self, program: PathBuf) -> Self {
        self.program = program;
        self
    }

    fn job_dir(&self, id: &str) -> PathBuf {
        self.spool.join("jobs").join(id)
    }

    fn next_id(&self) -> Result<String, ExecutorError> {
        fs::create_dir_all(self.spool.join("jobs")).map_err(|e| spool_error(&self.spool, e))?;
        let lock_path = self.spool.join("next-id.lock");
        let file = OpenOptions::new().write(true).create(true).truncate(false).open(&lock_path).map_err(|e| spool_error(&lock_path, e))?;
        let _lock = Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| spool_error(&lock_path, e))?;
        let path = self.spool.join("next-id");
        let id: u64 = fs::read_to_string(&path).ok().and_then(|t| t.trim().parse().ok()).unwrap_or(1);
        // Written aside then renamed: a crash never leaves an empty counter (which would reuse ids).
        let partial = self.spool.join("next-id.partial");
        fs::write(&partial, (id + 1).to_string()).map_err(|e| spool_error(&partial, e))?;
        fs::rename(&partial, &path).map_err(|e| spool_error(&path, e))?;
        Ok(id.to_string())
    }

    /// Whether a supervisor holds the job's lock (it does for its whole life).
    fn supervisor_alive(dir: &Path) -> bool {
        let Ok(file) = File::options().create(true).truncate(false).write(true).open(dir.join("supervisor.lock")) else { return false };
        Flock::lock(file, FlockArg::LockExclusiveNonblock).is_err()
    }

    fn spawn_supervisor(&self, id: &str) -> Result<i32, ExecutorError> {
        let dir = self.job_dir(id);
        let log = File::options().create(true).append(true).open(dir.join("supervisor.log")).map_err(|e| spool_error(&dir, e))?;
        let log2 = log.try_clone().map_err(|e| spool_error(&dir, e))?;
        let child = Command::new(&self.program)
            .args(["executor-local", "--spool"])
            .arg(&self.spool)
            .args(["--job", id, "--concurrency", &self.concurrency.to_string()])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            // Its own process group: it outlives the command that submitted, and cancel can
            // signal it with its tasks.
            .process_group(0)
            .spawn()
            .map_err(|source| ExecutorError::Spawn { command: format!("{} executor-local", self.program.display()), source })?;
        let pid = child.id() as i32;
        reap_supervisors(Some(child));
        let path = dir.join("spec.json");
        let mut job: JobFile = read_json(&path)?;
        job.supervisor_pid = Some(pid);
        write_json(&path, &job)?;
        Ok(pid)
    }

    /// Ids of the jobs in the spool, in submission order.
    fn job_ids(&self) -> Vec<String> {
        let Ok(entries) = fs::read_dir(self.spool.join("jobs")) else { return Vec::new() };
        let mut ids: Vec<u64> = entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect();
        ids.sort_unstable();
        ids.into_iter().map(|i| i.to_string()).collect()
    }

    fn task_ids(spec: &JobSpec) -> Vec<Option<u32>> {
        match &spec.array {
            Some(indices) => indices.iter().copied().map(Some).collect(),
            None => vec![None],
        }
    }

    fn task_path(dir: &Path, task: Option<u32>) -> PathBuf {
        dir.join(format!("task-{}.json", task.map(|t| t.to_string()).unwrap_or_else(|| "single".to_string())))
    }

    fn read_tasks(dir: &Path, job: &JobFile) -> Result<Vec<TaskStatus>, ExecutorError> {
        Self::task_ids(&job.spec).into_iter().map(|t| read_json(&Self::task_path(dir, t))).collect()
    }
}

impl Executor for Local {
    fn kind(&self) -> ExecutorKind {
        ExecutorKind::Local
    }

    fn submit(&self, spec: &JobSpec) -> Result<String, ExecutorError> {
        let id = self.next_id()?;
        // Built aside and renamed into place: a poll never sees a half-written job.
        let dir = self.spool.join("jobs").join(format!(".new-{id}"));
        fs::create_dir_all(&dir).map_err(|e| spool_error(&dir, e))?;
        for task in Self::task_ids(spec) {
            let status = TaskStatus {
                job_id: id.clone(),
                task,
                name: spec.name.clone(),
                comment: spec.comment.clone(),
                state: TaskState::Pending,
                reason: (!spec.after.is_empty()).then(|| "Dependency".to_string()),
                exit_code: None,
                cpu_seconds: None,
                max_rss_kb: None,
                node: None,
                started_at: None,
                ended_at: None,
            };
            write_json(&Self::task_path(&dir, task), &status)?;
        }
        write_json(&dir.join("spec.json"), &JobFile { id: id.clone(), spec: spec.clone(), supervisor_pid: None })?;
        let final_dir = self.job_dir(&id);
        fs::rename(&dir, &final_dir).map_err(|e| spool_error(&final_dir, e))?;
        if let Err(e) = self.spawn_supervisor(&id) {
            // Refused means not there: nothing may run this job later.
            let _ = fs::remove_dir_all(&final_dir);
            return Err(e);
        }
        Ok(id)
    }

    fn poll(&self) -> Result<Snapshot, ExecutorError> {
        reap_supervisors(None);
        let mut snapshot = Snapshot::default();
        for id in self.job_ids() {
            let dir = self.job_dir(&id);
            match read_json::<JobFile>(&dir.join("spec.json")).and_then(|job| Self::read_tasks(&dir, &job)) {
                Ok(tasks) => snapshot.tasks.extend(tasks),
                Err(e) => tracing::warn!(job.id = %id, "local job unreadable, skipped this poll: {e}"),
            }
        }
        Ok(snapshot)
    }

    fn tend(&self) -> Result<(), ExecutorError> {
        for id in self.job_ids() {
            let dir = self.job_dir(&id);
            let Ok(job) = read_json::<JobFile>(&dir.join("spec.json")) else { continue };
            let Ok(tasks) = Self::read_tasks(&dir, &job) else { continue };
            let unfinished = tasks.iter().any(|t| !t.state.is_finished() && t.reason.as_deref() != Some(DEPENDENCY_NEVER_SATISFIED));
            if unfinished && !dir.join("cancelled").exists() && !Self::supervisor_alive(&dir) {
                tracing::warn!(job.id = %id, "local job's supervisor is gone; starting a new one");
                self.spawn_supervisor(&id)?;
            }
        }
        Ok(())
    }

    fn cancel(&self, job_id: &str) -> Result<(), ExecutorError> {
        let dir = self.job_dir(job_id);
        let job: JobFile = read_json(&dir.join("spec.json"))?;
        fs::write(dir.join("cancelled"), b"").map_err(|e| spool_error(&dir, e))?;
        if let Some(pid) = job.supervisor_pid.filter(|_| Self::supervisor_alive(&dir)) {
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM);
        }
        for mut task in Self::read_tasks(&dir, &job)? {
            if !task.state.is_finished() {
                task.state = TaskState::Cancelled;
                task.ended_at = Some(Utc::now().naive_utc().trunc_subsecs(0));
                write_json(&Self::task_path(&dir, task.task), &task)?;
            }
        }
        Ok(())
    }
}

/// Supervisors this process started and has not reaped yet, with a new one to keep. Reaped
/// at each submission and poll, so an ended one does not linger as a zombie while a daemon
/// runs; a thread waiting on each would cost the daemon one thread per queued job (hundreds
/// while a night's closing stages wait for their turn).
fn reap_supervisors(new: Option<std::process::Child>) {
    static STARTED: Mutex<Vec<std::process::Child>> = Mutex::new(Vec::new());
    let mut started = STARTED.lock().unwrap_or_else(|p| p.into_inner());
    started.retain_mut(|child| matches!(child.try_wait(), Ok(None)));
    started.extend(new);
}

/// The supervisor of one job (`osa executor-local`): waits for the dependency, then runs the
/// unfinished tasks under the global concurrency limit.
pub fn supervise(spool: &Path, id: &str, concurrency: usize) -> Result<(), ExecutorError> {
    let local = Local::new(spool.to_path_buf(), concurrency);
    let dir = local.job_dir(id);
    let lock_path = dir.join("supervisor.lock");
    let lock_file = File::options().create(true).truncate(false).write(true).open(&lock_path).map_err(|e| spool_error(&lock_path, e))?;
    let Ok(_lock) = Flock::lock(lock_file, FlockArg::LockExclusiveNonblock) else {
        // Another supervisor already runs this job.
        return Ok(());
    };
    let job: JobFile = read_json(&dir.join("spec.json"))?;
    for parent in &job.spec.after {
        loop {
            if dir.join("cancelled").exists() {
                return Ok(());
            }
            let parent_dir = local.job_dir(parent);
            let parent_tasks = read_json::<JobFile>(&parent_dir.join("spec.json")).and_then(|p| Local::read_tasks(&parent_dir, &p));
            match parent_tasks {
                Ok(tasks) if tasks.iter().all(|t| t.state == TaskState::Completed) => break,
                Ok(tasks) if tasks.iter().any(|t| t.state.is_finished() && t.state != TaskState::Completed) => {
                    return mark_pending(&dir, &job, DEPENDENCY_NEVER_SATISFIED);
                }
                Ok(_) => std::thread::sleep(Duration::from_millis(200)),
                Err(_) => return mark_pending(&dir, &job, DEPENDENCY_NEVER_SATISFIED),
            }
        }
    }
    let todo: Vec<TaskStatus> = Local::read_tasks(&dir, &job)?.into_iter().filter(|t| !t.state.is_finished()).collect();
    let queue = Arc::new(Mutex::new(todo));
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (queue, dir, spec, spool) = (queue.clone(), dir.clone(), job.spec.clone(), spool.to_path_buf());
            std::thread::spawn(move || -> Result<(), ExecutorError> {
                loop {
                    let Some(task) = queue.lock().unwrap_or_else(|p| p.into_inner()).pop() else { return Ok(()) };
                    run_task(&spool, &dir, &spec, task, concurrency)?;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().map_err(|_| spool_error(&dir, "a task runner panicked"))??;
    }
    Ok(())
}

fn mark_pending(dir: &Path, job: &JobFile, reason: &str) -> Result<(), ExecutorError> {
    for mut task in Local::read_tasks(dir, job)? {
        if !task.state.is_finished() {
            task.reason = Some(reason.to_string());
            write_json(&Local::task_path(dir, task.task), &task)?;
        }
    }
    Ok(())
}

/// Takes one of the global slots (blocking until one is free).
fn take_slot(spool: &Path, concurrency: usize) -> Result<Flock<File>, ExecutorError> {
    let slots = spool.join("slots");
    fs::create_dir_all(&slots).map_err(|e| spool_error(&slots, e))?;
    loop {
        for k in 0..concurrency.max(1) {
            let path = slots.join(format!("slot-{k}.lock"));
            let file = File::options().create(true).truncate(false).write(true).open(&path).map_err(|e| spool_error(&path, e))?;
            if let Ok(lock) = Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                return Ok(lock);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A task that could not even start is failed (with the reason), not left pending forever.
fn fail_to_start(path: &Path, mut task: TaskStatus, reason: &str) -> Result<(), ExecutorError> {
    tracing::error!(job.id = %task.job_id, "task {:?} cannot start: {reason}", task.task);
    task.state = TaskState::Failed;
    task.exit_code = Some(-1);
    task.reason = Some(reason.to_string());
    task.ended_at = Some(Utc::now().naive_utc().trunc_subsecs(0));
    write_json(path, &task)
}

fn run_task(spool: &Path, dir: &Path, spec: &JobSpec, mut task: TaskStatus, concurrency: usize) -> Result<(), ExecutorError> {
    let path = Local::task_path(dir, task.task);
    if let Some(pid) = task.node.as_deref().and_then(|n| n.strip_prefix("pid:")).and_then(|p| p.parse::<i32>().ok()) {
        // A previous supervisor died while this task ran: let that process end first.
        while alive(pid) {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let slot = take_slot(spool, concurrency)?;
    if dir.join("cancelled").exists() {
        return Ok(());
    }
    let open = |pattern: &str| -> Result<File, ExecutorError> {
        let file = spec.workdir.join(expand_pattern(pattern, &task.job_id, task.task));
        if let Some(parent) = file.parent() {
            fs::create_dir_all(parent).map_err(|e| spool_error(parent, e))?;
        }
        File::create(&file).map_err(|e| spool_error(&file, e))
    };
    let (stdout, stderr) = match (open(&spec.output), open(&spec.error)) {
        (Ok(out), Ok(err)) => (out, err),
        (Err(e), _) | (_, Err(e)) => return fail_to_start(&path, task, &e.to_string()),
    };
    let mut command = Command::new("bash");
    // Its own process group, so a timeout kills the task's children too.
    command.process_group(0);
    command.arg(&spec.script).current_dir(&spec.workdir).stdin(Stdio::null()).stdout(stdout).stderr(stderr);
    command.env("SLURM_JOB_NAME", &spec.name).env("OSA_EXECUTOR_JOB_ID", &task.job_id);
    match task.task {
        Some(n) => {
            command
                .env("SLURM_ARRAY_JOB_ID", &task.job_id)
                .env("SLURM_ARRAY_TASK_ID", n.to_string())
                .env("SLURM_JOB_ID", format!("{}_{n}", task.job_id));
        }
        None => {
            command.env("SLURM_JOB_ID", &task.job_id);
        }
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => return fail_to_start(&path, task, &format!("cannot start bash {}: {e}", spec.script.display())),
    };
    task.state = TaskState::Running;
    task.reason = None;
    task.node = Some(format!("pid:{}", child.id()));
    task.started_at = Some(Utc::now().naive_utc().trunc_subsecs(0));
    write_json(&path, &task)?;
    let started = std::time::Instant::now();
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| spool_error(&path, e))? {
            break status;
        }
        if spec.time_limit_seconds.is_some_and(|limit| started.elapsed().as_secs() >= limit) {
            // As SLURM: past its walltime the task is killed and ends TIMEOUT.
            timed_out = true;
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGKILL);
            let _ = child.kill();
            break child.wait().map_err(|e| spool_error(&path, e))?;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(slot);
    task.ended_at = Some(Utc::now().naive_utc().trunc_subsecs(0));
    task.node = Some("localhost".to_string());
    if dir.join("cancelled").exists() {
        task.state = TaskState::Cancelled;
        task.exit_code = status.code().map(i64::from);
    } else if timed_out {
        task.state = TaskState::Timeout;
        task.exit_code = Some(0);
    } else {
        task.exit_code = Some(status.code().map(i64::from).unwrap_or(-1));
        task.state = if status.success() { TaskState::Completed } else { TaskState::Failed };
    }
    write_json(&path, &task)
}
