//! Lineage benchmark (`cargo bench --bench lineage`): a provenance database of many nights
//! (default 100 nights of 50 runs x 100 subruns, the records osa writes for each: R0 ->
//! DL1a -> DL1b -> data check per subrun with their configurations, then the run's DL1 merge
//! and DL2), on SQLite and on the machine's MariaDB (`OSA_TEST_MYSQL_URL`, default
//! `mysql://root@127.0.0.1:3306`); then timed, each the median of 5: a trace of a DL2 file,
//! "products made with configuration hash X" (a night's DL1b configuration) and "everything
//! derived from R0 file Y". Targets: trace < 50 ms, each query < 200 ms. Prints the figures;
//! asserts nothing about speed. `OSA_BENCH_NIGHTS` / `OSA_BENCH_RUNS` / `OSA_BENCH_SUBRUNS`
//! scale it down.

use std::time::{Duration, Instant};

use chrono::TimeDelta;
use osa::db::*;
use osa::night::NightDate;
use osa::provenance::trace::{Check, trace};

fn env_or(name: &str, default: u32) -> u32 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A night's configuration content: the same file edited every night (no file's hash else).
fn config_hash(night: u32, which: u8) -> String {
    format!("{:064x}", 1u128 << 120 | u128::from(night) << 8 | u128::from(which))
}

fn r0(night: &NightDate, run: u32, s: u32) -> String {
    format!("/data/R0G/{}/LST-1.1.Run{run:05}.{s:04}.fits.fz", night.compact())
}

fn dl2(night: &NightDate, run: u32) -> String {
    format!("/data/DL2/{}/v0.10/tailcut84/nsb_tuning_0.14/dl2_LST-1.Run{run:05}.h5", night.compact())
}

