//! Job scripts: one bash script per submission, `#SBATCH` header as LSTOSA writes it (job
//! name, time, chdir, output/error with `%A`/`%a`, array, partition, memory per CPU, account),
//! all from the config; the body runs `osa job …` for the task's subrun. Pure functions:
//! golden-tested below, written to the night's log folder by the caller and kept.

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::model::{CalibrationRuns, SequenceKind};
use crate::night::NightDate;

/// How a task calls osa back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OsaCommand {
    pub program: PathBuf,
    pub config: Option<PathBuf>,
    /// The production the job works for: named in the script, so an edit of the config while
    /// jobs wait never moves them to another production.
    pub prod_id: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptInput<'a> {
    pub night: NightDate,
    pub run: u32,
    pub attempt: u32,
    pub kind: SequenceKind,
    /// `--array` indices text (`0-141`, or only the subruns resubmitted: `3,7`); `None` for
    /// the calibration job.
    pub array: Option<String>,
    /// `--time` and `--mem-per-cpu`: the job kind's config, or raised for a retry.
    pub time: &'a str,
    pub mem_per_cpu: &'a str,
    pub job_name: &'a str,
    pub workdir: &'a Path,
    pub calibration: CalibrationRuns,
    pub osa: &'a OsaCommand,
    /// A DATA run's first part: the data step its tasks stop before.
    pub stops_before: Option<&'a str>,
}

/// Output and error file patterns, relative to the work dir (SLURM expands them). The
/// calibration job is not an array (SLURM would expand `%a` to 4294967294): its name says 0000.
pub fn log_patterns(run: u32, kind: SequenceKind) -> (String, String) {
    let task = if kind == SequenceKind::Data { "%4a" } else { "0000" };
    (format!("log/Run{run:05}.{task}_jobid_%A.out"), format!("log/Run{run:05}.{task}_jobid_%A.err"))
}

fn quote(text: &str) -> String {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./:=+,@".contains(&b)) {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// A closing stage's job: one task, its resources from the stage's config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StageScriptInput<'a> {
    pub night: NightDate,
    /// [`crate::model::NIGHT_WIDE`] for a night stage.
    pub run: u32,
    pub stage: &'a str,
    pub attempt: u32,
    pub partition: &'a str,
    pub time: &'a str,
    pub mem_per_cpu: &'a str,
    pub job_name: &'a str,
    pub workdir: &'a Path,
    pub calibration: CalibrationRuns,
    pub rf_models: Option<&'a Path>,
    pub osa: &'a OsaCommand,
}

/// `LST1_RRRRR_<stage>` (`LST1_night_<stage>`): the stage shows in `squeue` and `sacct`.
pub fn stage_job_name(run: u32, stage: &str) -> String {
    if run == crate::model::NIGHT_WIDE { format!("LST1_night_{stage}") } else { format!("LST1_{run:05}_{stage}") }
}

/// Output and error files of a stage's job, relative to the work dir.
pub fn stage_log_patterns(run: u32, stage: &str) -> (String, String) {
    let owner = crate::paths::stage_owner(run);
    (format!("log/{owner}_{stage}_jobid_%j.out"), format!("log/{owner}_{stage}_jobid_%j.err"))
}

/// The `#SBATCH` header every osa job script starts with (LSTOSA's order), then a blank line.
struct Header<'a> {
    job_name: &'a str,
    time: &'a str,
    workdir: &'a Path,
    output: &'a str,
    error: &'a str,
    array: Option<&'a str>,
    partition: &'a str,
    mem_per_cpu: &'a str,
}

fn header(config: &Config, h: &Header) -> Vec<String> {
    let mut lines = vec![
        "#!/bin/bash".to_string(),
        format!("#SBATCH --job-name={}", h.job_name),
        format!("#SBATCH --time={}", h.time),
        format!("#SBATCH --chdir={}", h.workdir.display()),
        format!("#SBATCH --output={}", h.output),
        format!("#SBATCH --error={}", h.error),
    ];
    if let Some(array) = h.array {
        lines.push(format!("#SBATCH --array={array}"));
    }
    lines.push(format!("#SBATCH --partition={}", h.partition));
    lines.push(format!("#SBATCH --mem-per-cpu={}", h.mem_per_cpu));
    lines.push(format!("#SBATCH --account={}", config.slurm.account));
    for extra in &config.slurm.extra_sbatch_args {
        lines.push(format!("#SBATCH {extra}"));
    }
    lines.push(String::new());
    lines
}

