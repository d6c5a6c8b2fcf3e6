//! `[inputs]`: what must be on disk before a run is submitted (the sequencer's input gates,
//! LSTOSA's gain-selection check and more). A run that lacks one waits, saying what.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct InputsConfig {
    /// Wait for the night's gain-selection flag (`<osa_dir>/GainSel/YYYYMMDD/GainSelFinished.txt`);
    /// off for input that needs no gain selection.
    pub gain_selection: bool,
    /// Wait for every R0 subrun file the summary announces (stream 1 under `r0_dir`).
    pub r0_files: bool,
}

impl Default for InputsConfig {
    fn default() -> Self {
        Self { gain_selection: true, r0_files: true }
    }
}
