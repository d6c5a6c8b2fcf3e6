//! Every repository function on both backends (SQLite in a temp dir, the machine's real
//! MariaDB), each test in its own fresh database.

mod common;

use std::sync::{Arc, Barrier};

use chrono::{Duration, NaiveDateTime};
use common::TestDb;
use diesel::{Connection, RunQueryDsl};
use osa::db::*;
use osa::model::{AuditAction, ExecutorKind, NightState, RunType, SequenceKind, TaskState};
use osa::night::NightDate;

fn night() -> NightDate {
    "2026-01-05".parse().unwrap()
}

fn at(minutes: i64) -> NaiveDateTime {
    night().date().and_hms_opt(21, 0, 0).unwrap() + Duration::minutes(minutes)
}

fn task(subrun: u32, attempt: u32, state: TaskState) -> TaskRecord {
    TaskRecord {
        stage: osa::model::Stage::Sequence,
        night: night(),
        run: 12003,
        subrun,
        attempt,
        state,
        exit_code: state.is_finished().then_some(0),
        cpu_seconds: Some(60),
        max_rss_kb: Some(1_500_000),
        node: Some("localhost".to_string()),
        started_at: Some(at(1)),
        ended_at: None,
    }
}

fn intent(run: u32, attempt: u32) -> JobIntent {
    JobIntent {
        stage: osa::model::Stage::Sequence,
        night: night(),
        run,
        attempt,
        executor: ExecutorKind::Slurm,
        job_name: format!("LST1_{run:05}"),
        comment_key: format!("osa:{}:{run}:{attempt}", night()),
        array_range: "0-141".to_string(),
        partition: "short".to_string(),
        account: "dpps".to_string(),
        mem_per_cpu: "6G".to_string(),
        time_limit: "01:15:00".to_string(),
        script_path: format!("/data/running_analysis/20260105/v0.10/log/sequence_LST1_{run:05}.sh"),
        stops_before: None,
    }
}

fn migrations_apply_from_empty_and_are_idempotent(t: &TestDb) {
    let db = Db::connect_creating(&t.url, common::PRODUCTION).unwrap();
    let before = db.migration_status().unwrap();
    assert!(before.applied.is_empty());
    let mut folders: Vec<String> = std::fs::read_dir("sql/sqlite").unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    folders.sort();
    assert_eq!(before.pending, folders, "every migration folder, in order");
    let all = folders.len();
    let err = Db::open(&t.url, common::PRODUCTION).err().expect("a schema behind is refused");
    assert!(matches!(&err, DbError::SchemaBehind { pending, .. } if pending.len() == all), "{err}");
    assert!(err.to_string().contains("osa db migrate"), "{err}");
    assert_eq!(db.migrate().unwrap().len(), all);
    assert!(db.migrate().unwrap().is_empty(), "a second migrate applies nothing");
    let after = db.migration_status().unwrap();
    assert_eq!((after.applied.len(), after.pending.len()), (all, 0));
    drop(db);
    let again = Db::open(&t.url, common::PRODUCTION).unwrap();
    assert_eq!(again.migration_status().unwrap().applied.len(), all, "opening an up-to-date database changes nothing");
}

/// A database from before productions (its rows keyed by date alone) keeps working: `osa db
/// migrate` gives its rows the configured production; another production sees none of them
/// and can process the same night beside them.
fn rows_from_before_productions_belong_to_the_configured_production(t: &TestDb) {
    use diesel_migrations::{FileBasedMigrations, MigrationHarness};
    let legacy = "INSERT INTO nights (night, state, closed, created_at, updated_at) VALUES ('2026-01-05', 'closed', 1, '2026-01-06 08:00:00', '2026-01-06 08:00:00')";
    let folder = |backend: &str| FileBasedMigrations::from_path(format!("sql/{backend}")).unwrap();
    drop(Db::connect_creating(&t.url, common::PRODUCTION).unwrap());
    macro_rules! up_to_productions_then_a_night {
        ($conn:expr, $backend:literal) => {{
            let mut conn = $conn;
            while !conn.pending_migrations(folder($backend)).unwrap()[0].name().to_string().contains("productions") {
                conn.run_next_migration(folder($backend)).unwrap();
            }
            diesel::sql_query(legacy).execute(&mut conn).unwrap();
        }};
    }
    match t.database_name() {
        None => up_to_productions_then_a_night!(diesel::SqliteConnection::establish(t.url.trim_start_matches("sqlite://")).unwrap(), "sqlite"),
        Some(_) => up_to_productions_then_a_night!(diesel::MysqlConnection::establish(&t.url).unwrap(), "mysql"),
    }
    let db = t.open();
    assert!(db.night(night()).unwrap().is_some_and(|n| n.closed), "the night of before is the configured production's");
    let other = Db::open(&t.url, "v0.11").unwrap();
    assert_eq!(other.production(), "v0.11");
    assert!(other.night(night()).unwrap().is_none(), "another production has no rows of that night");
    other.ensure_night(night()).unwrap();
    other.set_night_state(night(), NightState::Running).unwrap();
    assert!(db.night(night()).unwrap().is_some_and(|n| n.closed), "the first production's night is untouched");
    assert_eq!(other.open_nights().unwrap().len(), 1);
    assert!(db.open_nights().unwrap().is_empty());
}

