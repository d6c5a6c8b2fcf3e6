//! The shipped config and old config files load; the config lookup order holds.

use std::path::{Path, PathBuf};

use osa::config::{Config, ConfigSource};

#[test]
fn shipped_config_is_valid_and_documents_the_defaults() {
    let config = Config::from_file(Path::new("cfg/osa.toml")).unwrap();
    assert_eq!(config.problems(), Vec::new());
    let mut expected = Config::default();
    expected.watch.extra_dirs = vec![PathBuf::from("../night_summaries")];
    expected.config_dir = Some(PathBuf::from("cfg"));
    assert_eq!(config, expected, "cfg/osa.toml shows the built-in defaults (plus the repo's night_summaries/)");
    assert!(config.summary_dirs().contains(&PathBuf::from("cfg/../night_summaries")));
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
