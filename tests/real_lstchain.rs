//! The simulator's files, opened by the real lstchain programs that consume them in
//! production (lstchain pinned by `scripts/lstchain-env.sh`, installed by `scripts/setup.sh`):
//! what the fast demo writes is what lstchain writes.

mod common;

use std::path::{Path, PathBuf};

use chrono::TimeZone;
use common::lstchain::{lstchain_bin, python, run, simulator, standard_config};

const RUN: u32 = 1234;
const EVENTS: usize = 120;

/// Two subruns of R0 stand-ins (10% pedestals, 10% flat-field) turned into DL1a files by the
/// simulator's `lstchain_data_r0_to_dl1`, in `dir/dl1a`.
fn simulated_dl1a(dir: &Path) -> PathBuf {
    let config = dir.join("config.json");
    std::fs::write(&config, "{}").unwrap();
    let out = dir.join("dl1a");
    for subrun in 0..2u32 {
        let types: Vec<i64> = (0..EVENTS as i64)
            .map(|i| {
                if i % 10 == 0 {
                    2
                } else if i % 10 == 5 {
                    0
                } else {
                    32
                }
            })
            .collect();
        let r0 = dir.join(format!("LST-1.1.Run{RUN:05}.{subrun:04}.fits"));
        let start = chrono::Utc.with_ymd_and_hms(2026, 1, 5, 22, 0, subrun * 10).unwrap();
        osa::demo::write_r0(&r0, RUN, subrun, &types, start).unwrap();
        simulator(
            "lstchain_data_r0_to_dl1",
            &[&format!("--input-file={}", r0.display()), &format!("--output-dir={}", out.display()), &format!("--config={}", config.display())],
        );
    }
    out
}

fn subrun_file(dir: &Path, subrun: u32) -> String {
    dir.join(format!("dl1_LST-1.Run{RUN:05}.{subrun:04}.h5")).display().to_string()
}

fn events_of(file: &str) -> String {
    python(&format!(
        "import pandas as pd; d = pd.read_hdf('{file}', key='dl1/event/telescope/parameters/LST_LSTCam'); \
         print(len(d), sorted(d.event_type.value_counts().items()))"
    ))
}

/// DL1a: the real `lstchain_dl1ab` cleans the simulator's images again and recomputes the
/// parameters with the instrument description, monitoring and configuration in the file.
#[test]
fn real_dl1ab_reads_the_simulators_dl1a() {
    let bin = lstchain_bin();
    let dir = tempfile::tempdir().unwrap();
    let dl1a = simulated_dl1a(dir.path());
    let dl1b = dir.path().join("dl1b");
    std::fs::create_dir_all(&dl1b).unwrap();
    let log = run(
        &bin.join("lstchain_dl1ab"),
        &["--input-file", &subrun_file(&dl1a, 0), "--output-file", &subrun_file(&dl1b, 0), "--config", &standard_config()],
    );
    assert!(log.contains("Tailcut clean with pedestal threshold"), "cleaned with the file's pedestal monitoring:\n{log}");
    assert_eq!(events_of(&subrun_file(&dl1b, 0)), format!("{EVENTS} [(0, 12), (2, 12), (32, 96)]"));
    let survived = python(&format!(
        "import pandas as pd; d = pd.read_hdf('{}', key='dl1/event/telescope/parameters/LST_LSTCam'); \
         print(int((d[d.event_type == 32].intensity > 50).sum()))",
        subrun_file(&dl1b, 0)
    ));
    assert!(survived.parse::<usize>().unwrap() > 48, "most showers keep an image after lstchain's cleaning: {survived}");
}

