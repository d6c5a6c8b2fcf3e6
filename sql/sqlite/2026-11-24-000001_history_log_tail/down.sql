ALTER TABLE history DROP COLUMN log_tail;
