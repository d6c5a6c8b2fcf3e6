UPDATE tasks SET state = UPPER(state);