fn nights_are_registered_once_and_follow_their_state(t: &TestDb) {
    let db = t.open();
    let first = db.ensure_night(night()).unwrap();
    assert_eq!((first.state, first.closed), (NightState::Waiting, false));
    assert_eq!(db.ensure_night(night()).unwrap(), first, "ensure_night is idempotent");

    assert!(db.record_summary(night(), "/d/RunSummary_20260105.ecsv", "aa11").unwrap(), "a new summary means re-planning");
    assert!(!db.record_summary(night(), "/d/RunSummary_20260105.ecsv", "aa11").unwrap(), "same content: nothing to do");
    assert!(db.record_summary(night(), "/d/RunSummary_20260105.ecsv", "bb22").unwrap());

    db.set_night_state(night(), NightState::Running).unwrap();
    let running = db.night(night()).unwrap().unwrap();
    assert_eq!(running.summary_sha256.as_deref(), Some("bb22"));
    assert!(running.sequenced_at.is_some());

    let other = night().next();
    db.ensure_night(other).unwrap();
    assert_eq!(db.open_nights().unwrap().iter().map(|n| n.night).collect::<Vec<_>>(), [night(), other]);

    db.set_night_state(night(), NightState::Closed).unwrap();
    let closed = db.night(night()).unwrap().unwrap();
    assert!(closed.closed && closed.closed_at.is_some());
    assert_eq!(db.open_nights().unwrap().iter().map(|n| n.night).collect::<Vec<_>>(), [other]);
    assert_eq!(db.night(night().previous()).unwrap(), None);
}

fn runs_are_upserted_by_night_and_run(t: &TestDb) {
    let db = t.open();
    let run = |n: u32, kind: RunType| RunRecord {
        night: night(),
        run: n,
        summary_type: kind,
        r0_type: None,
        r0_reason: None,
        type_mismatch: false,
        subruns: 4,
        source: Some("Crab".to_string()),
        start: Some(at(0).and_utc()),
    };
    db.upsert_runs(&[run(12001, RunType::Drs4), run(12002, RunType::Pedcalib), run(12003, RunType::Error)]).unwrap();
    db.upsert_runs(&[run(12003, RunType::Error)]).unwrap();
    db.set_r0_verdict(night(), 12003, RunType::Data, None, false).unwrap();
    let runs = db.runs_of_night(night()).unwrap();
    assert_eq!(runs.len(), 3, "no duplicates after a second upsert");
    assert_eq!(runs[2].r0_type, Some(RunType::Data));
    assert_eq!(runs[0], run(12001, RunType::Drs4));

    let err = db.set_r0_verdict(night(), 99999, RunType::Data, None, false).unwrap_err().to_string();
    assert!(err.contains("night 2026-01-05 run 99999"), "{err}");
}

fn sequences_are_replaced_as_a_whole(t: &TestDb) {
    let db = t.open();
    let seq = |seq: u32, parent: Option<u32>, run: u32, kind| SequenceRecord {
        night: night(),
        seq,
        parent_seq: parent,
        run,
        kind,
        job_name: format!("LST1_{run:05}"),
        calibration_night: None,
    };
    db.replace_sequences(night(), &[seq(1, None, 12002, SequenceKind::Calibration), seq(2, Some(1), 12003, SequenceKind::Data)]).unwrap();
    let replan =
        [seq(1, None, 12002, SequenceKind::Calibration), seq(2, Some(1), 12003, SequenceKind::Data), seq(3, Some(1), 12004, SequenceKind::Data)];
    db.replace_sequences(night(), &replan).unwrap();
    assert_eq!(db.sequences_of_night(night()).unwrap(), replan);
}