/// `osa [--config FILE]`, quoted for the script.
fn osa_argv(osa: &OsaCommand) -> Vec<String> {
    let mut argv = vec![quote(&osa.program.display().to_string())];
    if let Some(config_file) = &osa.config {
        argv.push("--config".to_string());
        argv.push(quote(&config_file.display().to_string()));
    }
    argv.extend(["--prod-id".to_string(), quote(&osa.prod_id)]);
    argv
}

pub fn stage_script(config: &Config, input: &StageScriptInput) -> String {
    let (output, error) = stage_log_patterns(input.run, input.stage);
    let mut lines = header(
        config,
        &Header {
            job_name: input.job_name,
            time: input.time,
            workdir: input.workdir,
            output: &output,
            error: &error,
            array: None,
            partition: input.partition,
            mem_per_cpu: input.mem_per_cpu,
        },
    );
    lines.push(format!("# Written by osa for night {}, run {}, stage {}, attempt {}.", input.night, input.run, input.stage, input.attempt));
    let mut argv = osa_argv(input.osa);
    let c = input.calibration;
    argv.extend(["job".into(), "stage".into(), format!("--date={}", input.night), format!("--run={}", input.run)]);
    argv.extend([format!("--stage={}", input.stage), format!("--attempt={}", input.attempt), format!("--calibration-night={}", c.night)]);
    argv.extend([format!("--drs4-run={}", c.drs4_run), format!("--pedcal-run={}", c.pedcal_run)]);
    if let Some(models) = input.rf_models {
        argv.push(quote(&format!("--rf-models={}", models.display())));
    }
    lines.push(format!("exec {}", argv.join(" ")));
    lines.push(String::new());
    lines.join("\n")
}

