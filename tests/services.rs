//! The real services the suite relies on answer. These never skip: a machine without them
//! fails here, loudly, with the command that fixes it.

use std::process::Command;

const HOW: &str = "run `sudo scripts/setup.sh` (installs packages, starts MariaDB, munge, slurmdbd, slurmctld, slurmd)";

fn run(program: &str, args: &[&str]) -> (bool, String) {
    match Command::new(program).args(args).output() {
        Ok(out) => (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))),
        Err(e) => (false, format!("cannot run {program}: {e}")),
    }
}

#[test]
fn slurm_answers_with_a_usable_node() {
    let (ok, out) = run("sinfo", &["-h", "-o", "%P %T"]);
    assert!(ok, "SLURM does not answer (sinfo): {out}\n{HOW}");
    assert!(
        out.lines().any(|l| l.starts_with("short") && ["idle", "mixed", "allocated", "completing"].iter().any(|s| l.contains(s))),
        "partition `short` has no usable node:\n{out}\n{HOW}"
    );
}

#[test]
fn slurm_accounting_answers() {
    let (ok, out) = run("sacct", &["-n", "-X", "-S", "now-1hours", "-o", "JobID"]);
    assert!(ok, "sacct (slurmdbd accounting) does not answer: {out}\n{HOW}");
}

#[test]
fn mariadb_answers() {
    let url = std::env::var("OSA_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_string());
    let host_port = url.trim_start_matches("mysql://").rsplit('@').next().unwrap_or("127.0.0.1:3306");
    let host_port = host_port.split('/').next().unwrap_or(host_port);
    let (host, port) = host_port.split_once(':').unwrap_or((host_port, "3306"));
    let (ok, out) = run("mysqladmin", &["--protocol=tcp", "-h", host, "-P", port, "-uroot", "ping"]);
    assert!(ok, "MariaDB at {url} does not answer: {out}\n{HOW}");
}
