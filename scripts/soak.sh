#!/usr/bin/env bash
# The full soak: the daemon killed at random moments 30 times through one night on the real
# SLURM cluster and MariaDB (the test suite runs the same test with 5 kills).
#   scripts/soak.sh [KILLS]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
OSA_SOAK_KILLS="${1:-30}" cargo nextest run --no-fail-fast -E 'test(slurm_soak)' --no-capture
