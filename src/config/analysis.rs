//! `[analysis]` and `[calibration]`: production ids, the steps each job runs (steps are data:
//! a program and its `{placeholder}` templates) and how calibration runs are chosen.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// One analysis step: a program and its argument template. Steps are data, so a site adds
/// LSTOSA's further stages (gain selection, Cat-B, tail-cut finding) here without code.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct StepConfig {
    /// Name shown in history and provenance (`r0_to_dl1`, `dl1ab`, ...).
    pub name: String,
    /// The executable, found on `PATH` unless absolute.
    pub program: String,
    /// Arguments; `{placeholder}`s from [`PLACEHOLDERS`] are filled per subrun.
    pub args: Vec<String>,
    /// Files the step reads (templates): hashed into provenance; with `config`, they decide
    /// whether a step already done can be skipped.
    pub inputs: Vec<String>,
    /// The step's own config file (template), recorded in history and provenance.
    pub config: Option<String>,
    /// Production id written in history lines (LSTOSA: `{prod_id}`, `{dl1_prod_id}` for DL1b).
    pub prod_id: String,
    /// Files the step writes (templates too): removed before a retry, checked by the closer.
    pub outputs: Vec<String>,
}

impl Default for StepConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            program: String::new(),
            args: Vec::new(),
            inputs: Vec::new(),
            config: None,
            prod_id: "{prod_id}".to_string(),
            outputs: Vec::new(),
        }
    }
}

impl StepConfig {
    fn with_config(mut self, config: &str) -> Self {
        self.config = Some(config.to_string());
        self
    }

    fn with_prod_id(mut self, prod_id: &str) -> Self {
        self.prod_id = prod_id.to_string();
        self
    }
}

/// Every placeholder a step template may use.
pub const PLACEHOLDERS: &[&str] = &[
    "date",
    "night",
    "run",
    "run_padded",
    "subrun",
    "subrun_padded",
    "data_root",
    "r0_dir",
    "r0_file",
    "analysis_dir",
    "dl1_dir",
    "dl1a_file",
    "dl1b_file",
    "datacheck_file",
    "dl1_run_file",
    "drs4_run",
    "drs4_r0_file",
    "pedcal_run",
    "muons_file",
    "drs4_file",
    "calibration_file",
    "calibration_version",
    "drive_file",
    "run_summary",
    "dl1a_config",
    "dl1b_config",
    "prod_id",
    "dl1_prod_id",
    "tailcuts_finder_dir",
    "tailcuts_file",
    "catb_file",
];

/// The closing stages' own placeholders (per run, or per night), on top of [`PLACEHOLDERS`].
pub const CLOSING_PLACEHOLDERS: &[&str] = &[
    "muons_dir",
    "datacheck_dir",
    "muons_run_file",
    "datacheck_run_file",
    "datacheck_run_pdf",
    "dl2_dir",
    "dl2_run_file",
    "rf_models_dir",
    "dl2_config",
    "longterm_file",
    "longterm_html",
    "longterm_log",
];

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct AnalysisConfig {
    /// Production id: the analysis directory level `running_analysis/N/<prod_id>`.
    pub prod_id: String,
    /// DL1b production id (cleaning level), e.g. `tailcut84`.
    pub dl1_prod_id: String,
    /// DATA runs take their DL1b cleaning from the tail-cut finder (LSTOSA's default, the
    /// opposite of its `apply_standard_dl1b_config`): a run's `{dl1b_config}` is the finder's
    /// `dl1ab_RunRRRRR.json` and its `{dl1_prod_id}` is named after it (`tailcut84`,
    /// `tailcut1005`); the run waits for that file. `false`: `dl1b_config` and `dl1_prod_id`
    /// for every run.
    pub tailcuts_from_finder: bool,
    /// Version folder of the calibration products (`v<lstchain version>` upstream).
    pub calibration_version: String,
    /// lstchain config of the R0->DL1 step.
    pub dl1a_config: PathBuf,
    /// lstchain config of the DL1->DL1b step.
    pub dl1b_config: PathBuf,
    /// lstchain config of the DL1->DL2 stage.
    pub dl2_config: PathBuf,
    /// Prefix of the MC production whose RF models DL2 uses (`<mc_prod>nsb_tuning_X.XX`).
    pub mc_prod: String,
    /// Latitude of the site in degrees: which declination tracks culminate nearest the zenith.
    pub site_latitude: f64,
    /// Folder searched first for step programs given without a path (e.g. the folder of the
    /// analysis software's environment); `None`: `PATH` only.
    pub bin_dir: Option<PathBuf>,
    /// Steps of the calibration job, in order.
    pub calibration_steps: Vec<StepConfig>,
    /// Steps of each DATA subrun task, in order.
    pub data_steps: Vec<StepConfig>,
    /// Jobs of a DATA run between its two parts (LSTOSA's tail-cut finder and Cat-B
    /// calibration): a run's subruns first run the data steps before `pre_stages_before`,
    /// then these jobs run (tracked, retried and verified like the closing stages), then the
    /// subruns run the remaining steps, whose placeholders name the pre-stages' outputs.
    /// Empty: one part, as before.
    pub pre_stages: Vec<super::StageConfig>,
    /// The data step the pre-stages come before.
    pub pre_stages_before: String,
}

