-- Older versions know no stages: their rows go.
DELETE FROM jobs WHERE stage <> 'sequence';
DELETE FROM tasks WHERE stage <> 'sequence';
DELETE FROM history WHERE stage <> 'sequence';
DELETE FROM audit_log WHERE stage <> 'sequence';
ALTER TABLE jobs DROP PRIMARY KEY, DROP COLUMN stage, ADD PRIMARY KEY (night, run, attempt);
ALTER TABLE tasks DROP PRIMARY KEY, DROP COLUMN stage, ADD PRIMARY KEY (night, run, subrun, attempt);
ALTER TABLE history DROP COLUMN stage;
ALTER TABLE audit_log DROP COLUMN stage;