/// DL1b: the real `lstchain_merge_hdf5_files` merges the simulator's `lstchain_dl1ab`
/// subrun files (as the closer's merge stage calls it), and the real `lstchain_check_dl1`
/// makes its data check of one (it reads the images too).
#[test]
fn real_merge_and_data_check_read_the_simulators_dl1b() {
    let bin = lstchain_bin();
    let dir = tempfile::tempdir().unwrap();
    let dl1a = simulated_dl1a(dir.path());
    let dl1b = dir.path().join("dl1b");
    for subrun in 0..2 {
        simulator("lstchain_dl1ab", &["--input-file", &subrun_file(&dl1a, subrun), "--output-file", &subrun_file(&dl1b, subrun)]);
    }
    let merged = dir.path().join("merged.h5").display().to_string();
    let pattern = format!("dl1_LST-1.Run{RUN:05}.????.h5");
    run(
        &bin.join("lstchain_merge_hdf5_files"),
        &[
            "--input-dir",
            &dl1b.display().to_string(),
            "--output-file",
            &merged,
            "--run-number",
            &RUN.to_string(),
            "--pattern",
            &pattern,
            "--no-image",
            "--no-progress",
        ],
    );
    assert_eq!(events_of(&merged), format!("{} [(0, 24), (2, 24), (32, 192)]", 2 * EVENTS));

    let datacheck = dir.path().join("datacheck");
    std::fs::create_dir_all(&datacheck).unwrap();
    run(
        &bin.join("lstchain_check_dl1"),
        &[
            "--input-file",
            &subrun_file(&dl1b, 0),
            "--output-dir",
            &datacheck.display().to_string(),
            "--muons-dir",
            &dl1a.display().to_string(),
            "--omit-pdf",
            "--batch",
        ],
    );
    assert!(datacheck.join(format!("datacheck_dl1_LST-1.Run{RUN:05}.0000.h5")).is_file());
}

/// Muons: the real `lstchain_merge_muon_files` stacks the simulator's subrun ring files (as
/// the closer's muon stage calls it) and astropy reads lstchain's columns back.
#[test]
fn real_muon_merge_reads_the_simulators_rings() {
    let bin = lstchain_bin();
    let dir = tempfile::tempdir().unwrap();
    let dl1a = simulated_dl1a(dir.path());
    let merged = dir.path().join(format!("muons_LST-1.Run{RUN:05}.fits")).display().to_string();
    let pattern = format!("muons_LST-1.Run{RUN:05}.????.fits");
    run(
        &bin.join("lstchain_merge_muon_files"),
        &["--input-dir", &dl1a.display().to_string(), "--output-file", &merged, "--run-number", &RUN.to_string(), "--pattern", &pattern],
    );
    let read = python(&format!(
        "from astropy.table import Table; t = Table.read('{merged}'); \
         print(len(t), len(t.colnames), bool(t['good_ring'].all()), float(t['muon_efficiency'].mean()) > 0.1)"
    ));
    // Ids 50, 100 in subrun 0 and 150, 200 in subrun 1 (one ring in fifty events).
    assert_eq!(read, "4 23 True True");
}

