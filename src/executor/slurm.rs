//! The SLURM executor: `sbatch --parsable` with the script file, and per poll exactly one
//! `squeue` (live states, pending reasons) and one `sacct` (final states, exit codes, CPU
//! time, max RSS) for every osa job of the user. States go through an explicit table; an
//! unknown state is an error, not a guess. If `sacct` has no accounting behind it, `squeue`
//! alone answers.

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use chrono::NaiveDateTime;
use wait_timeout::ChildExt;

use super::{Executor, ExecutorError, JobSpec, Snapshot, TaskState, TaskStatus};
use crate::model::ExecutorKind;

pub struct Slurm {
    /// Folder of sbatch/squeue/sacct/scancel; `None`: found on `PATH`.
    bin_dir: Option<PathBuf>,
    /// How far back `sacct` looks, in days: open nights are at most this old.
    sacct_days: u32,
    /// How long one command may take before it is killed and its outcome taken as unknown.
    timeout: std::time::Duration,
    /// Whose jobs a poll reads; `None`: the user running this process.
    user: Option<String>,
}

/// stderr fragments of a busy or unreachable controller: retry, but reconcile first.
const TRANSIENT: &[&str] = &[
    "Socket timed out",
    "Resource temporarily unavailable",
    "Unable to contact slurm controller",
    "Connection refused",
    "Slurm temporarily unable",
    "Zero Bytes were transmitted or received",
    "Transport endpoint is not connected",
];

pub const SQUEUE_FORMAT: &str = "%i|%F|%K|%j|%T|%r|%N|%k";
pub const SACCT_FIELDS: &str = "JobID,JobName,State,ExitCode,CPUTimeRAW,MaxRSS,NodeList,Start,End,Comment";

impl Slurm {
    pub fn new(bin_dir: Option<PathBuf>, timeout: std::time::Duration) -> Self {
        Self { bin_dir, sacct_days: 14, timeout, user: None }
    }

    /// Polls `user`'s jobs: the service account's, whoever runs the poll (a shifter's
    /// `osa status` sees the daemon's jobs).
    pub fn polling_user(mut self, user: Option<String>) -> Self {
        self.user = user;
        self
    }

    fn run(&self, program: &str, args: &[String]) -> Result<String, ExecutorError> {
        self.run_holding(program, args, None)
    }

    /// Runs a command; `held`: a locked file the child inherits, so the lock lasts as long as
    /// the child, whatever happens to this process.
    fn run_holding(&self, program: &str, args: &[String], held: Option<&std::fs::File>) -> Result<String, ExecutorError> {
        let command = format!("{program} {}", args.join(" "));
        let path = match &self.bin_dir {
            Some(dir) => dir.join(program),
            None => PathBuf::from(program),
        };
        let mut child = Command::new(path);
        child.args(args);
        if let Some(file) = held {
            use std::os::fd::AsRawFd;
            use std::os::unix::process::CommandExt;
            let fd = file.as_raw_fd();
            // SAFETY: between fork and exec only fcntl runs, which is async-signal-safe; it
            // clears close-on-exec so `sbatch` keeps the locked file open.
            unsafe {
                child.pre_exec(move || {
                    if nix::libc::fcntl(fd, nix::libc::F_SETFD, 0) == -1 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        child.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = child.spawn().map_err(|source| ExecutorError::Spawn { command: command.clone(), source })?;
        // Both pipes drained while waiting: a command writing much never blocks on them.
        let drain = |pipe: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_end(&mut bytes);
                }
                bytes
            })
        };
        let stdout = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
        let stderr = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
        let status = match child.wait_timeout(self.timeout) {
            Ok(Some(status)) => status,
            Ok(None) if held.is_some() => {
                // An `sbatch` is never killed: slurmctld may still register its job, and the
                // lock it holds until it ends is what keeps a resubmission from racing it. It
                // is left to finish (reaped by a thread of its own); its job, if any, is found
                // by its comment.
                std::thread::spawn(move || child.wait());
                return Err(ExecutorError::TimedOut { command, seconds: self.timeout.as_secs() });
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ExecutorError::TimedOut { command, seconds: self.timeout.as_secs() });
            }
            Err(source) => return Err(ExecutorError::Spawn { command, source }),
        };
        let stdout = stdout.join().unwrap_or_default();
        let stderr = String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned();
        if !status.success() {
            let transient = TRANSIENT.iter().any(|t| stderr.contains(t));
            return Err(ExecutorError::Failed { command, status: status.to_string(), stderr, transient });
        }
        Ok(String::from_utf8_lossy(&stdout).into_owned())
    }
}

