-- No-op on SQLite: TEXT columns have no length (MySQL widens prov_entities.kind here).
SELECT 1;
