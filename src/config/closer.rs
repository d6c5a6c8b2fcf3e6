//! `[closer]` and `[mail]`: when and how nights are closed, and the morning mail.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::StepConfig;
use super::analysis::step;

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct CloserConfig {
    /// A night is closed only after this hour (UTC) of the next morning, unless forced.
    pub not_before_hour: u32,
    /// The per-run DL1 merge (default: lstchain's merge program).
    pub merge_step: StepConfig,
    /// Runs that failed on a full disk go again once the data disk has this much room, in
    /// MiB.
    pub min_free_mib: u64,
}

impl Default for CloserConfig {
    fn default() -> Self {
        Self {
            not_before_hour: 8,
            min_free_mib: 10240,
            merge_step: step(
                "merge_dl1",
                "lstchain_merge_hdf5_files",
                &[
                    "--input-dir={analysis_dir}/{dl1_prod_id}",
                    "--output-file={dl1_run_file}",
                    "--run-number={run}",
                    "--pattern=dl1_LST-1.Run{run_padded}.*.h5",
                    "--no-image",
                ],
                &[],
                &["{dl1_run_file}"],
            ),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct MailConfig {
    /// Send the closing summary mail.
    pub enabled: bool,
    /// SMTP relay host.
    pub smtp_host: String,
    /// SMTP relay port.
    pub smtp_port: u16,
    /// Sender address.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// Write mails as `.eml` files into this folder instead of sending them (demos, tests
    /// without a relay).
    pub file_dir: Option<PathBuf>,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            smtp_host: "localhost".to_string(),
            smtp_port: 25,
            from: "lstanalyzer@localhost".to_string(),
            to: Vec::new(),
            file_dir: None,
        }
    }
}
