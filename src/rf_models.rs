//! Which random-forest models a DATA run's DL2 uses: LSTOSA's rule (lstosa v0.11
//! `utils.get_RF_model`), with every failure a named error instead of a traceback.
//!
//! 1. The NSB level: the tail-cut finder's log of the run says the additional NSB rate over
//!    dark MC; its `dl1ab_RunRRRRR.json` says the picture threshold of the cleaning. Among the
//!    levels trained with that threshold ([`NSB_LEVELS`]) the nearest wins (a tie: the lower),
//!    then the model folder `<mc_prod>nsb_tuning_X.XX` whose level is nearest to it.
//! 2. The declination: the run's pointing declination (RunCatalog `source_dec`). Among the
//!    `dec*` folders of that model folder, the nearest track; when the pointing lies outside
//!    the two tracks that culminate nearest the zenith of the site, a nearer track that
//!    culminates further from the zenith than the pointing is passed over.
//!
//! [`choose`] is pure (the folder names and values in, the choice out); [`find`] reads them.

use std::path::{Path, PathBuf};

/// NSB levels of the MC productions and the picture threshold each was cleaned with.
pub const NSB_LEVELS: &[(f64, u32)] =
    &[(0.00, 8), (0.07, 8), (0.14, 8), (0.22, 8), (0.38, 10), (0.50, 10), (0.81, 12), (1.25, 14), (1.76, 16), (2.34, 18)];

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RfModelError {
    #[error("cannot read {path}: {message}")]
    Unreadable { path: PathBuf, message: String },
    #[error("{path}: no line `Additional NSB rate (over dark MC): <value>`")]
    NoNsbRate { path: PathBuf },
    #[error("{path}: additional NSB rate {value} is negative")]
    NegativeNsb { path: PathBuf, value: f64 },
    #[error("{path}: no whole tailcuts_clean_with_pedestal_threshold.picture_thresh (and boundary_thresh)")]
    NoPictureThreshold { path: PathBuf },
    #[error("picture threshold {threshold} has no NSB level among the MC productions (known: 8, 10, 12, 14, 16, 18)")]
    UnknownThreshold { threshold: u32 },
    #[error("no model folder {pattern}nsb_tuning_X.XX in {dir}")]
    NoModelFolder { dir: PathBuf, pattern: String },
    #[error("no dec_* folder in {dir}")]
    NoDeclinationFolder { dir: PathBuf },
    #[error("run {run} has no pointing declination (source_dec in the RunCatalog)")]
    NoDeclination { run: u32 },
}

/// What the rule needs to know about one run, read from the site's files.
#[derive(Clone, Debug, PartialEq)]
pub struct RunConditions {
    pub nsb_rate: f64,
    pub picture_threshold: u32,
    pub declination: f64,
}

/// `nsb_tuning_0.14` from a model path (the DL2 folder of the runs it reconstructs).
pub fn nsb_tuning_folder(models: &Path) -> Option<String> {
    models.components().rev().find_map(|c| {
        let name = c.as_os_str().to_string_lossy();
        let at = name.find("nsb_tuning_")?;
        let level = &name[at + "nsb_tuning_".len()..];
        level.parse::<f64>().ok().map(|_| format!("nsb_tuning_{level}"))
    })
}

