#!/usr/bin/env bash
# Create .venv with the pinned packages; re-run only when a requirements file changes.
set -euo pipefail
cd "$(dirname "$0")/.."
python=$(command -v python3.11 || command -v python3)
want=$(cat requirements.txt requirements-grading.txt requirements-dev.txt assignment/requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat .venv/.installed 2>/dev/null)" != "$want" ]; then
  "$python" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r requirements-dev.txt -e .
  echo "$want" > .venv/.installed
fi
