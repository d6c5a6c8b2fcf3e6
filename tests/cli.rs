//! The `osa` binary as scripts and operators use it: outputs, JSON contract, exit codes.

use std::path::Path;
use std::process::{Command, Output};

fn osa(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_osa"))
        .args(args)
        .env_remove("OSA_CONFIG")
        .env_remove("OSA_DATA_ROOT")
        .env_remove("OSA_DATABASE_URL")
        .env_remove("OSA_EXECUTOR")
        .output()
        .expect("the osa binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn summary_show_json_is_stable() {
    let out = osa(&["summary", "show", "fixtures/demo-night/monitoring/RunSummary/RunSummary_20231120.ecsv", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let expected = std::fs::read_to_string("fixtures/demo-night/RunSummary_20231120.show.json").unwrap();
    assert_eq!(text(&out.stdout), expected, "the documented JSON contract changed");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["runs"][2]["source"], "Crab", "source names come from the RunCatalog");
}

#[test]
fn summary_show_prints_warnings_and_still_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("NightSummary_20200302.txt");
    std::fs::write(&file, "02099 4 DRS4 2020-03-02 21:50:05 2 1 1 nan nan nan\n02099 4 DRS4 2020-03-02 21:50:05 2 1 1 nan nan nan\n").unwrap();
    let out = osa(&["summary", "show", file.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["warnings"][0]["line"], 2);
    assert_eq!(json["warnings"][0]["file"], file.to_str().unwrap());

    let out = osa(&["--color", "never", "summary", "show", file.to_str().unwrap()]);
    assert!(text(&out.stdout).contains(&format!("{}:2: run 2099 listed again", file.display())), "{}", text(&out.stdout));
}

#[test]
fn rejected_and_incomplete_summaries_have_their_own_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("NightSummary_20200302.txt");
    std::fs::write(&bad, "02099 4 DRS4 2020-03-02 21:50:05 2 1 1 nan nan nan\nXX 4 DATA 2020-03-02 21:50:05 2 1 1 nan nan nan\n").unwrap();
    let out = osa(&["summary", "show", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains(&format!("{}:2: field `run`", bad.display())), "{}", text(&out.stderr));

    let cut = dir.path().join("NightSummary_20200303.txt");
    std::fs::write(&cut, "02099 4 DRS4 2020-03-02 21:50:05 2 1 1 nan nan nan\n02100 4 DA").unwrap();
    let out = osa(&["summary", "show", cut.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4));
    assert!(text(&out.stderr).contains(&format!("{}:2: incomplete last line", cut.display())), "{}", text(&out.stderr));
}

#[test]
fn classify_exits_non_zero_when_any_file_is_error() {
    let good = "fixtures/r0_astropy/LST-1.1.Run02001.0000.fits.fz";
    let out = osa(&["classify", good, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["files"][0]["type"], "DRS4");
    assert_eq!(json["files"][0]["percent"]["physics"], 100.0);

    let out = osa(&["classify", good, "fixtures/r0_astropy/LST-1.1.Run02007.0000.fits.fz"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stdout).contains("truncated or corrupt"));
}

#[test]
fn config_check_names_every_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("osa.toml");
    std::fs::write(&file, "[paths]\ndata_rot = \"/x\"\n[schedules]\npoll = \"every minute\"\n").unwrap();
    let out = osa(&["--config", file.to_str().unwrap(), "config", "check"]);
    assert_eq!(out.status.code(), Some(3));
    let err = text(&out.stderr);
    assert!(err.contains("paths.data_rot: unknown key"), "{err}");

    std::fs::write(&file, "[schedules]\npoll = \"every minute\"\n").unwrap();
    let out = osa(&["--config", file.to_str().unwrap(), "config", "check"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("schedules.poll"), "{}", text(&out.stderr));

    let out = osa(&["--config", "cfg/osa.toml", "config", "check"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn environment_overrides_show_in_the_effective_config() {
    let out = Command::new(env!("CARGO_BIN_EXE_osa"))
        .args(["--config", "cfg/osa.toml", "config", "show"])
        .env("OSA_DATA_ROOT", "/srv/lst")
        .env("OSA_DATABASE_URL", "mysql://osa:hunter2@db:3306/osa")
        .env("OSA_EXECUTOR", "slurm")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.contains("data_root = \"/srv/lst\""), "{shown}");
    assert!(shown.contains("kind = \"slurm\""), "{shown}");
    assert!(shown.contains("mysql://osa:***@db:3306/osa") && !shown.contains("hunter2"), "{shown}");
}

#[test]
fn demo_night_is_idempotent_and_never_overwrites_silently() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let args = ["demo", "make-night", "--dir", root, "--date", "2024-02-10", "--runs", "1", "--subruns", "2", "--events", "50"];
    let first = osa(&args);
    assert!(first.status.success(), "{}", text(&first.stderr));
    // R0 files, the gain-selection flag, summaries, catalog, drive log, the tail-cut finder's
    // files and the RF models.
    assert!(text(&first.stdout).contains("22 file(s) written, 0 already up to date"), "{}", text(&first.stdout));
    let again = osa(&args);
    assert!(text(&again.stdout).contains("0 file(s) written, 22 already up to date"), "{}", text(&again.stdout));

    let summary = Path::new(root).join("monitoring/RunSummary/RunSummary_20240210.ecsv");
    std::fs::write(&summary, "hand edited\n").unwrap();
    let refused = osa(&args);
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused.stderr).contains("exists with other content"), "{}", text(&refused.stderr));
    assert_eq!(std::fs::read_to_string(&summary).unwrap(), "hand edited\n");

    let mut forced = args.to_vec();
    forced.push("--force");
    assert!(osa(&forced).status.success());
    assert!(std::fs::read_to_string(&summary).unwrap().starts_with("# %ECSV"));
}

/// The README's demo, smaller: a night run end to end on the embedded default closes with
/// every DATA run's merged DL1, muons, run data check and DL2 in the final layout and the
/// night's long-term check, each made by a job of the executor (a row of the jobs table).
#[test]
fn the_demo_night_closes_with_its_closing_products_made_by_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let out = osa(&["demo", "run", "--dir", root, "--date", "2024-03-04", "--runs", "2", "--subruns", "2", "--events", "50"]);
    assert!(out.status.success(), "{}\n{}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stdout).contains("night 2024-03-04: closed"), "{}", text(&out.stdout));

    let mut config = osa::config::Config::default();
    config.paths.data_root = dir.path().to_path_buf();
    let layout = osa::paths::Layout::new(&config);
    let night: osa::night::NightDate = "2024-03-04".parse().unwrap();
    let db = osa::db::Db::open(&config.database_url(), &config.analysis.prod_id).unwrap();
    let runs: Vec<u32> =
        db.runs_of_night(night).unwrap().into_iter().filter(|r| r.summary_type == osa::model::RunType::Data).map(|r| r.run).collect();
    assert_eq!(runs.len(), 2);
    let jobs = db.jobs_of_night(night).unwrap();
    let job_of = |run: u32, stage: &str| jobs.iter().any(|j| j.intent.run == run && j.intent.stage.as_str() == stage && j.job_id.is_some());
    for run in &runs {
        for stage in ["merge_dl1", "merge_muons", "datacheck_run", "dl2"] {
            assert!(job_of(*run, stage), "run {run}: no {stage} job");
        }
        let dl2 = osa::paths::Layout::dl2_run_file(&layout.dl2_dir(night, *run).join("nsb_tuning_0.14"), *run);
        for file in [
            layout.dl1_run_file(night, *run),
            layout.muons_run_file(night, *run),
            layout.datacheck_run_file(night, *run),
            layout.datacheck_run_pdf(night, *run),
            dl2,
        ] {
            assert!(file.is_file(), "{} missing", file.display());
        }
    }
    assert!(job_of(osa::model::NIGHT_WIDE, "longterm") && job_of(osa::model::NIGHT_WIDE, "transparency"));
    assert!(layout.longterm_file(night).is_file());
    assert!(layout.datacheck_web_dir(night).join(format!("datacheck_dl1_LST-1.Run{:05}.pdf", runs[0])).is_symlink());
}

/// A data root with a config, its database migrated, and a v1 NightSummary of 2020-01-12
/// whose DATA run's source name carries a terminal escape sequence.
fn root_with_summary(dir: &Path, source: &str) -> std::path::PathBuf {
    let config = dir.join("osa.toml");
    std::fs::write(&config, format!("[paths]\ndata_root = \"{}\"\n", dir.join("data").display())).unwrap();
    let summaries = dir.join("data/monitoring/NightSummary");
    std::fs::create_dir_all(&summaries).unwrap();
    let line = |run: u32, kind: &str, source: &str| {
        format!("{run} 1 {kind} 2020-01-12 21:0{}:06 {source} 1000 7.9 05:34:31 22:00:52 DEFAULT No_Test stdHV No_Filter\n", run % 10)
    };
    let lines = line(5088301, "PEDESTAL", "None") + &line(5088302, "CALIBRATION", "None") + &line(5088304, "DATA", source);
    std::fs::write(summaries.join("NightSummary_20200112_LST1.txt"), lines).unwrap();
    let migrated = osa(&["--config", config.to_str().unwrap(), "db", "migrate"]);
    assert!(migrated.status.success(), "{}", text(&migrated.stderr));
    config
}

/// Regression (issue 12): source names with terminal escape sequences were printed raw by
/// `summary show` and `sequencer`, even with `--color never`.
#[test]
fn escape_sequences_from_a_summary_never_reach_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let config = root_with_summary(dir.path(), "Crab\x1b[2J\x1b]0;pwned\x07");
    let file = dir.path().join("data/monitoring/NightSummary/NightSummary_20200112_LST1.txt");
    for args in [
        vec!["summary", "show", file.to_str().unwrap()],
        vec!["--config", config.to_str().unwrap(), "--color", "never", "sequencer", "--date", "2020-01-12", "--simulate"],
        vec!["--config", config.to_str().unwrap(), "sequencer", "--date", "2020-01-12", "--simulate", "--json"],
    ] {
        let out = osa(&args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        let shown = text(&out.stdout) + &text(&out.stderr);
        assert!(!shown.contains('\x1b') && !shown.contains('\x07'), "{args:?} printed a control character:\n{shown:?}");
        assert!(shown.contains("Crab"), "{args:?}: {shown}");
    }
}

/// Regression (issue 12): a summary that was a symbolic link to /etc/passwd was followed and
/// its first line echoed into the log.
#[test]
fn a_summary_linked_outside_the_data_root_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let config = root_with_summary(dir.path(), "Crab");
    let summaries = dir.path().join("data/monitoring/RunSummary");
    std::fs::create_dir_all(&summaries).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", summaries.join("RunSummary_20200112.ecsv")).unwrap();
    let out = osa(&["--config", config.to_str().unwrap(), "sequencer", "--date", "2020-01-12", "--simulate"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("outside the data root") && stderr.contains("RunSummary_20200112.ecsv:1:"), "{stderr}");
    assert!(!stderr.contains("root:") && !text(&out.stdout).contains("root:"), "{stderr}");
}

/// Read-only commands never make an installation out of a mistyped path: a data root or
/// database that is not there is an error naming it, and nothing is created.
#[test]
fn a_wrong_data_root_or_database_url_is_an_error_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("wrong");
    let out = Command::new(env!("CARGO_BIN_EXE_osa")).arg("status").env("OSA_DATA_ROOT", &wrong).env_remove("OSA_DATABASE_URL").output().unwrap();
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains(&format!("data root {} does not exist", wrong.display())), "{}", text(&out.stderr));
    assert!(!wrong.exists(), "nothing made under the wrong root");

    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let missing = dir.path().join("nonexistent/dir/osa.sqlite");
    let out = Command::new(env!("CARGO_BIN_EXE_osa"))
        .arg("status")
        .env("OSA_DATA_ROOT", &root)
        .env("OSA_DATABASE_URL", format!("sqlite://{}", missing.display()))
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains("does not exist") && text(&out.stderr).contains("nonexistent/dir"), "{}", text(&out.stderr));
    assert!(!dir.path().join("nonexistent").exists(), "no folder made for a mistyped URL");

    let typo = dir.path().join("typo.sqlite");
    let out = osa(&["db", "status", "--url", &format!("sqlite://{}", typo.display())]);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains("osa db migrate` creates it"), "{}", text(&out.stderr));
    assert!(!typo.exists(), "`db status` of a mistyped URL creates no file");
    let out = osa(&["db", "migrate", "--url", &format!("sqlite://{}", typo.display())]);
    assert!(out.status.success() && typo.is_file(), "`db migrate` creates it: {}", text(&out.stderr));
}

/// `osa … | head -1`: a reader that goes away ends the command quietly, never with a panic.
#[test]
fn a_closed_pipe_ends_a_command_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_osa"))
        .args(["summary", "show", "fixtures/demo-night/monitoring/RunSummary/RunSummary_20231120.ecsv"])
        .env_remove("OSA_CONFIG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The reader is gone before the command writes its first line.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(!text(&out.stderr).contains("panicked"), "{}", text(&out.stderr));
    assert_ne!(out.status.code(), Some(101), "no panic exit");
}
