//! The sequencer: turns a night into sequences (calibration first, DATA chained on it) and
//! submits one array job per run. Planning is pure: [`known`] folds the night's stored rows and
//! the poll into what is known, [`plan`] turns that and the summary into a plan, [`script`]
//! builds job scripts; [`submit`] applies a plan through an executor and the database.

pub mod known;
pub mod plan;
pub mod script;
pub mod submit;