impl AnalysisConfig {
    /// The pre-stages that run.
    pub fn active_pre_stages(&self) -> impl Iterator<Item = &super::StageConfig> {
        self.pre_stages.iter().filter(|s| s.enabled)
    }

    /// The data step a DATA run's first part stops before, when it has pre-stages.
    pub fn first_part_stops_before(&self) -> Option<&str> {
        self.active_pre_stages().next().map(|_| self.pre_stages_before.as_str())
    }
}

fn step(name: &str, program: &str, args: &[&str], inputs: &[&str], outputs: &[&str]) -> StepConfig {
    let strings = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
    StepConfig {
        name: name.to_string(),
        program: program.to_string(),
        args: strings(args),
        inputs: strings(inputs),
        outputs: strings(outputs),
        ..StepConfig::default()
    }
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        Self {
            prod_id: "v0.10".to_string(),
            dl1_prod_id: "tailcut84".to_string(),
            tailcuts_from_finder: false,
            calibration_version: "v0.10.12".to_string(),
            dl1a_config: PathBuf::from("/fefs/aswg/lstosa/cfg/lstchain_standard_config.json"),
            dl1b_config: PathBuf::from("/fefs/aswg/lstosa/cfg/dl1ab_tailcut84.json"),
            dl2_config: PathBuf::from("/fefs/aswg/lstosa/cfg/lstchain_standard_config.json"),
            mc_prod: "20240918_v0.10.12_allsky_".to_string(),
            site_latitude: 28.76,
            bin_dir: None,
            pre_stages: Vec::new(),
            pre_stages_before: "dl1ab".to_string(),
            calibration_steps: vec![
                step(
                    "drs4_baseline",
                    "onsite_create_drs4_pedestal_file",
                    &["-r", "{drs4_run}", "-b", "{data_root}", "--r0-dir={r0_dir}", "--no-progress"],
                    &["{drs4_r0_file}"],
                    &["{drs4_file}"],
                ),
                step(
                    "charge_calibration",
                    "onsite_create_calibration_file",
                    &["-p", "{drs4_run}", "-r", "{pedcal_run}", "-b", "{data_root}", "--r0-dir={r0_dir}"],
                    &["{r0_file}", "{drs4_file}"],
                    &["{calibration_file}"],
                ),
            ],
            data_steps: vec![
                step(
                    "r0_to_dl1",
                    "lstchain_data_r0_to_dl1",
                    &[
                        "--input-file={r0_file}",
                        "--output-dir={analysis_dir}",
                        "--config={dl1a_config}",
                        "--pointing-file={drive_file}",
                        "--run-summary-path={run_summary}",
                        "--pedestal-file={drs4_file}",
                        "--calibration-file={calibration_file}",
                    ],
                    &["{r0_file}", "{drs4_file}", "{calibration_file}", "{drive_file}", "{run_summary}"],
                    &["{dl1a_file}", "{muons_file}"],
                )
                .with_config("{dl1a_config}"),
                step(
                    "dl1ab",
                    "lstchain_dl1ab",
                    &["--input-file={dl1a_file}", "--output-file={dl1b_file}", "--config={dl1b_config}"],
                    &["{dl1a_file}"],
                    &["{dl1b_file}"],
                )
                .with_config("{dl1b_config}")
                .with_prod_id("{dl1_prod_id}"),
                step(
                    "check_dl1",
                    "lstchain_check_dl1",
                    &["--input-file={dl1b_file}", "--output-dir={analysis_dir}/{dl1_prod_id}", "--muons-dir={analysis_dir}", "--omit-pdf", "--batch"],
                    &["{dl1b_file}"],
                    &["{datacheck_file}"],
                )
                .with_prod_id("{dl1_prod_id}"),
            ],
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct CalibrationConfig {
    /// How many earlier nights to search for a closed calibration when a night has none
    /// (LSTOSA's limit never applied; see known-issues.md).
    pub lookback_nights: u32,
}

impl Default for CalibrationConfig {
    fn default() -> Self {
        Self { lookback_nights: 7 }
    }
}

pub(super) fn check_template(template: &str) -> Result<(), String> {
    check_template_with(template, &[])
}

/// As [`check_template`], for a closing stage (which also has the closing placeholders).
pub(super) fn check_stage_template(template: &str) -> Result<(), String> {
    check_template_with(template, CLOSING_PLACEHOLDERS)
}

fn check_template_with(template: &str, more: &[&str]) -> Result<(), String> {
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or_else(|| format!("{template:?}: `{{` without `}}`"))?;
        let name = &after[..close];
        if !PLACEHOLDERS.contains(&name) && !more.contains(&name) {
            let known: Vec<&str> = PLACEHOLDERS.iter().chain(more).copied().collect();
            return Err(format!("{template:?}: unknown placeholder {{{name}}} (known: {})", known.join(", ")));
        }
        rest = &after[close + 1..];
    }
    Ok(())
}
