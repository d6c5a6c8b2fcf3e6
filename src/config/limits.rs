//! `[limits]`: how large a night's input may be. A summary beyond them is refused like a
//! malformed line (file and line named), so one absurd value cannot make the daemon allocate
//! without bound or spin.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct LimitsConfig {
    /// Largest summary file read, in bytes (LST-1's largest nights are well under 1 MB).
    pub summary_max_bytes: u64,
    /// Longest line of a summary, in characters.
    pub summary_max_line_length: usize,
    /// Most runs one night's summary may list.
    pub max_runs_per_night: usize,
    /// Most subruns one run may have (one array task each).
    pub max_subruns_per_run: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self { summary_max_bytes: 16 << 20, summary_max_line_length: 4096, max_runs_per_night: 1000, max_subruns_per_run: 5000 }
    }
}
