//! Night summary parsing: every format, and the malformed or suspicious files an operator
//! meets, each error or warning pinned to its file and line.

use std::path::{Path, PathBuf};

use osa::model::RunType;
use osa::summary::{self, LineProblem, NightSummary, SummaryError, SummaryFormat};

struct Files(tempfile::TempDir);

impl Files {
    fn new() -> Self {
        Self(tempfile::tempdir().unwrap())
    }

    fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.0.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        path
    }
}

const V1: &str = "\
5088301 1 PEDESTAL 2020-01-12 21:02:06 None 1000 7.9 05:34:31 22:00:52 DEFAULT No_Test stdHV No_Filter
5088302 1 CALIBRATION 2020-01-12 21:05:06 None 1000 7.9 05:34:31 22:00:52 DEFAULT No_Test stdHV No_Filter
5088304 1 DATA 2020-01-12 21:12:06 Crab-W0.40+180 16450 7.9 05:34:31 22:00:52 DEFAULT No_Test stdHV No_Filter
5088304 2 DATA 2020-01-12 21:13:06 Crab-W0.40+180 16000 8.1 05:34:31 22:00:52 DEFAULT No_Test stdHV No_Filter
5088304 3 DATA 2020-01-12 21:14:06 Crab-W0.40+180 15000 8.3 05:34:31 22:00:52 DEFAULT No_Test stdHV No_Filter
5088305 1 DATA 2020-01-13 01:14:06 Mrk421 9000 20.3 11:04:27 38:12:31 DEFAULT No_Test stdHV No_Filter
";

const V2: &str = "\
02099   4 DRS4  2020-03-02 21:50:05 0002 1583185805123456789 5123456500 nan nan nan
02100   2 CALI  2020-03-02 21:58:05 0002 1583186285123456789 5123456501 nan nan nan
02101  57 DATA  2020-03-02 22:10:05 0002 1583187005123456789 5123456502 nan nan nan
";

const ECSV_HEADER: &str = "\
# %ECSV 1.0
# ---
# datatype:
# - {name: run_id, datatype: int64}
# - {name: n_subruns, datatype: int64}
# - {name: run_type, datatype: string}
# - {name: data_format, datatype: string}
# - {name: evb_preprocessing, datatype: int64}
# - {name: ucts_timestamp, datatype: int64}
# - {name: run_start, datatype: int64}
# - {name: dragon_reference_time, datatype: int64}
# - {name: dragon_reference_module_id, datatype: int16}
# - {name: dragon_reference_module_index, datatype: int16}
# - {name: dragon_reference_counter, datatype: uint64}
# - {name: dragon_reference_source, datatype: string}
# delimiter: ','
# meta: !!omap
# - {date: '2023-11-20'}
# - {lstchain_version: 0.10.5}
# schema: astropy-2.0
run_id,n_subruns,run_type,data_format,evb_preprocessing,ucts_timestamp,run_start,dragon_reference_time,dragon_reference_module_id,dragon_reference_module_index,dragon_reference_counter,dragon_reference_source
";

fn ecsv_rows(rows: &[&str]) -> String {
    let mut text = ECSV_HEADER.to_string();
    for row in rows {
        text.push_str(row);
        text.push('\n');
    }
    text
}

const ROW_DRS4: &str = "15000,8,DRS4,PBFHEAD,0,1700510000111111111,1700510000000000000,1700510000111111111,12,0,4111111000,ucts";
const ROW_PEDCALIB: &str = "15001,6,PEDCALIB,PBFHEAD,0,1700510600111111111,1700510600000000000,1700510600111111111,12,0,4111111001,ucts";
const ROW_DATA: &str = "15002,142,DATA,PBFHEAD,0,1700511200111111111,1700511200000000000,1700511200111111111,12,0,4111111002,ucts";

