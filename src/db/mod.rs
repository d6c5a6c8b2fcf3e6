//! Persistence: the state of every night in MySQL/MariaDB (production) or SQLite (the embedded
//! default, so a newcomer needs no server), through one diesel code path.
//!
//! - The backend is chosen from the URL scheme (`mysql://` or `sqlite://`); anything else is
//!   an error, never a silently created SQLite file. Messages show the URL without password.
//! - Migrations (`sql/mysql/`, `sql/sqlite/`, same folder names) are embedded and applied by
//!   [`Db::open_and_migrate`]: `osa db migrate`, the daemon's start and the demo. Everything
//!   else (array tasks, every daemon cycle, operator commands) uses [`Db::open`], which only
//!   checks that the schema is current and refuses, saying so, when it is behind.
//! - Every repository function runs in one transaction, so nothing is half-written, and is
//!   idempotent on its natural key (night, run, subrun, attempt), so a re-run step never
//!   duplicates rows. Transient failures (connection lost, SQLite busy, InnoDB deadlock) are
//!   retried with backoff and logged; a write that still fails is returned to the caller.
//! - No SQL text lives outside this module.

mod audit;
mod history;
mod jobs;
mod lease;
mod nights;
mod outputs;
mod provenance;
mod runs;
pub mod schema;
mod sequences;
mod tasks;

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{NaiveDateTime, SubsecRound, Utc};
use diesel::connection::SimpleConnection;
use diesel::mysql::MysqlConnection;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as QueryError};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub use audit::AuditEntry;
pub use history::HistoryRecord;
pub use jobs::{JobIntent, JobRecord};
pub use lease::{Lease, LeaseHolder};
pub use nights::NightRecord;
pub use outputs::OutputRecord;
pub use provenance::{
    ProvActivity, ProvActivityDescription, ProvAgent, ProvAssociation, ProvBatch, ProvDescriptions, ProvEntity, ProvEntityDescription, ProvLink,
    ProvParameter, ProvRoleDescription,
};
pub use runs::RunRecord;
pub use sequences::SequenceRecord;
pub use tasks::{SubrunState, TaskRecord, TaskTally};

use crate::config::redact_url;
use crate::model::{AuditAction, ExecutorKind, NightState, RunType, SequenceKind, Stage, TaskState};
use crate::night::NightDate;

/// The model's states are stored as their words (vaultwarden's `impl_FromToSqlText`): written
/// with `as_str`, read back with `FromStr`, so a row holding an unknown word is a reported
/// error (naming the value and what it should be), never a panic or a silent default.
macro_rules! stored_as_text {
    ($($ty:ty),+) => {$(
        impl<B: diesel::backend::Backend> diesel::serialize::ToSql<diesel::sql_types::Text, B> for $ty
        where
            str: diesel::serialize::ToSql<diesel::sql_types::Text, B>,
        {
            fn to_sql<'b>(&'b self, out: &mut diesel::serialize::Output<'b, '_, B>) -> diesel::serialize::Result {
                self.as_str().to_sql(out)
            }
        }

        impl<B: diesel::backend::Backend> diesel::deserialize::FromSql<diesel::sql_types::Text, B> for $ty
        where
            String: diesel::deserialize::FromSql<diesel::sql_types::Text, B>,
        {
            fn from_sql(bytes: B::RawValue<'_>) -> diesel::deserialize::Result<Self> {
                Ok(String::from_sql(bytes)?.parse::<$ty>()?)
            }
        }
    )+};
}

stored_as_text!(AuditAction, ExecutorKind, NightState, RunType, SequenceKind, Stage, TaskState);

const MYSQL_MIGRATIONS: EmbeddedMigrations = embed_migrations!("sql/mysql");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("sql/sqlite");

/// One connection to whichever backend the URL named.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Mysql(MysqlConnection),
    Sqlite(SqliteConnection),
}

