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

/// The package a program comes from and its version (`lstchain 0.12.3`), for provenance: a
/// Python console script names its interpreter on its first line, and the package that
/// declares the script among its entry points is in that interpreter's environment. `None`
/// for anything else (a compiled program, a script no installed package declares).
pub fn package_version(program: &Path) -> Option<String> {
    let program = std::fs::canonicalize(program).ok()?;
    let name = program.file_name()?.to_str()?.to_string();
    let mut head = [0u8; 512];
    let read = std::fs::File::open(&program).and_then(|mut f| f.read(&mut head)).ok()?;
    let first = std::str::from_utf8(&head[..read]).ok()?.lines().next()?;
    let interpreter = Path::new(first.strip_prefix("#!")?.split_whitespace().next()?);
    let environment = interpreter.parent()?.parent()?;
    for lib in std::fs::read_dir(environment.join("lib")).ok()?.flatten() {
        for entry in std::fs::read_dir(lib.path().join("site-packages")).into_iter().flatten().flatten() {
            let dist = entry.path();
            if dist.extension().is_none_or(|e| e != "dist-info") || !declares_script(&dist.join("entry_points.txt"), &name) {
                continue;
            }
            let metadata = std::fs::read_to_string(dist.join("METADATA")).ok()?;
            let field = |key: &str| metadata.lines().find_map(|l| l.strip_prefix(key)).map(str::trim);
            return Some(format!("{} {}", field("Name:")?, field("Version:")?));
        }
    }
    None
}

/// Whether an `entry_points.txt` lists `name` under `[console_scripts]`.
fn declares_script(entry_points: &Path, name: &str) -> bool {
    let Ok(text) = std::fs::read_to_string(entry_points) else { return false };
    let mut in_scripts = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_scripts = line == "[console_scripts]";
        } else if in_scripts && line.split('=').next().is_some_and(|k| k.trim() == name) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_console_script_is_traced_to_its_package_and_version() {
        let dir = tempfile::tempdir().unwrap();
        let env = dir.path().join("env");
        let site = env.join("lib/python3.11/site-packages");
        std::fs::create_dir_all(env.join("bin")).unwrap();
        for (package, version, script) in [("lstchain", "0.12.3", "lstchain_dl1ab"), ("ctapipe", "0.25.1", "ctapipe-info")] {
            let dist = site.join(format!("{package}-{version}.dist-info"));
            std::fs::create_dir_all(&dist).unwrap();
            std::fs::write(dist.join("METADATA"), format!("Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n\nlstchain_dl1ab\n")).unwrap();
            std::fs::write(
                dist.join("entry_points.txt"),
                format!("[gui_scripts]\nlstchain_dl1ab = x:y\n\n[console_scripts]\n{script} = {package}.cli:main\n"),
            )
            .unwrap();
        }
        let script = env.join("bin/lstchain_dl1ab");
        std::fs::write(&script, format!("#!{}/bin/python3.11\nimport sys\n", env.display())).unwrap();
        // Through a link, as a configured bin_dir holds it.
        let link = dir.path().join("lstchain_dl1ab");
        std::os::unix::fs::symlink(&script, &link).unwrap();
        assert_eq!(package_version(&link).as_deref(), Some("lstchain 0.12.3"));

        let undeclared = env.join("bin/other_tool");
        std::fs::write(&undeclared, format!("#!{}/bin/python3.11\n", env.display())).unwrap();
        assert_eq!(package_version(&undeclared), None);
        let compiled = dir.path().join("compiled");
        std::fs::write(&compiled, b"\x7fELF\x02\x01\x01\0").unwrap();
        assert_eq!(package_version(&compiled), None);
    }
}
