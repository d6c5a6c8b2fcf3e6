-- A DATA run with pre-stages (LSTOSA's tail-cut finder, Cat-B) is submitted in two parts:
-- first its subruns run the data steps before this one, then the pre-stages run, then the
-- subruns run the rest. NULL: the submission runs every step (and every job of other kinds).
ALTER TABLE jobs ADD COLUMN stops_before TEXT NULL;
