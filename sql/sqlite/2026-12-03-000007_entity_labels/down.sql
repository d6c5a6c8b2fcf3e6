ALTER TABLE prov_entities DROP COLUMN label;
ALTER TABLE prov_entities DROP COLUMN content_type;
