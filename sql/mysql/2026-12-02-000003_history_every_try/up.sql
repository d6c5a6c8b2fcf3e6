-- A task run again within one attempt (a requeue, a restarted local supervisor) tries its
-- steps again: the start time keeps every try's row instead of overwriting the earlier one.
ALTER TABLE history DROP PRIMARY KEY, ADD PRIMARY KEY (night, run, subrun, attempt, step, try_number, started_at);
