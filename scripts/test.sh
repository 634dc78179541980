#!/usr/bin/env bash
# Set up the environment, then run the tests: all of them after the kit's lint, format and type
# checks (scripts/lint.sh; what CI runs), or with --fast the unit tier only (no test marked slow,
# root or browser: see the markers in pyproject.toml), in seconds.
# Any other arguments go to pytest. pytest exits non-zero on failures and on no tests collected (5).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "${1:-}" = "--fast" ]; then
  shift
  set -- -m "not slow and not root and not browser" "$@"
else
  bash scripts/lint.sh
fi
exec .venv/bin/python -m pytest "$@"
