-- Older versions know no stages: their rows go.
DELETE FROM jobs WHERE stage <> 'sequence';
DELETE FROM tasks WHERE stage <> 'sequence';
DELETE FROM history WHERE stage <> 'sequence';
DELETE FROM audit_log WHERE stage <> 'sequence';
CREATE TABLE jobs_by_run (
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
  PRIMARY KEY (night, run, attempt)
);
INSERT INTO jobs_by_run SELECT night, run, attempt, executor, job_name, comment_key, array_range, partition_name, account, mem_per_cpu, time_limit, script_path, intent_at, job_id, submitted_at, submit_error FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_by_run RENAME TO jobs;
CREATE TABLE tasks_by_run (
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
  PRIMARY KEY (night, run, subrun, attempt)
);
INSERT INTO tasks_by_run SELECT night, run, subrun, attempt, state, exit_code, cpu_seconds, max_rss_kb, node, started_at, ended_at, updated_at FROM tasks;
DROP TABLE tasks;
ALTER TABLE tasks_by_run RENAME TO tasks;
ALTER TABLE history DROP COLUMN stage;
ALTER TABLE audit_log DROP COLUMN stage;
