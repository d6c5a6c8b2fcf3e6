DROP TABLE daemon_lease;
