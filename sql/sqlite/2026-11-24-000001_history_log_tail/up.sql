-- The tail of a failed step's stdout/stderr, kept with its history line.
ALTER TABLE history ADD COLUMN log_tail TEXT;
