-- Back to SLURM's spelling; the states older osa versions did not store go back to what
-- they mapped them to (PREEMPTED to NODE_FAIL, BOOT_FAIL and DEADLINE to FAILED).
UPDATE tasks SET state = 'node_fail' WHERE state = 'preempted';
UPDATE tasks SET state = 'failed' WHERE state IN ('boot_fail', 'deadline');
UPDATE tasks SET state = UPPER(state);
