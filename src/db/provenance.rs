//! Provenance in the IVOA ProvDM shape: activities, entities, the used / wasGeneratedBy links
//! between them, agents and their associations, and activity parameters. Activities and
//! entities carry the night and run they belong to: the keys of run- and night-level records.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{
    prov_activities, prov_activity_descriptions, prov_agents, prov_associations, prov_entities, prov_entity_descriptions, prov_generated,
    prov_generation_descriptions, prov_parameters, prov_usage_descriptions, prov_used,
};
use super::{BATCH_ROWS, Db, DbError, per_backend};
use crate::night::NightDate;

#[derive(Clone, Debug, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = prov_activities)]
pub struct ProvActivity {
    pub id: String,
    pub night: String,
    pub run: i64,
    pub subrun: Option<i64>,
    pub name: String,
    pub started_at: NaiveDateTime,
    pub ended_at: Option<NaiveDateTime>,
    /// `ok` or `failed`: failed steps keep their records.
    pub status: String,
    pub return_code: Option<i64>,
    pub host: Option<String>,
    pub slurm_job: Option<String>,
    pub software: Option<String>,
    /// The submission it ran in (`None` for run-level views and LSTOSA's records).
    pub attempt: Option<i64>,
    /// Its ProvDM ActivityDescription (the step or stage it ran).
    pub description_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = prov_entities)]
pub struct ProvEntity {
    pub id: String,
    pub night: String,
    pub run: Option<i64>,
    pub location: String,
    /// `file`, `collection`, `config`.
    pub kind: String,
    pub sha256: Option<String>,
    /// The collection entity this one belongs to (run-level merges).
    pub member_of: Option<String>,
    /// When it was last recorded: of the versions at one location, the latest is current.
    pub recorded_at: Option<NaiveDateTime>,
    /// What it is: its role's name (`DL1aSubrun`, `ConfigFile`), a collection's name.
    pub label: Option<String>,
    /// Its content type, as recorded (`application/x-hdf5`).
    pub content_type: Option<String>,
}

/// A used or wasGeneratedBy link.
#[derive(Clone, Debug, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = prov_used)]
pub struct ProvLink {
    pub activity_id: String,
    pub entity_id: String,
    pub role: String,
}

#[derive(Insertable)]
#[diesel(table_name = prov_generated)]
struct GeneratedRow<'a> {
    activity_id: &'a str,
    entity_id: &'a str,
    role: &'a str,
}

#[derive(Clone, Debug, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = prov_agents)]
pub struct ProvAgent {
    pub id: String,
    pub name: String,
    /// `person`, `software`, `organization`.
    pub kind: String,
}

#[derive(Clone, Debug, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = prov_associations)]
pub struct ProvAssociation {
    pub activity_id: String,
    pub agent_id: String,
    pub role: String,
}

#[derive(Clone, Debug, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = prov_parameters)]
pub struct ProvParameter {
    pub activity_id: String,
    pub name: String,
    pub value: String,
}

/// ProvDM ActivityDescription: a configured step or stage.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Queryable, Selectable, Insertable)]
#[diesel(table_name = prov_activity_descriptions)]
pub struct ProvActivityDescription {
    pub id: String,
    pub name: String,
    pub program: String,
    /// `calibration step`, `data step`, `pre-stage`, `closing stage`.
    pub kind: String,
}

/// ProvDM EntityDescription: what a role's files are.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Queryable, Selectable, Insertable)]
#[diesel(table_name = prov_entity_descriptions)]
pub struct ProvEntityDescription {
    pub id: String,
    pub name: String,
    pub content_type: String,
}

/// ProvDM UsageDescription (or GenerationDescription): a role an activity description uses
/// (or generates), and the entity description of its files.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Queryable, Selectable, Insertable)]
#[diesel(table_name = prov_usage_descriptions)]
pub struct ProvRoleDescription {
    pub activity_description_id: String,
    pub role: String,
    pub entity_description_id: String,
}

#[derive(Insertable)]
#[diesel(table_name = prov_generation_descriptions)]
struct GenerationDescriptionRow<'a> {
    activity_description_id: &'a str,
    role: &'a str,
    entity_description_id: &'a str,
}

/// The description layer of the steps and stages a batch's activities ran.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProvDescriptions {
    pub activities: Vec<ProvActivityDescription>,
    pub entities: Vec<ProvEntityDescription>,
    pub usages: Vec<ProvRoleDescription>,
    pub generations: Vec<ProvRoleDescription>,
}

impl ProvDescriptions {
    pub fn len(&self) -> usize {
        self.activities.len() + self.entities.len() + self.usages.len() + self.generations.len()
    }
}

