//! Sequences of a night: one per run, the calibration sequence first, DATA sequences chained
//! on it (LSTOSA numbering and job names).

use diesel::prelude::*;

use super::schema::sequences;
use super::{BATCH_ROWS, Db, DbError, now, per_backend, stored_night};
use crate::model::SequenceKind;
use crate::night::NightDate;

#[derive(Clone, Debug, PartialEq)]
pub struct SequenceRecord {
    pub night: NightDate,
    pub seq: u32,
    pub parent_seq: Option<u32>,
    pub run: u32,
    pub kind: SequenceKind,
    /// `LST1_{run:05d}`
    pub job_name: String,
    /// The earlier night whose closed calibration this sequence uses, if not its own.
    pub calibration_night: Option<NightDate>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = sequences)]
struct SequenceRow {
    night: String,
    seq: i64,
    parent_seq: Option<i64>,
    run: i64,
    kind: SequenceKind,
    job_name: String,
    calibration_night: Option<String>,
    updated_at: chrono::NaiveDateTime,
    production: String,
}

impl Db {
    /// Replaces the night's sequences with `records` (a re-plan renumbers them all at once).
    pub fn replace_sequences(&self, night: NightDate, records: &[SequenceRecord]) -> Result<(), DbError> {
        let at = now();
        let rows: Vec<SequenceRow> = records
            .iter()
            .map(|s| SequenceRow {
                night: s.night.to_string(),
                seq: i64::from(s.seq),
                parent_seq: s.parent_seq.map(i64::from),
                run: i64::from(s.run),
                kind: s.kind,
                job_name: s.job_name.clone(),
                calibration_night: s.calibration_night.map(|n| n.to_string()),
                updated_at: at,
                production: self.production.clone(),
            })
            .collect();
        self.transaction(
            || format!("storing {} sequence(s) of night {night}", rows.len()),
            |c| {
                diesel::delete(sequences::table.filter(sequences::production.eq(&self.production)).filter(sequences::night.eq(night.to_string())))
                    .execute(c)?;
                for chunk in rows.chunks(BATCH_ROWS) {
                    per_backend!(&mut *c, |c| diesel::insert_into(sequences::table).values(chunk).execute(c))?;
                }
                Ok(())
            },
        )
    }

    pub fn sequences_of_night(&self, night: NightDate) -> Result<Vec<SequenceRecord>, DbError> {
        self.transaction(
            || format!("reading table sequences for night {night}"),
            |c| {
                let rows = sequences::table
                    .filter(sequences::production.eq(&self.production))
                    .filter(sequences::night.eq(night.to_string()))
                    .order(sequences::seq.asc())
                    .select(SequenceRow::as_select())
                    .load(c)?;
                rows.into_iter()
                    .map(|r| {
                        Ok(SequenceRecord {
                            night: stored_night("sequences.night", &r.night)?,
                            seq: r.seq as u32,
                            parent_seq: r.parent_seq.map(|p| p as u32),
                            run: r.run as u32,
                            kind: r.kind,
                            job_name: r.job_name,
                            calibration_night: r.calibration_night.as_deref().map(|n| stored_night("sequences.calibration_night", n)).transpose()?,
                        })
                    })
                    .collect()
            },
        )
    }
}