/// The lock file of one submission: beside its job script (one per night, run and attempt).
fn submission_lock(spec: &JobSpec) -> PathBuf {
    let mut name = spec.script.as_os_str().to_owned();
    name.push(".submitting");
    PathBuf::from(name)
}

/// `sbatch` arguments for a spec (the script itself carries the `#SBATCH` resources).
pub fn sbatch_args(spec: &JobSpec) -> Vec<String> {
    let mut args = vec!["--parsable".to_string(), format!("--comment={}", spec.comment)];
    if !spec.after.is_empty() {
        args.push(format!("--dependency=afterok:{}", spec.after.join(":")));
    }
    args.push(spec.script.display().to_string());
    args
}

/// `sbatch --parsable` prints `jobid` or `jobid;cluster`.
pub fn parse_sbatch(stdout: &str) -> Option<String> {
    let id = stdout.trim().split(';').next()?.trim();
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).then(|| id.to_string())
}

/// The SLURM state table: every state word squeue `%T` and sacct print, and what it means
/// for osa. The one place SLURM's words are read: the parsers below map through it, and the
/// config's known-failure rules accept exactly the words of its failure rows.
pub const STATES: &[(&str, TaskState)] = &[
    ("PENDING", TaskState::Pending),
    ("REQUEUED", TaskState::Pending),
    ("REQUEUE_HOLD", TaskState::Pending),
    ("REQUEUE_FED", TaskState::Pending),
    ("RESV_DEL_HOLD", TaskState::Pending),
    ("CONFIGURING", TaskState::Pending),
    ("RUNNING", TaskState::Running),
    ("COMPLETING", TaskState::Running),
    ("STAGE_OUT", TaskState::Running),
    ("SIGNALING", TaskState::Running),
    ("RESIZING", TaskState::Running),
    ("SUSPENDED", TaskState::Running),
    ("STOPPED", TaskState::Running),
    ("COMPLETED", TaskState::Completed),
    ("FAILED", TaskState::Failed),
    ("SPECIAL_EXIT", TaskState::Failed),
    ("TIMEOUT", TaskState::Timeout),
    ("OUT_OF_MEMORY", TaskState::OutOfMemory),
    ("CANCELLED", TaskState::Cancelled),
    ("REVOKED", TaskState::Cancelled),
    ("NODE_FAIL", TaskState::NodeFail),
    ("PREEMPTED", TaskState::Preempted),
    ("BOOT_FAIL", TaskState::BootFail),
    ("DEADLINE", TaskState::Deadline),
];

/// A state word as squeue or sacct print it (sacct may append ` by <uid>` to CANCELLED).
pub fn map_state(text: &str) -> Option<TaskState> {
    let word = text.split_whitespace().next().unwrap_or("");
    STATES.iter().find(|(w, _)| *w == word).map(|(_, s)| *s)
}

/// SLURM's own name of a state: the first word of the table that maps to it (`None` for
/// osa's `Blocked`).
pub fn state_word(state: TaskState) -> Option<&'static str> {
    STATES.iter().find(|(_, s)| *s == state).map(|(w, _)| *w)
}

/// The words a known-failure rule may name: each failure state under its own SLURM name, so a
/// rule matches exactly the tasks stored with that state (aliases such as REVOKED would
/// silently match CANCELLED tasks and are refused).
pub fn failure_words() -> impl Iterator<Item = (&'static str, TaskState)> {
    STATES.iter().copied().filter(|(word, state)| state.is_failure() && state_word(*state) == Some(*word))
}

