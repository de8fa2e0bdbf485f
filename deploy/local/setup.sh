#!/usr/bin/env bash
# Installs what recstream needs on a fresh Debian machine and (re)uses the virtualenv at .venv.
# Idempotent: a second run only checks. Used by demo.sh, test.sh and .ci/run.
set -euo pipefail
cd "$(dirname "$0")/../.."

need_apt=()
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v java >/dev/null || need_apt+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need_apt+=(maven)
# kcat: the independent client the tests ask the workers with (the contract is plain JSON).
command -v kcat >/dev/null || need_apt+=(kcat)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]} from Debian's packages"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
# The apt package enables a system redis on 6379; the stack runs its own on its own port.

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PYTHON" -m venv .venv
fi
# The `train` extra (PyTorch, onnx) is for the ranker's tests: PyPI's torch brings its CUDA
# wheels too (about 3.5 GB), measured at 1 min 50 s to install here; workers never import it.
stamp=.venv/.recstream-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ deploy/local/setup.sh -nt "$stamp" ]; then
  echo "setup: installing recstream and its dependencies into .venv"
  log=.venv/install.log
  if ! { .venv/bin/python -m pip install --upgrade pip && \
         .venv/bin/python -m pip install -e ".[test,plot,ann,train]"; } >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "setup: pip install failed; the whole log is in $log" >&2
    exit 1
  fi
  touch "$stamp"
fi
