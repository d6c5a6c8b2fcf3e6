DROP INDEX prov_entities_location;
DROP INDEX prov_entities_sha256;
DROP INDEX prov_used_entity;
DROP INDEX prov_generated_entity;
