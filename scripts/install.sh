#!/usr/bin/env bash
# Installs osa as a service: the release binaries, the config (kept if already there), the
# systemd unit, the lstanalyzer account. Idempotent. Run as root from the repository.
#   scripts/install.sh [PREFIX]     (default PREFIX: /usr/local)
# Environment:
#   DESTDIR   install under this folder instead of / (a package build, a test); the unit and
#             the config name the paths as they are once the tree is moved to /.
#   OSA_BIN   an osa binary already built: no release build (it takes long on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX="${1:-/usr/local}"
DESTDIR="${DESTDIR:-}"
bash scripts/install-deps.sh
if [ -z "${OSA_BIN:-}" ]; then
  cargo build --release --quiet --bins
  OSA_BIN="${CARGO_TARGET_DIR:-target}/release/osa"
fi
ETC="$DESTDIR/etc/osa"
install -d "$DESTDIR$PREFIX/bin" "$ETC" "$DESTDIR$PREFIX/share/doc/osa"
install -m 0755 "$OSA_BIN" "$DESTDIR$PREFIX/bin/osa"
install -m 0644 README.md ARCHITECTURE.md "$DESTDIR$PREFIX/share/doc/osa/"
if ! id lstanalyzer >/dev/null 2>&1; then
  useradd --system --create-home --shell /usr/sbin/nologin lstanalyzer
fi
if [ ! -f "$ETC/osa.toml" ]; then
  # 0640, group lstanalyzer: the database URL in it may carry a password; shifters in the
  # group read it for `osa status`. SLURM is polled for the service account's jobs.
  sed 's/^user = ""$/user = "lstanalyzer"/' cfg/osa.toml > "$ETC/osa.toml.new"
  install -m 0640 -g lstanalyzer "$ETC/osa.toml.new" "$ETC/osa.toml"
  rm -f "$ETC/osa.toml.new"
  echo "install: wrote $ETC/osa.toml (edit paths.data_root, database.url, executor.kind)"
else
  echo "install: kept the existing $ETC/osa.toml"
fi
if [ -n "$DESTDIR" ] || [ -d /etc/systemd/system ]; then
  install -d "$DESTDIR/etc/systemd/system"
  sed "s#/usr/local/bin/osa#$PREFIX/bin/osa#; s#/usr/local/share/doc/osa#$PREFIX/share/doc/osa#" systemd/osa.service \
    > "$DESTDIR/etc/systemd/system/osa.service"
  chmod 0644 "$DESTDIR/etc/systemd/system/osa.service"
  if [ -z "$DESTDIR" ]; then
    systemctl daemon-reload 2>/dev/null || true
    # A running daemon picks up the new binary.
    systemctl try-restart osa 2>/dev/null || true
    echo "install: unit installed; start it with: systemctl enable --now osa"
  fi
fi
"$DESTDIR$PREFIX/bin/osa" --config "$ETC/osa.toml" config check
# The schema is brought up to date here (and by the daemon when it starts): array tasks and
# operator commands refuse a schema that is behind. As lstanalyzer, who owns the database.
if ! runuser -u lstanalyzer -- "$DESTDIR$PREFIX/bin/osa" --config "$ETC/osa.toml" db migrate; then
  echo "install: database not migrated yet: point database.url (or paths.data_root) at it, then run"
  echo "  runuser -u lstanalyzer -- $PREFIX/bin/osa --config /etc/osa/osa.toml db migrate"
fi
