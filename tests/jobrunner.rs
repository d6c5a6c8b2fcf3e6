//! What one array task does (`osa job …`) with the analysis simulator behind the default
//! lstchain steps: outputs, history (file and database), provenance, retries, resume.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use osa::config::Config;
use osa::db::Db;
use osa::demo::{DemoOptions, install_simulator, make_night};
use osa::night::NightDate;
use osa::paths::Layout;
use osa::provenance::{RecordKind, read_log};

struct JobHarness {
    dir: tempfile::TempDir,
    config_file: PathBuf,
    config: Config,
    night: NightDate,
    runs: Vec<u32>,
}

const EVENTS: u32 = 120;

impl JobHarness {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.paths.data_root = dir.path().join("data");
        config.database.url = format!("sqlite://{}", dir.path().join("osa.sqlite").display());
        let bin = dir.path().join("bin");
        install_simulator(&bin, Path::new(env!("CARGO_BIN_EXE_lstchain-sim"))).unwrap();
        config.analysis.bin_dir = Some(bin);
        for (name, field) in [("a.json", &mut config.analysis.dl1a_config), ("b.json", &mut config.analysis.dl1b_config)] {
            let path = dir.path().join(name);
            std::fs::write(&path, "{}").unwrap();
            *field = path;
        }
        let config_file = dir.path().join("osa.toml");
        std::fs::write(&config_file, config.to_toml()).unwrap();
        let night: NightDate = "2026-02-10".parse().unwrap();
        let made =
            make_night(&Layout::new(&config), night, &DemoOptions { data_runs: 1, subruns: 2, events: EVENTS, ..DemoOptions::default() }).unwrap();
        let runs = made.runs.iter().map(|r| r.run).collect();
        let harness = Self { dir, config_file, config, night, runs };
        // As an installation does: array tasks refuse a database whose schema is behind.
        let migrated = harness.osa(&["db", "migrate"], &[]);
        assert!(migrated.status.success(), "{}", String::from_utf8_lossy(&migrated.stderr));
        harness
    }

    fn osa(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_osa"));
        command.arg("--config").arg(&self.config_file).args(args);
        command.env_remove("LSTCHAIN_SIM_FAIL").env("LSTCHAIN_SIM_STATE", self.dir.path().join("sim-state"));
        command.envs(env.iter().copied());
        command.output().unwrap()
    }

    fn calibration(&self) -> Output {
        let (drs4, pedcal) = (self.runs[0].to_string(), self.runs[1].to_string());
        self.osa(&["job", "calibration", "--date", &self.night.to_string(), "--drs4-run", &drs4, "--pedcal-run", &pedcal], &[])
    }

    fn subrun(&self, subrun: u32, env: &[(&str, &str)]) -> Output {
        let (drs4, pedcal, run) = (self.runs[0].to_string(), self.runs[1].to_string(), self.runs[2].to_string());
        let subrun = subrun.to_string();
        let night = self.night.to_string();
        self.osa(&["job", "subrun", "--date", &night, "--run", &run, "--subrun", &subrun, "--drs4-run", &drs4, "--pedcal-run", &pedcal], env)
    }

    fn layout(&self) -> Layout {
        Layout::new(&self.config)
    }

    fn history(&self, subrun: u32) -> Vec<(String, i64)> {
        let path = self.layout().history_file(self.night, self.runs[2], Some(subrun));
        let (lines, problems) = osa::jobrunner::history::read(&path).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        lines.into_iter().map(|l| (l.program, l.return_code)).collect()
    }
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn dl1_rows(path: &Path) -> usize {
    let file = hdf5::File::open(path).unwrap();
    file.dataset("dl1/event/telescope/parameters/LST_LSTCam").unwrap().shape()[0]
}

