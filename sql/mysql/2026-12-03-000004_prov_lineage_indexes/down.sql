DROP INDEX prov_entities_location ON prov_entities;
DROP INDEX prov_entities_sha256 ON prov_entities;
DROP INDEX prov_used_entity ON prov_used;
DROP INDEX prov_generated_entity ON prov_generated;
