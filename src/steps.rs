//! The configured analysis steps' placeholders: the values of `{run}`, `{dl1a_file}`,
//! `{calibration_file}`, ... for one task, from the night's layout and the config. The job
//! runner fills its steps with them, the closer its merge step and the product list it
//! verifies, so a file is named the same way everywhere.

use std::collections::BTreeMap;

use crate::config::Config;
use crate::model::CalibrationRuns;
use crate::night::NightDate;
use crate::paths::Layout;

/// Values of the step placeholders for one task.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StepContext {
    values: BTreeMap<&'static str, String>,
}

impl StepContext {
    fn set(&mut self, key: &'static str, value: impl ToString) {
        self.values.insert(key, value.to_string());
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// Fills `{placeholder}`s; an unknown one is left as written (config validation refuses
    /// unknown names before any job runs).
    pub fn render(&self, template: &str) -> String {
        let mut out = String::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            match after.find('}') {
                Some(close) => {
                    let name = &after[..close];
                    match self.values.get(name) {
                        Some(value) => out.push_str(value),
                        None => out.push_str(&rest[open..open + close + 2]),
                    }
                    rest = &after[close + 1..];
                }
                None => {
                    out.push_str(&rest[open..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        out
    }
}

/// The placeholders every task of the night shares (its folders, the calibration files, the
/// configs and production ids).
pub fn night_context(config: &Config, layout: &Layout, night: NightDate, calibration: CalibrationRuns) -> StepContext {
    let mut c = StepContext::default();
    c.set("date", night);
    c.set("night", night.compact());
    c.set("data_root", layout.data_root().display());
    c.set("r0_dir", layout.r0_night_dir(night).parent().map(|d| d.display().to_string()).unwrap_or_default());
    c.set("analysis_dir", layout.analysis_dir(night).display());
    c.set("drs4_run", calibration.drs4_run);
    c.set("pedcal_run", calibration.pedcal_run);
    c.set("drs4_r0_file", layout.r0_file(calibration.night, 1, calibration.drs4_run, 0).display());
    // Tonight's calibration is where tonight's job writes it; an earlier night's is the file
    // on disk, which a site's earlier pipeline may have left under another version.
    let (drs4_file, calibration_file) = if calibration.night == night {
        (layout.drs4_file(night, calibration.drs4_run), layout.calibration_file(night, calibration.pedcal_run))
    } else {
        (
            layout.existing_drs4_file(calibration.night, calibration.drs4_run),
            layout.existing_calibration_file(calibration.night, calibration.pedcal_run),
        )
    };
    c.set("drs4_file", drs4_file.display());
    c.set("calibration_file", calibration_file.display());
    c.set("calibration_version", &config.analysis.calibration_version);
    c.set("drive_file", layout.drive_file(night).display());
    c.set("run_summary", layout.run_summary_file(night).display());
    c.set("dl1a_config", config.analysis.dl1a_config.display());
    c.set("prod_id", &config.analysis.prod_id);
    c.set("dl1b_config", config.analysis.dl1b_config.display());
    c.set("tailcuts_finder_dir", layout.tailcuts_finder_dir().display());
    c
}

/// A run's placeholders added to the night's: its cleaning (with the tail-cut finder, that
/// file and the level it names) and the folders named after it.
fn with_run(mut c: StepContext, layout: &Layout, night: NightDate, run: u32) -> StepContext {
    c.set("run", run);
    c.set("run_padded", format!("{run:05}"));
    if layout.tailcuts_from_finder() && run != crate::model::NIGHT_WIDE {
        c.set("dl1b_config", layout.tailcuts_file(run).display());
    }
    c.set("dl1_prod_id", layout.dl1_prod_id(run));
    c.set("tailcuts_file", layout.tailcuts_file(run).display());
    c.set("catb_file", layout.catb_file(night, run).display());
    c.set("dl1_dir", layout.dl1_dir(night, run).display());
    c.set("dl1_run_file", layout.dl1_run_file(night, run).display());
    c
}

/// Placeholders of one DATA subrun task.
pub fn subrun_context(config: &Config, layout: &Layout, night: NightDate, run: u32, subrun: u32, calibration: CalibrationRuns) -> StepContext {
    with_subrun(night_context(config, layout, night, calibration), layout, night, run, subrun)
}

/// A subrun's placeholders added to the night's ([`night_context`]): callers that name many
/// subruns work the night's out once (an earlier night's calibration is looked up on disk).
pub fn with_subrun(c: StepContext, layout: &Layout, night: NightDate, run: u32, subrun: u32) -> StepContext {
    let mut c = with_run(c, layout, night, run);
    c.set("subrun", subrun);
    c.set("subrun_padded", format!("{subrun:04}"));
    c.set("r0_file", layout.r0_file(night, 1, run, subrun).display());
    c.set("dl1a_file", layout.dl1a_file(night, run, subrun).display());
    c.set("muons_file", layout.muons_file(night, run, subrun).display());
    c.set("dl1b_file", layout.dl1b_file(night, run, subrun).display());
    c.set("datacheck_file", layout.datacheck_file(night, run, subrun).display());
    c
}

/// Placeholders of a closing stage's job: those of the run (its subrun 0 for the per-subrun
/// names; `run` is [`crate::model::NIGHT_WIDE`] for a night stage) and the closing ones.
/// `rf_models`: the RF model folder chosen for the run's DL2 (its NSB tuning names the DL2
/// folder), if any.
pub fn stage_context(
    config: &Config,
    layout: &Layout,
    night: NightDate,
    run: u32,
    calibration: CalibrationRuns,
    rf_models: Option<&std::path::Path>,
) -> StepContext {
    let mut c = subrun_context(config, layout, night, run, 0, calibration);
    c.set("muons_dir", layout.muons_dir(night).display());
    c.set("datacheck_dir", layout.datacheck_dir(night, run).display());
    c.set("muons_run_file", layout.muons_run_file(night, run).display());
    c.set("datacheck_run_file", layout.datacheck_run_file(night, run).display());
    c.set("datacheck_run_pdf", layout.datacheck_run_pdf(night, run).display());
    let dl2_dir = match rf_models.and_then(crate::rf_models::nsb_tuning_folder) {
        Some(folder) => layout.dl2_dir(night, run).join(folder),
        None => layout.dl2_dir(night, run),
    };
    c.set("dl2_run_file", Layout::dl2_run_file(&dl2_dir, run).display());
    c.set("dl2_dir", dl2_dir.display());
    c.set("rf_models_dir", rf_models.map(|p| p.display().to_string()).unwrap_or_default());
    c.set("dl2_config", config.analysis.dl2_config.display());
    let longterm = layout.longterm_file(night);
    c.set("longterm_html", longterm.with_extension("html").display());
    c.set("longterm_log", longterm.with_extension("log").display());
    c.set("longterm_file", longterm.display());
    c
}

/// Placeholders of the calibration job (its "subrun" is the PEDCALIB run's first file).
pub fn calibration_context(config: &Config, layout: &Layout, night: NightDate, calibration: CalibrationRuns) -> StepContext {
    let run = calibration.pedcal_run;
    let mut c = with_run(night_context(config, layout, night, calibration), layout, night, run);
    c.set("subrun", 0);
    c.set("subrun_padded", "0000");
    c.set("r0_file", layout.r0_file(night, 1, run, 0).display());
    c.set("dl1a_file", layout.dl1a_file(night, run, 0).display());
    c.set("muons_file", layout.muons_file(night, run, 0).display());
    c.set("dl1b_file", layout.dl1b_file(night, run, 0).display());
    c.set("datacheck_file", layout.datacheck_file(night, run, 0).display());
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_for_a_subrun() {
        let mut config = Config::default();
        config.paths.data_root = "/d".into();
        let layout = Layout::new(&config);
        let night: NightDate = "2026-01-05".parse().unwrap();
        let calibration = CalibrationRuns { night: night.previous(), drs4_run: 12001, pedcal_run: 12002 };
        let c = subrun_context(&config, &layout, night, 12003, 7, calibration);
        assert_eq!(c.render("--input-file={r0_file}"), "--input-file=/d/R0G/20260105/LST-1.1.Run12003.0007.fits.fz");
        assert_eq!(c.render("{run_padded}.{subrun_padded}"), "12003.0007");
        assert_eq!(
            c.render("--calibration-file={calibration_file}"),
            "--calibration-file=/d/monitoring/PixelCalibration/Cat-A/calibration/20260104/v0.10.12/calibration_filters_52.Run12002.0000.h5",
            "an earlier night's calibration is found under that night"
        );
        assert_eq!(c.render("{nope} {"), "{nope} {");
        let rf = std::path::Path::new("/d/models/AllSky/20240918_v0.10.12_allsky_nsb_tuning_0.14/dec_2276");
        let stage = stage_context(&config, &layout, night, 12003, calibration, Some(rf));
        assert_eq!(stage.render("{dl2_run_file}"), "/d/DL2/20260105/v0.10/tailcut84/nsb_tuning_0.14/dl2_LST-1.Run12003.h5");
        for name in crate::config::PLACEHOLDERS.iter().chain(crate::config::CLOSING_PLACEHOLDERS) {
            assert!(stage.get(name).is_some(), "stage placeholder {name} has no value");
        }
        for name in crate::config::PLACEHOLDERS {
            assert!(c.get(name).is_some(), "placeholder {name} has no value");
            assert!(calibration_context(&config, &layout, night, calibration).get(name).is_some(), "calibration: {name}");
        }
    }
}
