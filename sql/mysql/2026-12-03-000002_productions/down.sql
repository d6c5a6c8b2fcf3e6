-- Back to nights keyed by date alone.
DROP INDEX sequences_run ON sequences;
ALTER TABLE nights DROP PRIMARY KEY, DROP COLUMN production, ADD PRIMARY KEY (night);
ALTER TABLE runs DROP PRIMARY KEY, DROP COLUMN production, ADD PRIMARY KEY (night, run);
ALTER TABLE sequences DROP PRIMARY KEY, DROP COLUMN production, ADD PRIMARY KEY (night, seq);
ALTER TABLE jobs DROP PRIMARY KEY, DROP COLUMN production, ADD PRIMARY KEY (night, run, stage, attempt);
ALTER TABLE tasks DROP PRIMARY KEY, DROP COLUMN production, ADD PRIMARY KEY (night, run, stage, subrun, attempt);
ALTER TABLE history DROP PRIMARY KEY, DROP COLUMN production, ADD PRIMARY KEY (night, run, subrun, attempt, step, try_number, started_at);
ALTER TABLE outputs DROP PRIMARY KEY, DROP COLUMN production, ADD PRIMARY KEY (night, run, subrun, kind);
CREATE UNIQUE INDEX sequences_run ON sequences (night, run);
DROP INDEX audit_log_production_night ON audit_log;
ALTER TABLE audit_log DROP COLUMN production;
DROP INDEX prov_activities_production ON prov_activities;
ALTER TABLE prov_activities DROP COLUMN production;