fn submission_intents_are_written_before_and_completed_after(t: &TestDb) {
    let db = t.open();
    let (first, inserted) = db.record_submission_intent(&intent(12003, 1)).unwrap();
    assert!(inserted);
    assert_eq!(first.job_id, None);
    assert_eq!(db.record_submission_intent(&intent(12003, 1)).unwrap(), (first, false), "recording the same intent twice keeps the first");
    db.record_submission_intent(&intent(12004, 1)).unwrap();
    db.record_submission_intent(&intent(12005, 1)).unwrap();

    let pending: Vec<_> = db.pending_submissions().unwrap().iter().map(|j| j.intent.run).collect();
    assert_eq!(pending, [12003, 12004, 12005], "a crash between intent and sbatch leaves rows the restart finds");

    db.complete_submission(night(), 12003, &osa::model::Stage::Sequence, 1, "4801").unwrap();
    db.fail_submission(night(), 12005, &osa::model::Stage::Sequence, 1, "sbatch: error: invalid partition").unwrap();
    let pending: Vec<_> = db.pending_submissions().unwrap().iter().map(|j| j.intent.run).collect();
    assert_eq!(pending, [12004]);

    let jobs = db.jobs_of_night(night()).unwrap();
    assert_eq!(jobs[0].job_id.as_deref(), Some("4801"));
    assert!(jobs[0].submitted_at.is_some());
    assert_eq!(jobs[0].intent, intent(12003, 1));
    assert_eq!(jobs[2].submit_error.as_deref(), Some("sbatch: error: invalid partition"));
    assert!(db.complete_submission(night(), 12099, &osa::model::Stage::Sequence, 1, "1").is_err(), "completing an unknown intent is an error");
}

fn task_states_are_upserted_per_subrun_and_attempt(t: &TestDb) {
    let db = t.open();
    use TaskState::*;
    db.upsert_tasks(&[task(0, 1, Running), task(1, 1, Pending)]).unwrap();
    db.upsert_tasks(&[task(0, 1, Completed), task(1, 1, Failed), task(1, 2, Pending)]).unwrap();
    let tasks = db.tasks_of_run(night(), 12003).unwrap();
    let states: Vec<_> = tasks.iter().map(|t| (t.subrun, t.attempt, t.state)).collect();
    assert_eq!(states, [(0, 1, Completed), (1, 1, Failed), (1, 2, Pending)]);
    assert_eq!(tasks[0], task(0, 1, Completed));
}

/// Every value of every stored state type is written and read back unchanged.
fn every_state_round_trips(t: &TestDb) {
    let db = t.open();
    let tasks: Vec<TaskRecord> = TaskState::ALL.iter().enumerate().map(|(i, s)| task(i as u32, 1, *s)).collect();
    db.upsert_tasks(&tasks).unwrap();
    assert_eq!(db.tasks_of_run(night(), 12003).unwrap(), tasks);
    assert_eq!(db.tasks_of_night(night()).unwrap(), tasks);

    for (i, state) in NightState::ALL.iter().enumerate() {
        let n = NightDate::new(night().date() + Duration::days(i as i64));
        db.set_night_state(n, *state).unwrap();
        assert_eq!(db.night(n).unwrap().unwrap().state, *state);
    }

    let runs: Vec<RunRecord> = RunType::ALL
        .iter()
        .enumerate()
        .map(|(i, kind)| RunRecord {
            night: night(),
            run: 100 + i as u32,
            summary_type: *kind,
            r0_type: Some(*kind),
            r0_reason: None,
            type_mismatch: false,
            subruns: 1,
            source: None,
            start: None,
        })
        .collect();
    db.upsert_runs(&runs).unwrap();
    assert_eq!(db.runs_of_night(night()).unwrap(), runs);

    let sequences: Vec<SequenceRecord> = SequenceKind::ALL
        .iter()
        .enumerate()
        .map(|(i, kind)| SequenceRecord {
            night: night(),
            seq: i as u32 + 1,
            parent_seq: None,
            run: 100 + i as u32,
            kind: *kind,
            job_name: "LST1_00100".to_string(),
            calibration_night: None,
        })
        .collect();
    db.replace_sequences(night(), &sequences).unwrap();
    assert_eq!(db.sequences_of_night(night()).unwrap(), sequences);

    for (i, executor) in ExecutorKind::ALL.iter().enumerate() {
        db.record_submission_intent(&JobIntent { executor: *executor, ..intent(200 + i as u32, 1) }).unwrap();
    }
    let executors: Vec<ExecutorKind> = db.jobs_of_night(night()).unwrap().iter().map(|j| j.intent.executor).collect();
    assert_eq!(executors, ExecutorKind::ALL);

    for action in AuditAction::ALL {
        db.record_audit(night(), Some(12003), *action, "jdoe", "round trip").unwrap();
    }
    let actions: Vec<AuditAction> = db.audit_of_night(night()).unwrap().iter().map(|e| e.action).collect();
    assert_eq!(actions, AuditAction::ALL);
}