fn rejected(result: Result<NightSummary, SummaryError>) -> (PathBuf, Vec<LineProblem>) {
    match result {
        Err(SummaryError::Rejected { file, problems }) => (file, problems),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

fn warning_lines(night: &NightSummary) -> Vec<(usize, String)> {
    night.warnings.iter().map(|w| (w.line, w.message.clone())).collect()
}

fn assert_one_warning(night: &NightSummary, file: &Path, line: usize, contains: &str) {
    assert_eq!(night.warnings.len(), 1, "{:?}", warning_lines(night));
    let w = &night.warnings[0];
    assert_eq!((w.file.as_path(), w.line), (file, line), "{w}");
    assert!(w.message.contains(contains), "{w}");
}

#[test]
fn v1_per_subrun_lines_fold_into_runs() {
    let files = Files::new();
    let file = files.write("NightSummary_20200113_LST1.txt", V1);
    let night = summary::load(&file).unwrap();
    assert_eq!(night.format, SummaryFormat::NightSummaryV1);
    assert_eq!(night.date.to_string(), "2020-01-13");
    let runs: Vec<_> = night.runs.iter().map(|r| (r.run, r.run_type, r.subruns, r.source.as_deref())).collect();
    assert_eq!(
        runs,
        [
            (5088301, RunType::Drs4, 1, Some("None")),
            (5088302, RunType::Pedcalib, 1, Some("None")),
            (5088304, RunType::Data, 3, Some("Crab")),
            (5088305, RunType::Data, 1, Some("Mrk421")),
        ]
    );
    assert_eq!(night.run(5088304).unwrap().events, Some(47450));
    assert!(night.warnings.is_empty(), "rows dated the evening before the file's date are normal: {:?}", warning_lines(&night));
}

#[test]
fn v2_per_run_lines() {
    let files = Files::new();
    let file = files.write("NightSummary_20200302.txt", V2);
    let night = summary::load(&file).unwrap();
    assert_eq!(night.format, SummaryFormat::NightSummaryV2);
    let runs: Vec<_> = night.runs.iter().map(|r| (r.run, r.run_type, r.subruns, r.line)).collect();
    assert_eq!(runs, [(2099, RunType::Drs4, 4, 1), (2100, RunType::Pedcalib, 2, 2), (2101, RunType::Data, 57, 3)]);
    assert_eq!(night.runs[1].type_as_written, "CALI");
    assert!(night.warnings.is_empty());
}

#[test]
fn run_summary_ecsv_both_header_versions_and_old_columns() {
    let files = Files::new();
    let file = files.write("RunSummary_20231120.ecsv", &ecsv_rows(&[ROW_DRS4, ROW_PEDCALIB, ROW_DATA]));
    let night = summary::load(&file).unwrap();
    assert_eq!(night.format, SummaryFormat::RunSummary);
    let runs: Vec<_> = night.runs.iter().map(|r| (r.run, r.run_type, r.subruns, r.line)).collect();
    assert_eq!(runs, [(15000, RunType::Drs4, 8, 22), (15001, RunType::Pedcalib, 6, 23), (15002, RunType::Data, 142, 24)]);
    assert_eq!(night.runs[2].start.unwrap().to_rfc3339(), "2023-11-20T20:13:20+00:00");
    assert!(night.warnings.is_empty(), "{:?}", warning_lines(&night));

    // astropy < 5 wrote `# %ECSV 0.9`; files before Nov 2023 lack data_format and evb_preprocessing.
    let old = "# %ECSV 0.9\n# ---\n# datatype:\n# - {name: run_id, datatype: int64}\n# - {name: n_subruns, datatype: int64}\n# - {name: run_type, datatype: string}\n# - {name: ucts_timestamp, datatype: int64}\n# - {name: run_start, datatype: int64}\n# delimiter: ','\n# meta: !!omap\n# - {date: '2021-03-01'}\n# schema: astropy-2.0\nrun_id,n_subruns,run_type,ucts_timestamp,run_start\n3900,5,DRS4,-1,1614632400000000000\n3901,3,CALI,-1,1614633000000000000\n3902,20,DATA,-1,1614633600000000000\n";
    let file = files.write("RunSummary_20210301.ecsv", old);
    let night = summary::load(&file).unwrap();
    let types: Vec<_> = night.runs.iter().map(|r| r.run_type).collect();
    assert_eq!(types, [RunType::Drs4, RunType::Pedcalib, RunType::Data]);
}

#[test]
fn crlf_line_endings_and_a_bom_read_like_the_clean_file() {
    let files = Files::new();
    for (name, clean) in [
        ("NightSummary_20200113_LST1.txt", V1.to_string()),
        ("NightSummary_20200302.txt", V2.to_string()),
        ("RunSummary_20231120.ecsv", ecsv_rows(&[ROW_DRS4, ROW_PEDCALIB, ROW_DATA])),
    ] {
        let reference = summary::load(&files.write(&format!("clean/{name}"), &clean)).unwrap();
        let dirty = format!("\u{feff}{}", clean.replace('\n', "\r\n"));
        let night = summary::load(&files.write(&format!("dirty/{name}"), &dirty)).unwrap();
        assert_eq!(night.runs, reference.runs, "{name}");
        assert!(night.warnings.is_empty(), "{name}: {:?}", warning_lines(&night));
    }
}

// ---- malformed files: rejected, naming file, line and field ----

#[test]
fn wrong_column_count_is_rejected_with_its_line() {
    let files = Files::new();
    let text =
        V2.replace("02100   2 CALI  2020-03-02 21:58:05 0002 1583186285123456789 5123456501 nan nan nan", "02100   2 CALI  2020-03-02 21:58:05 0002");
    let file = files.write("NightSummary_20200302.txt", &text);
    let (path, problems) = rejected(summary::load(&file));
    assert_eq!(path, file);
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].line, 2);
    assert!(problems[0].message.contains("expected 11 fields") && problems[0].message.contains("found 6"), "{:?}", problems[0]);

    let file = files.write("RunSummary_20231120.ecsv", &ecsv_rows(&[ROW_DRS4, "15001,6,PEDCALIB,PBFHEAD,0", ROW_DATA]));
    let (_, problems) = rejected(summary::load(&file));
    assert_eq!((problems[0].line, problems[0].message.as_str()), (23, "expected 12 columns, found 5"));
}

