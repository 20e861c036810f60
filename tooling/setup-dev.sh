#!/usr/bin/env bash
# Make ./.venv with every package of the repository and the example drivers (editable),
# the test plugin distributions and the dev tools. Needs only python3 (3.11+) and pip.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
args=(-e "packages/jtd-ai-core[cli]")
for pkg in packages/jtd-ai-*/; do
  [ "$pkg" = "packages/jtd-ai-core/" ] || args+=(-e "${pkg%/}")
done
for example in examples/*/; do args+=(-e "${example%/}"); done
for plugin in tests/plugins/*/; do args+=("${plugin%/}"); done
.venv/bin/python -m pip install -q --disable-pip-version-check "${args[@]}" \
  -r tooling/requirements-dev.txt
