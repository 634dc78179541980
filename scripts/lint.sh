#!/usr/bin/env bash
# Lint, format check and type check of the kit, with the tools pinned in requirements-dev.txt and
# configured in pyproject.toml ([tool.ruff], [tool.mypy]). `ruff format exercise_kit` fixes the format.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check exercise_kit
.venv/bin/ruff format --check exercise_kit
.venv/bin/mypy exercise_kit
