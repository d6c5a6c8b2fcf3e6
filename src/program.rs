//! Running an analysis program (a step of a task, the closer's merge): resolved against the
//! configured `bin_dir`, its output passed through and its last lines kept for the history,
//! the logs and the known-failure rules.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

/// Lines of a program's output kept for the history, the logs and the database.
pub const TAIL_LINES: usize = 40;

/// Runs a program, passing its output through to ours (all of it to our stderr when
/// `quiet_stdout`, so a command's own stdout stays clean for JSON) and keeping the last lines.
pub fn run_program(program: &Path, args: &[String], workdir: &Path, quiet_stdout: bool) -> (i32, String) {
    let child = Command::new(program).args(args).current_dir(workdir).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => return (127, format!("cannot start {}: {e}", program.display())),
    };
    let tail = Arc::new(Mutex::new(VecDeque::new()));
    let pump = |stream: Box<dyn Read + Send>, to_stderr: bool| {
        let tail = tail.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stream);
            let mut raw = Vec::new();
            // Byte lines, decoded lossily: one non-UTF-8 byte must not stop the pipe (the
            // program would then die of SIGPIPE).
            while reader.read_until(b'\n', &mut raw).is_ok_and(|n| n > 0) {
                let line = String::from_utf8_lossy(&raw).trim_end_matches(['\n', '\r']).to_string();
                raw.clear();
                if to_stderr {
                    let _ = writeln!(std::io::stderr(), "{line}");
                } else {
                    let _ = writeln!(std::io::stdout(), "{line}");
                }
                let mut tail = tail.lock().unwrap_or_else(|p| p.into_inner());
                if tail.len() == TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        })
    };
    let out = pump(Box::new(child.stdout.take().expect("piped")), quiet_stdout);
    let err = pump(Box::new(child.stderr.take().expect("piped")), true);
    let status = child.wait();
    let _ = (out.join(), err.join());
    let code = match status {
        Ok(status) => status.code().unwrap_or_else(|| 128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0)),
        Err(_) => 1,
    };
    let tail = tail.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect::<Vec<_>>().join("\n");
    (code, tail)
}

/// The program of a step: a bare name is looked up in `bin_dir` first, then on `PATH`.
pub fn resolve_program(program: &str, bin_dir: Option<&Path>) -> PathBuf {
    if program.contains('/') {
        return PathBuf::from(program);
    }
    match bin_dir.map(|d| d.join(program)).filter(|p| p.exists()) {
        Some(path) => path,
        None => PathBuf::from(program),
    }
}
