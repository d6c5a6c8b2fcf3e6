-- osa schema, initial version. Keep sql/mysql and sql/sqlite in step (tests/db_schema.rs).
-- Times are UTC. Flags are BIGINT 0/1 (the diesel MultiConnection has no portable bool).

CREATE TABLE nights (
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

CREATE TABLE runs (
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

CREATE TABLE sequences (
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
CREATE UNIQUE INDEX sequences_run ON sequences (night, run);

CREATE TABLE jobs (
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

CREATE TABLE tasks (
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

CREATE TABLE history (
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
  PRIMARY KEY (night, run, subrun, attempt, step, try_number)
);

CREATE TABLE outputs (
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

CREATE TABLE prov_activities (
  id TEXT NOT NULL,
  night TEXT NOT NULL,
  run BIGINT NOT NULL,
  subrun BIGINT,
  name TEXT NOT NULL,
  started_at TIMESTAMP NOT NULL,
  ended_at TIMESTAMP,
  status TEXT NOT NULL,
  return_code BIGINT,
  host TEXT,
  slurm_job TEXT,
  software TEXT,
  PRIMARY KEY (id)
);
CREATE INDEX prov_activities_run ON prov_activities (night, run);

CREATE TABLE prov_entities (
  id TEXT NOT NULL,
  night TEXT NOT NULL,
  run BIGINT,
  location TEXT NOT NULL,
  kind TEXT NOT NULL,
  sha256 TEXT,
  member_of TEXT,
  PRIMARY KEY (id)
);
CREATE INDEX prov_entities_run ON prov_entities (night, run);

CREATE TABLE prov_used (
  activity_id TEXT NOT NULL,
  entity_id TEXT NOT NULL,
  role TEXT NOT NULL,
  PRIMARY KEY (activity_id, entity_id, role)
);

CREATE TABLE prov_generated (
  activity_id TEXT NOT NULL,
  entity_id TEXT NOT NULL,
  role TEXT NOT NULL,
  PRIMARY KEY (activity_id, entity_id, role)
);

CREATE TABLE prov_agents (
  id TEXT NOT NULL,
  name TEXT NOT NULL,
  kind TEXT NOT NULL,
  PRIMARY KEY (id)
);

CREATE TABLE prov_associations (
  activity_id TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  role TEXT NOT NULL,
  PRIMARY KEY (activity_id, agent_id)
);

CREATE TABLE prov_parameters (
  activity_id TEXT NOT NULL,
  name TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (activity_id, name)
);

CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  night TEXT NOT NULL,
  run BIGINT,
  action TEXT NOT NULL,
  actor TEXT NOT NULL,
  reason TEXT NOT NULL,
  at TIMESTAMP NOT NULL
);
CREATE INDEX audit_log_night ON audit_log (night);