/// The provenance records of one run, as the merge stores them.
fn run_records(n: u32, night: &NightDate, run: u32, subruns: u32) -> ProvBatch {
    let mut b = ProvBatch::default();
    let t0 = night.date().and_hms_opt(21, 0, 0).unwrap();
    let key = format!("{}-{run}", night.compact());
    let entity = |b: &mut ProvBatch, id: String, location: String, sha: String, kind: &str| {
        b.entities.push(ProvEntity {
            id,
            night: night.to_string(),
            run: Some(i64::from(run)),
            location,
            kind: kind.into(),
            sha256: Some(sha),
            member_of: None,
            recorded_at: None,
            label: None,
            content_type: None,
        });
    };
    let activity = |b: &mut ProvBatch, id: &str, name: &str, subrun: Option<u32>, used: &[&str], made: &[&str]| {
        let start = t0 + TimeDelta::seconds(i64::from(subrun.unwrap_or(0)));
        b.activities.push(ProvActivity {
            id: id.to_string(),
            night: night.to_string(),
            run: i64::from(run),
            subrun: subrun.map(i64::from),
            name: name.into(),
            started_at: start,
            ended_at: Some(start + TimeDelta::minutes(10)),
            status: "ok".into(),
            return_code: Some(0),
            host: Some("cp01".into()),
            slurm_job: Some("4801_1".into()),
            software: Some("lstchain 0.10.12".into()),
            attempt: Some(1),
            description_id: None,
        });
        b.parameters.push(ProvParameter { activity_id: id.to_string(), name: "prod_id".into(), value: "v0.10".into() });
        b.associations.push(ProvAssociation { activity_id: id.to_string(), agent_id: "lstanalyzer".into(), role: "operator".into() });
        for e in used {
            b.used.push(ProvLink { activity_id: id.to_string(), entity_id: e.to_string(), role: "input".into() });
        }
        for e in made {
            b.generated.push(ProvLink { activity_id: id.to_string(), entity_id: e.to_string(), role: "output".into() });
        }
    };
    b.agents.push(ProvAgent { id: "lstanalyzer".into(), name: "lstanalyzer".into(), kind: "person".into() });
    let (c1, c2) = (format!("cfg-a-{}", night.compact()), format!("cfg-b-{}", night.compact()));
    entity(&mut b, c1.clone(), "/cfg/lstchain_standard_config.json".into(), config_hash(n, 0xa), "config");
    entity(&mut b, c2.clone(), "/cfg/dl1ab_tailcut84.json".into(), config_hash(n, 0xb), "config");
    let mut dl1b_ids = Vec::new();
    for s in 0..subruns {
        let ids: Vec<String> = ["r0", "dl1a", "muons", "dl1b", "check"].iter().map(|k| format!("{k}-{key}-{s}")).collect();
        let a = &format!("/data/running_analysis/{}/v0.10", night.compact());
        let locations = [
            r0(night, run, s),
            format!("{a}/dl1_LST-1.Run{run:05}.{s:04}.h5"),
            format!("{a}/muons_LST-1.Run{run:05}.{s:04}.fits"),
            format!("/data/DL1/{}/v0.10/tailcut84/dl1_LST-1.Run{run:05}.{s:04}.h5", night.compact()),
            format!("/data/DL1/{}/v0.10/tailcut84/datacheck/datacheck_dl1_LST-1.Run{run:05}.{s:04}.h5", night.compact()),
        ];
        for (i, (id, location)) in ids.iter().zip(locations).enumerate() {
            entity(
                &mut b,
                id.clone(),
                location,
                format!("{:064x}", u128::from(n) << 64 | u128::from(run) << 32 | u128::from(s) << 4 | i as u128),
                "file",
            );
        }
        activity(&mut b, &format!("r0dl1-{key}-{s}"), "r0_to_dl1", Some(s), &[&ids[0], &c1], &[&ids[1], &ids[2]]);
        activity(&mut b, &format!("dl1ab-{key}-{s}"), "dl1ab", Some(s), &[&ids[1], &c2], &[&ids[3]]);
        activity(&mut b, &format!("check-{key}-{s}"), "check_dl1", Some(s), &[&ids[3]], &[&ids[4]]);
        dl1b_ids.push(ids[3].clone());
    }
    let (merged, dl2_id) = (format!("merged-{key}"), format!("dl2-{key}"));
    entity(
        &mut b,
        merged.clone(),
        format!("/data/DL1/{}/v0.10/tailcut84/dl1_LST-1.Run{run:05}.h5", night.compact()),
        format!("{:064x}", u128::from(run) + 7),
        "file",
    );
    entity(&mut b, dl2_id.clone(), dl2(night, run), format!("{:064x}", u128::from(run) + 9), "file");
    let used: Vec<&str> = dl1b_ids.iter().map(String::as_str).collect();
    activity(&mut b, &format!("merge-{key}"), "merge_dl1", None, &used, &[&merged]);
    activity(&mut b, &format!("dl2-{key}"), "dl2", None, &[&merged], &[&dl2_id]);
    b
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn timed<T>(f: impl Fn() -> T) -> (Duration, T) {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..5 {
        let start = Instant::now();
        last = Some(f());
        times.push(start.elapsed());
    }
    (median(times), last.unwrap())
}

fn bench(label: &str, url: &str, nights: u32, runs: u32, subruns: u32) {
    let db = Db::open_and_migrate(url, "v0.10").unwrap_or_else(|e| panic!("{label}: {e}"));
    let first: NightDate = "2025-01-01".parse().unwrap();
    let night_of = |n: u32| NightDate::new(first.date() + TimeDelta::days(i64::from(n)));
    let start = Instant::now();
    let mut rows = 0;
    for n in 0..nights {
        let night = night_of(n);
        for r in 0..runs {
            let batch = run_records(n, &night, 10_000 + n * runs + r, subruns);
            rows += batch.len();
            db.store_provenance(&batch).unwrap();
        }
        if n % 10 == 9 {
            eprintln!("{label}: {} nights stored, {rows} rows, {:.0} s", n + 1, start.elapsed().as_secs_f64());
        }
    }
    let fill = start.elapsed();
    let n = nights / 2;
    let night = night_of(n);
    let run = 10_000 + n * runs + runs / 2;
    let (t_trace, step) = timed(|| trace(&db, &dl2(&night, run), Check::Product).unwrap());
    assert_eq!(step.activity.as_deref(), Some("dl2"));
    let (t_made, made) = timed(|| db.made_with(&config_hash(n, 0xb)).unwrap());
    assert_eq!(made.len() as u32, runs * subruns, "every DL1b file of the night, and only those");
    let (t_derived, derived) = timed(|| db.derived_from(&r0(&night, run, 0)).unwrap());
    assert_eq!(derived.len(), 6, "DL1a, muons, DL1b, data check, merged DL1, DL2");
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let verdict = |d: Duration, target: f64| if ms(d) < target { "ok" } else { "OVER TARGET" };
    println!(
        "{label:7} {nights} nights x {runs} runs x {subruns} subruns: {rows} rows stored in {:.0} s; trace of a DL2 {:.1} ms ({}), made-with a DL1b config ({} files) {:.1} ms ({}), derived-from an R0 file {:.1} ms ({})",
        fill.as_secs_f64(),
        ms(t_trace),
        verdict(t_trace, 50.0),
        made.len(),
        ms(t_made),
        verdict(t_made, 200.0),
        ms(t_derived),
        verdict(t_derived, 200.0)
    );
}

fn main() {
    let (nights, runs, subruns) = (env_or("OSA_BENCH_NIGHTS", 100), env_or("OSA_BENCH_RUNS", 50), env_or("OSA_BENCH_SUBRUNS", 100));
    let dir = tempfile::tempdir().unwrap();
    bench("sqlite", &format!("sqlite://{}", dir.path().join("lineage.sqlite").display()), nights, runs, subruns);

    let server = std::env::var("OSA_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_string());
    let name = format!("osa_lineage_{}", std::process::id());
    let url = format!("{}/{name}", server.trim_end_matches('/'));
    bench("mariadb", &url, nights, runs, subruns);
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    let mut admin = diesel::mysql::MysqlConnection::establish(&server).unwrap();
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS `{name}`")).unwrap();
}
