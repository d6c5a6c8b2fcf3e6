//! Database benchmark (`cargo bench --bench db_insert`): the records of a 200-run x 150-subrun
//! night (task states, history lines, provenance) written run by run, as the closer would, on
//! SQLite and on the machine's MariaDB (`OSA_TEST_MYSQL_URL`, default
//! `mysql://root@127.0.0.1:3306`). Prints rows/s; asserts nothing about speed.
//! `OSA_BENCH_RUNS` / `OSA_BENCH_SUBRUNS` scale it down.

use std::time::{Duration, Instant};

use chrono::{NaiveDateTime, TimeDelta};
use osa::db::*;
use osa::night::NightDate;

fn env_or(name: &str, default: u32) -> u32 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct RunRecords {
    tasks: Vec<TaskRecord>,
    history: Vec<HistoryRecord>,
    provenance: ProvBatch,
}

fn records(night: NightDate, run: u32, subruns: u32, t0: NaiveDateTime) -> RunRecords {
    let steps = ["r0_to_dl1", "dl1ab", "check_dl1"];
    let mut out = RunRecords { tasks: Vec::new(), history: Vec::new(), provenance: ProvBatch::default() };
    out.provenance.agents.push(ProvAgent { id: "lstanalyzer".into(), name: "lstanalyzer".into(), kind: "person".into() });
    for s in 0..subruns {
        let start = t0 + TimeDelta::seconds(i64::from(s));
        out.tasks.push(TaskRecord {
            stage: osa::model::Stage::Sequence,
            night,
            run,
            subrun: s,
            attempt: 1,
            state: osa::model::TaskState::Completed,
            exit_code: Some(0),
            cpu_seconds: Some(1800),
            max_rss_kb: Some(2_500_000),
            node: Some("cp01".into()),
            started_at: Some(start),
            ended_at: Some(start + TimeDelta::minutes(30)),
        });
        let files = [
            format!("/data/R0G/{}/LST-1.1.Run{run:05}.{s:04}.fits.fz", night.compact()),
            format!("/data/running_analysis/{}/v0.10/dl1_LST-1.Run{run:05}.{s:04}.h5", night.compact()),
            format!("/data/running_analysis/{}/v0.10/tailcut84/dl1_LST-1.Run{run:05}.{s:04}.h5", night.compact()),
            format!("/data/running_analysis/{}/v0.10/tailcut84/datacheck_dl1_LST-1.Run{run:05}.{s:04}.h5", night.compact()),
        ];
        for (i, file) in files.iter().enumerate() {
            out.provenance.entities.push(ProvEntity {
                id: format!("e-{run}-{s}-{i}"),
                night: night.to_string(),
                run: Some(i64::from(run)),
                location: file.clone(),
                kind: "file".into(),
                sha256: Some("ab".repeat(32)),
                member_of: None,
                recorded_at: None,
                label: None,
                content_type: None,
            });
        }
        for (i, step) in steps.iter().enumerate() {
            out.history.push(HistoryRecord {
                stage: osa::model::Stage::Sequence,
                night,
                run,
                subrun: s,
                attempt: 1,
                step: (*step).into(),
                try_number: 1,
                program: format!("lstchain_{step}"),
                prod_id: "v0.10".into(),
                config: Some("lstchain_standard_config.json".into()),
                input: Some(files[i].clone()),
                output: Some(files[i + 1].clone()),
                return_code: 0,
                started_at: start,
                ended_at: start + TimeDelta::minutes(10),
                log_tail: None,
            });
            let activity = format!("a-{run}-{s}-{i}");
            out.provenance.activities.push(ProvActivity {
                id: activity.clone(),
                night: night.to_string(),
                run: i64::from(run),
                subrun: Some(i64::from(s)),
                name: (*step).into(),
                started_at: start,
                ended_at: Some(start + TimeDelta::minutes(10)),
                status: "ok".into(),
                return_code: Some(0),
                host: Some("cp01".into()),
                slurm_job: Some(format!("4801_{s}")),
                software: Some("lstchain 0.10.12".into()),
                attempt: Some(1),
                description_id: None,
            });
            out.provenance.used.push(ProvLink { activity_id: activity.clone(), entity_id: format!("e-{run}-{s}-{i}"), role: "input".into() });
            out.provenance.generated.push(ProvLink {
                activity_id: activity.clone(),
                entity_id: format!("e-{run}-{s}-{}", i + 1),
                role: "output".into(),
            });
            out.provenance.associations.push(ProvAssociation {
                activity_id: activity.clone(),
                agent_id: "lstanalyzer".into(),
                role: "operator".into(),
            });
            out.provenance.parameters.push(ProvParameter {
                activity_id: activity,
                name: "config".into(),
                value: "lstchain_standard_config.json".into(),
            });
        }
    }
    out
}

fn bench(label: &str, url: &str, runs: u32, subruns: u32) {
    let db = Db::open_and_migrate(url, "v0.10").unwrap_or_else(|e| panic!("{label}: {e}"));
    let night: NightDate = "2026-01-05".parse().unwrap();
    let t0 = night.date().and_hms_opt(21, 0, 0).unwrap();
    let (mut tasks, mut history, mut prov) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let (mut n_tasks, mut n_history, mut n_prov) = (0usize, 0usize, 0usize);
    for r in 0..runs {
        let rec = records(night, 10_000 + r, subruns, t0);
        let start = Instant::now();
        db.upsert_tasks(&rec.tasks).unwrap();
        tasks += start.elapsed();
        let start = Instant::now();
        db.record_history(&rec.history).unwrap();
        history += start.elapsed();
        let start = Instant::now();
        db.store_provenance(&rec.provenance).unwrap();
        prov += start.elapsed();
        n_tasks += rec.tasks.len();
        n_history += rec.history.len();
        n_prov += rec.provenance.len();
    }
    let rate = |n: usize, d: Duration| n as f64 / d.as_secs_f64();
    let total = tasks + history + prov;
    println!(
        "{label:7} {runs} runs x {subruns} subruns: tasks {n_tasks} rows {:.0}/s, history {n_history} rows {:.0}/s, provenance {n_prov} rows {:.0}/s; all {} rows in {:.1} s = {:.0} rows/s",
        rate(n_tasks, tasks),
        rate(n_history, history),
        rate(n_prov, prov),
        n_tasks + n_history + n_prov,
        total.as_secs_f64(),
        rate(n_tasks + n_history + n_prov, total)
    );
}

fn main() {
    let runs = env_or("OSA_BENCH_RUNS", 200);
    let subruns = env_or("OSA_BENCH_SUBRUNS", 150);
    let dir = tempfile::tempdir().unwrap();
    bench("sqlite", &format!("sqlite://{}", dir.path().join("bench.sqlite").display()), runs, subruns);

    let server = std::env::var("OSA_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_string());
    let name = format!("osa_bench_{}", std::process::id());
    let url = format!("{}/{name}", server.trim_end_matches('/'));
    bench("mariadb", &url, runs, subruns);
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    let mut admin = diesel::mysql::MysqlConnection::establish(&server).unwrap();
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS `{name}`")).unwrap();
}
