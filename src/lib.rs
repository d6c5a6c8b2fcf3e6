//! `osa`: the nightly on-site analysis of LST-1, as one long-running service.
//!
//! The modules follow a night through its life. Each line names what a module may import
//! (only modules listed above it: no module imports one that imports it back); see
//! ARCHITECTURE.md for the same map and a night walked end to end.
//!
//! - `night`: a night's date. Imports nothing of osa.
//! - `model`: the domain vocabulary (run types, sequence kinds, calibration runs, task, job,
//!   night and audit states with their stored and operator words). Imports `night`.
//! - `account`, `appendlog`, `disk`, `hashing`, `program`: who osa runs as, whole-line
//!   appends to shared logs, free space and full disks, sha256 of files, running an analysis
//!   program. Import nothing of osa.
//! - `rf_models`: which random-forest models a run's DL2 uses (LSTOSA's rule). Imports
//!   nothing of osa.
//! - `executor`: SLURM (its state table) and the local executor. Imports `account`, `model`,
//!   `night`.
//! - `config`: the TOML config, validated. Imports `model`, `executor` (the state table, for
//!   known-failure rules).
//! - `paths`: where every file of a night lives. Imports `config`, `model`, `night`.
//! - `steps`: the analysis steps' and closing stages' placeholders for a task. Imports
//!   `config`, `model`, `night`, `paths`, `rf_models`.
//! - `summary`: night summaries and R0 classification, within `[limits]`. Imports `config`,
//!   `model`, `night`, `paths`.
//! - `demo`: a synthetic night. Imports `model`, `night`, `paths`, `summary`.
//! - `db`: persistence (MySQL or SQLite). Imports `config`, `model`, `night`.
//! - `provenance`: prov.log capture and merge. Imports `appendlog`, `db`, `model`, `night`.
//! - `jobrunner`: what an array task runs. Imports `account`, `appendlog`, `config`, `db`,
//!   `disk`, `hashing`, `model`, `night`, `paths`, `program`, `provenance`, `steps`.
//! - `sequencer`: `known` and `plan` (pure), `script`, `submit` (effects). Imports `config`,
//!   `db`, `executor`, `hashing`, `model`, `night`, `paths`, `summary`.
//! - `closer`: verify, decide (`failures`, pure), retry, the final layout (`moves`), the
//!   closing stages as jobs (`stages`, pure; `closing`), close, mail. Imports `account`,
//!   `config`, `db`, `disk`, `executor`, `hashing`, `model`, `night`, `paths`, `provenance`,
//!   `rf_models`, `sequencer`, `steps`, `summary`.
//! - `service`: one way to build the database, executor and sequencer from a config.
//!   Imports `closer`, `config`, `db`, `executor`, `model`, `paths`, `sequencer`.
//! - `operator`: rerun, veto lift, the night a shifter sees, the status document. Imports
//!   `account`, `closer`, `config`, `db`, `executor`, `model`, `night`, `paths`, `sequencer`,
//!   `service`.
//! - `web`: the status page (its data, HTML, server and static export). Imports `config`,
//!   `db`, `model`, `night`, `operator`, `paths`, `provenance`, `sequencer`, `service`.
//! - `daemon`: the service. Imports `closer`, `config`, `db`, `model`, `night`, `operator`,
//!   `paths`, `provenance`, `service`, `summary`, `web`.
//! - `cli`: the operator-facing edge. Imports anything.
//!
//! Errors: library modules return their own `thiserror` enums whose variants name the night,
//! run, subrun or file involved, so callers can branch on them; only `cli` (the binary edge)
//! turns them into `anyhow` errors with context and maps them to exit codes.

pub mod account;
pub mod appendlog;
pub mod cli;
pub mod closer;
pub mod config;
pub mod daemon;
pub mod db;
pub mod demo;
pub mod disk;
pub mod executor;
pub mod hashing;
pub mod jobrunner;
pub mod model;
pub mod night;
pub mod operator;
pub mod paths;
pub mod program;
pub mod provenance;
pub mod rf_models;
pub mod sequencer;
pub mod service;
pub mod steps;
pub mod summary;
pub mod web;