/// The failure state a known-failure rule's word names.
pub fn failure_state(word: &str) -> Option<TaskState> {
    failure_words().find(|(w, _)| *w == word).map(|(_, s)| s)
}

fn non_empty(text: &str) -> Option<String> {
    let t = text.trim();
    (!t.is_empty() && t != "(null)" && t != "N/A" && t != "None" && t != "Unknown").then(|| t.to_string())
}

/// Parses `squeue -h -r -o '%i|%F|%K|%j|%T|%r|%N|%k'`: one line per task; osa's jobs only.
pub fn parse_squeue(stdout: &str) -> Result<Vec<TaskStatus>, ExecutorError> {
    let mut tasks = Vec::new();
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.splitn(8, '|').collect();
        if f.len() != 8 {
            return Err(ExecutorError::UnexpectedOutput { command: "squeue".to_string(), text: line.to_string() });
        }
        let comment = f[7].trim();
        if !comment.starts_with("osa:") {
            continue;
        }
        // (Foreign jobs are skipped before their state is read.)
        let state = map_state(f[4]).ok_or_else(|| ExecutorError::UnknownState {
            command: "squeue".to_string(),
            state: f[4].to_string(),
            line: line.to_string(),
        })?;
        let task = f[2].trim().parse::<u32>().ok();
        let job_id = if task.is_some() { f[1].trim() } else { f[0].trim() };
        tasks.push(TaskStatus {
            job_id: job_id.to_string(),
            task,
            name: f[3].to_string(),
            comment: comment.to_string(),
            state,
            reason: non_empty(f[5]).filter(|r| r != "None"),
            exit_code: None,
            cpu_seconds: None,
            max_rss_kb: None,
            node: non_empty(f[6]),
            started_at: None,
            ended_at: None,
        });
    }
    Ok(tasks)
}

/// `2.41G`, `512K`, `1024` (bytes? sacct prints K by default) to KiB.
fn parse_rss_kb(text: &str) -> Option<i64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    let (number, unit) = t.split_at(t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len()));
    let value: f64 = number.parse().ok()?;
    let factor = match unit {
        "" | "K" => 1.0,
        "M" => 1024.0,
        "G" => 1024.0 * 1024.0,
        "T" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some((value * factor).round() as i64)
}

fn parse_time(text: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%dT%H:%M:%S").ok()
}

