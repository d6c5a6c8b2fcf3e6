CREATE TABLE history_one_row_per_try (
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
  PRIMARY KEY (night, run, subrun, attempt, step, try_number)
);
-- Keeps the latest row of each try, as the old key did.
INSERT OR REPLACE INTO history_one_row_per_try SELECT night, run, subrun, attempt, step, try_number, program, prod_id, config, input, output, return_code, started_at, ended_at, log_tail FROM history ORDER BY started_at;
DROP TABLE history;
ALTER TABLE history_one_row_per_try RENAME TO history;
