#!/usr/bin/env bash
# Installs osa as a service: the release binaries, the config (kept if already there), the
# systemd unit, the lstanalyzer account. Idempotent. Run as root from the repository.
#   scripts/install.sh [PREFIX]     (default PREFIX: /usr/local)
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX="${1:-/usr/local}"
bash scripts/install-deps.sh
cargo build --release --quiet --bins
install -d "$PREFIX/bin" /etc/osa "$PREFIX/share/doc/osa"
install -m 0755 "${CARGO_TARGET_DIR:-target}/release/osa" "$PREFIX/bin/osa"
install -m 0644 README.md ARCHITECTURE.md "$PREFIX/share/doc/osa/"
if ! id lstanalyzer >/dev/null 2>&1; then
  useradd --system --create-home --shell /usr/sbin/nologin lstanalyzer
fi
if [ ! -f /etc/osa/osa.toml ]; then
  # 0640: the database URL in it may carry a password.
  install -m 0640 -g lstanalyzer cfg/osa.toml /etc/osa/osa.toml
  echo "install: wrote /etc/osa/osa.toml (edit paths.data_root, database.url, executor.kind)"
else
  echo "install: kept the existing /etc/osa/osa.toml"
fi
if [ -d /etc/systemd/system ]; then
  sed "s#/usr/local/bin/osa#$PREFIX/bin/osa#" systemd/osa.service > /etc/systemd/system/osa.service
  systemctl daemon-reload 2>/dev/null || true
  # A running daemon picks up the new binary.
  systemctl try-restart osa 2>/dev/null || true
  echo "install: unit installed; start it with: systemctl enable --now osa"
fi
"$PREFIX/bin/osa" --config /etc/osa/osa.toml config check
# The schema is brought up to date here (and by the daemon when it starts): array tasks and
# operator commands refuse a schema that is behind. As lstanalyzer, who owns the database.
if ! runuser -u lstanalyzer -- "$PREFIX/bin/osa" --config /etc/osa/osa.toml db migrate; then
  echo "install: database not migrated yet: point database.url (or paths.data_root) at it, then run"
  echo "  runuser -u lstanalyzer -- $PREFIX/bin/osa --config /etc/osa/osa.toml db migrate"
fi
