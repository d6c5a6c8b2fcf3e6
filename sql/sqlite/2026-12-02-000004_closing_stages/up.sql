-- Closing stages (DL1 merge, DL2, data checks) are jobs like the runs' sequences: a
-- submission, its task and its history rows name their stage (`sequence` for the run's own
-- job), and a veto can hold one stage of a run (its DL2) without the rest.
-- SQLite cannot change a primary key in place: jobs and tasks are rebuilt.
CREATE TABLE jobs_by_stage (
  night TEXT NOT NULL,
  run BIGINT NOT NULL,
  attempt BIGINT NOT NULL,
  executor TEXT NOT NULL,
  job_name TEXT NOT NULL,
  comment_key TEXT NOT NULL,
  array_range TEXT NOT NULL,
  partition_name TEXT NOT NULL,
  account TEXT NOT NULL,
  mem_per_cpu TEXT NOT NULL,
  time_limit TEXT NOT NULL,
  script_path TEXT NOT NULL,
  intent_at TIMESTAMP NOT NULL,
  job_id TEXT,
  submitted_at TIMESTAMP,
  submit_error TEXT,
  stage TEXT NOT NULL DEFAULT 'sequence',
  PRIMARY KEY (night, run, stage, attempt)
);
INSERT INTO jobs_by_stage SELECT night, run, attempt, executor, job_name, comment_key, array_range, partition_name, account, mem_per_cpu, time_limit, script_path, intent_at, job_id, submitted_at, submit_error, 'sequence' FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_by_stage RENAME TO jobs;
CREATE TABLE tasks_by_stage (
  night TEXT NOT NULL,
  run BIGINT NOT NULL,
  subrun BIGINT NOT NULL,
  attempt BIGINT NOT NULL,
  state TEXT NOT NULL,
  exit_code BIGINT,
  cpu_seconds BIGINT,
  max_rss_kb BIGINT,
  node TEXT,
  started_at TIMESTAMP,
  ended_at TIMESTAMP,
  updated_at TIMESTAMP NOT NULL,
  stage TEXT NOT NULL DEFAULT 'sequence',
  PRIMARY KEY (night, run, stage, subrun, attempt)
);
INSERT INTO tasks_by_stage SELECT night, run, subrun, attempt, state, exit_code, cpu_seconds, max_rss_kb, node, started_at, ended_at, updated_at, 'sequence' FROM tasks;
DROP TABLE tasks;
ALTER TABLE tasks_by_stage RENAME TO tasks;
ALTER TABLE history ADD COLUMN stage TEXT NOT NULL DEFAULT 'sequence';
ALTER TABLE audit_log ADD COLUMN stage TEXT NOT NULL DEFAULT 'sequence';
