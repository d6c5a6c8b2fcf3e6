-- An entity is a version of a file (its id: path and content hash): several versions may
-- share a location (a failed try's partial output, a rerun's product, an edited
-- configuration); the latest recorded is the location's current one. Activities carry the
-- attempt (submission) they ran in.
ALTER TABLE prov_entities ADD COLUMN recorded_at TIMESTAMP NULL;
ALTER TABLE prov_activities ADD COLUMN attempt BIGINT NULL;
