-- A task run again within one attempt (a requeue, a restarted local supervisor) tries its
-- steps again: the start time keeps every try's row instead of overwriting the earlier one.
-- SQLite cannot change a primary key in place: the table is rebuilt.
CREATE TABLE history_every_try (
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
  PRIMARY KEY (night, run, subrun, attempt, step, try_number, started_at)
);
INSERT INTO history_every_try SELECT night, run, subrun, attempt, step, try_number, program, prod_id, config, input, output, return_code, started_at, ended_at, log_tail FROM history;
DROP TABLE history;
ALTER TABLE history_every_try RENAME TO history;
