#!/usr/bin/env bash
# The test command (README, .ci/run): installs what is missing, checks lint and types, then runs
# every test. Integration tests start their own Kafka and Redis (tests/integration/conftest.py)
# on free ports. Extra arguments go to pytest, e.g. `bash deploy/local/test.sh -k ingestion`.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash deploy/local/setup.sh
.venv/bin/ruff check stream models
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