/// `dec_2276` → 22.76, `dec_min_413` → −4.13.
pub fn track_declination(folder: &str) -> Option<f64> {
    let digits = folder.strip_prefix("dec_")?;
    let (sign, digits) = match digits.strip_prefix("min_") {
        Some(rest) => (-1.0, rest),
        None => (1.0, digits),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(sign * digits.parse::<f64>().ok()? / 100.0)
}

/// The NSB level for a measured rate and the cleaning's picture threshold.
pub fn nsb_level(rate: f64, picture_threshold: u32) -> Result<f64, RfModelError> {
    NSB_LEVELS
        .iter()
        .filter(|(_, threshold)| *threshold == picture_threshold)
        .map(|(level, _)| *level)
        .fold(None, |best: Option<f64>, level| match best {
            Some(b) if (b - rate).abs() <= (level - rate).abs() => Some(b),
            _ => Some(level),
        })
        .ok_or(RfModelError::UnknownThreshold { threshold: picture_threshold })
}

/// The choice: among `model_folders` (names under the models base), the NSB folder, then
/// among `tracks` (the `dec*` folder names in it) the declination track. Returns the
/// two names.
pub fn choose_nsb_folder<'a>(level: f64, mc_prod: &str, model_folders: &'a [String]) -> Option<&'a str> {
    model_folders
        .iter()
        .filter(|name| name.starts_with(mc_prod))
        .filter_map(|name| {
            let at = name.find("nsb_tuning_")?;
            Some((name.as_str(), name[at + "nsb_tuning_".len()..].parse::<f64>().ok()?))
        })
        .min_by(|a, b| (a.1 - level).abs().total_cmp(&(b.1 - level).abs()))
        .map(|(name, _)| name)
}

pub fn choose_track<'a>(declination: f64, site_latitude: f64, tracks: &'a [String]) -> Option<&'a str> {
    let mut known: Vec<(&str, f64)> = tracks.iter().filter_map(|t| Some((t.as_str(), track_declination(t)?))).collect();
    if known.is_empty() {
        return None;
    }
    // The two tracks culminating nearest the zenith bound the "inside" of the grid.
    known.sort_by(|a, b| (a.1 - site_latitude).abs().total_cmp(&(b.1 - site_latitude).abs()));
    let inner: Vec<f64> = known.iter().take(2).map(|t| t.1).collect();
    let (low, high) = (inner.iter().copied().fold(f64::INFINITY, f64::min), inner.iter().copied().fold(f64::NEG_INFINITY, f64::max));
    known.sort_by(|a, b| (a.1 - declination).abs().total_cmp(&(b.1 - declination).abs()));
    if (low..=high).contains(&declination) {
        return Some(known[0].0);
    }
    let culmination = (site_latitude - declination).abs();
    Some(known.iter().find(|t| (site_latitude - t.1).abs() <= culmination).unwrap_or(&known[0]).0)
}

fn folders(dir: &Path) -> Result<Vec<String>, RfModelError> {
    let entries = std::fs::read_dir(dir).map_err(|e| RfModelError::Unreadable { path: dir.to_path_buf(), message: e.to_string() })?;
    let mut names: Vec<String> =
        entries.filter_map(|e| e.ok()).filter(|e| e.path().is_dir()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    Ok(names)
}

/// Reads the tail-cut finder's files of a run.
pub fn read_conditions(tailcuts_dir: &Path, run: u32, declination: Option<f64>) -> Result<RunConditions, RfModelError> {
    let log = tailcuts_dir.join(format!("log_find_tailcuts_Run{run:05}.log"));
    let text = std::fs::read_to_string(&log).map_err(|e| RfModelError::Unreadable { path: log.clone(), message: e.to_string() })?;
    let marker = "Additional NSB rate (over dark MC):";
    let nsb_rate = text
        .lines()
        .find_map(|l| l.split_once(marker).and_then(|(_, v)| v.split_whitespace().next()?.parse::<f64>().ok()))
        .ok_or_else(|| RfModelError::NoNsbRate { path: log.clone() })?;
    if nsb_rate < 0.0 {
        return Err(RfModelError::NegativeNsb { path: log, value: nsb_rate });
    }
    let json = tailcuts_dir.join(format!("dl1ab_Run{run:05}.json"));
    let text = std::fs::read_to_string(&json).map_err(|e| RfModelError::Unreadable { path: json.clone(), message: e.to_string() })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| RfModelError::Unreadable { path: json.clone(), message: e.to_string() })?;
    let picture_threshold = value
        .pointer("/tailcuts_clean_with_pedestal_threshold/picture_thresh")
        .and_then(|v| v.as_f64())
        .ok_or_else(|| RfModelError::NoPictureThreshold { path: json.clone() })? as u32;
    let declination = declination.ok_or(RfModelError::NoDeclination { run })?;
    Ok(RunConditions { nsb_rate, picture_threshold, declination })
}