pub fn job_script(config: &Config, input: &ScriptInput) -> String {
    let partition = match input.kind {
        SequenceKind::Calibration => &config.slurm.calibration.partition,
        SequenceKind::Data => &config.slurm.data.partition,
    };
    let (output, error) = log_patterns(input.run, input.kind);
    let mut lines = header(
        config,
        &Header {
            job_name: input.job_name,
            time: input.time,
            workdir: input.workdir,
            output: &output,
            error: &error,
            array: input.array.as_deref(),
            partition,
            mem_per_cpu: input.mem_per_cpu,
        },
    );
    lines.push(format!("# Written by osa for night {}, run {}, attempt {}.", input.night, input.run, input.attempt));
    let mut argv = osa_argv(input.osa);
    let c = input.calibration;
    match input.kind {
        SequenceKind::Calibration => {
            argv.extend(["job".into(), "calibration".into(), format!("--date={}", input.night)]);
            argv.extend([format!("--drs4-run={}", c.drs4_run), format!("--pedcal-run={}", c.pedcal_run), format!("--attempt={}", input.attempt)]);
        }
        SequenceKind::Data => {
            lines.push("# The subrun is the array index: SLURM_ARRAY_TASK_ID.".to_string());
            argv.extend(["job".into(), "subrun".into(), format!("--date={}", input.night), format!("--run={}", input.run)]);
            argv.extend([format!("--attempt={}", input.attempt), format!("--calibration-night={}", c.night)]);
            argv.extend([format!("--drs4-run={}", c.drs4_run), format!("--pedcal-run={}", c.pedcal_run)]);
            if let Some(step) = input.stops_before {
                argv.push(quote(&format!("--stop-before={step}")));
            }
        }
    }
    lines.push(format!("exec {}", argv.join(" ")));
    lines.push(String::new());
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(kind: SequenceKind, osa: &'a OsaCommand, workdir: &'a Path) -> ScriptInput<'a> {
        let night: NightDate = "2026-01-05".parse().unwrap();
        ScriptInput {
            night,
            run: if kind == SequenceKind::Data { 12003 } else { 12002 },
            attempt: 1,
            kind,
            array: (kind == SequenceKind::Data).then(|| "0-141".to_string()),
            time: "01:15:00",
            mem_per_cpu: if kind == SequenceKind::Data { "6G" } else { "3G" },
            job_name: if kind == SequenceKind::Data { "LST1_12003" } else { "LST1_12002" },
            workdir,
            calibration: CalibrationRuns { night, drs4_run: 12001, pedcal_run: 12002 },
            osa,
            stops_before: None,
        }
    }

    #[test]
    fn data_script_golden() {
        let osa = OsaCommand { program: "/usr/bin/osa".into(), config: Some("/etc/osa/osa.toml".into()), prod_id: "v0.10".into() };
        let workdir = Path::new("/fefs/aswg/data/real/running_analysis/20260105/v0.10");
        let text = job_script(&Config::default(), &input(SequenceKind::Data, &osa, workdir));
        assert_eq!(
            text,
            "#!/bin/bash
#SBATCH --job-name=LST1_12003
#SBATCH --time=01:15:00
#SBATCH --chdir=/fefs/aswg/data/real/running_analysis/20260105/v0.10
#SBATCH --output=log/Run12003.%4a_jobid_%A.out
#SBATCH --error=log/Run12003.%4a_jobid_%A.err
#SBATCH --array=0-141
#SBATCH --partition=short
#SBATCH --mem-per-cpu=6G
#SBATCH --account=dpps

# Written by osa for night 2026-01-05, run 12003, attempt 1.
# The subrun is the array index: SLURM_ARRAY_TASK_ID.
exec /usr/bin/osa --config /etc/osa/osa.toml --prod-id v0.10 job subrun --date=2026-01-05 --run=12003 --attempt=1 --calibration-night=2026-01-05 --drs4-run=12001 --pedcal-run=12002
"
        );
        let first_part = job_script(&Config::default(), &ScriptInput { stops_before: Some("dl1ab"), ..input(SequenceKind::Data, &osa, workdir) });
        assert!(first_part.ends_with("--pedcal-run=12002 --stop-before=dl1ab\n"), "{first_part}");
    }

    #[test]
    fn stage_script_golden() {
        let osa = OsaCommand { program: "/usr/bin/osa".into(), config: Some("/etc/osa/osa.toml".into()), prod_id: "v0.10".into() };
        let night: NightDate = "2026-01-05".parse().unwrap();
        let text = stage_script(
            &Config::default(),
            &StageScriptInput {
                night,
                run: 12003,
                stage: "dl2",
                attempt: 2,
                partition: "long",
                time: "02:00:00",
                mem_per_cpu: "60G",
                job_name: &stage_job_name(12003, "dl2"),
                workdir: Path::new("/d"),
                calibration: CalibrationRuns { night, drs4_run: 12001, pedcal_run: 12002 },
                rf_models: Some(Path::new("/m/nsb_tuning_0.14/dec_2276")),
                osa: &osa,
            },
        );
        assert_eq!(
            text,
            "#!/bin/bash
#SBATCH --job-name=LST1_12003_dl2
#SBATCH --time=02:00:00
#SBATCH --chdir=/d
#SBATCH --output=log/LST1_12003_dl2_jobid_%j.out
#SBATCH --error=log/LST1_12003_dl2_jobid_%j.err
#SBATCH --partition=long
#SBATCH --mem-per-cpu=60G
#SBATCH --account=dpps

# Written by osa for night 2026-01-05, run 12003, stage dl2, attempt 2.
exec /usr/bin/osa --config /etc/osa/osa.toml --prod-id v0.10 job stage --date=2026-01-05 --run=12003 --stage=dl2 --attempt=2 --calibration-night=2026-01-05 --drs4-run=12001 --pedcal-run=12002 --rf-models=/m/nsb_tuning_0.14/dec_2276
"
        );
        assert_eq!(stage_job_name(0, "longterm"), "LST1_night_longterm");
    }

    #[test]
    fn calibration_script_golden() {
        let osa = OsaCommand { program: "/opt/osa bin/osa".into(), config: None, prod_id: "v0.10".into() };
        let mut config = Config::default();
        config.slurm.extra_sbatch_args = vec!["--qos=normal".to_string()];
        let text = job_script(&config, &input(SequenceKind::Calibration, &osa, Path::new("/d")));
        assert_eq!(
            text,
            "#!/bin/bash
#SBATCH --job-name=LST1_12002
#SBATCH --time=01:15:00
#SBATCH --chdir=/d
#SBATCH --output=log/Run12002.0000_jobid_%A.out
#SBATCH --error=log/Run12002.0000_jobid_%A.err
#SBATCH --partition=short
#SBATCH --mem-per-cpu=3G
#SBATCH --account=dpps
#SBATCH --qos=normal

# Written by osa for night 2026-01-05, run 12002, attempt 1.
exec '/opt/osa bin/osa' --prod-id v0.10 job calibration --date=2026-01-05 --drs4-run=12001 --pedcal-run=12002 --attempt=1
"
        );
    }
}
