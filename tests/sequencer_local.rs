//! The same night scenarios on the local executor (the embedded default).

mod common;

use common::night::*;

#[test]
fn local_whole_night_is_chained_run_and_never_submitted_twice() {
    whole_night_is_chained_run_and_never_submitted_twice("local");
}

#[test]
fn local_a_failed_calibration_blocks_its_data_runs() {
    a_failed_calibration_blocks_its_data_runs("local");
}

#[test]
fn local_a_crash_around_submission_never_submits_twice() {
    a_crash_around_submission_never_submits_twice("local");
}
