//! The sequencer: turns a night into sequences (calibration first, DATA chained on it) and
//! submits one array job per run. Planning ([`plan`]) is pure; [`script`] builds job scripts
//! (pure too); [`submit`] applies a plan through an executor and the database.

pub mod plan;
pub mod script;
pub mod submit;
