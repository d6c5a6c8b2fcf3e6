//! The real lstchain of the tests (pinned by `scripts/lstchain-env.sh`, installed by
//! `scripts/setup.sh`): its programs, its Python for lstchain's own readers, and RF models it
//! trained on the simulator's MC files.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The real lstchain's programs: `$OSA_LSTCHAIN_BIN`, else the environment the set-up makes.
pub fn lstchain_bin() -> PathBuf {
    let bin = std::env::var_os("OSA_LSTCHAIN_BIN").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/opt/osa/lstchain-env/bin"));
    assert!(bin.join("lstchain_dl1ab").is_file(), "no real lstchain in {}: run `bash scripts/lstchain-env.sh`", bin.display());
    bin
}

/// Runs a program (the environment's start-up hook keeps astropy off the network); its
/// output, stdout then stderr. A failure fails the test with that output.
pub fn run(program: &Path, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{} {args:?} failed:\n{text}", program.display());
    text
}

/// A simulator program (or `mc-training`), as `lstchain-sim <program> ARGS`.
pub fn simulator(program: &str, args: &[&str]) {
    let sim = Path::new(env!("CARGO_BIN_EXE_lstchain-sim"));
    let mut all = vec![program];
    all.extend_from_slice(args);
    run(sim, &all);
}

/// Python from the lstchain environment, for lstchain's own readers: what it prints.
pub fn python(code: &str) -> String {
    let out = Command::new(lstchain_bin().join("python")).args(["-c", code]).output().unwrap();
    assert!(out.status.success(), "python {code:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// lstchain's standard configuration file (what production's configs start from).
pub fn standard_config() -> String {
    python("import lstchain, os; print(os.path.join(os.path.dirname(lstchain.__file__), 'data', 'lstchain_standard_config.json'))")
}

/// RF models trained by the real `lstchain_mc_trainpipe` on the simulator's MC DL1 files
/// (300 gammas and 300 protons: about 15 s), kept in the target folder between test runs.
pub fn rf_models() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let cache = tmp.join("rf-models-lstchain-0.12.3-v1");
    if osa::demo::RF_MODEL_FILES.iter().all(|f| cache.join(f).is_file()) {
        return cache;
    }
    std::fs::create_dir_all(tmp).unwrap();
    let staging = tempfile::Builder::new().prefix("rf-models-").tempdir_in(tmp).unwrap();
    let mut files = Vec::new();
    for particle in ["gamma", "proton"] {
        let file = staging.path().join(format!("dl1_{particle}.h5")).display().to_string();
        simulator("mc-training", &["--particle", particle, "--events", "300", "--output", &file]);
        files.push(file);
    }
    let models = staging.path().join("models");
    run(&lstchain_bin().join("lstchain_mc_trainpipe"), &["--fg", &files[0], "--fp", &files[1], "-o", &models.display().to_string()]);
    for file in osa::demo::RF_MODEL_FILES {
        assert!(models.join(file).is_file(), "lstchain_mc_trainpipe made no {file} in {}", models.display());
    }
    // Another test may have trained them meanwhile: then its copy stays.
    let _ = std::fs::rename(&models, &cache);
    cache
}
