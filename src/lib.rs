//! `osa`: the nightly on-site analysis of LST-1, as one long-running service.
//!
//! The modules follow a night through its life: `summary` reads what the telescope says it
//! observed (and checks run types against the R0 files), `paths` knows where every file of a
//! night lives, `config` holds what differs between sites, `demo` lays out a synthetic night
//! for newcomers and tests. `cli` is the operator-facing edge.
//!
//! Errors: library modules return their own `thiserror` enums whose variants name the night,
//! run, subrun or file involved, so callers can branch on them; only `cli` (the binary edge)
//! turns them into `anyhow` errors with context and maps them to exit codes.

pub mod cli;
pub mod closer;
pub mod config;
pub mod daemon;
pub mod db;
pub mod demo;
pub mod executor;
pub mod jobrunner;
pub mod night;
pub mod paths;
pub mod provenance;
pub mod sequencer;
pub mod summary;