/// One daemon per database: the lease is refused to a second live daemon, renewed by its
/// holder, taken over once stale or dead, and free again once released.
fn the_daemon_lease_admits_one_daemon(t: &TestDb) {
    let db = t.open();
    let first = LeaseHolder::me("hostA", 100, "/data/a", at(0));
    let second = LeaseHolder::me("hostB", 200, "/data/b", at(1));
    let alive = |_: &LeaseHolder| false;
    assert_eq!(db.claim_lease(&first, 900, alive).unwrap(), Lease::Held);
    assert_eq!(db.claim_lease(&first, 900, alive).unwrap(), Lease::Held, "renewed by its holder");
    match db.claim_lease(&second, 900, alive).unwrap() {
        Lease::Refused(holder) => assert_eq!((holder.host.as_str(), holder.pid, holder.data_root.as_str()), ("hostA", 100, "/data/a")),
        Lease::Held => panic!("a second live daemon got the lease"),
    }
    assert_eq!(db.claim_lease(&second, 900, |h| h.pid == 100).unwrap(), Lease::Held, "a dead holder is replaced");
    assert!(matches!(db.claim_lease(&first, 900, alive).unwrap(), Lease::Refused(_)), "and cannot come back while the new one lives");
    db.release_lease(&second).unwrap();
    assert_eq!(db.claim_lease(&first, 900, alive).unwrap(), Lease::Held, "free once released");
    std::thread::sleep(std::time::Duration::from_millis(5));
    assert_eq!(db.claim_lease(&second, 0, alive).unwrap(), Lease::Held, "a holder silent for longer than the stale time is replaced");
}

/// Writes a row by hand, as a bad tool or a hand edit would.
fn raw_sql(url: &str, sql: &str) {
    match url.strip_prefix("sqlite://") {
        Some(path) => diesel::sql_query(sql).execute(&mut diesel::sqlite::SqliteConnection::establish(path).unwrap()).unwrap(),
        None => diesel::sql_query(sql).execute(&mut diesel::mysql::MysqlConnection::establish(url).unwrap()).unwrap(),
    };
}

/// A row whose state is not one osa knows is a reported error naming the table, the key and
/// the value: never a panic, never a silent default.
fn a_row_with_an_unknown_state_is_an_error_naming_it(t: &TestDb) {
    let db = t.open();
    db.upsert_tasks(&[task(0, 1, TaskState::Completed)]).unwrap();
    raw_sql(&t.url, "UPDATE tasks SET state = 'WEIRD' WHERE subrun = 0");
    let err = db.tasks_of_run(night(), 12003).unwrap_err().to_string();
    for part in ["table tasks", "night 2026-01-05 run 12003", "\"WEIRD\"", "task state"] {
        assert!(err.contains(part), "{part:?} missing from: {err}");
    }

    db.set_night_state(night(), NightState::Running).unwrap();
    raw_sql(&t.url, "UPDATE nights SET state = 'sleeping'");
    let err = db.night(night()).unwrap_err().to_string();
    for part in ["table nights", "night 2026-01-05", "\"sleeping\"", "night state"] {
        assert!(err.contains(part), "{part:?} missing from: {err}");
    }

    raw_sql(&t.url, "UPDATE nights SET state = 'running', night = '2026-13-45'");
    let err = db.open_nights().unwrap_err().to_string();
    for part in ["table nights", "nights.night", "\"2026-13-45\""] {
        assert!(err.contains(part), "{part:?} missing from: {err}");
    }
}