/// Runs the same code with the concrete connection of either backend, where the dialect
/// differs (batched `REPLACE INTO`, migrations).
macro_rules! per_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConnection::Mysql($c) => $body,
            $crate::db::DbConnection::Sqlite($c) => $body,
        }
    };
}
pub(crate) use per_backend;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database URL {url:?}: {message}")]
    Url { url: String, message: String },
    #[error("cannot connect to database {url}: {message}")]
    Connect { url: String, message: String },
    /// Only `osa db migrate`, the daemon's start and the demo create a database.
    #[error("database {url} does not exist ({what}): is the URL right, is its filesystem mounted? `osa db migrate` creates it")]
    Missing { url: String, what: String },
    #[error("database {url}: migrations failed: {message}")]
    Migration { url: String, message: String },
    #[error("database {url}: the schema is behind this osa ({} migration(s) pending: {}); run `osa db migrate` (the daemon does it when it starts)", pending.len(), pending.join(", "))]
    SchemaBehind { url: String, pending: Vec<String> },
    #[error("database {url}: {action} failed after {attempts} attempt(s): {}", with_causes(source))]
    Query { url: String, action: String, attempts: u32, source: QueryError },
}

/// An error with its causes (diesel names the field that failed to read, its source says why:
/// `Error deserializing field 'state': "WEIRD" is not a known task state ...`).
fn with_causes(error: &QueryError) -> String {
    let mut text = error.to_string();
    let mut last = text.clone();
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        // A wrapper may repeat its own text as its first cause.
        let said = inner.to_string();
        if said != last {
            text.push_str(&format!(": {said}"));
        }
        last = said;
        cause = inner.source();
    }
    text
}

/// Which server, parsed from the URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DbUrl {
    Mysql { url: String, server_url: String, database: String },
    Sqlite { path: PathBuf },
}

impl DbUrl {
    pub fn parse(url: &str) -> Result<Self, DbError> {
        let bad = |message: &str| DbError::Url { url: redact_url(url), message: message.to_string() };
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(bad("sqlite:// needs a file path, e.g. sqlite:///var/lib/osa/osa.sqlite"));
            }
            return Ok(Self::Sqlite { path: PathBuf::from(path) });
        }
        if let Some(rest) = url.strip_prefix("mysql://") {
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            let database = path.split('?').next().unwrap_or("");
            if authority.is_empty() {
                return Err(bad("mysql:// needs a host, e.g. mysql://osa@127.0.0.1:3306/osa"));
            }
            if database.is_empty() || !database.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(bad("needs a database name of letters, digits and _ after the host, e.g. mysql://osa@db:3306/osa"));
            }
            return Ok(Self::Mysql { url: url.to_string(), server_url: format!("mysql://{authority}"), database: database.to_string() });
        }
        Err(bad("must start with mysql:// or sqlite://"))
    }

    pub fn redacted(&self) -> String {
        match self {
            Self::Mysql { url, .. } => redact_url(url),
            Self::Sqlite { path } => format!("sqlite://{}", path.display()),
        }
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Self::Mysql { .. } => "mysql",
            Self::Sqlite { .. } => "sqlite",
        }
    }
}

/// How hard to try before a write is reported failed.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// About 30 s in all: long enough for a MariaDB restart or a network blip.
    fn default() -> Self {
        Self { attempts: 10, first_delay: Duration::from_millis(100), max_delay: Duration::from_secs(5) }
    }
}

/// Migrations applied and pending, for `osa db status`.
#[derive(Debug, serde::Serialize)]
pub struct MigrationStatus {
    pub backend: &'static str,
    pub url: String,
    pub applied: Vec<String>,
    pub pending: Vec<String>,
}

/// The database: one connection, re-established when lost. Cheap to share (`&Db` is `Sync`).
pub struct Db {
    url: DbUrl,
    conn: Mutex<Option<DbConnection>>,
    retry: RetryPolicy,
    /// The production (`analysis.prod_id`) whose records this handle reads and writes: the
    /// same night processed under two productions keeps two sets of rows.
    production: String,
}

/// Now, in UTC, at the microsecond precision both backends keep.
pub fn now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(6)
}

impl Db {
    /// Connects (creating the MySQL database or SQLite file if missing) and applies pending
    /// migrations: for `osa db migrate`, the daemon's start and the demo.
    pub fn open_and_migrate(url: &str, production: &str) -> Result<Self, DbError> {
        let db = Self::connect_creating(url, production)?;
        db.migrate()?;
        Ok(db)
    }

