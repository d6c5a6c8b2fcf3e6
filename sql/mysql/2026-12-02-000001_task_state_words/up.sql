-- Task states are stored as osa's own words (model::TaskState), not SLURM's spelling: the
-- executor's state table is the only place SLURM's words are read.
UPDATE tasks SET state = LOWER(state);
