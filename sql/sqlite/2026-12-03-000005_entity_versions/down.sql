ALTER TABLE prov_entities DROP COLUMN recorded_at;
ALTER TABLE prov_activities DROP COLUMN attempt;
