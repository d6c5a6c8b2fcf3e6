//! The database failing under osa: a connection cut mid-test (through a TCP proxy of the
//! test's own, never by stopping the shared MariaDB), unreachable servers, bad URLs.

mod common;

use std::time::Duration;

use common::proxy::Proxy;
use common::{TestDb, mysql_server_url};
use osa::db::{Db, DbError, RetryPolicy, TaskRecord};
use osa::night::NightDate;

fn night() -> NightDate {
    "2026-01-05".parse().unwrap()
}

fn task(subrun: u32) -> TaskRecord {
    TaskRecord {
        stage: osa::model::Stage::Sequence,
        night: night(),
        run: 12003,
        subrun,
        attempt: 1,
        state: osa::model::TaskState::Completed,
        exit_code: Some(0),
        cpu_seconds: None,
        max_rss_kb: None,
        node: None,
        started_at: None,
        ended_at: None,
    }
}

/// `mysql://user@host:port` of the test server, split for the proxy.
fn server_address() -> (String, String) {
    let url = mysql_server_url();
    let rest = url.trim_start_matches("mysql://");
    let (user, host_port) = rest.rsplit_once('@').unwrap_or(("root", rest));
    let host_port = if host_port.contains(':') { host_port.to_string() } else { format!("{host_port}:3306") };
    (user.to_string(), host_port)
}

#[test]
fn a_connection_cut_mid_test_is_survived_by_the_retry() {
    let t = TestDb::mysql();
    t.open();
    let (user, target) = server_address();
    let proxy = Proxy::start(&target);
    let name = t.database_name().unwrap();
    let through_proxy = format!("mysql://{user}@127.0.0.1:{}/{name}", proxy.port);
    let db = Db::open_and_migrate(&through_proxy, "v0.10").unwrap().with_retry(RetryPolicy {
        attempts: 40,
        first_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(200),
    });
    db.upsert_tasks(&[task(0)]).unwrap();

    proxy.cut();
    let restorer = std::thread::spawn({
        let restore = std::sync::Arc::new(proxy);
        let handle = restore.clone();
        move || {
            std::thread::sleep(Duration::from_millis(1500));
            handle.restore();
            restore
        }
    });
    // Written while the connection is down: retried until the proxy lets it through.
    db.upsert_tasks(&[task(1), task(2)]).unwrap();
    let _proxy = restorer.join().unwrap();
    assert_eq!(db.tasks_of_run(night(), 12003).unwrap().len(), 3);
    assert_eq!(t.open().tasks_of_run(night(), 12003).unwrap().len(), 3, "rows reached the server");
}

#[test]
fn a_write_that_finally_fails_is_reported_not_swallowed() {
    let t = TestDb::mysql();
    t.open();
    let (user, target) = server_address();
    let proxy = Proxy::start(&target);
    let through_proxy = format!("mysql://{user}@127.0.0.1:{}/{}", proxy.port, t.database_name().unwrap());
    let db = Db::open_and_migrate(&through_proxy, "v0.10").unwrap().with_retry(RetryPolicy {
        attempts: 3,
        first_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(20),
    });
    proxy.cut();
    let err = db.upsert_tasks(&[task(7)]).unwrap_err();
    assert!(matches!(err, DbError::Query { attempts: 3, .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("storing 1 task state(s) failed after 3 attempt(s)") && text.contains(&format!("127.0.0.1:{}", proxy.port)), "{text}");
    proxy.restore();
    assert!(t.open().tasks_of_run(night(), 12003).unwrap().is_empty(), "nothing half-written");
}

#[test]
fn unreachable_server_gives_one_clear_error_without_the_password() {
    let err = Db::open("mysql://osa:hunter2@127.0.0.1:1/osa", "v0.10").err().expect("port 1 does not answer");
    let text = err.to_string();
    assert!(matches!(err, DbError::Connect { .. }));
    assert!(text.contains("mysql://osa:***@127.0.0.1:1/osa") && !text.contains("hunter2"), "{text}");
}

#[test]
fn a_mistyped_url_never_creates_an_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("osa.sqlite");
    for url in [path.display().to_string(), format!("sqlit://{}", path.display()), format!("file://{}", path.display())] {
        assert!(matches!(Db::open(&url, "v0.10"), Err(DbError::Url { .. })), "{url}");
    }
    assert!(!path.exists());
}

#[test]
fn sqlite_uses_wal_so_the_daemon_and_cli_share_the_file() {
    let t = TestDb::sqlite();
    let writer = t.open();
    let reader = t.open();
    writer.ensure_night(night()).unwrap();
    assert!(reader.night(night()).unwrap().is_some());
    let common::Backend::Sqlite(dir) = &t.backend else { unreachable!() };
    assert!(dir.path().join("osa.sqlite-wal").exists(), "journal_mode=WAL");
}

#[test]
fn migrate_creates_the_mysql_database_when_missing() {
    let t = TestDb::mysql();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_osa")).args(["db", "migrate", "--url", &t.url]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("applied 20261123000001, 20261124000001, 20261125000001"));
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_osa")).args(["db", "status", "--url", &t.url, "--json"]).output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(json["pending"], serde_json::json!([]));
    assert_eq!(json["backend"], "mysql");
}