#[test]
fn bad_date_is_rejected_naming_the_field() {
    let files = Files::new();
    let text = V1.replace("5088304 2 DATA 2020-01-12 21:13:06", "5088304 2 DATA 2020-13-12 21:13:06");
    let file = files.write("NightSummary_20200113_LST1.txt", &text);
    let err = summary::load(&file).unwrap_err();
    let shown = err.to_string();
    assert!(shown.contains(&format!("{}:4: field `date time`", file.display())), "{shown}");
    assert!(shown.contains("YYYY-MM-DD HH:MM:SS"), "says what was expected: {shown}");
}

#[test]
fn non_numeric_run_is_rejected_naming_the_field() {
    let files = Files::new();
    let file = files.write("RunSummary_20231120.ecsv", &ecsv_rows(&[ROW_DRS4, &ROW_PEDCALIB.replace("15001", "15O01"), ROW_DATA]));
    let (_, problems) = rejected(summary::load(&file));
    assert_eq!(problems.len(), 1);
    assert_eq!((problems[0].line, problems[0].field.as_deref()), (23, Some("run_id")));
    assert!(problems[0].message.contains("\"15O01\" is not a run number"));

    let file = files.write("NightSummary_20200302.txt", &V2.replace("02101  57", "02101  5x"));
    let (_, problems) = rejected(summary::load(&file));
    assert_eq!((problems[0].line, problems[0].field.as_deref()), (3, Some("n_subruns")));
}

#[test]
fn every_bad_line_is_reported_not_just_the_first() {
    let files = Files::new();
    let text = V2.replace("02099", "R2099").replace("2020-03-02 22:10:05", "2020-03-02 25:10:05");
    let (_, problems) = rejected(summary::load(&files.write("NightSummary_20200302.txt", &text)));
    let lines: Vec<_> = problems.iter().map(|p| (p.line, p.field.clone().unwrap())).collect();
    assert_eq!(lines, [(1, "run".to_string()), (3, "date time".to_string())]);
}

#[test]
fn trailing_garbage_is_rejected() {
    let files = Files::new();
    let file = files.write("NightSummary_20200302.txt", &format!("{V2}-- end of night, shifter J. --\n"));
    let (_, problems) = rejected(summary::load(&file));
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].line, 4);

    let file = files.write("RunSummary_20231120.ecsv", &format!("{}garbage\n", ecsv_rows(&[ROW_DRS4])));
    let (_, problems) = rejected(summary::load(&file));
    assert_eq!((problems[0].line, problems[0].message.as_str()), (23, "expected 12 columns, found 1"));
}

#[test]
fn truncated_last_line_is_incomplete_not_rejected() {
    let files = Files::new();
    let text = format!("{V2}02102  12 DATA  2020-03-02 23:");
    let file = files.write("NightSummary_20200302.txt", &text);
    match summary::load(&file) {
        Err(SummaryError::Incomplete { file: f, line, .. }) => assert_eq!((f, line), (file.clone(), 4)),
        other => panic!("expected incomplete, got {other:?}"),
    }
    let shown = summary::load(&file).unwrap_err().to_string();
    assert!(shown.contains(":4: incomplete last line (still being written?)"), "{shown}");

    let ecsv = format!("{}15002,142,DATA,PBF", ecsv_rows(&[ROW_DRS4, ROW_PEDCALIB]));
    let file = files.write("RunSummary_20231120.ecsv", &ecsv);
    assert!(matches!(summary::load(&file), Err(SummaryError::Incomplete { line: 24, .. })));

    // A complete last line that merely lacks its newline is fine.
    let file = files.write("NightSummary_20200303.txt", V2.trim_end());
    assert_eq!(summary::load(&file).unwrap().runs.len(), 3);
}

