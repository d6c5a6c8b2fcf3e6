//! The shipped config and old config files load; the config lookup order holds.

use std::path::{Path, PathBuf};

use osa::config::{Config, ConfigSource};

#[test]
fn shipped_config_is_valid_and_documents_the_defaults() {
    let config = Config::from_file(Path::new("cfg/osa.toml")).unwrap();
    assert_eq!(config.problems(), Vec::new());
    let mut expected = Config::default();
    expected.config_dir = Some(PathBuf::from("cfg"));
    assert_eq!(config, expected, "cfg/osa.toml shows the built-in defaults");
    // Installed next to /etc/osa, a relative extra folder would point outside the data root.
    assert!(config.summary_dirs().iter().all(|d| d.starts_with(&config.paths.data_root)), "{:?}", config.summary_dirs());
}

#[test]
fn config_of_release_0_1_still_loads() {
    let config = Config::load(&ConfigSource::Flag(PathBuf::from("fixtures/config/osa-0.1.toml"))).unwrap();
    assert_eq!(config.slurm.data.partition, "long");
    assert_eq!(config.slurm.calibration, Config::default().slurm.calibration);
    assert_eq!(config.analysis.data_steps, Config::default().analysis.data_steps);
}

#[test]
fn explicit_config_wins_and_missing_files_are_named() {
    let source = osa::config::locate(Some(Path::new("/nonexistent/osa.toml")));
    assert_eq!(source, ConfigSource::Flag(PathBuf::from("/nonexistent/osa.toml")));
    let err = Config::load(&source).unwrap_err().to_string();
    assert!(err.contains("/nonexistent/osa.toml"), "{err}");
}

/// A rule file with one known-failure rule naming `word`.
fn rule_file(dir: &Path, word: &str) -> PathBuf {
    let file = dir.join(format!("{word}.toml"));
    std::fs::write(&file, format!("[[retries.known_failures]]\nname = \"rule\"\nslurm_state = \"{word}\"\naction = \"needs_human\"\n")).unwrap();
    file
}

/// Regression (issue 11): PREEMPTED, BOOT_FAIL and DEADLINE were accepted by the config but
/// mapped to other states before anything was stored, so their rules never matched. The
/// executor's state table now drives both: every word the config accepts names the state the
/// SLURM parser stores for it, and a rule on it matches such a task.
#[test]
fn every_slurm_state_a_rule_may_name_matches_a_task_stored_in_it() {
    use osa::closer::failures::{Decision, FailedTask, decide};
    use osa::executor::slurm::{failure_words, map_state};
    let dir = tempfile::tempdir().unwrap();
    let words: Vec<&str> = failure_words().map(|(w, _)| w).collect();
    for expected in ["FAILED", "TIMEOUT", "OUT_OF_MEMORY", "CANCELLED", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE"] {
        assert!(words.contains(&expected), "{expected} missing from {words:?}");
    }
    for word in words {
        let config = Config::from_file(&rule_file(dir.path(), word)).unwrap_or_else(|e| panic!("{word}: {e}"));
        let rule = &config.retries.known_failures[0];
        let stored = map_state(word).expect("the parser knows every word of its table");
        assert_eq!(rule.slurm_state, Some(stored), "{word}");
        let task = FailedTask { subrun: 3, state: Some(stored), exit_code: Some(1), log_tail: String::new() };
        match decide(&config.retries, &[task], 1, "01:00:00", Some(7)) {
            Decision::Veto { reason } => assert!(reason.contains("known failure `rule`"), "{word}: {reason}"),
            other => panic!("{word}: {other:?}"),
        }
        assert!(config.to_toml().contains(&format!("slurm_state = \"{word}\"")), "{word} written back as SLURM spells it");
    }
}

#[test]
fn a_rule_on_a_state_no_task_is_stored_in_is_refused_with_the_accepted_words() {
    let dir = tempfile::tempdir().unwrap();
    for word in ["OOM", "REVOKED", "COMPLETED", "RUNNING"] {
        let err = Config::from_file(&rule_file(dir.path(), word)).unwrap_err().to_string();
        assert!(err.contains(word) && err.contains("PREEMPTED") && err.contains("slurm_state"), "{word}: {err}");
    }
}

