-- osa schema, initial version. Keep sql/mysql and sql/sqlite in step (tests/db_schema.rs).
-- Times are UTC. Flags are BIGINT 0/1 (the diesel MultiConnection has no portable bool).

CREATE TABLE nights (
  night VARCHAR(10) NOT NULL,
  state VARCHAR(32) NOT NULL,
  summary_file TEXT,
  summary_sha256 VARCHAR(64),
  sequenced_at DATETIME(6),
  closed_at DATETIME(6),
  closed BIGINT NOT NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (night)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE runs (
  night VARCHAR(10) NOT NULL,
  run BIGINT NOT NULL,
  summary_type VARCHAR(32) NOT NULL,
  r0_type VARCHAR(32),
  r0_reason TEXT,
  type_mismatch BIGINT NOT NULL,
  subruns BIGINT NOT NULL,
  source TEXT,
  start_at DATETIME(6),
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (night, run)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE sequences (
  night VARCHAR(10) NOT NULL,
  seq BIGINT NOT NULL,
  parent_seq BIGINT,
  run BIGINT NOT NULL,
  kind VARCHAR(32) NOT NULL,
  job_name VARCHAR(64) NOT NULL,
  calibration_night VARCHAR(10),
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (night, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE UNIQUE INDEX sequences_run ON sequences (night, run);

CREATE TABLE jobs (
  night VARCHAR(10) NOT NULL,
  run BIGINT NOT NULL,
  attempt BIGINT NOT NULL,
  executor VARCHAR(32) NOT NULL,
  job_name VARCHAR(64) NOT NULL,
  comment_key VARCHAR(128) NOT NULL,
  array_range VARCHAR(64) NOT NULL,
  partition_name VARCHAR(64) NOT NULL,
  account VARCHAR(64) NOT NULL,
  mem_per_cpu VARCHAR(32) NOT NULL,
  time_limit VARCHAR(32) NOT NULL,
  script_path TEXT NOT NULL,
  intent_at DATETIME(6) NOT NULL,
  job_id VARCHAR(64),
  submitted_at DATETIME(6),
  submit_error TEXT,
  PRIMARY KEY (night, run, attempt)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE tasks (
  night VARCHAR(10) NOT NULL,
  run BIGINT NOT NULL,
  subrun BIGINT NOT NULL,
  attempt BIGINT NOT NULL,
  state VARCHAR(32) NOT NULL,
  exit_code BIGINT,
  cpu_seconds BIGINT,
  max_rss_kb BIGINT,
  node VARCHAR(64),
  started_at DATETIME(6),
  ended_at DATETIME(6),
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (night, run, subrun, attempt)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE history (
  night VARCHAR(10) NOT NULL,
  run BIGINT NOT NULL,
  subrun BIGINT NOT NULL,
  attempt BIGINT NOT NULL,
  step VARCHAR(64) NOT NULL,
  try_number BIGINT NOT NULL,
  program TEXT NOT NULL,
  prod_id VARCHAR(64) NOT NULL,
  config TEXT,
  input TEXT,
  output TEXT,
  return_code BIGINT NOT NULL,
  started_at DATETIME(6) NOT NULL,
  ended_at DATETIME(6) NOT NULL,
  PRIMARY KEY (night, run, subrun, attempt, step, try_number)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE outputs (
  night VARCHAR(10) NOT NULL,
  run BIGINT NOT NULL,
  subrun BIGINT NOT NULL,
  kind VARCHAR(32) NOT NULL,
  path TEXT NOT NULL,
  size_bytes BIGINT NOT NULL,
  sha256 VARCHAR(64) NOT NULL,
  events BIGINT,
  verified_at DATETIME(6) NOT NULL,
  verdict VARCHAR(32) NOT NULL,
  detail TEXT,
  PRIMARY KEY (night, run, subrun, kind)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE prov_activities (
  id VARCHAR(64) NOT NULL,
  night VARCHAR(10) NOT NULL,
  run BIGINT NOT NULL,
  subrun BIGINT,
  name VARCHAR(128) NOT NULL,
  started_at DATETIME(6) NOT NULL,
  ended_at DATETIME(6),
  status VARCHAR(32) NOT NULL,
  return_code BIGINT,
  host VARCHAR(128),
  slurm_job VARCHAR(64),
  software TEXT,
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE INDEX prov_activities_run ON prov_activities (night, run);

CREATE TABLE prov_entities (
  id VARCHAR(64) NOT NULL,
  night VARCHAR(10) NOT NULL,
  run BIGINT,
  location TEXT NOT NULL,
  kind VARCHAR(32) NOT NULL,
  sha256 VARCHAR(64),
  member_of VARCHAR(64),
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE INDEX prov_entities_run ON prov_entities (night, run);

CREATE TABLE prov_used (
  activity_id VARCHAR(64) NOT NULL,
  entity_id VARCHAR(64) NOT NULL,
  role VARCHAR(64) NOT NULL,
  PRIMARY KEY (activity_id, entity_id, role)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE prov_generated (
  activity_id VARCHAR(64) NOT NULL,
  entity_id VARCHAR(64) NOT NULL,
  role VARCHAR(64) NOT NULL,
  PRIMARY KEY (activity_id, entity_id, role)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE prov_agents (
  id VARCHAR(64) NOT NULL,
  name VARCHAR(128) NOT NULL,
  kind VARCHAR(32) NOT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE prov_associations (
  activity_id VARCHAR(64) NOT NULL,
  agent_id VARCHAR(64) NOT NULL,
  role VARCHAR(64) NOT NULL,
  PRIMARY KEY (activity_id, agent_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE prov_parameters (
  activity_id VARCHAR(64) NOT NULL,
  name VARCHAR(128) NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (activity_id, name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE audit_log (
  id BIGINT NOT NULL AUTO_INCREMENT,
  night VARCHAR(10) NOT NULL,
  run BIGINT,
  action VARCHAR(32) NOT NULL,
  actor VARCHAR(64) NOT NULL,
  reason TEXT NOT NULL,
  at DATETIME(6) NOT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE INDEX audit_log_night ON audit_log (night);