/// Parses `sacct -n -P --delimiter='|' -o JobID,JobName,State,ExitCode,CPUTimeRAW,MaxRSS,NodeList,Start,End,Comment`.
/// Step lines (`123_4.batch`, `.extern`, `.0`) only contribute their MaxRSS to their task;
/// pending array ranges (`123_[4-7]`) expand to one pending task each.
pub fn parse_sacct(stdout: &str) -> Result<Vec<TaskStatus>, ExecutorError> {
    let mut tasks: Vec<TaskStatus> = Vec::new();
    let mut index: HashMap<(String, Option<u32>), usize> = HashMap::new();
    let mut step_rss: HashMap<(String, Option<u32>), i64> = HashMap::new();
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.splitn(10, '|').collect();
        if f.len() != 10 {
            return Err(ExecutorError::UnexpectedOutput { command: "sacct".to_string(), text: line.to_string() });
        }
        let (id, step) = match f[0].split_once('.') {
            Some((id, step)) => (id, Some(step)),
            None => (f[0], None),
        };
        let (job_id, tasks_of_line): (&str, Vec<Option<u32>>) = match id.split_once('_') {
            Some((job, task)) => match task.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
                Some(range) => (job, super::parse_array_spec(range).into_iter().map(Some).collect()),
                None => (job, vec![task.parse::<u32>().ok()]),
            },
            None => (id, vec![None]),
        };
        if step.is_some() {
            if let Some(rss) = parse_rss_kb(f[5]) {
                let entry = step_rss.entry((job_id.to_string(), tasks_of_line[0])).or_insert(0);
                *entry = (*entry).max(rss);
            }
            continue;
        }
        let Some(state) = map_state(f[2]) else {
            if f[9].trim().starts_with("osa:") {
                return Err(ExecutorError::UnknownState { command: "sacct".to_string(), state: f[2].to_string(), line: line.to_string() });
            }
            // Someone else's job in a state we do not know: not ours to judge.
            continue;
        };
        let exit_code = f[3].split(':').next().and_then(|c| c.parse::<i64>().ok());
        for task in tasks_of_line {
            let status = TaskStatus {
                job_id: job_id.to_string(),
                task,
                name: f[1].to_string(),
                comment: f[9].trim().to_string(),
                state,
                reason: None,
                exit_code: if state.is_finished() { exit_code } else { None },
                cpu_seconds: f[4].trim().parse().ok(),
                max_rss_kb: parse_rss_kb(f[5]),
                node: non_empty(f[6]).filter(|n| n != "None assigned"),
                started_at: parse_time(f[7]),
                ended_at: parse_time(f[8]),
            };
            let key = (status.job_id.clone(), task);
            match index.get(&key) {
                Some(&i) => tasks[i] = status,
                None => {
                    index.insert(key, tasks.len());
                    tasks.push(status);
                }
            }
        }
    }
    for (key, rss) in step_rss {
        if let Some(&i) = index.get(&key) {
            let current = tasks[i].max_rss_kb.unwrap_or(0);
            tasks[i].max_rss_kb = Some(current.max(rss));
        }
    }
    // sacct leaves the comment empty on some lines of an array (running tasks): a job is
    // osa's if any of its lines carries an osa key, and all its tasks get that key.
    let mut keys: HashMap<String, String> = HashMap::new();
    for t in tasks.iter().filter(|t| t.comment.starts_with("osa:")) {
        keys.entry(t.job_id.clone()).or_insert_with(|| t.comment.clone());
    }
    tasks.retain_mut(|t| match keys.get(&t.job_id) {
        Some(key) => {
            t.comment = key.clone();
            true
        }
        None => false,
    });
    Ok(tasks)
}

/// One picture from both sources: squeue is live (pending reasons, running), sacct is final
/// (states of finished tasks, exit codes, CPU time, RSS).
pub fn merge(squeue: Vec<TaskStatus>, sacct: Vec<TaskStatus>) -> Snapshot {
    let mut by_key: HashMap<(String, Option<u32>), TaskStatus> = HashMap::new();
    let mut order = Vec::new();
    for status in sacct {
        let key = (status.job_id.clone(), status.task);
        order.push(key.clone());
        by_key.insert(key, status);
    }
    for live in squeue {
        let key = (live.job_id.clone(), live.task);
        match by_key.get_mut(&key) {
            Some(known) if !known.state.is_finished() => {
                known.state = live.state;
                known.reason = live.reason;
                known.node = live.node.or(known.node.take());
            }
            Some(_) => {}
            None => {
                order.push(key.clone());
                by_key.insert(key, live);
            }
        }
    }
    order.dedup();
    let mut seen = std::collections::HashSet::new();
    Snapshot { tasks: order.into_iter().filter(|k| seen.insert(k.clone())).filter_map(|k| by_key.remove(&k)).collect() }
}

impl Executor for Slurm {
    fn kind(&self) -> ExecutorKind {
        ExecutorKind::Slurm
    }