    /// Connects and checks that no migration is pending (one small query): what array tasks,
    /// daemon cycles and operator commands use, so none of them changes the schema.
    pub fn open(url: &str, production: &str) -> Result<Self, DbError> {
        let db = Self::connect(url, production)?;
        let status = db.migration_status()?;
        if !status.pending.is_empty() {
            return Err(DbError::SchemaBehind { url: status.url, pending: status.pending });
        }
        Ok(db)
    }

    /// Connects without migrating, to a database that exists: a mistyped URL or an unmounted
    /// filesystem is [`DbError::Missing`], never a new empty database.
    pub fn connect(url: &str, production: &str) -> Result<Self, DbError> {
        let url = DbUrl::parse(url)?;
        if let DbUrl::Sqlite { path } = &url
            && !path.is_file()
        {
            let what = match path.parent().filter(|d| !d.as_os_str().is_empty() && !d.is_dir()) {
                Some(dir) => format!("no folder {}", dir.display()),
                None => format!("no file {}", path.display()),
            };
            return Err(DbError::Missing { url: url.redacted(), what });
        }
        let conn = establish(&url, false)?;
        Ok(Self { url, conn: Mutex::new(Some(conn)), retry: RetryPolicy::default(), production: production.to_string() })
    }

    /// Connects without migrating, creating the MySQL database or the SQLite file (and its
    /// folder) if missing: for `osa db migrate` and what opens through it.
    pub fn connect_creating(url: &str, production: &str) -> Result<Self, DbError> {
        let url = DbUrl::parse(url)?;
        if let DbUrl::Mysql { server_url, database, .. } = &url {
            create_mysql_database(server_url, database, &url)?;
        }
        let conn = establish(&url, true)?;
        Ok(Self { url, conn: Mutex::new(Some(conn)), retry: RetryPolicy::default(), production: production.to_string() })
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn url(&self) -> &DbUrl {
        &self.url
    }

    /// The production this handle reads and writes.
    pub fn production(&self) -> &str {
        &self.production
    }

    /// Applies pending migrations; returns the names of those applied now.
    pub fn migrate(&self) -> Result<Vec<String>, DbError> {
        let applied = {
            let mut guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
            let conn = self.connection(&mut guard).map_err(|e| self.migration_error(e))?;
            let applied = per_backend!(conn, |c| {
                let source = if matches!(self.url, DbUrl::Mysql { .. }) { MYSQL_MIGRATIONS } else { SQLITE_MIGRATIONS };
                c.run_pending_migrations(source).map(|v| v.iter().map(ToString::to_string).collect::<Vec<_>>())
            });
            applied.map_err(|e| self.migration_error(e.to_string()))?
        };
        // Every time, not only when the migration is applied: an adoption cut short (a lost
        // connection) is finished by the next `osa db migrate`.
        self.adopt_rows_without_production()?;
        Ok(applied)
    }

    /// Rows written before productions existed belong to the production configured when the
    /// database is upgraded: a site's existing nights stay its current production's.
    fn adopt_rows_without_production(&self) -> Result<(), DbError> {
        use schema::{audit_log, history, jobs, nights, outputs, prov_activities, runs, sequences, tasks};
        let p = self.production.clone();
        self.transaction(
            || format!("giving the rows from before productions to production {p}"),
            |c| {
                diesel::update(nights::table.filter(nights::production.eq(""))).set(nights::production.eq(&p)).execute(c)?;
                diesel::update(runs::table.filter(runs::production.eq(""))).set(runs::production.eq(&p)).execute(c)?;
                diesel::update(sequences::table.filter(sequences::production.eq(""))).set(sequences::production.eq(&p)).execute(c)?;
                diesel::update(jobs::table.filter(jobs::production.eq(""))).set(jobs::production.eq(&p)).execute(c)?;
                diesel::update(tasks::table.filter(tasks::production.eq(""))).set(tasks::production.eq(&p)).execute(c)?;
                diesel::update(history::table.filter(history::production.eq(""))).set(history::production.eq(&p)).execute(c)?;
                diesel::update(outputs::table.filter(outputs::production.eq(""))).set(outputs::production.eq(&p)).execute(c)?;
                diesel::update(audit_log::table.filter(audit_log::production.eq(""))).set(audit_log::production.eq(&p)).execute(c)?;
                diesel::update(prov_activities::table.filter(prov_activities::production.eq("")))
                    .set(prov_activities::production.eq(&p))
                    .execute(c)?;
                Ok(())
            },
        )
    }

    pub fn migration_status(&self) -> Result<MigrationStatus, DbError> {
        let mut guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let conn = self.connection(&mut guard).map_err(|e| self.migration_error(e))?;
        let (applied, pending) = per_backend!(conn, |c| {
            let source = if matches!(self.url, DbUrl::Mysql { .. }) { MYSQL_MIGRATIONS } else { SQLITE_MIGRATIONS };
            let applied = c.applied_migrations().map_err(|e| self.migration_error(e.to_string()))?;
            let pending = c.pending_migrations(source).map_err(|e| self.migration_error(e.to_string()))?;
            (applied.iter().map(ToString::to_string).collect(), pending.iter().map(|m| m.name().to_string()).collect())
        });
        Ok(MigrationStatus { backend: self.url.backend(), url: self.url.redacted(), applied, pending })
    }

    fn migration_error(&self, message: String) -> DbError {
        DbError::Migration { url: self.url.redacted(), message }
    }

    fn connection<'a>(&self, guard: &'a mut Option<DbConnection>) -> Result<&'a mut DbConnection, String> {
        if guard.is_none() {
            *guard = Some(establish(&self.url, false).map_err(|e| e.to_string())?);
        }
        Ok(guard.as_mut().expect("just set"))
    }

    /// Runs `f` in one transaction; transient failures drop the connection and retry the
    /// whole transaction with exponential backoff (safe: every write is idempotent).
    pub(crate) fn transaction<T>(&self, action: impl Fn() -> String, mut f: impl FnMut(&mut DbConnection) -> QueryResult<T>) -> Result<T, DbError> {
        let mut delay = self.retry.first_delay;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = {
                let mut guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
                match self.connection(&mut guard) {
                    Ok(conn) => {
                        let result = conn.transaction(|c| f(c));
                        if result.as_ref().is_err_and(is_transient) {
                            *guard = None;
                        }
                        result
                    }
                    Err(message) => Err(QueryError::DatabaseError(DatabaseErrorKind::ClosedConnection, Box::new(message))),
                }
            };
            match result {
                Ok(value) => {
                    if attempt > 1 {
                        tracing::info!(db.url = %self.url.redacted(), attempts = attempt, "database reachable again: {}", action());
                    }
                    return Ok(value);
                }
                Err(e) if is_transient(&e) && attempt < self.retry.attempts => {
                    tracing::warn!(db.url = %self.url.redacted(), attempt, retry_in_ms = delay.as_millis() as u64, "{} failed, retrying: {e}", action());
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(self.retry.max_delay);
                }
                Err(source) => {
                    return Err(DbError::Query { url: self.url.redacted(), action: action(), attempts: attempt, source });
                }
            }
        }
    }
}

