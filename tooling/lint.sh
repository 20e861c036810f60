#!/usr/bin/env bash
# ruff over the repository and mypy --strict over each package's source.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check .
for src in packages/*/src examples/*/src; do
  echo "mypy --strict $src"
  .venv/bin/mypy --strict "$src"
done
