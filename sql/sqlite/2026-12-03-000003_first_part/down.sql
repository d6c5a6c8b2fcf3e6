ALTER TABLE jobs DROP COLUMN stops_before;