#[test]
fn a_subrun_runs_every_step_with_outputs_history_and_provenance() {
    let h = JobHarness::new();
    let calibration = h.calibration();
    assert!(calibration.status.success(), "{}", text(&calibration));
    let out = h.subrun(1, &[]);
    assert!(out.status.success(), "{}", text(&out));

    let l = h.layout();
    let run = h.runs[2];
    for file in [l.dl1a_file(h.night, run, 1), l.muons_file(h.night, run, 1), l.dl1b_file(h.night, run, 1), l.datacheck_file(h.night, run, 1)] {
        assert!(file.is_file(), "{} missing", file.display());
    }
    assert_eq!(dl1_rows(&l.dl1a_file(h.night, run, 1)), EVENTS as usize, "one DL1 row per R0 event");
    assert_eq!(dl1_rows(&l.dl1b_file(h.night, run, 1)), EVENTS as usize);
    assert_eq!(h.history(1), [("lstchain_data_r0_to_dl1".to_string(), 0), ("lstchain_dl1ab".to_string(), 0), ("lstchain_check_dl1".to_string(), 0)]);

    let db = Db::open_and_migrate(&h.config.database_url(), &h.config.analysis.prod_id).unwrap();
    let rows = db.history_of_task(h.night, run, &osa::model::Stage::Sequence, 1).unwrap();
    assert_eq!(rows.iter().map(|r| (r.step.as_str(), r.return_code)).collect::<Vec<_>>(), [("r0_to_dl1", 0), ("dl1ab", 0), ("check_dl1", 0)]);

    let mut kinds = Vec::new();
    let mut hashed_outputs = 0;
    let problems = read_log(&l.provenance_log(h.night), |_, record| {
        if record.kind() == RecordKind::Entity && record.str("hash_type") == Some("sha256") && record.str("hash").is_some_and(|h| h.len() == 64) {
            hashed_outputs += 1;
        }
        kinds.push((record.kind(), record.str("session_tag").map(str::to_string)));
    })
    .unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    let of_subrun: Vec<_> = kinds.iter().filter(|(_, tag)| tag.as_deref().is_some_and(|t| t.ends_with(&format!(":{run:05}")))).collect();
    let count = |kind| of_subrun.iter().filter(|(k, _)| *k == kind).count();
    assert_eq!((count(RecordKind::ActivityStart), count(RecordKind::End), count(RecordKind::Parameters)), (3, 3, 3));
    assert_eq!(count(RecordKind::Generated), 4, "dl1a + muons, dl1b, datacheck");
    assert!(count(RecordKind::Used) >= 3);
    assert!(hashed_outputs >= 4, "file entities carry the sha256 of their content");
}

#[test]
fn a_step_failing_once_succeeds_on_its_second_try_and_history_shows_both() {
    let h = JobHarness::new();
    assert!(h.calibration().status.success());
    let out = h.subrun(0, &[("LSTCHAIN_SIM_FAIL", "program=lstchain_dl1ab,attempts=1,kind=resource")]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Resource temporarily unavailable"), "the failed try's output is in the task log");
    assert_eq!(
        h.history(0),
        [
            ("lstchain_data_r0_to_dl1".to_string(), 0),
            ("lstchain_dl1ab".to_string(), 1),
            ("lstchain_dl1ab".to_string(), 0),
            ("lstchain_check_dl1".to_string(), 0)
        ]
    );
    let db = Db::open_and_migrate(&h.config.database_url(), &h.config.analysis.prod_id).unwrap();
    let failed: Vec<_> =
        db.history_of_task(h.night, h.runs[2], &osa::model::Stage::Sequence, 0).unwrap().into_iter().filter(|r| r.return_code != 0).collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].log_tail.as_deref().unwrap_or("").contains("Resource temporarily unavailable"), "{:?}", failed[0].log_tail);
    assert_eq!(failed[0].try_number, 1);

    let mut ends = Vec::new();
    read_log(&h.layout().provenance_log(h.night), |_, r| {
        if r.kind() == RecordKind::End && r.str("session_tag").is_some_and(|t| t.starts_with("dl1ab:")) {
            ends.push((r.str("status").unwrap().to_string(), r.fields["return_code"].as_i64().unwrap()));
        }
    })
    .unwrap();
    assert_eq!(ends, [("failed".to_string(), 1), ("ok".to_string(), 0)], "the failed try keeps its provenance");
}

#[test]
fn a_truncated_partial_output_is_removed_before_the_retry() {
    let h = JobHarness::new();
    assert!(h.calibration().status.success());
    // The first try dies after writing half its output; lstchain refuses to overwrite an
    // existing output, so the second try only works because osa removed the partial file.
    let out = h.subrun(0, &[("LSTCHAIN_SIM_FAIL", "program=lstchain_data_r0_to_dl1,attempts=1,kind=crash")]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("removing partial output"), "{}", text(&out));
    let dl1 = h.layout().dl1a_file(h.night, h.runs[2], 0);
    assert_eq!(dl1_rows(&dl1), EVENTS as usize);
    assert_eq!(h.history(0)[..2], [("lstchain_data_r0_to_dl1".to_string(), 1), ("lstchain_data_r0_to_dl1".to_string(), 0)]);
}

#[test]
fn a_resubmitted_task_skips_the_steps_it_already_did() {
    let h = JobHarness::new();
    assert!(h.calibration().status.success());
    let failing = h.subrun(0, &[("LSTCHAIN_SIM_FAIL", "program=lstchain_check_dl1")]);
    assert_eq!(failing.status.code(), Some(12), "step 2 (check_dl1) failed all its tries: exit 10 + 2\n{}", text(&failing));
    let tries = h.config.retries.tries_per_step as usize;
    assert_eq!(h.history(0).iter().filter(|(p, rc)| p == "lstchain_check_dl1" && *rc != 0).count(), tries);

    let resumed = h.subrun(0, &[]);
    assert!(resumed.status.success(), "{}", text(&resumed));
    let history = h.history(0);
    assert_eq!(history.iter().filter(|(p, _)| p == "lstchain_data_r0_to_dl1").count(), 1, "r0_to_dl1 not run again: {history:?}");
    assert_eq!(history.iter().filter(|(p, _)| p == "lstchain_dl1ab").count(), 1, "dl1ab not run again: {history:?}");
    assert_eq!(history.last().unwrap(), &("lstchain_check_dl1".to_string(), 0));
    assert!(text(&resumed).contains("r0_to_dl1: already done, skipped"), "{}", text(&resumed));
}

