#!/usr/bin/env bash
# Everything a fresh machine needs for osa's tests: Debian packages, then the services
# (MariaDB, munge, slurmdbd, slurmctld, slurmd). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/start-services.sh
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "setup: installing cargo-nextest"
  cargo install --locked cargo-nextest
fi
