#!/usr/bin/env bash
# The whole test suite, from a fresh clone: sets up ./.venv, then runs pytest on every package.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tooling/setup-dev.sh
exec .venv/bin/python -m pytest "$@"
