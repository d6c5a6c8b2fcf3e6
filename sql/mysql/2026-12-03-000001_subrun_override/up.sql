-- A run's subrun count from this audit row on (`drop_subrun`: the closer dropped the
-- run's last subrun, LSTOSA's fix for a last subrun without pedestal events). NULL for every
-- other action. The RunSummary is never edited: the override lives here, audited.
ALTER TABLE audit_log ADD COLUMN subruns BIGINT NULL;
