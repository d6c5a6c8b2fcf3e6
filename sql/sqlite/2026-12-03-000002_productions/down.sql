-- Back to nights keyed by date alone: only rows of one production can be kept.
CREATE TABLE nights_by_date (
  night TEXT NOT NULL,
  state TEXT NOT NULL,
  summary_file TEXT,
  summary_sha256 TEXT,
  sequenced_at TIMESTAMP,
  closed_at TIMESTAMP,
  closed BIGINT NOT NULL,
  created_at TIMESTAMP NOT NULL,
  updated_at TIMESTAMP NOT NULL,
  PRIMARY KEY (night)
);
INSERT OR IGNORE INTO nights_by_date SELECT night, state, summary_file, summary_sha256, sequenced_at, closed_at, closed, created_at, updated_at FROM nights;
DROP TABLE nights;
ALTER TABLE nights_by_date RENAME TO nights;
CREATE TABLE runs_by_date (
  night TEXT NOT NULL,
  run BIGINT NOT NULL,
  summary_type TEXT NOT NULL,
  r0_type TEXT,
  r0_reason TEXT,
  type_mismatch BIGINT NOT NULL,
  subruns BIGINT NOT NULL,
  source TEXT,
  start_at TIMESTAMP,
  updated_at TIMESTAMP NOT NULL,
  PRIMARY KEY (night, run)
);
INSERT OR IGNORE INTO runs_by_date SELECT night, run, summary_type, r0_type, r0_reason, type_mismatch, subruns, source, start_at, updated_at FROM runs;
DROP TABLE runs;
ALTER TABLE runs_by_date RENAME TO runs;
CREATE TABLE sequences_by_date (
  night TEXT NOT NULL,
  seq BIGINT NOT NULL,
  parent_seq BIGINT,
  run BIGINT NOT NULL,
  kind TEXT NOT NULL,
  job_name TEXT NOT NULL,
  calibration_night TEXT,
  updated_at TIMESTAMP NOT NULL,
  PRIMARY KEY (night, seq)
);
INSERT OR IGNORE INTO sequences_by_date SELECT night, seq, parent_seq, run, kind, job_name, calibration_night, updated_at FROM sequences;
DROP TABLE sequences;
ALTER TABLE sequences_by_date RENAME TO sequences;
CREATE TABLE jobs_by_date (
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
INSERT OR IGNORE INTO jobs_by_date SELECT night, run, attempt, executor, job_name, comment_key, array_range, partition_name, account, mem_per_cpu, time_limit, script_path, intent_at, job_id, submitted_at, submit_error, stage FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_by_date RENAME TO jobs;
CREATE TABLE tasks_by_date (
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
INSERT OR IGNORE INTO tasks_by_date SELECT night, run, subrun, attempt, state, exit_code, cpu_seconds, max_rss_kb, node, started_at, ended_at, updated_at, stage FROM tasks;
DROP TABLE tasks;
ALTER TABLE tasks_by_date RENAME TO tasks;
CREATE TABLE history_by_date (
  night TEXT NOT NULL,
  run BIGINT NOT NULL,
  subrun BIGINT NOT NULL,
  attempt BIGINT NOT NULL,
  step TEXT NOT NULL,
  try_number BIGINT NOT NULL,
  program TEXT NOT NULL,
  prod_id TEXT NOT NULL,
  config TEXT,
  input TEXT,
  output TEXT,
  return_code BIGINT NOT NULL,
  started_at TIMESTAMP NOT NULL,
  ended_at TIMESTAMP NOT NULL,
  log_tail TEXT,
  stage TEXT NOT NULL DEFAULT 'sequence',
  PRIMARY KEY (night, run, subrun, attempt, step, try_number, started_at)
);
INSERT OR IGNORE INTO history_by_date SELECT night, run, subrun, attempt, step, try_number, program, prod_id, config, input, output, return_code, started_at, ended_at, log_tail, stage FROM history;
DROP TABLE history;
ALTER TABLE history_by_date RENAME TO history;
CREATE TABLE outputs_by_date (
  night TEXT NOT NULL,
  run BIGINT NOT NULL,
  subrun BIGINT NOT NULL,
  kind TEXT NOT NULL,
  path TEXT NOT NULL,
  size_bytes BIGINT NOT NULL,
  sha256 TEXT NOT NULL,
  events BIGINT,
  verified_at TIMESTAMP NOT NULL,
  verdict TEXT NOT NULL,
  detail TEXT,
  PRIMARY KEY (night, run, subrun, kind)
);
INSERT OR IGNORE INTO outputs_by_date SELECT night, run, subrun, kind, path, size_bytes, sha256, events, verified_at, verdict, detail FROM outputs;
DROP TABLE outputs;
ALTER TABLE outputs_by_date RENAME TO outputs;
CREATE UNIQUE INDEX sequences_run ON sequences (night, run);
DROP INDEX audit_log_production_night;
ALTER TABLE audit_log DROP COLUMN production;
DROP INDEX prov_activities_production;
ALTER TABLE prov_activities DROP COLUMN production;
