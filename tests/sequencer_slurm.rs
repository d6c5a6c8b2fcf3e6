//! The sequencer on the real one-node SLURM cluster (started by scripts/start-services.sh):
//! real sbatch/squeue/sacct/scancel. These run in one serial test group (.config/nextest.toml).

mod common;

use common::night::*;

fn require_slurm() {
    let out = std::process::Command::new("sinfo").arg("-h").output();
    assert!(out.is_ok_and(|o| o.status.success()), "SLURM does not answer; {}", common::HOW_TO_START);
}

#[test]
fn slurm_whole_night_is_chained_run_and_never_submitted_twice() {
    require_slurm();
    whole_night_is_chained_run_and_never_submitted_twice("slurm");
}

#[test]
fn slurm_a_failed_calibration_blocks_its_data_runs() {
    require_slurm();
    a_failed_calibration_blocks_its_data_runs("slurm");
}

#[test]
fn slurm_a_crash_around_submission_never_submits_twice() {
    require_slurm();
    a_crash_around_submission_never_submits_twice("slurm");
}
