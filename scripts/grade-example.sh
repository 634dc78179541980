#!/usr/bin/env bash
# Set up, then take the example class from Canvas's download to Canvas's import file: grade the
# download zip, (with a Chromium) print the Q7 PDFs, and merge the filled Q7 sheet into the grades.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/exercise-kit grade examples/submissions.zip --out graded
if command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null; then
  .venv/bin/exercise-kit free-response examples/submissions.zip --out graded/free_response
fi
.venv/bin/exercise-kit canvas graded/final_grades.csv examples/gradebook.csv --manual examples/q7_scores.csv --out graded/canvas_grades.csv
echo
echo "Grades: graded/final_grades.csv   Report: graded/summary/summary.md   Canvas: graded/canvas_grades.csv"
