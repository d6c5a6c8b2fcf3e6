-- What each file entity is (its role's name, as the PROV documents label it) and its content
-- type: with them the database holds everything the merge writes, so `osa provenance export`
-- rebuilds the same documents from the rows.
ALTER TABLE prov_entities ADD COLUMN label VARCHAR(128) NULL;
ALTER TABLE prov_entities ADD COLUMN content_type VARCHAR(128) NULL;