/// Regression (issue 12): a newline in `slurm.account` or `slurm.extra_sbatch_args` passed
/// `osa config check` and became a command of its own in every job script.
#[test]
fn values_written_into_job_scripts_cannot_carry_commands() {
    let dir = tempfile::tempdir().unwrap();
    for (text, key) in [
        ("[slurm]\naccount = \"dpps\\ntouch /tmp/osa-pwned\"\n", "slurm.account"),
        ("[slurm]\nextra_sbatch_args = [\"--qos=normal\\ntouch /tmp/osa-pwned\"]\n", "slurm.extra_sbatch_args[0]"),
        ("[slurm]\nextra_sbatch_args = [\"--qos normal\"]\n", "slurm.extra_sbatch_args[0]"),
        ("[slurm.data]\npartition = \"short\\rlong\"\n", "slurm.data.partition"),
    ] {
        let file = dir.path().join("osa.toml");
        std::fs::write(&file, text).unwrap();
        let err = Config::load(&ConfigSource::Flag(file)).unwrap_err().to_string();
        assert!(err.contains(key), "{key}: {err}");
    }
}

/// The closing stages are data, checked like the steps: every problem named by its key.
#[test]
fn closing_stages_and_their_switches_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let stage = |extra: &str| format!("[[closer.stages]]\nname = \"merge_dl1\"\nprogram = \"lstchain_merge_hdf5_files\"\n{extra}\n");
    for (text, key, words) in [
        (stage("after = [\"dl2\"]"), "closer.stages[0].after[0]", "not a stage listed before"),
        (stage("args = [\"{no_such}\"]"), "closer.stages[0].args[0]", "unknown placeholder {no_such}"),
        (stage("mem_per_cpu = \"lots\""), "closer.stages[0].mem_per_cpu", "not a SLURM memory size"),
        (stage("time = \"soon\""), "closer.stages[0].time", "not a SLURM time"),
        ("[[closer.stages]]\nname = \"Merge DL1\"\nprogram = \"x\"\n".to_string(), "closer.stages[0].name", "stage name"),
        ("[[closer.stages]]\nname = \"dl1ab\"\nprogram = \"x\"\n".to_string(), "closer.stages[0].name", "also an analysis step"),
        ("[[closer.stages]]\nname = \"sequence\"\nprogram = \"x\"\n".to_string(), "closer.stages[0].name", "runs' own jobs"),
        (
            "[[closer.stages]]\nname = \"a\"\nscope = \"night\"\nprogram = \"x\"\n[[closer.stages]]\nname = \"b\"\nafter = [\"a\"]\nprogram = \"x\"\n".to_string(),
            "closer.stages[1].after[0]",
            "cannot wait for the night stage",
        ),
        ("[closer]\ndl2 = \"no\"\n".to_string(), "line 2", "expected a boolean"),
        // Pre-stages: named apart from the closing stages, before an existing later step, per run.
        (
            "[[analysis.pre_stages]]\nname = \"merge_dl1\"\nprogram = \"x\"\n".to_string(),
            "closer.stages[0].name",
            "\"merge_dl1\" is used by two stages",
        ),
        (
            "[analysis]\npre_stages_before = \"dl1b\"\n[[analysis.pre_stages]]\nname = \"find_tailcuts\"\nprogram = \"x\"\n".to_string(),
            "analysis.pre_stages_before",
            "not a name of analysis.data_steps",
        ),
        (
            "[analysis]\npre_stages_before = \"r0_to_dl1\"\n[[analysis.pre_stages]]\nname = \"find_tailcuts\"\nprogram = \"x\"\n".to_string(),
            "analysis.pre_stages_before",
            "the first data step",
        ),
        (
            "[[analysis.pre_stages]]\nname = \"find_tailcuts\"\nscope = \"night\"\nprogram = \"x\"\n".to_string(),
            "analysis.pre_stages[0].scope",
            "belongs to one run",
        ),
        (
            "[[analysis.pre_stages]]\nname = \"find_tailcuts\"\nprogram = \"x\"\nargs = [\"{dl2_dir}\", \"{tailcuts_file}\"]\n".to_string(),
            "analysis.pre_stages[0].args[0]",
            "unknown placeholder {dl2_dir}",
        ),
    ] {
        let file = dir.path().join("osa.toml");
        std::fs::write(&file, &text).unwrap();
        let err = Config::load(&ConfigSource::Flag(file)).unwrap_err().to_string();
        assert!(err.contains(key) && err.contains(words), "{key} / {words}: {err}");
    }
    // The switches turn whole kinds of stages off.
    let file = dir.path().join("osa.toml");
    std::fs::write(&file, "[closer]\ndl2 = false\ndatacheck = false\n").unwrap();
    let config = Config::load(&ConfigSource::Flag(file)).unwrap();
    let active: Vec<&str> = config.closer.active_stages().map(|s| s.name.as_str()).collect();
    assert_eq!(active, ["merge_dl1", "merge_muons"]);
}
