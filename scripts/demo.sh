#!/usr/bin/env bash
# The demo on the embedded default (no server, no cluster): a synthetic night under a data
# root, run end to end through calibration and data jobs on the local executor with SQLite,
# the lstchain programs answered by the analysis simulator (lstchain-sim); prints the
# sequencer table at the end. OSA_EXECUTOR=slurm / OSA_DATABASE_URL=mysql://... run the same
# demo on SLURM and MariaDB. LSTCHAIN_SIM_EVENT_MS=2 makes jobs take realistic seconds.
#   scripts/demo.sh [DATA_ROOT] [DATE]     (defaults: ./demo-data, 2026-01-05)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="${1:-$PWD/demo-data}"
DATE="${2:-2026-01-05}"
bash scripts/install-deps.sh
cargo build --release --quiet --bins
exec "${CARGO_TARGET_DIR:-target}/release/osa" demo run --dir "$ROOT" --date "$DATE" --runs 3 --subruns 4