/// Data checks: the real run-wise `lstchain_check_dl1` (the closer's `datacheck_run` stage)
/// reads the simulator's subrun data checks, and the real `lstchain_longterm_dl1_check` (the
/// night's `longterm` stage) reads the simulator's run-wise one.
#[test]
fn real_run_and_longterm_checks_read_the_simulators_data_checks() {
    let bin = lstchain_bin();
    let dir = tempfile::tempdir().unwrap();
    let dl1a = simulated_dl1a(dir.path());
    let dl1b = dir.path().join("dl1b");
    let datacheck = dir.path().join("datacheck");
    for subrun in 0..2 {
        simulator("lstchain_dl1ab", &["--input-file", &subrun_file(&dl1a, subrun), "--output-file", &subrun_file(&dl1b, subrun)]);
        simulator(
            "lstchain_check_dl1",
            &[
                "--input-file",
                &subrun_file(&dl1b, subrun),
                "--output-dir",
                &datacheck.display().to_string(),
                "--muons-dir",
                &dl1a.display().to_string(),
                "--omit-pdf",
                "--batch",
            ],
        );
    }
    // The real run-wise check in a copy (it writes its run file next to the subrun files).
    let real = dir.path().join("real");
    std::fs::create_dir_all(&real).unwrap();
    for subrun in 0..2u32 {
        let name = format!("datacheck_dl1_LST-1.Run{RUN:05}.{subrun:04}.h5");
        std::fs::copy(datacheck.join(&name), real.join(&name)).unwrap();
    }
    let real_pattern = real.join(format!("datacheck_dl1_LST-1.Run{RUN:05}.????.h5")).display().to_string();
    run(
        &bin.join("lstchain_check_dl1"),
        &["--input-file", &real_pattern, "--output-dir", &real.display().to_string(), "--muons-dir", &dl1a.display().to_string(), "--batch"],
    );
    assert!(real.join(format!("datacheck_dl1_LST-1.Run{RUN:05}.pdf")).is_file(), "the real run-wise check made its PDF");
    let counted = python(&format!(
        "import tables; f = tables.open_file('{}'); \
         print([int(f.get_node('/dl1datacheck/' + c).col('num_events').sum()) for c in ('cosmics', 'pedestals', 'flatfield')])",
        real.join(format!("datacheck_dl1_LST-1.Run{RUN:05}.h5")).display()
    ));
    assert_eq!(counted, "[192, 24, 24]", "the real check's run file counts the simulator's subrun rows");

    // The simulator's run-wise check, read by the real long-term check.
    let pattern = datacheck.join(format!("datacheck_dl1_LST-1.Run{RUN:05}.????.h5")).display().to_string();
    simulator("lstchain_check_dl1", &["--input-file", &pattern, "--output-dir", &datacheck.display().to_string(), "--omit-pdf", "--batch"]);
    let longterm = dir.path().join("DL1_datacheck_20260105.h5").display().to_string();
    run(
        &bin.join("lstchain_longterm_dl1_check"),
        &["--input-dir", &datacheck.display().to_string(), "--output-file", &longterm, "--muons-dir", &dl1a.display().to_string(), "--batch"],
    );
    let summary = python(&format!(
        "import pandas as pd; s = pd.read_hdf('{longterm}', key='runsummary'); \
         print(int(s.runnumber.iloc[0]), int(s.num_cosmics.iloc[0]), int(s.num_pedestals.iloc[0]), int(s.num_flatfield.iloc[0]))"
    ));
    assert_eq!(summary, format!("{RUN} 192 24 24"));
}

/// DL2: lstchain's own reader (`lstchain.io.io.read_dl2_params`, what the DL3 step and the
/// analysts use) reads the simulator's `lstchain_dl1_to_dl2` output of a merged run.
#[test]
fn lstchains_reader_reads_the_simulators_dl2() {
    let dir = tempfile::tempdir().unwrap();
    let dl1a = simulated_dl1a(dir.path());
    let dl1b = dir.path().join("dl1b");
    for subrun in 0..2 {
        simulator("lstchain_dl1ab", &["--input-file", &subrun_file(&dl1a, subrun), "--output-file", &subrun_file(&dl1b, subrun)]);
    }
    let merged = dir.path().join("merged");
    let pattern = format!("dl1_LST-1.Run{RUN:05}.????.h5");
    let merged_file = merged.join(format!("dl1_LST-1.Run{RUN:05}.h5")).display().to_string();
    simulator(
        "lstchain_merge_hdf5_files",
        &[
            "--input-dir",
            &dl1b.display().to_string(),
            "--output-file",
            &merged_file,
            "--run-number",
            &RUN.to_string(),
            "--pattern",
            &pattern,
            "--no-image",
        ],
    );
    let models = dir.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    for model in osa::demo::RF_MODEL_FILES {
        std::fs::write(models.join(model), b"simulated model").unwrap();
    }
    let dl2 = dir.path().join("dl2");
    simulator(
        "lstchain_dl1_to_dl2",
        &["--input-files", &merged_file, "--path-models", &models.display().to_string(), "--output-dir", &dl2.display().to_string()],
    );
    let read = python(&format!(
        "from lstchain.io.io import read_dl2_params; d = read_dl2_params('{}'); \
         print(len(d) > 150, len(d) < {}, len(d.columns), int((d.event_type == 2).sum()), bool(d.reco_energy.gt(0).all()), bool(d.gammaness.between(0, 1).all()))",
        dl2.join(format!("dl2_LST-1.Run{RUN:05}.h5")).display(),
        2 * EVENTS
    ));
    // Every shower with a usable image, no pedestal; lstchain's 60 columns.
    assert_eq!(read, "True True 60 0 True True");
}