#[test]
fn the_simulator_dl1_file_reads_with_h5py_as_lstchain_lays_it_out() {
    let h = JobHarness::new();
    assert!(h.calibration().status.success());
    assert!(h.subrun(0, &[]).status.success());
    let dl1 = h.layout().dl1a_file(h.night, h.runs[2], 0);
    let script = "import sys, h5py\n\
f = h5py.File(sys.argv[1], 'r')\n\
t = f['/dl1/event/telescope/parameters/LST_LSTCam']\n\
print(len(t), ','.join(sorted(t.dtype.names)))\n";
    let out = Command::new("python3").args(["-c", script]).arg(&dl1).output().expect("python3 runs");
    assert!(
        out.status.success(),
        "h5py could not read {} ({}); install the test packages with `python3 -m pip install -r tests/requirements.txt` (scripts/setup.sh does)",
        dl1.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    let (rows, columns) = printed.trim().split_once(' ').unwrap();
    assert_eq!(rows, EVENTS.to_string());
    for column in ["obs_id", "event_id", "event_type", "intensity", "width", "length"] {
        assert!(columns.split(',').any(|c| c == column), "column {column} missing from {columns}");
    }
}

/// A task never writes into a database older than itself: it stops, says why and how to fix
/// it (exit code 5), and runs no step.
#[test]
fn a_task_refuses_a_database_whose_schema_is_behind() {
    let h = JobHarness::new();
    let stale = format!("sqlite://{}", h.dir.path().join("stale.sqlite").display());
    // A database made by an older osa: there, without this osa's migrations.
    drop(osa::db::Db::connect_creating(&stale, "v0.10").unwrap());
    let (drs4, pedcal) = (h.runs[0].to_string(), h.runs[1].to_string());
    let out =
        h.osa(&["job", "calibration", "--date", &h.night.to_string(), "--drs4-run", &drs4, "--pedcal-run", &pedcal], &[("OSA_DATABASE_URL", &stale)]);
    assert_eq!(out.status.code(), Some(5), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("schema is behind") && stderr.contains("osa db migrate"), "{stderr}");
    let history = Layout::new(&h.config).history_file(h.night, h.runs[1], None);
    assert!(!history.exists(), "no step ran: {}", history.display());

    // Operator commands refuse it the same way.
    let status = h.osa(&["status", "--date", &h.night.to_string()], &[("OSA_DATABASE_URL", &stale)]);
    assert_eq!(status.status.code(), Some(5), "{}", String::from_utf8_lossy(&status.stderr));
}

/// Regression (issue 12): `osa job` stopped writing the database after its first failed
/// write, so the database held fewer history rows than the files and the night closed as
/// complete. A database that refuses the row (here: a read-only account) fails the task,
/// visibly, and the try is recorded nowhere half.
#[test]
fn a_database_that_refuses_history_rows_fails_the_task() {
    use diesel::RunQueryDsl;
    let h = JobHarness::new();
    let db = common::TestDb::mysql();
    db.open();
    let name = db.database_name().unwrap().to_string();
    let mut admin = common::mysql_admin();
    let user = format!("ro_{}", &name[name.len().saturating_sub(20)..]);
    for sql in [
        format!("DROP USER IF EXISTS '{user}'@'%'"),
        format!("CREATE USER '{user}'@'%'"),
        format!("GRANT SELECT, CREATE ON `{name}`.* TO '{user}'@'%'"),
    ] {
        diesel::sql_query(sql).execute(&mut admin).unwrap();
    }
    let server = common::mysql_server_url();
    let host = server.rsplit_once('@').map(|(_, h)| h.to_string()).unwrap_or_else(|| server.trim_start_matches("mysql://").to_string());
    let read_only = format!("mysql://{user}@{host}/{name}");
    assert!(h.calibration().status.success());
    let out = h.subrun(0, &[("OSA_DATABASE_URL", &read_only)]);
    diesel::sql_query(format!("DROP USER IF EXISTS '{user}'@'%'")).execute(&mut admin).unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("history row not stored in the database"), "{}", text(&out));
    assert!(h.history(0).is_empty(), "no line on disk for a try the database does not have: {:?}", h.history(0));
}
