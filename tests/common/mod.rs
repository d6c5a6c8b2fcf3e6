//! Test databases on both backends: SQLite in a temp dir, and a fresh database on the
//! machine's MariaDB (`OSA_TEST_MYSQL_URL`, default `mysql://root@127.0.0.1:3306`) that is
//! dropped when the test ends. Leftovers of crashed runs (`osa_test_<pid>_…` whose process is
//! gone) are swept. MariaDB tests never skip: an unreachable server fails them with the fix.

#![allow(dead_code)] // each test binary uses its own part of the harness

pub mod lstchain;
pub mod night;
pub mod proxy;

use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};

use diesel::connection::SimpleConnection;
use diesel::mysql::MysqlConnection;
use diesel::prelude::*;
use osa::db::{Db, RetryPolicy};

pub const HOW_TO_START: &str = "start it with `sudo scripts/start-services.sh` (or `scripts/setup.sh` on a fresh machine)";

/// The production the repository tests' databases are opened for (the default config's).
pub const PRODUCTION: &str = "v0.10";

pub fn mysql_server_url() -> String {
    std::env::var("OSA_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_string()).trim_end_matches('/').to_string()
}

pub fn mysql_admin() -> MysqlConnection {
    let url = mysql_server_url();
    MysqlConnection::establish(&url).unwrap_or_else(|e| panic!("MariaDB at {url} does not answer ({e}); {HOW_TO_START}"))
}

fn sweep_leftovers() {
    static SWEEP: Once = Once::new();
    SWEEP.call_once(|| {
        let mut admin = mysql_admin();
        #[derive(QueryableByName)]
        struct Name {
            #[diesel(sql_type = diesel::sql_types::Text)]
            #[diesel(column_name = "Database")]
            database: String,
        }
        let names: Vec<Name> = diesel::sql_query("SHOW DATABASES LIKE 'osa\\_test\\_%'").load(&mut admin).unwrap_or_default();
        for name in names {
            let pid = name.database.split('_').nth(2).and_then(|p| p.parse::<u32>().ok());
            if pid.is_some_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists()) {
                let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS `{}`", name.database));
            }
        }
    });
}

pub enum Backend {
    Sqlite(tempfile::TempDir),
    Mysql(String),
}

/// A fresh, migrated database for one test.
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestDb {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("osa.sqlite").display());
        Self { url, backend: Backend::Sqlite(dir) }
    }

    pub fn mysql() -> Self {
        sweep_leftovers();
        let name = format!("osa_test_{}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst), rand_suffix());
        let url = format!("{}/{name}", mysql_server_url());
        Self { url, backend: Backend::Mysql(name) }
    }

    /// Opens (creating and migrating) the database, with quick retries for tests.
    pub fn open(&self) -> Db {
        Db::open_and_migrate(&self.url, PRODUCTION).unwrap_or_else(|e| panic!("{e}; {HOW_TO_START}")).with_retry(fast_retry())
    }

    pub fn database_name(&self) -> Option<&str> {
        match &self.backend {
            Backend::Mysql(name) => Some(name),
            Backend::Sqlite(_) => None,
        }
    }
}

pub fn fast_retry() -> RetryPolicy {
    RetryPolicy { attempts: 12, first_delay: std::time::Duration::from_millis(20), max_delay: std::time::Duration::from_millis(500) }
}

fn rand_suffix() -> u32 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    nanos % 1_000_000
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Backend::Mysql(name) = &self.backend {
            let _ = mysql_admin().batch_execute(&format!("DROP DATABASE IF EXISTS `{name}`"));
        }
    }
}

/// Defines each listed scenario `fn(&TestDb)` as two tests, `sqlite::name` and `mysql::name`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(&$crate::common::TestDb::sqlite()); } )*
        }
        mod mysql {
            $( #[test] fn $name() { super::$name(&$crate::common::TestDb::mysql()); } )*
        }
    };
}
