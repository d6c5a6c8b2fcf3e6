//! `[closer]`, its `[[closer.stages]]` and `[mail]`: when and how nights are closed, the
//! jobs that finish a night (DL1 merge, DL2, data checks) and the morning mail.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::StepConfig;

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct CloserConfig {
    /// A night is closed only after this hour (UTC) of the next morning, unless forced.
    pub not_before_hour: u32,
    /// Runs that failed on a full disk go again once the data disk has this much room, in
    /// MiB.
    pub min_free_mib: u64,
    /// Produce DL2 (LSTOSA's `--no-dl2` is `false`): turns off every stage of kind `dl2`.
    pub dl2: bool,
    /// Run-wise and night-wise data checks (LSTOSA's `merge_dl1_datacheck`): turns off every
    /// stage of kind `datacheck`.
    pub datacheck: bool,
    /// The closing stages: jobs submitted through the executor once their inputs are there.
    /// A new stage is an entry here, not code.
    pub stages: Vec<StageConfig>,
}

/// Which jobs a stage makes: one per DATA run, or one per night.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StageScope {
    #[default]
    Run,
    Night,
}

/// What a stage produces, for the switches (`closer.dl2`, `closer.datacheck`) and the
/// status columns.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StageKind {
    #[default]
    Dl1,
    Muons,
    Datacheck,
    Dl2,
}

/// One closing stage: the step its job runs, what it waits for and what it asks SLURM for.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct StageConfig {
    /// Shown in the jobs table, history, provenance and the job name (`LST1_01807_dl2`).
    pub name: String,
    pub scope: StageScope,
    pub kind: StageKind,
    /// Turned off by hand (the switches above turn off whole kinds).
    pub enabled: bool,
    /// Stages it waits for (`afterok`): of the same run; for a night stage, of every run
    /// (run stages) or of the night (night stages).
    pub after: Vec<String>,
    /// The executable, found in `analysis.bin_dir` or on `PATH` unless absolute.
    pub program: String,
    /// Arguments; `{placeholder}`s as for the analysis steps, plus the closing ones.
    pub args: Vec<String>,
    /// Files it reads (templates; `*` and `?` match many files): hashed into provenance.
    pub inputs: Vec<String>,
    /// Its config file (template), recorded in history and provenance.
    pub config: Option<String>,
    pub prod_id: String,
    /// Files it writes (templates): verified by the closer, removed before a retry.
    pub outputs: Vec<String>,
    /// SLURM resources; empty: those of `slurm.data`.
    pub partition: Option<String>,
    pub time: Option<String>,
    pub mem_per_cpu: Option<String>,
}

impl Default for StageConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            scope: StageScope::Run,
            kind: StageKind::Dl1,
            enabled: true,
            after: Vec::new(),
            program: String::new(),
            args: Vec::new(),
            inputs: Vec::new(),
            config: None,
            prod_id: "{prod_id}".to_string(),
            outputs: Vec::new(),
            partition: None,
            time: None,
            mem_per_cpu: None,
        }
    }
}

impl StageConfig {
    /// The step its job runs (the job runner runs stages and subrun steps alike).
    pub fn step(&self) -> StepConfig {
        StepConfig {
            name: self.name.clone(),
            program: self.program.clone(),
            args: self.args.clone(),
            inputs: self.inputs.clone(),
            config: self.config.clone(),
            prod_id: self.prod_id.clone(),
            outputs: self.outputs.clone(),
        }
    }
}

fn stage(
    name: &str,
    scope: StageScope,
    kind: StageKind,
    after: &[&str],
    program: &str,
    args: &[&str],
    inputs: &[&str],
    outputs: &[&str],
) -> StageConfig {
    let strings = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
    StageConfig {
        name: name.to_string(),
        scope,
        kind,
        after: strings(after),
        program: program.to_string(),
        args: strings(args),
        inputs: strings(inputs),
        outputs: strings(outputs),
        prod_id: "{dl1_prod_id}".to_string(),
        ..StageConfig::default()
    }
}

