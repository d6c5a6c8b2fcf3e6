-- Productions: a night's records belong to a production (analysis.prod_id), so the same
-- date can be processed again under another one without touching the first one's rows.
-- Rows from before get '' here; `osa db migrate` gives them the configured production.
ALTER TABLE nights ADD COLUMN production VARCHAR(64) NOT NULL DEFAULT '', DROP PRIMARY KEY, ADD PRIMARY KEY (production, night);
ALTER TABLE runs ADD COLUMN production VARCHAR(64) NOT NULL DEFAULT '', DROP PRIMARY KEY, ADD PRIMARY KEY (production, night, run);
ALTER TABLE sequences ADD COLUMN production VARCHAR(64) NOT NULL DEFAULT '', DROP PRIMARY KEY, ADD PRIMARY KEY (production, night, seq);
ALTER TABLE jobs ADD COLUMN production VARCHAR(64) NOT NULL DEFAULT '', DROP PRIMARY KEY, ADD PRIMARY KEY (production, night, run, stage, attempt);
ALTER TABLE tasks ADD COLUMN production VARCHAR(64) NOT NULL DEFAULT '', DROP PRIMARY KEY, ADD PRIMARY KEY (production, night, run, stage, subrun, attempt);
ALTER TABLE history ADD COLUMN production VARCHAR(64) NOT NULL DEFAULT '', DROP PRIMARY KEY, ADD PRIMARY KEY (production, night, run, subrun, attempt, step, try_number, started_at);
ALTER TABLE outputs ADD COLUMN production VARCHAR(64) NOT NULL DEFAULT '', DROP PRIMARY KEY, ADD PRIMARY KEY (production, night, run, subrun, kind);
DROP INDEX sequences_run ON sequences;
CREATE UNIQUE INDEX sequences_run ON sequences (production, night, run);
ALTER TABLE audit_log ADD COLUMN production VARCHAR(64) NOT NULL DEFAULT '';
CREATE INDEX audit_log_production_night ON audit_log (production, night);
ALTER TABLE prov_activities ADD COLUMN production VARCHAR(64) NOT NULL DEFAULT '';
CREATE INDEX prov_activities_production ON prov_activities (production, night, run);
