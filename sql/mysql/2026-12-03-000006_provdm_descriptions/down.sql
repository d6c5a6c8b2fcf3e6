ALTER TABLE prov_activities DROP COLUMN description_id;
DROP TABLE prov_generation_descriptions;
DROP TABLE prov_usage_descriptions;
DROP TABLE prov_entity_descriptions;
DROP TABLE prov_activity_descriptions;