    /// Submits while holding the submission's lock file, which `sbatch` inherits: if this
    /// process dies, the lock stays taken until `sbatch` itself has ended, and
    /// [`Executor::submission_in_flight`] says so to the process that takes over.
    fn submit(&self, spec: &JobSpec) -> Result<String, ExecutorError> {
        let path = submission_lock(spec);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| ExecutorError::Lock { path: path.clone(), source })?;
        let lock = match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
            Ok(lock) => lock,
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => return Err(ExecutorError::InFlight { comment: spec.comment.clone(), lock: path }),
            Err((_, errno)) => return Err(ExecutorError::Lock { path, source: errno.into() }),
        };
        let stdout = self.run_holding("sbatch", &sbatch_args(spec), Some(&lock))?;
        parse_sbatch(&stdout).ok_or(ExecutorError::UnexpectedOutput { command: "sbatch --parsable".to_string(), text: stdout })
    }

    fn submission_in_flight(&self, spec: &JobSpec) -> bool {
        let Ok(file) = std::fs::File::open(submission_lock(spec)) else { return false };
        matches!(nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockSharedNonblock), Err((_, nix::errno::Errno::EWOULDBLOCK)))
    }

    fn poll(&self) -> Result<Snapshot, ExecutorError> {
        let user = self.user.clone().unwrap_or_else(crate::account::user_name);
        let squeue = self.run("squeue", &["-h".into(), "-r".into(), "-u".into(), user.clone(), "-o".into(), SQUEUE_FORMAT.into()])?;
        let live = parse_squeue(&squeue)?;
        let since = format!("now-{}days", self.sacct_days);
        let sacct_args: Vec<String> =
            ["-n", "-P", "--delimiter=|", "-u", &user, "-S", &since, "-o", SACCT_FIELDS].iter().map(|s| s.to_string()).collect();
        let finished = match self.run("sacct", &sacct_args) {
            Ok(out) => parse_sacct(&out)?,
            Err(e) => {
                // Without accounting, squeue is the only live source: finished tasks vanish
                // from it and read as unknown, never as failed.
                tracing::warn!("sacct unavailable, using squeue only: {e}");
                Vec::new()
            }
        };
        Ok(merge(live, finished))
    }

    fn cancel(&self, job_id: &str) -> Result<(), ExecutorError> {
        self.run("scancel", &[job_id.to_string()]).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sbatch_prints_an_id_optionally_with_a_cluster() {
        assert_eq!(parse_sbatch("4801\n").as_deref(), Some("4801"));
        assert_eq!(parse_sbatch("4801;osa\n").as_deref(), Some("4801"));
        assert_eq!(parse_sbatch("Submitted batch job 4801"), None);
        assert_eq!(parse_sbatch(""), None);
    }

    #[test]
    fn squeue_lines_become_tasks_and_foreign_jobs_are_ignored() {
        let out = "\
12_0|12|0|LST1_12003|RUNNING|None|localhost|osa:2026-01-05:12003:1
12_1|12|1|LST1_12003|PENDING|Resources||osa:2026-01-05:12003:1
13_2|13|2|LST1_12004|PENDING|DependencyNeverSatisfied||osa:2026-01-05:12004:1
11|11|N/A|LST1_12002|COMPLETING|None|localhost|osa:2026-01-05:12002:1
99|99|N/A|someone|RUNNING|None|localhost|(null)
";
        let tasks = parse_squeue(out).unwrap();
        assert_eq!(tasks.len(), 4);
        assert_eq!((tasks[0].job_id.as_str(), tasks[0].task, tasks[0].state), ("12", Some(0), TaskState::Running));
        assert_eq!(tasks[1].reason.as_deref(), Some("Resources"));
        assert_eq!(tasks[2].reason.as_deref(), Some("DependencyNeverSatisfied"));
        assert_eq!((tasks[3].job_id.as_str(), tasks[3].task, tasks[3].state), ("11", None, TaskState::Running));
        assert!(parse_squeue("12_0|12|0|x|BOGUS|None||osa:2026-01-05:1:1\n").is_err(), "unknown states are errors");
        assert!(parse_squeue("garbage\n").is_err());
    }

    #[test]
    fn sacct_merges_steps_and_expands_pending_ranges() {
        let out = "\
12_0|LST1_12003|COMPLETED|0:0|31|||2026-01-05T21:00:00|2026-01-05T21:00:31|osa:2026-01-05:12003:1
12_0.batch|batch|COMPLETED|0:0|31|2.41G|localhost|2026-01-05T21:00:00|2026-01-05T21:00:31|
12_1|LST1_12003|FAILED|3:0|2||localhost|2026-01-05T21:00:00|2026-01-05T21:00:02|osa:2026-01-05:12003:1
12_1.batch|batch|FAILED|3:0|2|1024K|localhost|2026-01-05T21:00:00|2026-01-05T21:00:02|
12_[2-3]|LST1_12003|PENDING|0:0|0||None assigned|Unknown|Unknown|
14|LST1_12002|CANCELLED by 0|0:0|0||None assigned|Unknown|2026-01-05T21:00:02|osa:2026-01-05:12002:1
15|other|COMPLETED|0:0|0||localhost|Unknown|Unknown|
";
        let tasks = parse_sacct(out).unwrap();
        let summary: Vec<_> = tasks.iter().map(|t| (t.job_id.as_str(), t.task, t.state, t.exit_code)).collect();
        assert_eq!(
            summary,
            [
                ("12", Some(0), TaskState::Completed, Some(0)),
                ("12", Some(1), TaskState::Failed, Some(3)),
                ("12", Some(2), TaskState::Pending, None),
                ("12", Some(3), TaskState::Pending, None),
                ("14", None, TaskState::Cancelled, Some(0)),
            ]
        );
        assert_eq!(tasks[0].max_rss_kb, Some(2_527_068));
        assert_eq!(tasks[1].max_rss_kb, Some(1024));
        assert_eq!(tasks[0].cpu_seconds, Some(31));
        assert_eq!(tasks[0].node.as_deref(), None, "the task line had no node; the batch step's is not copied");
        assert_eq!(tasks[1].started_at.unwrap().to_string(), "2026-01-05 21:00:00");
    }

    #[test]
    fn squeue_wins_for_live_tasks_and_sacct_for_finished_ones() {
        let live = parse_squeue("12_2|12|2|LST1_12003|RUNNING|None|localhost|osa:2026-01-05:12003:1\n").unwrap();
        let done = parse_sacct(
            "12_1|LST1_12003|COMPLETED|0:0|5||localhost|2026-01-05T21:00:00|2026-01-05T21:00:05|osa:2026-01-05:12003:1\n\
             12_2|LST1_12003|PENDING|0:0|0||None assigned|Unknown|Unknown|osa:2026-01-05:12003:1\n",
        )
        .unwrap();
        let snapshot = merge(live, done);
        let states: Vec<_> = snapshot.tasks.iter().map(|t| (t.task, t.state)).collect();
        assert_eq!(states, [(Some(1), TaskState::Completed), (Some(2), TaskState::Running)]);
        assert_eq!(snapshot.job_with_comment("osa:2026-01-05:12003:1"), Some("12"));
    }

    #[test]
    fn every_state_of_the_table_maps() {
        assert_eq!(map_state("CANCELLED by 1234"), Some(TaskState::Cancelled));
        assert_eq!(map_state("OUT_OF_MEMORY"), Some(TaskState::OutOfMemory));
        assert_eq!(map_state("TIMEOUT"), Some(TaskState::Timeout));
        assert_eq!(map_state("COMPLETING"), Some(TaskState::Running));
        assert_eq!(map_state("WHATEVER"), None);
    }

    #[test]
    fn the_dependency_and_comment_are_sbatch_arguments() {
        let spec = JobSpec {
            name: "LST1_12003".to_string(),
            comment: "osa:2026-01-05:12003:1".to_string(),
            script: "/d/log/sequence_LST1_12003.sh".into(),
            workdir: "/d".into(),
            array: Some(vec![0, 1, 2, 3]),
            time_limit_seconds: None,
            after: vec!["11".to_string()],
            output: "log/x".to_string(),
            error: "log/y".to_string(),
        };
        assert_eq!(
            sbatch_args(&spec),
            ["--parsable", "--comment=osa:2026-01-05:12003:1", "--dependency=afterok:11", "/d/log/sequence_LST1_12003.sh"]
        );
    }
}
