#!/usr/bin/env bash
# Creates .venv with the locked TFX 1.16 stack and this project (editable).
# Finds Python 3.10 on PATH or in pyenv; installs uv for that Python if needed.
set -euo pipefail
cd "$(dirname "$0")/.."

want="3.10"
find_python() {
  local c
  for c in "${CFAN_PYTHON:-}" python3.10 "$(command -v pyenv >/dev/null 2>&1 && pyenv prefix "$want" 2>/dev/null)/bin/python3.10" \
           "$HOME"/.pyenv/versions/${want}*/bin/python3.10 /usr/bin/python3.10 /usr/local/bin/python3.10; do
    [ -n "$c" ] || continue
    if "$c" -c "import sys; sys.exit(0 if sys.version_info[:2] == (3, 10) else 1)" >/dev/null 2>&1; then
      command -v "$c" 2>/dev/null || echo "$c"; return 0
    fi
  done
  return 1
}

if ! PY=$(find_python); then
  cat >&2 <<MSG
error: Python 3.10 not found. TFX 1.16 (the newest TFX whose whole stack is
installable from PyPI here) supports Python 3.9-3.10 only. Get one of:
  pyenv install 3.10        # then re-run: make setup
  apt-get install python3.10 python3.10-venv
or point CFAN_PYTHON at a python3.10 binary.
MSG
  exit 1
fi
echo "setup: using $PY ($("$PY" --version 2>&1))"

UV=""
if uv --version >/dev/null 2>&1; then UV=uv
elif "$PY" -m uv --version >/dev/null 2>&1; then UV="$PY -m uv"
else
  echo "setup: installing uv for $PY (pip's resolver takes >10 min on this tree)"
  "$PY" -m pip install --quiet --disable-pip-version-check "uv>=0.4"
  UV="$PY -m uv"
fi

export UV_PYTHON="$PY" UV_PROJECT_ENVIRONMENT="$PWD/.venv"
# Byte-compile what uv installs (~50 s once, 2 cores). Python never writes
# .pyc files where PYTHONDONTWRITEBYTECODE is set (as on this project's CI
# machines), so without them every process compiles TF, TFX and Beam from
# source: importing them took 52-60 s per process here, 20 s compiled.
export UV_COMPILE_BYTECODE=1
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import sys; sys.exit(0 if sys.version_info[:2]==(3,10) else 1)"; then
  rm -rf .venv
  $UV venv --quiet --seed --python "$PY" .venv   # --seed: pip inside, for tools that expect it
fi
# --frozen: install exactly uv.lock; never re-resolve on a user's machine.
$UV sync --frozen --extra dev --python "$PY"
.venv/bin/python -m pip --version >/dev/null 2>&1 || $UV pip install --python .venv/bin/python --quiet pip
echo "setup: .venv ready ($(.venv/bin/python -c 'import tfx, tensorflow as tf, keras; print("tfx", tfx.__version__, "| tensorflow", tf.__version__, "| keras", keras.__version__)' 2>/dev/null))"

# Headless Chromium (Debian's chromium) renders the run report page in
# tests/test_report_html.py, which skips without it. Installed here when
# apt-get is usable (root, or password-less sudo); setup never fails for it.
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" = 0 ] || { sudo -n true >/dev/null 2>&1 && SUDO="sudo -n"; } || SUDO="none"
  if command -v apt-get >/dev/null 2>&1 && [ "$SUDO" != none ]; then
    echo "setup: installing chromium and fonts-dejavu-core (renders the report page in a test)"
    export DEBIAN_FRONTEND=noninteractive
    { $SUDO apt-get install -y --no-install-recommends chromium fonts-dejavu-core >/dev/null 2>&1 ||
      { $SUDO apt-get update >/dev/null 2>&1 &&
        $SUDO apt-get install -y --no-install-recommends chromium fonts-dejavu-core >/dev/null 2>&1; }; } ||
      echo "setup: could not install chromium; the report-page render test will skip (install: apt-get install chromium)"
  else
    echo "setup: chromium not found; the report-page render test will skip (install: sudo apt-get install chromium)"
  fi
fi
