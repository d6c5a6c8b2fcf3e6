-- One daemon per database: the lease row (id 1) names the daemon that holds the database
-- and when it last worked; a second daemon, from any host or data root, is refused.
CREATE TABLE daemon_lease (
  id BIGINT NOT NULL PRIMARY KEY,
  host TEXT NOT NULL,
  pid BIGINT NOT NULL,
  data_root TEXT NOT NULL,
  started_at TIMESTAMP NOT NULL,
  heartbeat_at TIMESTAMP NOT NULL
);