/// A run's DL1b production id from the tail-cut finder's `dl1ab_RunRRRRR.json`, as LSTOSA
/// names it (lstosa `paths.get_dl1_prod_id`): `tailcut{picture}{boundary}`, the boundary
/// zero-padded to two digits unless it is 4 (`tailcut84`, `tailcut1005`).
pub fn dl1_prod_id_of(file: &Path) -> Result<String, RfModelError> {
    let text = std::fs::read_to_string(file).map_err(|e| RfModelError::Unreadable { path: file.to_path_buf(), message: e.to_string() })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| RfModelError::Unreadable { path: file.to_path_buf(), message: e.to_string() })?;
    let threshold = |name: &str| value.pointer(&format!("/tailcuts_clean_with_pedestal_threshold/{name}")).and_then(|v| v.as_u64());
    match (threshold("picture_thresh"), threshold("boundary_thresh")) {
        (Some(picture), Some(boundary)) if boundary == 4 => Ok(format!("tailcut{picture}{boundary}")),
        (Some(picture), Some(boundary)) => Ok(format!("tailcut{picture}{boundary:02}")),
        _ => Err(RfModelError::NoPictureThreshold { path: file.to_path_buf() }),
    }
}

/// The model folder of a run: `<models>/<mc_prod>nsb_tuning_X.XX/dec_XXXX`.
pub fn find(models: &Path, mc_prod: &str, site_latitude: f64, conditions: &RunConditions) -> Result<PathBuf, RfModelError> {
    let level = nsb_level(conditions.nsb_rate, conditions.picture_threshold)?;
    let names = folders(models)?;
    let nsb = choose_nsb_folder(level, mc_prod, &names)
        .ok_or_else(|| RfModelError::NoModelFolder { dir: models.to_path_buf(), pattern: mc_prod.to_string() })?;
    let dir = models.join(nsb);
    let tracks = folders(&dir)?;
    let track = choose_track(conditions.declination, site_latitude, &tracks).ok_or(RfModelError::NoDeclinationFolder { dir: dir.clone() })?;
    Ok(dir.join(track))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_nsb_level_is_the_nearest_of_the_threshold() {
        assert_eq!(nsb_level(0.15, 8), Ok(0.14));
        assert_eq!(nsb_level(0.105, 8), Ok(0.07), "a tie goes to the lower level");
        assert_eq!(nsb_level(0.9, 10), Ok(0.50), "only the levels of that threshold");
        assert_eq!(nsb_level(5.0, 18), Ok(2.34));
        assert_eq!(nsb_level(0.1, 9), Err(RfModelError::UnknownThreshold { threshold: 9 }));
    }

    #[test]
    fn the_model_folder_is_the_nearest_level_of_the_production() {
        let folders =
            names(&["20240918_v0.10.12_allsky_nsb_tuning_0.14", "20240918_v0.10.12_allsky_nsb_tuning_0.50", "other_nsb_tuning_0.22", "junk"]);
        assert_eq!(choose_nsb_folder(0.22, "20240918_v0.10.12_allsky_", &folders), Some("20240918_v0.10.12_allsky_nsb_tuning_0.14"));
        assert_eq!(choose_nsb_folder(0.38, "20240918_v0.10.12_allsky_", &folders), Some("20240918_v0.10.12_allsky_nsb_tuning_0.50"));
        assert_eq!(choose_nsb_folder(0.38, "2025", &folders), None);
    }

    #[test]
    fn declination_tracks() {
        assert_eq!(track_declination("dec_2276"), Some(22.76));
        assert_eq!(track_declination("dec_min_413"), Some(-4.13));
        assert_eq!(track_declination("dec_931"), Some(9.31));
        assert_eq!(track_declination("decoy"), None);
        let tracks = names(&["dec_min_1802", "dec_min_413", "dec_931", "dec_2276", "dec_3476", "dec_4822", "dec_6166"]);
        let lat = 28.76;
        assert_eq!(choose_track(25.0, lat, &tracks), Some("dec_2276"), "inside the two tracks nearest the zenith: the nearest");
        assert_eq!(choose_track(32.0, lat, &tracks), Some("dec_3476"));
        assert_eq!(choose_track(45.0, lat, &tracks), Some("dec_3476"), "dec_4822 is nearer but culminates further from the zenith");
        assert_eq!(choose_track(48.22, lat, &tracks), Some("dec_4822"), "on the track itself");
        assert_eq!(choose_track(-10.0, lat, &tracks), Some("dec_min_413"));
        assert_eq!(choose_track(10.0, lat, &[]), None);
    }

    #[test]
    fn dl2_folders_are_named_by_the_nsb_tuning() {
        let p = Path::new("/m/20240918_v0.10.12_allsky_nsb_tuning_0.14/dec_2276");
        assert_eq!(nsb_tuning_folder(p).as_deref(), Some("nsb_tuning_0.14"));
        assert_eq!(nsb_tuning_folder(Path::new("/m/plain/dec_2276")), None);
    }

    #[test]
    fn conditions_are_read_from_the_tail_cut_finder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("log_find_tailcuts_Run01807.log"), "INFO x\nINFO Additional NSB rate (over dark MC): 0.231\n").unwrap();
        std::fs::write(
            dir.path().join("dl1ab_Run01807.json"),
            r#"{"tailcuts_clean_with_pedestal_threshold": {"picture_thresh": 8, "boundary_thresh": 4}}"#,
        )
        .unwrap();
        let c = read_conditions(dir.path(), 1807, Some(22.0)).unwrap();
        assert_eq!(c, RunConditions { nsb_rate: 0.231, picture_threshold: 8, declination: 22.0 });
        assert_eq!(read_conditions(dir.path(), 1807, None), Err(RfModelError::NoDeclination { run: 1807 }));
        assert!(matches!(read_conditions(dir.path(), 1808, Some(1.0)), Err(RfModelError::Unreadable { .. })));
        for (nsb, track) in [("nsb_tuning_0.14", "dec_2276"), ("nsb_tuning_0.14", "dec_3476"), ("nsb_tuning_0.50", "dec_2276")] {
            std::fs::create_dir_all(dir.path().join("models").join(format!("prod_{nsb}")).join(track)).unwrap();
        }
        let found = find(&dir.path().join("models"), "prod_", 28.76, &c).unwrap();
        assert_eq!(found, dir.path().join("models/prod_nsb_tuning_0.14/dec_2276"));
    }

    #[test]
    fn the_cleaning_level_is_named_as_lstosa_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("dl1ab_Run01807.json");
        for (picture, boundary, name) in [("8", "4", "tailcut84"), ("10", "5", "tailcut1005"), ("12", "6", "tailcut1206"), ("8", "5", "tailcut805")] {
            let text = format!(r#"{{"tailcuts_clean_with_pedestal_threshold": {{"picture_thresh": {picture}, "boundary_thresh": {boundary}}}}}"#);
            std::fs::write(&file, text).unwrap();
            assert_eq!(dl1_prod_id_of(&file).unwrap(), name);
        }
        std::fs::write(&file, r#"{"tailcuts_clean_with_pedestal_threshold": {"picture_thresh": 7.5, "boundary_thresh": 4}}"#).unwrap();
        assert_eq!(dl1_prod_id_of(&file), Err(RfModelError::NoPictureThreshold { path: file.clone() }), "no level is named after half a p.e.");
        assert!(matches!(dl1_prod_id_of(&dir.path().join("none.json")), Err(RfModelError::Unreadable { .. })));
    }
}
