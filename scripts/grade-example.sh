#!/usr/bin/env bash
# Set up, grade the shipped example submissions into graded/, and export them for Canvas.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m exercise_kit grade examples/submissions --out graded
.venv/bin/python -m exercise_kit canvas graded/final_grades.csv examples/roster.csv --out graded/canvas_grades.csv
echo
echo "Grades: graded/final_grades.csv   Report: graded/summary/summary.md   Canvas: graded/canvas_grades.csv"
