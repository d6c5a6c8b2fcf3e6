#!/usr/bin/env bash
# The demo on the embedded default (no server needed): lay out a synthetic night under a
# data root, then read it back as an operator would: its RunSummary with each run's type
# checked against its R0 files, and the classification of every first subrun file.
#   scripts/demo.sh [DATA_ROOT] [DATE]     (defaults: ./demo-data, 2026-01-05)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="${1:-$PWD/demo-data}"
DATE="${2:-2026-01-05}"
COMPACT="${DATE//-/}"
bash scripts/install-deps.sh
cargo build --release --quiet
OSA="${CARGO_TARGET_DIR:-target}/release/osa"
"$OSA" demo make-night --dir "$ROOT" --date "$DATE" --runs 3 --subruns 4
echo
"$OSA" summary show "$ROOT/monitoring/RunSummary/RunSummary_$COMPACT.ecsv" --check-r0 --r0-dir "$ROOT/R0G/$COMPACT"
echo
"$OSA" classify "$ROOT"/R0G/"$COMPACT"/LST-1.1.Run*.0000.fits.fz