// ---- suspicious files: loaded, with warnings ----

#[test]
fn unknown_type_is_kept_with_a_warning() {
    let files = Files::new();
    let file = files.write("RunSummary_20231120.ecsv", &ecsv_rows(&[ROW_DRS4, ROW_PEDCALIB, &ROW_DATA.replace("DATA", "SKYDATA")]));
    let night = summary::load(&file).unwrap();
    assert_eq!(night.runs[2].run_type, RunType::Unknown);
    assert_eq!(night.runs[2].type_as_written, "SKYDATA");
    assert_one_warning(&night, &file, 24, "unknown type \"SKYDATA\"");
}

#[test]
fn operator_edited_types_are_understood() {
    let files = Files::new();
    let file = files.write(
        "RunSummary_20231120.ecsv",
        &ecsv_rows(&[ROW_DRS4, &ROW_PEDCALIB.replace("PEDCALIB", "ERRPEDCALIB"), &ROW_DATA.replace("DATA", "EDATA")]),
    );
    let night = summary::load(&file).unwrap();
    assert_eq!(night.runs[1].run_type, RunType::Excluded);
    assert_eq!(night.runs[2].run_type, RunType::Excluded);
    assert!(night.warnings.is_empty());
}

#[test]
fn duplicate_run_keeps_the_first_line_with_a_warning() {
    let files = Files::new();
    let dup = ROW_PEDCALIB.replace(",6,", ",7,");
    let file = files.write("RunSummary_20231120.ecsv", &ecsv_rows(&[ROW_DRS4, ROW_PEDCALIB, &dup, ROW_DATA]));
    let night = summary::load(&file).unwrap();
    assert_eq!(night.runs.len(), 3);
    assert_eq!(night.run(15001).unwrap().subruns, 6);
    assert_one_warning(&night, &file, 24, "run 15001 listed again (first at line 23)");

    let v1 = format!("{V1}5088304 2 DATA 2020-01-12 21:13:06 Crab-W0.40+180 16000 8.1 05:34:31 22:00:52 DEFAULT No_Test stdHV No_Filter\n");
    let file = files.write("NightSummary_20200113_LST1.txt", &v1);
    let night = summary::load(&file).unwrap();
    assert_eq!(night.run(5088304).unwrap().subruns, 3);
    assert_one_warning(&night, &file, 7, "subrun 2 listed twice");
}

#[test]
fn subrun_gap_is_a_warning_on_the_runs_first_line() {
    let files = Files::new();
    let text: String = V1.lines().filter(|l| !l.starts_with("5088304 2 ")).map(|l| format!("{l}\n")).collect();
    let file = files.write("NightSummary_20200113_LST1.txt", &text);
    let night = summary::load(&file).unwrap();
    assert_eq!(night.run(5088304).unwrap().subruns, 3, "counted up to the last subrun seen");
    assert_one_warning(&night, &file, 3, "no line for subrun(s) 2");
}

#[test]
fn runs_out_of_time_order_are_warned() {
    let files = Files::new();
    let swapped = V2.replace("2020-03-02 22:10:05", "2020-03-02 21:40:05");
    let file = files.write("NightSummary_20200302.txt", &swapped);
    let night = summary::load(&file).unwrap();
    assert_one_warning(&night, &file, 3, "before run 2100");

    let file = files.write("RunSummary_20231120.ecsv", &ecsv_rows(&[ROW_DRS4, ROW_DATA, ROW_PEDCALIB]));
    let night = summary::load(&file).unwrap();
    assert_one_warning(&night, &file, 24, "run 15001 is listed after run 15002");
}

#[test]
fn rows_far_from_the_files_date_are_warned() {
    let files = Files::new();
    let text = V1.replace("5088305 1 DATA 2020-01-13 01:14:06", "5088305 1 DATA 2020-01-20 01:14:06");
    let file = files.write("NightSummary_20200113_LST1.txt", &text);
    let night = summary::load(&file).unwrap();
    assert_eq!(night.warnings.len(), 1, "{:?}", warning_lines(&night));
    assert_eq!(night.warnings[0].line, 6);
    assert!(night.warnings[0].message.contains("outside the night"));
}

#[test]
fn empty_file_loads_with_no_runs_and_a_warning() {
    let files = Files::new();
    let file = files.write("NightSummary_20200302.txt", "");
    let night = summary::load(&file).unwrap();
    assert!(night.runs.is_empty());
    assert_one_warning(&night, &file, 1, "empty file");

    let file = files.write("RunSummary_20231120.ecsv", ECSV_HEADER);
    let night = summary::load(&file).unwrap();
    assert!(night.runs.is_empty());
    assert_one_warning(&night, &file, 1, "no runs");
}

