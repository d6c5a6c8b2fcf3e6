-- Closing stages (DL1 merge, DL2, data checks) are jobs like the runs' sequences: a
-- submission, its task and its history rows name their stage (`sequence` for the run's own
-- job), and a veto can hold one stage of a run (its DL2) without the rest.
ALTER TABLE jobs ADD COLUMN stage VARCHAR(64) NOT NULL DEFAULT 'sequence', DROP PRIMARY KEY, ADD PRIMARY KEY (night, run, stage, attempt);
ALTER TABLE tasks ADD COLUMN stage VARCHAR(64) NOT NULL DEFAULT 'sequence', DROP PRIMARY KEY, ADD PRIMARY KEY (night, run, stage, subrun, attempt);
ALTER TABLE history ADD COLUMN stage VARCHAR(64) NOT NULL DEFAULT 'sequence';
ALTER TABLE audit_log ADD COLUMN stage VARCHAR(64) NOT NULL DEFAULT 'sequence';