/// Lost connections, busy SQLite files and InnoDB deadlocks pass; constraint violations and
/// bad queries do not.
fn is_transient(error: &QueryError) -> bool {
    match error {
        // A commit whose outcome is unknown leaves the connection unusable: drop it and retry
        // (writes are idempotent).
        QueryError::RollbackErrorOnCommit { .. } | QueryError::BrokenTransactionManager => true,
        QueryError::DatabaseError(kind, info) => {
            matches!(kind, DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand | DatabaseErrorKind::SerializationFailure)
                || [
                    "gone away",
                    "Lost connection",
                    "Can't connect",
                    "database is locked",
                    "database table is locked",
                    "Deadlock found",
                    "Lock wait timeout",
                    "Connection refused",
                    "server shutdown",
                ]
                .iter()
                .any(|m| info.message().contains(m))
        }
        _ => false,
    }
}

fn establish(url: &DbUrl, create: bool) -> Result<DbConnection, DbError> {
    let failed = |message: String| DbError::Connect { url: url.redacted(), message };
    match url {
        DbUrl::Mysql { url: raw, database, .. } => {
            let mut conn = MysqlConnection::establish(raw).map_err(|e| {
                let message = e.to_string();
                if message.contains("Unknown database") {
                    DbError::Missing { url: url.redacted(), what: format!("the server has no database {database}") }
                } else {
                    failed(message)
                }
            })?;
            // Times are stored as UTC DATETIMEs: make the session agree whatever the server says.
            conn.batch_execute("SET time_zone = '+00:00'").map_err(|e| failed(e.to_string()))?;
            Ok(DbConnection::Mysql(conn))
        }
        DbUrl::Sqlite { path } => {
            if let Some(dir) = path.parent().filter(|d| create && !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| failed(format!("cannot create {}: {e}", dir.display())))?;
            }
            let text = path.to_str().ok_or_else(|| failed("the path is not UTF-8".to_string()))?;
            let mut conn = SqliteConnection::establish(text).map_err(|e| failed(e.to_string()))?;
            // WAL + busy timeout: the daemon, CLI commands and array tasks share the file. The
            // timeout comes first so that switching to WAL waits for a busy file too.
            conn.batch_execute("PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")
                .map_err(|e| failed(e.to_string()))?;
            Ok(DbConnection::Sqlite(conn))
        }
    }
}