fn history_lines_are_stored_once(t: &TestDb) {
    let db = t.open();
    let line = |step: &str, try_number: u32, rc: i64, minute: i64| HistoryRecord {
        stage: osa::model::Stage::Sequence,
        night: night(),
        run: 12003,
        subrun: 42,
        attempt: 1,
        step: step.to_string(),
        try_number,
        program: format!("lstchain_{step}"),
        prod_id: "v0.10".to_string(),
        config: Some("lstchain_standard_config.json".to_string()),
        input: Some("/data/R0G/20260105/LST-1.1.Run12003.0042.fits.fz".to_string()),
        output: None,
        return_code: rc,
        started_at: at(minute),
        ended_at: at(minute + 1),
        log_tail: (rc != 0).then(|| "Traceback: ...\nOSError: disk full".to_string()),
    };
    let lines = [line("r0_to_dl1", 1, 1, 0), line("r0_to_dl1", 2, 0, 2), line("dl1ab", 1, 0, 4)];
    db.record_history(&lines).unwrap();
    db.record_history(&lines[1..]).unwrap();
    assert_eq!(db.history_of_task(night(), 12003, &osa::model::Stage::Sequence, 42).unwrap(), lines);
    assert!(db.history_of_task(night(), 12003, &osa::model::Stage::Sequence, 41).unwrap().is_empty());

    // Regression (issue 12): a task run again within one attempt (a requeue) wrote the same
    // (step, try) again and replaced the earlier row; every try is kept now.
    let requeued = line("dl1ab", 1, 0, 10);
    db.record_history(std::slice::from_ref(&requeued)).unwrap();
    let stored = db.history_of_task(night(), 12003, &osa::model::Stage::Sequence, 42).unwrap();
    assert_eq!(stored.len(), 4, "{stored:#?}");
    assert!(stored.contains(&lines[2]) && stored.contains(&requeued));
}

fn verified_outputs_replace_earlier_verdicts(t: &TestDb) {
    let db = t.open();
    let output = |verdict: &str, events: Option<i64>| OutputRecord {
        night: night(),
        run: 12003,
        subrun: 0,
        kind: "dl1b".to_string(),
        path: "/data/running_analysis/20260105/v0.10/tailcut84/dl1_LST-1.Run12003.0000.h5".to_string(),
        size_bytes: 123_456,
        sha256: "ab".repeat(32),
        events,
        verified_at: at(300),
        verdict: verdict.to_string(),
        detail: None,
    };
    db.upsert_outputs(&[output("event_count", Some(10))]).unwrap();
    db.upsert_outputs(&[output("ok", Some(500))]).unwrap();
    assert_eq!(db.outputs_of_run(night(), 12003).unwrap(), [output("ok", Some(500))]);
}

fn provenance_batch(run: u32, subruns: u32) -> ProvBatch {
    let mut batch = ProvBatch::default();
    batch.agents.push(ProvAgent { id: "lstanalyzer".to_string(), name: "lstanalyzer".to_string(), kind: "person".to_string() });
    for s in 0..subruns {
        let activity = format!("act-{run}-{s}");
        let input = format!("ent-r0-{run}-{s}");
        let output = format!("ent-dl1-{run}-{s}");
        batch.activities.push(ProvActivity {
            id: activity.clone(),
            night: night().to_string(),
            run: i64::from(run),
            subrun: Some(i64::from(s)),
            name: "r0_to_dl1".to_string(),
            started_at: at(i64::from(s)),
            ended_at: Some(at(i64::from(s) + 1)),
            status: "ok".to_string(),
            return_code: Some(0),
            host: Some("localhost".to_string()),
            slurm_job: Some(format!("4801_{s}")),
            software: Some("lstchain 0.10.12".to_string()),
            attempt: Some(1),
            description_id: None,
        });
        for (id, kind) in [(&input, "r0"), (&output, "dl1")] {
            batch.entities.push(ProvEntity {
                id: id.clone(),
                night: night().to_string(),
                run: Some(i64::from(run)),
                location: format!("/data/{kind}/{run}.{s}"),
                kind: "file".to_string(),
                sha256: Some("cd".repeat(32)),
                member_of: None,
                recorded_at: None,
                label: Some(kind.to_string()),
                content_type: Some("application/x-hdf5".to_string()),
            });
        }
        batch.used.push(ProvLink { activity_id: activity.clone(), entity_id: input, role: "R0 subrun".to_string() });
        batch.generated.push(ProvLink { activity_id: activity.clone(), entity_id: output, role: "DL1 subrun".to_string() });
        batch.associations.push(ProvAssociation { activity_id: activity.clone(), agent_id: "lstanalyzer".to_string(), role: "operator".to_string() });
        batch.parameters.push(ProvParameter {
            activity_id: activity,
            name: "config".to_string(),
            value: "lstchain_standard_config.json".to_string(),
        });
    }
    batch
}