#[test]
fn broken_ecsv_headers_are_rejected_with_their_line() {
    let files = Files::new();
    let no_signature = ECSV_HEADER.replacen("# %ECSV 1.0", "# ECSV", 1);
    let (_, problems) = rejected(summary::load(&files.write("RunSummary_20231120.ecsv", &format!("{no_signature}{ROW_DRS4}\n"))));
    assert_eq!(problems[0].line, 1);

    let renamed = ECSV_HEADER.replacen("run_id,n_subruns", "run,n_subruns", 1);
    let (_, problems) = rejected(summary::load(&files.write("RunSummary_20231121.ecsv", &format!("{renamed}{ROW_DRS4}\n"))));
    assert_eq!(problems[0].line, 21);
    assert!(problems[0].message.contains("does not match the ECSV header"));

    let bad_yaml = ECSV_HEADER.replacen("# - {name: n_subruns, datatype: int64}", "# - {name: n_subruns, datatype: [int64}", 1);
    let (_, problems) = rejected(summary::load(&files.write("RunSummary_20231122.ecsv", &format!("{bad_yaml}{ROW_DRS4}\n"))));
    assert!((5..=6).contains(&problems[0].line), "the YAML error is found at or just after line 5, got {:?}", problems[0]);
}

#[test]
fn run_catalog_gives_source_names() {
    let files = Files::new();
    let file = files.write("RunSummary/RunSummary_20231120.ecsv", &ecsv_rows(&[ROW_DRS4, ROW_PEDCALIB, ROW_DATA]));
    files.write(
        "RunCatalog/RunCatalog_20231120.ecsv",
        "# %ECSV 1.0\n# ---\n# datatype:\n# - {name: run_id, datatype: int32}\n# - {name: source_name, datatype: string}\n# - {name: source_ra, datatype: float64}\n# - {name: source_dec, datatype: float64}\n# delimiter: ','\n# schema: astropy-2.0\nrun_id,source_name,source_ra,source_dec\n15002,Crab Nebula,83.63,22.01\n",
    );
    let night = summary::load_with_catalog(&file, None, &Default::default()).unwrap();
    assert_eq!(night.run(15002).unwrap().source.as_deref(), Some("Crab Nebula"), "names with spaces survive");
    assert_eq!(night.run(15001).unwrap().source, None);
}

/// Regression (issue 12): `n_subruns = 4294967295` was accepted, and planning it allocated
/// 16 GiB and aborted the daemon at every start. Every bound of `[limits]` is a refusal with
/// the file and line, like a malformed line.
#[test]
fn values_beyond_the_limits_are_refused_with_their_line() {
    let files = Files::new();
    let ecsv = ecsv_rows(&[&ROW_DATA.replacen(",142,", ",4294967295,", 1)]);
    let (path, problems) = rejected(summary::load(&files.write("RunSummary_20231120.ecsv", &ecsv)));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!((problems[0].line, problems[0].field.as_deref()), (22, Some("n_subruns")));
    assert!(problems[0].message.contains("limits.max_subruns_per_run"), "{}", problems[0].message);
    let shown = SummaryError::Rejected { file: path, problems }.to_string();
    assert!(shown.contains("RunSummary_20231120.ecsv:22:"), "{shown}");

    let v1 = V1.replacen("5088304 3 DATA", "5088304 4294967295 DATA", 1);
    let (_, problems) = rejected(summary::load(&files.write("NightSummary_20200113_LST1.txt", &v1)));
    assert_eq!((problems[0].line, problems[0].field.as_deref()), (5, Some("subrun")), "{problems:?}");

    let small = osa::config::LimitsConfig { summary_max_bytes: 600, summary_max_line_length: 120, max_runs_per_night: 2, max_subruns_per_run: 100 };
    let (_, problems) = rejected(summary::load_within(&files.write("NightSummary_20200302.txt", V2), &small));
    assert!(problems[0].message.contains("limits.max_runs_per_night") && problems[0].line == 3, "{problems:?}");
    let long = format!("{V2}{}\n", "x".repeat(200));
    let (_, problems) = rejected(summary::load_within(&files.write("long/NightSummary_20200302.txt", &long), &small));
    assert!(problems[0].message.contains("limits.summary_max_line_length") && problems[0].line == 4, "{problems:?}");
    let big = files.write("big/NightSummary_20200302.txt", &V2.repeat(3));
    let (_, problems) = rejected(summary::load_within(&big, &small));
    assert!(problems[0].message.contains("limits.summary_max_bytes"), "{problems:?}");
}
