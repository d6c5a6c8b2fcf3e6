-- Keeps the latest row of each try, as the old key did.
DELETE h FROM history h JOIN history newer
  ON h.night = newer.night AND h.run = newer.run AND h.subrun = newer.subrun AND h.attempt = newer.attempt
  AND h.step = newer.step AND h.try_number = newer.try_number AND h.started_at < newer.started_at;
ALTER TABLE history DROP PRIMARY KEY, ADD PRIMARY KEY (night, run, subrun, attempt, step, try_number);