fn provenance_is_stored_once_and_read_back_per_run(t: &TestDb) {
    let db = t.open();
    let run_a = provenance_batch(12003, 3);
    db.store_provenance(&run_a).unwrap();
    db.store_provenance(&run_a).unwrap();
    db.store_provenance(&provenance_batch(12004, 2)).unwrap();
    let mut read = db.provenance_of_run(night(), 12003).unwrap();
    let mut expected = run_a.clone();
    for batch in [&mut read, &mut expected] {
        batch.entities.sort_by(|a, b| a.id.cmp(&b.id));
    }
    assert_eq!(read, expected);
    assert_eq!(db.provenance_runs_of_night(night()).unwrap(), [(12003, 3), (12004, 2)]);
}

fn operator_actions_are_audited_in_order(t: &TestDb) {
    let db = t.open();
    db.record_audit(night(), None, AuditAction::Rerun, "jdoe", "calibration redone").unwrap();
    db.record_audit(night(), Some(12003), AuditAction::Veto, "osa", "3 tries failed").unwrap();
    db.record_audit(night().next(), None, AuditAction::Close, "jdoe", "forced").unwrap();
    let entries = db.audit_of_night(night()).unwrap();
    let summary: Vec<_> = entries.iter().map(|e| (e.action, e.run, e.actor.as_str())).collect();
    assert_eq!(summary, [(AuditAction::Rerun, None, "jdoe"), (AuditAction::Veto, Some(12003), "osa")]);
}

/// Several writers (each with its own connection, as separate processes would have),
/// released together by a barrier, writing task rows of the same run: none is lost.
fn concurrent_writers_lose_nothing(t: &TestDb) {
    t.open();
    const WRITERS: u32 = 6;
    const ROWS: u32 = 40;
    let barrier = Arc::new(Barrier::new(WRITERS as usize));
    let handles: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (url, barrier) = (t.url.clone(), barrier.clone());
            std::thread::spawn(move || {
                let db = Db::open(&url, common::PRODUCTION).unwrap().with_retry(common::fast_retry());
                barrier.wait();
                for i in 0..ROWS {
                    db.upsert_tasks(&[task(w * ROWS + i, 1, TaskState::Completed)]).unwrap();
                    db.ensure_night(night()).unwrap();
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("a writer failed");
    }
    let db = t.open();
    assert_eq!(db.tasks_of_run(night(), 12003).unwrap().len(), (WRITERS * ROWS) as usize);
    assert_eq!(db.open_nights().unwrap().len(), 1);
}

on_both_backends!(
    migrations_apply_from_empty_and_are_idempotent,
    rows_from_before_productions_belong_to_the_configured_production,
    nights_are_registered_once_and_follow_their_state,
    runs_are_upserted_by_night_and_run,
    sequences_are_replaced_as_a_whole,
    submission_intents_are_written_before_and_completed_after,
    task_states_are_upserted_per_subrun_and_attempt,
    every_state_round_trips,
    the_daemon_lease_admits_one_daemon,
    a_row_with_an_unknown_state_is_an_error_naming_it,
    history_lines_are_stored_once,
    verified_outputs_replace_earlier_verdicts,
    provenance_is_stored_once_and_read_back_per_run,
    operator_actions_are_audited_in_order,
    concurrent_writers_lose_nothing,
);
