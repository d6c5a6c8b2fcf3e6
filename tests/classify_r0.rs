//! Run classification from R0 files: files written by astropy (fixtures/r0_astropy, an
//! independent writer) and by osa's own demo generator.

use std::path::{Path, PathBuf};

use osa::model::RunType;
use osa::summary::classify::{classify_file, classify_run};

fn astropy(name: &str) -> PathBuf {
    Path::new("fixtures/r0_astropy").join(name)
}

#[test]
fn each_kind_written_by_astropy() {
    let drs4 = classify_file(&astropy("LST-1.1.Run02001.0000.fits.fz"));
    assert_eq!((drs4.run_type, drs4.counts.read, drs4.counts.subarray), (RunType::Drs4, 500, 500), "only the first 500 of 600 events");

    let pedcalib = classify_file(&astropy("LST-1.1.Run02002.0000.fits.fz"));
    assert_eq!(pedcalib.run_type, RunType::Pedcalib, "{pedcalib:?}");
    assert!(pedcalib.counts.sky_pedestal > 100 && pedcalib.counts.flatfield > 250, "{pedcalib:?}");

    let data = classify_file(&astropy("LST-1.2.Run02003.0000.fits.fz"));
    assert_eq!(data.run_type, RunType::Data, "lower-case EVNTS name, 8-bit column, stream 2: {data:?}");
    assert!(data.counts.subarray > 450);
}

#[test]
fn a_subrun_with_fewer_than_500_events_is_divided_by_what_it_holds() {
    let short = classify_file(&astropy("LST-1.1.Run02004.0000.fits.fz"));
    assert_eq!(short.counts.read, 40);
    assert_eq!(short.run_type, RunType::Pedcalib, "12/40 = 30% pedestals (lstchain's 12/500 would say DATA)");
}

#[test]
fn ambiguous_and_unreadable_files_are_error_with_a_reason() {
    let ambiguous = classify_file(&astropy("LST-1.1.Run02005.0000.fits.fz"));
    assert_eq!(ambiguous.run_type, RunType::Error);
    assert!(ambiguous.reason.as_deref().unwrap().contains("exactly 10%"));

    let no_column = classify_file(&astropy("LST-1.1.Run02006.0000.fits.fz"));
    assert_eq!(no_column.run_type, RunType::Error);
    assert!(no_column.reason.as_deref().unwrap().contains("no `event_type` column"));

    let corrupt = classify_file(&astropy("LST-1.1.Run02007.0000.fits.fz"));
    assert_eq!(corrupt.run_type, RunType::Error);
    assert!(corrupt.reason.as_deref().unwrap().contains("truncated or corrupt"), "{corrupt:?}");

    let not_fits = classify_file(Path::new("Cargo.toml"));
    assert_eq!(not_fits.run_type, RunType::Error);
    assert!(not_fits.reason.as_deref().unwrap().contains("not a readable FITS file"), "{not_fits:?}");

    let missing = classify_file(Path::new("fixtures/r0_astropy/LST-1.1.Run09999.0000.fits.fz"));
    assert_eq!((missing.run_type, missing.reason.as_deref()), (RunType::Error, Some("file does not exist")));
}

#[test]
fn a_run_is_classified_from_its_first_subrun_in_any_stream() {
    let dir = Path::new("fixtures/r0_astropy");
    assert_eq!(classify_run(dir, 2003).run_type, RunType::Data, "only stream 2 exists for run 2003");
    let none = classify_run(dir, 2999);
    assert_eq!(none.run_type, RunType::Error);
    assert!(none.reason.unwrap().contains("no first subrun file LST-1.[1-4].Run02999.0000.fits.fz"));
}

#[test]
fn the_demo_generator_writes_what_the_summary_says() {
    let dir = Path::new("fixtures/demo-night/R0G/20231120");
    let night = osa::summary::load(Path::new("fixtures/demo-night/monitoring/RunSummary/RunSummary_20231120.ecsv")).unwrap();
    for run in &night.runs {
        let verdict = classify_run(dir, run.run);
        assert_eq!(verdict.run_type, run.run_type, "run {}: {verdict:?}", run.run);
        assert_eq!(verdict.counts.read, 200);
    }
}

/// Regression (issue 12): an R0 file whose header claims 2×10⁹ rows was classified DATA. A
/// header claiming more rows than the file holds is an ERROR verdict saying so.
#[test]
fn a_header_claiming_more_rows_than_the_file_holds_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("LST-1.1.Run02003.0000.fits.fz");
    let mut bytes = std::fs::read(astropy("LST-1.2.Run02003.0000.fits.fz")).unwrap();
    // The second NAXIS2 card is the EVENTS table's row count: its value fills columns 11-30.
    let cards: Vec<usize> = bytes.windows(9).enumerate().filter(|(_, w)| *w == b"NAXIS2  =").map(|(i, _)| i).collect();
    let at = *cards.last().expect("the table header has NAXIS2");
    bytes[at + 10..at + 30].copy_from_slice(format!("{:>20}", 2_000_000_000u64).as_bytes());
    std::fs::write(&file, bytes).unwrap();
    let verdict = classify_file(&file);
    assert_eq!(verdict.run_type, RunType::Error, "{verdict:?}");
    assert!(verdict.reason.as_deref().is_some_and(|r| r.contains("2000000000 rows")), "{verdict:?}");
}
