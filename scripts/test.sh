#!/usr/bin/env bash
# Set up the environment, then run the whole test suite (pytest exits non-zero on no tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
