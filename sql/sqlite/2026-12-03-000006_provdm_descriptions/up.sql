-- IVOA ProvDM's description layer (as the CTADIRAC provenance database has it): what kind of
-- activity each one is (its step or stage, program and kind), which roles it uses and
-- generates, and what kind of entity each role holds. Made from the configuration's steps and
-- stages; an edited step (another program, other files) is another description.
CREATE TABLE prov_activity_descriptions (
  id VARCHAR(64) NOT NULL,
  name VARCHAR(128) NOT NULL,
  program VARCHAR(255) NOT NULL,
  kind VARCHAR(32) NOT NULL,
  PRIMARY KEY (id)
);
CREATE TABLE prov_entity_descriptions (
  id VARCHAR(64) NOT NULL,
  name VARCHAR(128) NOT NULL,
  content_type VARCHAR(64) NOT NULL,
  PRIMARY KEY (id)
);
CREATE TABLE prov_usage_descriptions (
  activity_description_id VARCHAR(64) NOT NULL,
  role VARCHAR(64) NOT NULL,
  entity_description_id VARCHAR(64) NOT NULL,
  PRIMARY KEY (activity_description_id, role)
);
CREATE TABLE prov_generation_descriptions (
  activity_description_id VARCHAR(64) NOT NULL,
  role VARCHAR(64) NOT NULL,
  entity_description_id VARCHAR(64) NOT NULL,
  PRIMARY KEY (activity_description_id, role)
);
ALTER TABLE prov_activities ADD COLUMN description_id VARCHAR(64) NULL;
