//! The daemon lease: one row naming the daemon that holds this database. Two daemons on one
//! database (two data roots, two hosts) would each plan and resubmit the other's runs; the
//! lease refuses the second. Taken with compare-and-swap, so two daemons starting at once
//! cannot both believe they hold it.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::daemon_lease;
use super::{Db, DbError, now, per_backend};

/// Who holds (or wants) the lease.
#[derive(Clone, Debug, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = daemon_lease)]
pub struct LeaseHolder {
    #[diesel(skip_insertion)]
    #[diesel(select_expression = daemon_lease::id)]
    id: i64,
    pub host: String,
    pub pid: i64,
    pub data_root: String,
    pub started_at: NaiveDateTime,
    pub heartbeat_at: NaiveDateTime,
}

/// The single row's key.
const LEASE: i64 = 1;

// ---- Local methods ----

impl LeaseHolder {
    /// This process, started at `started_at`.
    pub fn me(host: &str, pid: u32, data_root: &str, started_at: NaiveDateTime) -> Self {
        Self { id: LEASE, host: host.to_string(), pid: i64::from(pid), data_root: data_root.to_string(), started_at, heartbeat_at: started_at }
    }

    fn same_daemon(&self, other: &Self) -> bool {
        self.host == other.host && self.pid == other.pid && self.data_root == other.data_root && self.started_at == other.started_at
    }
}

/// What a claim found.
#[derive(Debug, PartialEq, Eq)]
pub enum Lease {
    /// Taken or renewed: this daemon holds the database.
    Held,
    /// Another daemon holds it and is alive.
    Refused(LeaseHolder),
}

// ---- Database methods ----

impl Db {
    /// Takes the lease for `me`, or renews it. A holder whose heartbeat is older than
    /// `stale_after_seconds`, or that `is_dead` says is gone (same host, no such process),
    /// is replaced.
    pub fn claim_lease(&self, me: &LeaseHolder, stale_after_seconds: i64, is_dead: impl Fn(&LeaseHolder) -> bool) -> Result<Lease, DbError> {
        self.transaction(
            || format!("claiming the daemon lease for {} pid {}", me.host, me.pid),
            |c| {
                let at = now();
                let mut mine = me.clone();
                mine.heartbeat_at = at;
                let row = (
                    daemon_lease::id.eq(LEASE),
                    daemon_lease::host.eq(&mine.host),
                    daemon_lease::pid.eq(mine.pid),
                    daemon_lease::data_root.eq(&mine.data_root),
                    daemon_lease::started_at.eq(mine.started_at),
                    daemon_lease::heartbeat_at.eq(at),
                );
                per_backend!(&mut *c, |c| diesel::insert_or_ignore_into(daemon_lease::table).values(row).execute(c))?;
                let holder: LeaseHolder = daemon_lease::table.find(LEASE).select(LeaseHolder::as_select()).first(c)?;
                let stale = holder.heartbeat_at < at - chrono::Duration::seconds(stale_after_seconds);
                if !holder.same_daemon(&mine) && !stale && !is_dead(&holder) {
                    return Ok(Lease::Refused(holder));
                }
                // Compare-and-swap on the holder read: a concurrent taker makes this update
                // miss, and the next claim sees that taker.
                let taken = diesel::update(
                    daemon_lease::table
                        .find(LEASE)
                        .filter(daemon_lease::host.eq(&holder.host))
                        .filter(daemon_lease::pid.eq(holder.pid))
                        .filter(daemon_lease::started_at.eq(holder.started_at)),
                )
                .set(row)
                .execute(c)?;
                if taken == 1 {
                    Ok(Lease::Held)
                } else {
                    Ok(Lease::Refused(daemon_lease::table.find(LEASE).select(LeaseHolder::as_select()).first(c)?))
                }
            },
        )
    }

    /// Who holds the lease, if anyone: its heartbeat is the daemon's last cycle as the
    /// database saw it.
    pub fn lease_holder(&self) -> Result<Option<LeaseHolder>, DbError> {
        self.transaction(
            || "reading table daemon_lease".to_string(),
            |c| daemon_lease::table.find(LEASE).select(LeaseHolder::as_select()).first(c).optional(),
        )
    }

    /// Gives the lease back (a daemon stopping cleanly), if `me` holds it.
    pub fn release_lease(&self, me: &LeaseHolder) -> Result<(), DbError> {
        self.transaction(
            || format!("releasing the daemon lease of {} pid {}", me.host, me.pid),
            |c| {
                diesel::delete(
                    daemon_lease::table
                        .find(LEASE)
                        .filter(daemon_lease::host.eq(&me.host))
                        .filter(daemon_lease::pid.eq(me.pid))
                        .filter(daemon_lease::started_at.eq(me.started_at)),
                )
                .execute(c)
                .map(|_| ())
            },
        )
    }
}
