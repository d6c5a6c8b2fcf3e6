#!/usr/bin/env bash
# The whole test suite on a fresh machine: set-up (packages + services), then every test.
# Tests talk to the real MariaDB and the real one-node SLURM; they fail, never skip, when
# those do not answer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo nextest run --workspace --no-fail-fast "$@"
