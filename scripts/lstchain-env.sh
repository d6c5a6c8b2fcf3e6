#!/usr/bin/env bash
# The real lstchain, pinned, in its own virtual environment (the tests that run the real
# programs after DL1a use it; the demo does not need it). Idempotent: an environment that
# already has the pinned version is kept. Prints the environment's bin directory.
#   OSA_LSTCHAIN_ENV  where the environment lives (default /opt/osa/lstchain-env)
# Also writes $ENV_DIR/etc/astropy/astropy.cfg, and a start-up hook (osa_offline.pth) that
# points the environment's programs at it (XDG_CONFIG_HOME, unless set): astropy then does not
# try to download Earth-rotation tables (a closed network makes each program wait ~70 s), for
# the programs as SLURM jobs run them too.
set -euo pipefail
LSTCHAIN_VERSION=0.12.3
ENV_DIR="${OSA_LSTCHAIN_ENV:-/opt/osa/lstchain-env}"
write_astropy_config() {
  mkdir -p "$ENV_DIR/etc/astropy"
  printf '[utils.iers.iers]\nauto_download = False\n' > "$ENV_DIR/etc/astropy/astropy.cfg"
  local site
  site="$("$ENV_DIR/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  printf "import os; os.environ.setdefault('XDG_CONFIG_HOME', '%s/etc')\n" "$ENV_DIR" > "$site/osa_offline.pth"
}
if [ -x "$ENV_DIR/bin/python" ] && "$ENV_DIR/bin/python" - "$LSTCHAIN_VERSION" >/dev/null 2>&1 <<'PY'
import sys
from importlib.metadata import version
sys.exit(version("lstchain") != sys.argv[1])
PY
then
  write_astropy_config
  echo "$ENV_DIR/bin"
  exit 0
fi
echo "lstchain-env: installing lstchain $LSTCHAIN_VERSION into $ENV_DIR (about two minutes)" >&2
mkdir -p "$(dirname "$ENV_DIR")"
python3 -m venv "$ENV_DIR"
"$ENV_DIR/bin/python" -m pip install --quiet --upgrade pip >&2
"$ENV_DIR/bin/python" -m pip install --quiet "lstchain==$LSTCHAIN_VERSION" h5py >&2
write_astropy_config
"$ENV_DIR/bin/python" -c "import lstchain, ctapipe; print('lstchain', lstchain.__version__, 'ctapipe', ctapipe.__version__)" >&2
echo "$ENV_DIR/bin"