/// LSTOSA's closing (closer.py step 7): per run the DL1 and muon merges, the run-wise data
/// check and DL2 after the merge; per night the long-term data check, then the Cherenkov
/// transparency update of its file.
pub fn default_stages() -> Vec<StageConfig> {
    use StageKind::*;
    use StageScope::*;
    let mut dl2 = stage(
        "dl2",
        Run,
        Dl2,
        &["merge_dl1"],
        "lstchain_dl1_to_dl2",
        &["--input-files={dl1_run_file}", "--output-dir={dl2_dir}", "--path-models={rf_models_dir}", "--config={dl2_config}"],
        &["{dl1_run_file}", "{rf_models_dir}/*.sav"],
        &["{dl2_run_file}"],
    );
    dl2.config = Some("{dl2_config}".to_string());
    // LSTOSA asks this much for the random forests.
    dl2.mem_per_cpu = Some("60G".to_string());
    vec![
        stage(
            "merge_dl1",
            Run,
            Dl1,
            &[],
            "lstchain_merge_hdf5_files",
            &[
                "--input-dir={dl1_dir}",
                "--output-file={dl1_run_file}",
                "--run-number={run}",
                "--pattern=dl1_LST-1.Run{run_padded}.????.h5",
                "--no-image",
                "--no-progress",
            ],
            &["{dl1_dir}/dl1_LST-1.Run{run_padded}.????.h5"],
            &["{dl1_run_file}"],
        ),
        stage(
            "merge_muons",
            Run,
            Muons,
            &[],
            "lstchain_merge_muon_files",
            &["--input-dir={muons_dir}", "--output-file={muons_run_file}", "--run-number={run}", "--pattern=muons_LST-1.Run{run_padded}.????.fits"],
            &["{muons_dir}/muons_LST-1.Run{run_padded}.????.fits"],
            &["{muons_run_file}"],
        ),
        stage(
            "datacheck_run",
            Run,
            Datacheck,
            &[],
            "lstchain_check_dl1",
            &[
                "--input-file={datacheck_dir}/datacheck_dl1_LST-1.Run{run_padded}.????.h5",
                "--output-dir={datacheck_dir}",
                "--muons-dir={muons_dir}",
                "--batch",
            ],
            &["{datacheck_dir}/datacheck_dl1_LST-1.Run{run_padded}.????.h5"],
            &["{datacheck_run_file}", "{datacheck_run_pdf}"],
        ),
        dl2,
        stage(
            "longterm",
            Night,
            Datacheck,
            &["datacheck_run", "merge_muons"],
            "lstchain_longterm_dl1_check",
            &["--input-dir={datacheck_dir}", "--output-file={longterm_file}", "--muons-dir={muons_dir}", "--batch"],
            &["{datacheck_dir}/datacheck_dl1_LST-1.Run?????.h5"],
            &["{longterm_file}", "{longterm_html}", "{longterm_log}"],
        ),
        stage(
            "transparency",
            Night,
            Datacheck,
            &["longterm"],
            "lstchain_cherenkov_transparency",
            &["--update-datacheck-file={longterm_file}", "--input-dir={datacheck_dir}"],
            &["{datacheck_dir}/datacheck_dl1_LST-1.Run?????.h5"],
            &["{longterm_file}"],
        ),
    ]
}

impl Default for CloserConfig {
    fn default() -> Self {
        Self { not_before_hour: 8, min_free_mib: 10240, dl2: true, datacheck: true, stages: default_stages() }
    }
}

impl CloserConfig {
    /// The stages that run, in config order.
    pub fn active_stages(&self) -> impl Iterator<Item = &StageConfig> {
        self.stages.iter().filter(|s| {
            s.enabled
                && match s.kind {
                    StageKind::Dl2 => self.dl2,
                    StageKind::Datacheck => self.datacheck,
                    StageKind::Dl1 | StageKind::Muons => true,
                }
        })
    }

    pub fn stage(&self, name: &str) -> Option<&StageConfig> {
        self.stages.iter().find(|s| s.name == name)
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
