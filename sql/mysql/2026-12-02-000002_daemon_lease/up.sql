-- One daemon per database: the lease row (id 1) names the daemon that holds the database
-- and when it last worked; a second daemon, from any host or data root, is refused.
CREATE TABLE daemon_lease (
  id BIGINT NOT NULL,
  host VARCHAR(255) NOT NULL,
  pid BIGINT NOT NULL,
  data_root VARCHAR(1024) NOT NULL,
  started_at DATETIME(6) NOT NULL,
  heartbeat_at DATETIME(6) NOT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