fn create_mysql_database(server_url: &str, database: &str, url: &DbUrl) -> Result<(), DbError> {
    let failed = |message: String| DbError::Connect { url: url.redacted(), message };
    let mut server = MysqlConnection::establish(server_url).map_err(|e| failed(e.to_string()))?;
    server
        .batch_execute(&format!("CREATE DATABASE IF NOT EXISTS `{database}` CHARACTER SET utf8mb4"))
        .map_err(|e| failed(format!("cannot create database {database}: {e}")))
}

/// A stored night date back, or an error naming the column and what it holds (a hand-edited
/// row must not panic osa).
pub(crate) fn stored_night(column: &str, text: &str) -> QueryResult<NightDate> {
    text.parse().map_err(|_| QueryError::DeserializationError(format!("{column} holds {text:?}, not a night date (YYYY-MM-DD)").into()))
}

/// Rows per `INSERT`/`REPLACE` statement: well under both backends' bound-parameter limits
/// (SQLite 32766, MySQL 65535) for our widest table.
pub(crate) const BATCH_ROWS: usize = 500;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_scheme_picks_the_backend_and_refuses_anything_else() {
        assert_eq!(DbUrl::parse("sqlite:///tmp/x.sqlite").unwrap(), DbUrl::Sqlite { path: PathBuf::from("/tmp/x.sqlite") });
        let mysql = DbUrl::parse("mysql://osa:pw@db:3306/osa_prod").unwrap();
        assert_eq!(mysql.redacted(), "mysql://osa:***@db:3306/osa_prod");
        assert!(matches!(&mysql, DbUrl::Mysql { database, server_url, .. } if database == "osa_prod" && server_url == "mysql://osa:pw@db:3306"));
        for bad in ["/tmp/osa.sqlite", "postgres://x/y", "sqlite://", "mysql://db:3306", "mysql://db/osa-prod", "mysql:///osa"] {
            let err = DbUrl::parse(bad).unwrap_err();
            assert!(matches!(err, DbError::Url { .. }), "{bad}: {err}");
        }
        let err = DbUrl::parse("mysq://osa:secret@db/osa").unwrap_err().to_string();
        assert!(!err.contains("secret") && err.contains("mysql://"), "{err}");
    }

    #[test]
    fn transient_errors_are_told_apart() {
        let db_error = |kind, message: &str| QueryError::DatabaseError(kind, Box::new(message.to_string()));
        assert!(is_transient(&db_error(DatabaseErrorKind::Unknown, "MySQL server has gone away")));
        assert!(is_transient(&db_error(DatabaseErrorKind::Unknown, "database is locked")));
        assert!(is_transient(&db_error(DatabaseErrorKind::ClosedConnection, "")));
        assert!(!is_transient(&db_error(DatabaseErrorKind::UniqueViolation, "Duplicate entry")));
        assert!(!is_transient(&QueryError::NotFound));
    }
}
