#!/usr/bin/env bash
# Starts the services osa's tests talk to, each only if it is not already answering:
#   MariaDB (as the mysql user), munge, slurmdbd (accounting on MariaDB, so sacct works),
#   slurmctld and slurmd: a one-node SLURM cluster "osa" on node "localhost".
# Idempotent: run it as often as you like; it never starts a second copy of anything.
# Needs root (it writes /etc/slurm and starts daemons). Packages: scripts/install-deps.sh.
#
# Settings (environment):
#   OSA_SLURM_ACCOUNT     account created for the submitting user   (default: dpps, as cfg/osa.toml)
#   OSA_SLURM_PARTITIONS  partitions created on the node            (default: "short long")
set -euo pipefail

ACCOUNT="${OSA_SLURM_ACCOUNT:-dpps}"
PARTITIONS="${OSA_SLURM_PARTITIONS:-short long}"
CLUSTER=osa
DBD_USER=slurm
DBD_PASS=osa-slurmdbd

log() { echo "start-services: $*"; }
fail() { echo "start-services: ERROR: $*" >&2; exit 1; }

if [ "$(id -u)" -ne 0 ]; then
  exec sudo -E "$0" "$@"
fi

wait_for() { # seconds, description, command...
  local seconds=$1 what=$2; shift 2
  for _ in $(seq "$seconds"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  fail "$what did not come up within ${seconds}s"
}

# ---- MariaDB ----
if mysqladmin --protocol=socket -uroot ping >/dev/null 2>&1; then
  log "MariaDB already answering"
else
  log "starting MariaDB"
  install -d -o mysql -g mysql /run/mysqld
  if [ ! -d /var/lib/mysql/mysql ]; then
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
  fi
  # mariadbd refuses to run as root: start it as the mysql user.
  start-stop-daemon --start --oknodo --background --chuid mysql --exec /usr/sbin/mariadbd -- --user=mysql
  wait_for 60 MariaDB mysqladmin --protocol=socket -uroot ping
fi
# Root over TCP with an empty password is what the tests use (OSA_TEST_MYSQL_URL default).
mysql -uroot -e "SELECT 1" >/dev/null || fail "MariaDB answers ping but root cannot log in"

# ---- munge ----
if [ ! -s /etc/munge/munge.key ]; then
  log "creating /etc/munge/munge.key"
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 400 /etc/munge/munge.key
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  log "munge already answering"
else
  log "starting munged"
  runuser -u munge -- /usr/sbin/munged
  wait_for 20 munge bash -c 'munge -n | unmunge'
fi

# ---- configuration files (rewritten only when they change) ----
CPUS=$(nproc)
MEM_MB=$(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo)
REAL_MEM=$(( MEM_MB > 4096 ? MEM_MB - 2048 : MEM_MB * 3 / 4 ))
install -d -m 0755 /etc/slurm
install -d -o slurm -g slurm /var/spool/slurmctld /var/log/slurm
install -d /var/spool/slurmd /run/slurm

changed=0
write_if_changed() { # path, owner, mode; content on stdin
  local path=$1 owner=$2 mode=$3 tmp
  tmp=$(mktemp)
  cat >"$tmp"
  if [ -f "$path" ] && cmp -s "$tmp" "$path"; then
    rm -f "$tmp"
  else
    install -o "${owner%%:*}" -g "${owner##*:}" -m "$mode" "$tmp" "$path"
    rm -f "$tmp"
    changed=1
    log "wrote $path"
  fi
}

{
  cat <<EOF
# Written by osa scripts/start-services.sh: a one-node cluster for osa's tests and demos.
ClusterName=$CLUSTER
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without a default, each task asks for the whole node and array tasks run one at a time.
DefMemPerCPU=500
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoreFlags=job_comment
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=5
MinJobAge=300
MaxArraySize=10001
NodeName=localhost CPUs=$CPUS RealMemory=$REAL_MEM State=UNKNOWN
EOF
  first=1
  for p in $PARTITIONS; do
    if [ $first -eq 1 ]; then def=YES; first=0; else def=NO; fi
    echo "PartitionName=$p Nodes=localhost Default=$def MaxTime=INFINITE State=UP"
  done
} | write_if_changed /etc/slurm/slurm.conf root:root 0644
slurm_conf_changed=$changed

changed=0
write_if_changed /etc/slurm/slurmdbd.conf slurm:slurm 0600 <<EOF
# Written by osa scripts/start-services.sh
AuthType=auth/munge
DbdHost=localhost
SlurmUser=slurm
PidFile=/run/slurm/slurmdbd.pid
LogFile=/var/log/slurm/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=3306
StorageUser=$DBD_USER
StoragePass=$DBD_PASS
StorageLoc=slurm_acct_db
EOF
dbd_conf_changed=$changed
chown slurm:slurm /run/slurm

# Starts a SLURM daemon unless it runs with an unchanged config (then it is left alone).
start_slurm_daemon() { # name, config-changed flag
  local name=$1 config_changed=$2
  if pgrep -x "$name" >/dev/null && [ "$config_changed" -eq 0 ]; then
    log "$name already running"
    return
  fi
  pkill -x "$name" 2>/dev/null && sleep 2 || true
  log "starting $name"
  "$name"
}

# ---- slurmdbd ----
mysql -uroot <<EOF
CREATE USER IF NOT EXISTS '$DBD_USER'@'localhost' IDENTIFIED BY '$DBD_PASS';
CREATE USER IF NOT EXISTS '$DBD_USER'@'127.0.0.1' IDENTIFIED BY '$DBD_PASS';
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
GRANT ALL ON slurm_acct_db.* TO '$DBD_USER'@'localhost';
GRANT ALL ON slurm_acct_db.* TO '$DBD_USER'@'127.0.0.1';
EOF
start_slurm_daemon slurmdbd "$dbd_conf_changed"
wait_for 60 slurmdbd sacctmgr -n list cluster

if ! sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER"; then
  log "registering cluster $CLUSTER"
  sacctmgr -i add cluster "$CLUSTER" >/dev/null
fi
if ! sacctmgr -n -P list account format=account | grep -qx "$ACCOUNT"; then
  log "adding account $ACCOUNT"
  sacctmgr -i add account "$ACCOUNT" cluster="$CLUSTER" >/dev/null
fi
for user in root ${SUDO_USER:-}; do
  if ! sacctmgr -n -P list assoc user="$user" account="$ACCOUNT" format=user | grep -qx "$user"; then
    log "adding user $user to account $ACCOUNT"
    sacctmgr -i add user "$user" account="$ACCOUNT" cluster="$CLUSTER" >/dev/null
  fi
done

# ---- slurmctld, slurmd ----
start_slurm_daemon slurmctld "$slurm_conf_changed"
wait_for 60 slurmctld scontrol ping
start_slurm_daemon slurmd "$slurm_conf_changed"

node_ready() { sinfo -h -n localhost -o %T | grep -qE '^(idle|mixed|allocated|completing)'; }
for _ in $(seq 60); do
  node_ready && break
  state=$(sinfo -h -n localhost -o %T 2>/dev/null || true)
  case "$state" in
    drain*|down*) scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true ;;
  esac
  sleep 1
done
node_ready || fail "SLURM node localhost is not usable: $(sinfo -h -N -o '%N %T %E' 2>&1)"
log "SLURM ready: $(sinfo -h -o '%P %a %D %T' | tr '\n' ' ')"
