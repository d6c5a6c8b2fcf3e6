//! Submissions: one row per (night, run, stage, attempt). The intent is written BEFORE the executor
//! is called and completed with the job id after, so a crash in between leaves a row that
//! [`Db::pending_submissions`] finds and reconciliation (by the `--comment` key) resolves.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::jobs;
use super::{Db, DbError, now, per_backend, stored_night};
use crate::model::{ExecutorKind, Stage};
use crate::night::NightDate;

/// What is about to be submitted.
#[derive(Clone, Debug, PartialEq)]
pub struct JobIntent {
    pub night: NightDate,
    pub run: u32,
    /// The run's sequence, or a closing stage (night-wide stages: run [`crate::model::NIGHT_WIDE`]).
    pub stage: Stage,
    pub attempt: u32,
    pub executor: ExecutorKind,
    pub job_name: String,
    /// Our own key passed as `--comment`, matched when reconciling after a crash.
    pub comment_key: String,
    /// `0-141`, or `0` for the calibration job.
    pub array_range: String,
    pub partition: String,
    pub account: String,
    pub mem_per_cpu: String,
    pub time_limit: String,
    pub script_path: String,
    /// A DATA run's first part (before its pre-stages): the data step its tasks stop before.
    pub stops_before: Option<String>,
}

/// A submission as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct JobRecord {
    pub intent: JobIntent,
    pub intent_at: NaiveDateTime,
    /// Set once the executor accepted the job.
    pub job_id: Option<String>,
    pub submitted_at: Option<NaiveDateTime>,
    /// Set when the executor refused it.
    pub submit_error: Option<String>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = jobs)]
struct JobRow {
    night: String,
    run: i64,
    attempt: i64,
    executor: ExecutorKind,
    job_name: String,
    comment_key: String,
    array_range: String,
    partition_name: String,
    account: String,
    mem_per_cpu: String,
    time_limit: String,
    script_path: String,
    intent_at: NaiveDateTime,
    job_id: Option<String>,
    submitted_at: Option<NaiveDateTime>,
    submit_error: Option<String>,
    stage: Stage,
    production: String,
    stops_before: Option<String>,
}

// ---- Local methods ----

impl JobRow {
    fn into_record(self) -> QueryResult<JobRecord> {
        Ok(JobRecord {
            intent: JobIntent {
                night: stored_night("jobs.night", &self.night)?,
                run: self.run as u32,
                stage: self.stage,
                attempt: self.attempt as u32,
                executor: self.executor,
                job_name: self.job_name,
                comment_key: self.comment_key,
                array_range: self.array_range,
                partition: self.partition_name,
                account: self.account,
                mem_per_cpu: self.mem_per_cpu,
                time_limit: self.time_limit,
                script_path: self.script_path,
                stops_before: self.stops_before,
            },
            intent_at: self.intent_at,
            job_id: self.job_id,
            submitted_at: self.submitted_at,
            submit_error: self.submit_error,
        })
    }
}

fn key(production: &str, night: NightDate, run: u32, stage: &Stage, attempt: u32) -> (String, String, i64, String, i64) {
    (production.to_string(), night.to_string(), i64::from(run), stage.as_str().to_string(), i64::from(attempt))
}

// ---- Database methods ----

impl Db {
    /// Writes the intent of a submission. Idempotent: an existing intent for the same
    /// (night, run, stage, attempt) is kept as it is and returned, with `false` (not written now).
    pub fn record_submission_intent(&self, intent: &JobIntent) -> Result<(JobRecord, bool), DbError> {
        self.transaction(
            || format!("recording the submission intent of night {} run {} {} attempt {}", intent.night, intent.run, intent.stage, intent.attempt),
            |c| {
                let k = key(&self.production, intent.night, intent.run, &intent.stage, intent.attempt);
                let row = JobRow {
                    production: k.0.clone(),
                    night: k.1.clone(),
                    run: k.2,
                    stage: intent.stage.clone(),
                    attempt: k.4,
                    executor: intent.executor,
                    job_name: intent.job_name.clone(),
                    comment_key: intent.comment_key.clone(),
                    array_range: intent.array_range.clone(),
                    partition_name: intent.partition.clone(),
                    account: intent.account.clone(),
                    mem_per_cpu: intent.mem_per_cpu.clone(),
                    time_limit: intent.time_limit.clone(),
                    script_path: intent.script_path.clone(),
                    intent_at: now(),
                    job_id: None,
                    submitted_at: None,
                    submit_error: None,
                    stops_before: intent.stops_before.clone(),
                };
                // Insert-or-ignore, then read: an existing intent wins, even under a race.
                let inserted = per_backend!(&mut *c, |c| diesel::insert_or_ignore_into(jobs::table).values(&row).execute(c))? == 1;
                Ok((jobs::table.find((&k.0, &k.1, k.2, &k.3, k.4)).select(JobRow::as_select()).first(c)?.into_record()?, inserted))
            },
        )
    }

    /// Completes an intent with the executor's job id.
    pub fn complete_submission(&self, night: NightDate, run: u32, stage: &Stage, attempt: u32, job_id: &str) -> Result<(), DbError> {
        self.transaction(
            || format!("recording job {job_id} of night {night} run {run} {stage} attempt {attempt}"),
            |c| {
                let n = diesel::update(jobs::table.find(key(&self.production, night, run, stage, attempt)))
                    .set((jobs::job_id.eq(job_id), jobs::submitted_at.eq(now()), jobs::submit_error.eq(None::<String>)))
                    .execute(c)?;
                if n == 0 { Err(diesel::result::Error::NotFound) } else { Ok(()) }
            },
        )
    }

    /// Records that the executor refused a submission (the intent stays, with the reason).
    pub fn fail_submission(&self, night: NightDate, run: u32, stage: &Stage, attempt: u32, error: &str) -> Result<(), DbError> {
        self.transaction(
            || format!("recording the failed submission of night {night} run {run} {stage} attempt {attempt}"),
            |c| {
                let n = diesel::update(jobs::table.find(key(&self.production, night, run, stage, attempt)))
                    .set(jobs::submit_error.eq(error))
                    .execute(c)?;
                if n == 0 { Err(diesel::result::Error::NotFound) } else { Ok(()) }
            },
        )
    }

    /// Intents without a job id nor an error: submissions a crash may have interrupted.
    pub fn pending_submissions(&self) -> Result<Vec<JobRecord>, DbError> {
        self.transaction(
            || "reading table jobs for pending submissions".to_string(),
            |c| {
                let rows = jobs::table
                    .filter(jobs::production.eq(&self.production))
                    .filter(jobs::job_id.is_null().and(jobs::submit_error.is_null()))
                    .order((jobs::night.asc(), jobs::run.asc(), jobs::stage.asc(), jobs::attempt.asc()))
                    .select(JobRow::as_select())
                    .load(c)?;
                rows.into_iter().map(JobRow::into_record).collect()
            },
        )
    }

    pub fn jobs_of_night(&self, night: NightDate) -> Result<Vec<JobRecord>, DbError> {
        self.transaction(
            || format!("reading table jobs for night {night}"),
            |c| {
                let rows = jobs::table
                    .filter(jobs::production.eq(&self.production))
                    .filter(jobs::night.eq(night.to_string()))
                    .order((jobs::run.asc(), jobs::stage.asc(), jobs::attempt.asc()))
                    .select(JobRow::as_select())
                    .load(c)?;
                rows.into_iter().map(JobRow::into_record).collect()
            },
        )
    }
}
