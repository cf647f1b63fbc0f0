#!/usr/bin/env bash
# Make sure a Label Studio server is installed in its OWN virtualenv (its pins clash with
# alp's) and print the path of its `label-studio` executable on stdout.
#
#   ALP_LS_VENV     venv location (default: ~/.cache/alp/label-studio-venv)
#   ALP_LS_VERSION  pip requirement version (default: 1.23.2, the version DESIGN §5 verified)
#   ALP_LS_PYTHON   interpreter used to create the venv (default: python3)
#
# Idempotent and safe to run concurrently (flock). Progress goes to stderr; a failure exits
# non-zero with the pip log tail, so tests that need Label Studio fail loudly.
set -euo pipefail
venv="${ALP_LS_VENV:-$HOME/.cache/alp/label-studio-venv}"
version="${ALP_LS_VERSION:-1.23.2}"
py="${ALP_LS_PYTHON:-python3}"
exe="$venv/bin/label-studio"

installed() {
  [ -x "$exe" ] && "$venv/bin/python" - "$version" <<'PY' 2>/dev/null
import importlib.metadata as m, sys
sys.exit(0 if m.version("label-studio") == sys.argv[1] else 1)
PY
}

if installed; then
  echo "$exe"
  exit 0
fi
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
if ! installed; then
  echo "installing label-studio==$version into $venv (about 1-2 minutes)..." >&2
  log="$(mktemp)"
  if ! { [ -x "$venv/bin/pip" ] || "$py" -m venv "$venv"; } >>"$log" 2>&1 \
    || ! PIP_FIND_LINKS= "$venv/bin/pip" install --isolated --disable-pip-version-check \
      "label-studio==$version" >>"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "ERROR: could not install label-studio==$version into $venv" >&2
    exit 1
  fi
  rm -f "$log"
fi
installed || { echo "ERROR: $exe is not label-studio $version" >&2; exit 1; }
echo "$exe"
