//! A poll cycle costs one `squeue` and one `sacct` call, whatever the number of jobs: counted
//! with PATH-style shims in front of the real commands, over 50 real (held) jobs.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use osa::executor::{Executor, TaskState};

#[test]
fn one_squeue_and_one_sacct_per_poll_over_50_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("calls.log");
    for name in ["squeue", "sacct", "sbatch", "scancel"] {
        let real = String::from_utf8(Command::new("which").arg(name).output().unwrap().stdout).unwrap();
        assert!(!real.trim().is_empty(), "{name} not found; {}", common::HOW_TO_START);
        let shim = dir.path().join(name);
        std::fs::write(&shim, format!("#!/bin/sh\necho {name} >> {}\nexec {} \"$@\"\n", log.display(), real.trim())).unwrap();
        std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut ids = Vec::new();
    for run in 0..50 {
        let out = Command::new("sbatch")
            .args([
                "--parsable",
                "-H",
                "--wrap=true",
                "-p",
                "short",
                "--mem-per-cpu=10M",
                "-o",
                "/dev/null",
                "-J",
                &format!("LST1_{:05}", 40000 + run),
            ])
            .arg(format!("--comment=osa:2033-01-01:{}:1", 40000 + run))
            .output()
            .unwrap();
        assert!(out.status.success(), "sbatch: {}", String::from_utf8_lossy(&out.stderr));
        ids.push(String::from_utf8(out.stdout).unwrap().trim().to_string());
    }
    let slurm = osa::executor::slurm::Slurm::new(Some(dir.path().to_path_buf()), std::time::Duration::from_secs(60));
    let snapshot = slurm.poll();
    Command::new("scancel").args(&ids).status().unwrap();
    let snapshot = snapshot.unwrap();
    let calls = std::fs::read_to_string(&log).unwrap();
    let count = |name: &str| calls.lines().filter(|l| *l == name).count();
    assert_eq!((count("squeue"), count("sacct")), (1, 1), "calls: {calls}");
    for id in &ids {
        let task = snapshot.tasks_of(id).next().unwrap_or_else(|| panic!("job {id} missing from the poll"));
        assert_eq!(task.state, TaskState::Pending);
    }
}

/// A SLURM command that hangs (a shim that sleeps) is killed after the configured timeout:
/// the poll's outcome is unknown (job states unknown this cycle), never a failure.
#[test]
fn a_hanging_squeue_is_killed_at_the_timeout_and_the_poll_is_unknown() {
    let dir = tempfile::tempdir().unwrap();
    for (name, body) in [("squeue", "exec sleep 300".to_string()), ("sacct", "exec sacct \"$@\"".to_string())] {
        let shim = dir.path().join(name);
        std::fs::write(&shim, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let slurm = osa::executor::slurm::Slurm::new(Some(dir.path().to_path_buf()), std::time::Duration::from_secs(2));
    let start = std::time::Instant::now();
    let err = slurm.poll().expect_err("squeue never answers");
    assert!(start.elapsed() < std::time::Duration::from_secs(20), "killed at the timeout, not waited for: {:?}", start.elapsed());
    assert!(matches!(err, osa::executor::ExecutorError::TimedOut { seconds: 2, .. }), "{err}");
    assert!(err.outcome_unknown(), "a timed-out call is unknown, never failed");
}