/// A set of provenance records written together (one step, one subrun, or a whole run).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProvBatch {
    pub activities: Vec<ProvActivity>,
    pub entities: Vec<ProvEntity>,
    pub used: Vec<ProvLink>,
    pub generated: Vec<ProvLink>,
    pub agents: Vec<ProvAgent>,
    pub associations: Vec<ProvAssociation>,
    pub parameters: Vec<ProvParameter>,
    pub descriptions: ProvDescriptions,
}

impl ProvBatch {
    pub fn len(&self) -> usize {
        self.activities.len()
            + self.entities.len()
            + self.used.len()
            + self.generated.len()
            + self.agents.len()
            + self.associations.len()
            + self.parameters.len()
            + self.descriptions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Db {
    /// Stores a batch in one transaction; records are keyed by their ids, so storing the same
    /// batch again changes nothing.
    pub fn store_provenance(&self, batch: &ProvBatch) -> Result<(), DbError> {
        let generated: Vec<GeneratedRow> =
            batch.generated.iter().map(|g| GeneratedRow { activity_id: &g.activity_id, entity_id: &g.entity_id, role: &g.role }).collect();
        self.transaction(
            || format!("storing {} provenance record(s)", batch.len()),
            |c| {
                per_backend!(&mut *c, |c| {
                    for chunk in batch.agents.chunks(BATCH_ROWS) {
                        diesel::replace_into(prov_agents::table).values(chunk).execute(c)?;
                    }
                    for chunk in batch.activities.chunks(BATCH_ROWS) {
                        diesel::replace_into(prov_activities::table).values(chunk).execute(c)?;
                        let ids: Vec<&str> = chunk.iter().map(|a| a.id.as_str()).collect();
                        diesel::update(prov_activities::table.filter(prov_activities::id.eq_any(&ids)))
                            .set(prov_activities::production.eq(&self.production))
                            .execute(c)?;
                    }
                    // Entities shared by runs (calibration files, configs) keep the run that
                    // recorded them first: a later run never rewrites their owner.
                    for chunk in batch.entities.chunks(BATCH_ROWS) {
                        diesel::insert_or_ignore_into(prov_entities::table).values(chunk).execute(c)?;
                    }
                    for chunk in batch.used.chunks(BATCH_ROWS) {
                        diesel::replace_into(prov_used::table).values(chunk).execute(c)?;
                    }
                    for chunk in generated.chunks(BATCH_ROWS) {
                        diesel::replace_into(prov_generated::table).values(chunk).execute(c)?;
                    }
                    for chunk in batch.associations.chunks(BATCH_ROWS) {
                        diesel::replace_into(prov_associations::table).values(chunk).execute(c)?;
                    }
                    for chunk in batch.parameters.chunks(BATCH_ROWS) {
                        diesel::replace_into(prov_parameters::table).values(chunk).execute(c)?;
                    }
                    let d = &batch.descriptions;
                    for chunk in d.activities.chunks(BATCH_ROWS) {
                        diesel::replace_into(prov_activity_descriptions::table).values(chunk).execute(c)?;
                    }
                    for chunk in d.entities.chunks(BATCH_ROWS) {
                        diesel::replace_into(prov_entity_descriptions::table).values(chunk).execute(c)?;
                    }
                    for chunk in d.usages.chunks(BATCH_ROWS) {
                        diesel::replace_into(prov_usage_descriptions::table).values(chunk).execute(c)?;
                    }
                    let generations: Vec<GenerationDescriptionRow> = d
                        .generations
                        .iter()
                        .map(|g| GenerationDescriptionRow {
                            activity_description_id: &g.activity_description_id,
                            role: &g.role,
                            entity_description_id: &g.entity_description_id,
                        })
                        .collect();
                    for chunk in generations.chunks(BATCH_ROWS) {
                        diesel::replace_into(prov_generation_descriptions::table).values(chunk).execute(c)?;
                    }
                });
                Ok(())
            },
        )
    }

    /// Every record of one run: its activities and entities with their links, associations
    /// and parameters (the run-level record set).
    pub fn provenance_of_run(&self, night: NightDate, run: u32) -> Result<ProvBatch, DbError> {
        self.transaction(
            || format!("reading the provenance of night {night} run {run}"),
            |c| {
                let key = night.to_string();
                let run = i64::from(run);
                let activities = prov_activities::table
                    .filter(prov_activities::production.eq(&self.production))
                    .filter(prov_activities::night.eq(&key).and(prov_activities::run.eq(run)))
                    .order((prov_activities::started_at.asc(), prov_activities::id.asc()))
                    .select(ProvActivity::as_select())
                    .load(c)?;
                let entities = prov_entities::table
                    .filter(prov_entities::night.eq(&key).and(prov_entities::run.eq(run)))
                    .order(prov_entities::id.asc())
                    .select(ProvEntity::as_select())
                    .load(c)?;
                let ids: Vec<&str> = activities.iter().map(|a| a.id.as_str()).collect();
                let mut used = Vec::new();
                let mut generated = Vec::new();
                let mut associations = Vec::new();
                let mut parameters = Vec::new();
                // IN lists stay under the backends' parameter limits.
                for chunk in ids.chunks(BATCH_ROWS) {
                    used.extend(prov_used::table.filter(prov_used::activity_id.eq_any(chunk)).select(ProvLink::as_select()).load(c)?);
                    generated.extend(
                        prov_generated::table
                            .filter(prov_generated::activity_id.eq_any(chunk))
                            .select((prov_generated::activity_id, prov_generated::entity_id, prov_generated::role))
                            .load::<(String, String, String)>(c)?
                            .into_iter()
                            .map(|(activity_id, entity_id, role)| ProvLink { activity_id, entity_id, role }),
                    );
                    associations.extend(
                        prov_associations::table.filter(prov_associations::activity_id.eq_any(chunk)).select(ProvAssociation::as_select()).load(c)?,
                    );
                    parameters.extend(
                        prov_parameters::table.filter(prov_parameters::activity_id.eq_any(chunk)).select(ProvParameter::as_select()).load(c)?,
                    );
                }
                // The run's entities its production's activities touch (the same night and run
                // under another production has entities of its own), and those another run
                // recorded (shared files).
                let touched: std::collections::BTreeSet<&str> = used.iter().chain(&generated).map(|l| l.entity_id.as_str()).collect();
                let mut entities: Vec<ProvEntity> = entities
                    .into_iter()
                    .filter(|e| touched.contains(e.id.as_str()) || e.member_of.as_deref().is_some_and(|m| touched.contains(m)))
                    .collect();
                let known: std::collections::BTreeSet<String> = entities.iter().map(|e| e.id.clone()).collect();
                let linked: Vec<String> = touched.iter().filter(|id| !known.contains(**id)).map(|id| id.to_string()).collect();
                for chunk in linked.chunks(BATCH_ROWS) {
                    entities.extend(prov_entities::table.filter(prov_entities::id.eq_any(chunk)).select(ProvEntity::as_select()).load(c)?);
                }
                entities.sort_by(|a, b| a.id.cmp(&b.id));
                let agent_ids: Vec<&str> = associations.iter().map(|a| a.agent_id.as_str()).collect();
                let agents = prov_agents::table
                    .filter(prov_agents::id.eq_any(&agent_ids))
                    .order(prov_agents::id.asc())
                    .select(ProvAgent::as_select())
                    .load(c)?;
                for list in [&mut used, &mut generated] {
                    list.sort_by(|a, b| (&a.activity_id, &a.entity_id, &a.role).cmp(&(&b.activity_id, &b.entity_id, &b.role)));
                }
                associations.sort_by(|a, b| (&a.activity_id, &a.agent_id).cmp(&(&b.activity_id, &b.agent_id)));
                parameters.sort_by(|a, b| (&a.activity_id, &a.name).cmp(&(&b.activity_id, &b.name)));
                let described: std::collections::BTreeSet<&str> = activities.iter().filter_map(|a| a.description_id.as_deref()).collect();
                let described: Vec<&str> = described.into_iter().collect();
                let mut descriptions = ProvDescriptions {
                    activities: prov_activity_descriptions::table
                        .filter(prov_activity_descriptions::id.eq_any(&described))
                        .select(ProvActivityDescription::as_select())
                        .load(c)?,
                    usages: prov_usage_descriptions::table
                        .filter(prov_usage_descriptions::activity_description_id.eq_any(&described))
                        .select(ProvRoleDescription::as_select())
                        .load(c)?,
                    generations: prov_generation_descriptions::table
                        .filter(prov_generation_descriptions::activity_description_id.eq_any(&described))
                        .select((
                            prov_generation_descriptions::activity_description_id,
                            prov_generation_descriptions::role,
                            prov_generation_descriptions::entity_description_id,
                        ))
                        .load::<(String, String, String)>(c)?
                        .into_iter()
                        .map(|(activity_description_id, role, entity_description_id)| ProvRoleDescription {
                            activity_description_id,
                            role,
                            entity_description_id,
                        })
                        .collect(),
                    entities: Vec::new(),
                };
                let kinds: std::collections::BTreeSet<&str> =
                    descriptions.usages.iter().chain(&descriptions.generations).map(|u| u.entity_description_id.as_str()).collect();
                let kinds: Vec<&str> = kinds.into_iter().collect();
                descriptions.entities = prov_entity_descriptions::table
                    .filter(prov_entity_descriptions::id.eq_any(&kinds))
                    .select(ProvEntityDescription::as_select())
                    .load(c)?;
                descriptions.activities.sort();
                descriptions.entities.sort();
                descriptions.usages.sort();
                descriptions.generations.sort();
                Ok(ProvBatch { activities, entities, used, generated, agents, associations, parameters, descriptions })
            },
        )
    }

    /// Activities of a night per run, for the night-level record: (run, activities).
    pub fn provenance_runs_of_night(&self, night: NightDate) -> Result<Vec<(u32, i64)>, DbError> {
        self.transaction(
            || format!("counting the provenance of night {night}"),
            |c| {
                let rows: Vec<(i64, i64)> = prov_activities::table
                    .filter(prov_activities::production.eq(&self.production))
                    .filter(prov_activities::night.eq(night.to_string()))
                    .group_by(prov_activities::run)
                    .select((prov_activities::run, diesel::dsl::count_star()))
                    .order(prov_activities::run.asc())
                    .load(c)?;
                Ok(rows.into_iter().map(|(run, n)| (run as u32, n)).collect())
            },
        )
    }
}

impl Db {
    /// The current version of the file at a path: of the versions recorded there, the latest.
    pub fn entity_at(&self, location: &str) -> Result<Option<ProvEntity>, DbError> {
        self.transaction(
            || format!("looking up the provenance of {location}"),
            |c| {
                let versions: Vec<ProvEntity> = prov_entities::table
                    .filter(prov_entities::location.eq(location))
                    .filter(prov_entities::kind.eq("file"))
                    .select(ProvEntity::as_select())
                    .load(c)?;
                Ok(versions.into_iter().max_by_key(|e| e.recorded_at))
            },
        )
    }

    /// Files moved aside (`osa rerun`): the versions recorded at `from` (or under it, for a
    /// folder) now live at `to`, so the versions made again at `from` never take their place.
    /// Returns how many were moved.
    pub fn relocate_entities(&self, from: &str, to: &str) -> Result<usize, DbError> {
        let inside = format!("{from}/");
        self.transaction(
            || format!("recording that {from} moved to {to}"),
            |c| {
                // LIKE only narrows the rows read: `_` and `%` in paths are checked below.
                let found: Vec<(String, String)> = prov_entities::table
                    .filter(prov_entities::location.eq(from).or(prov_entities::location.like(format!("{inside}%"))))
                    .select((prov_entities::id, prov_entities::location))
                    .load(c)?;
                let mut moved = 0;
                for (id, location) in found {
                    let rest = if location == from { Some("") } else { location.strip_prefix(from).filter(|r| r.starts_with('/')) };
                    if let Some(rest) = rest {
                        diesel::update(prov_entities::table.find(&id)).set(prov_entities::location.eq(format!("{to}{rest}"))).execute(c)?;
                        moved += 1;
                    }
                }
                Ok(moved)
            },
        )
    }

    /// File entities at any of these locations (a trace's level at a time).
    pub fn entities_at(&self, locations: &[String]) -> Result<Vec<ProvEntity>, DbError> {
        self.transaction(
            || format!("looking up the provenance of {} file(s)", locations.len()),
            |c| {
                let mut out = Vec::new();
                for chunk in locations.chunks(BATCH_ROWS) {
                    out.extend(
                        prov_entities::table
                            .filter(prov_entities::location.eq_any(chunk))
                            .filter(prov_entities::kind.eq("file"))
                            .select(ProvEntity::as_select())
                            .load(c)?,
                    );
                }
                Ok(out)
            },
        )
    }

    /// The subrun-level activities that made these entities: (entity id, activity), the
    /// latest where several did.
    pub fn generators_of(&self, entity_ids: &[String]) -> Result<Vec<(String, ProvActivity)>, DbError> {
        self.transaction(
            || format!("looking up what generated {} entities", entity_ids.len()),
            |c| {
                let mut found: std::collections::BTreeMap<String, ProvActivity> = std::collections::BTreeMap::new();
                for chunk in entity_ids.chunks(BATCH_ROWS) {
                    let rows = prov_activities::table
                        .inner_join(prov_generated::table.on(prov_generated::activity_id.eq(prov_activities::id)))
                        .filter(prov_generated::entity_id.eq_any(chunk))
                        .filter(prov_activities::status.ne("merged"))
                        .select((prov_generated::entity_id, ProvActivity::as_select()))
                        .load::<(String, ProvActivity)>(c)?;
                    for (entity, activity) in rows {
                        if found.get(&entity).is_none_or(|a| a.started_at < activity.started_at) {
                            found.insert(entity, activity);
                        }
                    }
                }
                Ok(found.into_iter().collect())
            },
        )
    }

    /// What these activities used: (activity id, entity, role), and their parameters.
    #[allow(clippy::type_complexity)]
    pub fn inputs_of_many(&self, activity_ids: &[String]) -> Result<(Vec<(String, ProvEntity, String)>, Vec<ProvParameter>), DbError> {
        self.transaction(
            || format!("reading the inputs of {} activities", activity_ids.len()),
            |c| {
                let (mut used, mut parameters) = (Vec::new(), Vec::new());
                for chunk in activity_ids.chunks(BATCH_ROWS) {
                    used.extend(
                        prov_entities::table
                            .inner_join(prov_used::table.on(prov_used::entity_id.eq(prov_entities::id)))
                            .filter(prov_used::activity_id.eq_any(chunk))
                            .order(prov_entities::location.asc())
                            .select((prov_used::activity_id, ProvEntity::as_select(), prov_used::role))
                            .load::<(String, ProvEntity, String)>(c)?,
                    );
                    parameters.extend(
                        prov_parameters::table.filter(prov_parameters::activity_id.eq_any(chunk)).select(ProvParameter::as_select()).load(c)?,
                    );
                }
                Ok((used, parameters))
            },
        )
    }

    /// Lineage: the file entities made by the activities that used an entity with this
    /// content (a configuration, a calibration file, ...): "which products were made with
    /// configuration X".
    pub fn made_with(&self, sha256: &str) -> Result<Vec<ProvEntity>, DbError> {
        self.transaction(
            || format!("looking up what was made with sha256 {sha256}"),
            |c| {
                let used: Vec<String> = prov_entities::table.filter(prov_entities::sha256.eq(sha256)).select(prov_entities::id).load(c)?;
                let activities = activities_using(c, &used)?;
                let made = made_by(c, &activities)?;
                files(c, &made)
            },
        )
    }

    /// Lineage: every entity made, at any remove, from the file at `location` (its users'
    /// outputs, their users' outputs, ...): "everything derived from R0 file Y".
    pub fn derived_from(&self, location: &str) -> Result<Vec<ProvEntity>, DbError> {
        self.transaction(
            || format!("looking up what was derived from {location}"),
            |c| {
                let mut frontier: Vec<String> =
                    prov_entities::table.filter(prov_entities::location.eq(location)).select(prov_entities::id).load(c)?;
                let mut seen: std::collections::BTreeSet<String> = frontier.iter().cloned().collect();
                let mut derived = Vec::new();
                while !frontier.is_empty() {
                    let activities = activities_using(c, &frontier)?;
                    frontier = made_by(c, &activities)?.into_iter().filter(|id| seen.insert(id.clone())).collect();
                    derived.extend(frontier.iter().cloned());
                }
                files(c, &derived)
            },
        )
    }
}

/// Activities that used any of `entities`.
fn activities_using(c: &mut super::DbConnection, entities: &[String]) -> QueryResult<Vec<String>> {
    let mut out = Vec::new();
    for chunk in entities.chunks(BATCH_ROWS) {
        out.extend(prov_used::table.filter(prov_used::entity_id.eq_any(chunk)).select(prov_used::activity_id).distinct().load::<String>(c)?);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Entities generated by any of `activities`.
fn made_by(c: &mut super::DbConnection, activities: &[String]) -> QueryResult<Vec<String>> {
    let mut out = Vec::new();
    for chunk in activities.chunks(BATCH_ROWS) {
        out.extend(
            prov_generated::table.filter(prov_generated::activity_id.eq_any(chunk)).select(prov_generated::entity_id).distinct().load::<String>(c)?,
        );
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The file entities among `ids` (collections are the run-level views of the same files).
fn files(c: &mut super::DbConnection, ids: &[String]) -> QueryResult<Vec<ProvEntity>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(BATCH_ROWS) {
        out.extend(
            prov_entities::table
                .filter(prov_entities::id.eq_any(chunk))
                .filter(prov_entities::kind.eq("file"))
                .select(ProvEntity::as_select())
                .load(c)?,
        );
    }
    out.sort_by(|a, b| a.location.cmp(&b.location));
    Ok(out)
}
