#!/usr/bin/env bash
# Everything a fresh machine needs for osa's tests: Debian packages, then the services
# (MariaDB, munge, slurmdbd, slurmctld, slurmd). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/start-services.sh
# An independent HDF5 reader for the tests (h5py), so the simulator and osa's verifier
# cannot agree on a private layout.
if ! python3 -c "import h5py" >/dev/null 2>&1; then
  echo "setup: installing Python test packages (tests/requirements.txt)"
  python3 -m pip install --quiet -r tests/requirements.txt
fi
# The real lstchain (pinned) for the tests that run it on the simulator's files.
bash scripts/lstchain-env.sh >/dev/null
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "setup: installing cargo-nextest"
  cargo install --locked cargo-nextest
fi
