//! The service unit passes `systemd-analyze verify` (with ExecStart pointed at the built
//! binary, since the test does not install it).

#[test]
fn the_service_unit_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let unit = std::fs::read_to_string("systemd/osa.service").unwrap();
    assert!(
        unit.contains("User=lstanalyzer")
            && unit.contains("Restart=on-failure")
            && unit.contains("Type=notify")
            && unit.contains("LogsDirectory=osa")
    );
    let unit = unit.replace("/usr/local/bin/osa", env!("CARGO_BIN_EXE_osa"));
    let path = dir.path().join("osa.service");
    std::fs::write(&path, unit).unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .expect("systemd-analyze is installed by scripts/install-deps.sh (package systemd)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The account may not exist on a test machine; everything else must be clean.
    let problems: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty() && !l.contains("lstanalyzer")).collect();
    assert!(out.status.success() || problems.is_empty(), "systemd-analyze verify: {stderr}");
    assert!(problems.is_empty(), "systemd-analyze verify: {stderr}");
}
