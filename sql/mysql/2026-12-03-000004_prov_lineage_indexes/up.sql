-- Lineage at archive scale: a trace looks an entity up by its location and its maker by the
-- entity; "made with configuration X" starts from a hash; "derived from R0 file Y" walks from
-- an entity to the activities that used it. Locations are TEXT: indexed on their first 255
-- characters, which tell apart every path osa writes.
CREATE INDEX prov_entities_location ON prov_entities (location(255));
CREATE INDEX prov_entities_sha256 ON prov_entities (sha256);
CREATE INDEX prov_used_entity ON prov_used (entity_id);
CREATE INDEX prov_generated_entity ON prov_generated (entity_id);
