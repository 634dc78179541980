#!/usr/bin/env bash
# Set up, then take the example class from Canvas's download to Canvas's import file: grade the
# download zip (released: each feedback.md gives the reasons), (with a Chromium) print the Q7 PDFs,
# merge the filled Q7 sheet into the grades, and show what a post to Canvas would send (a dry run,
# offline: the example never talks to a Canvas, even with a token in the environment).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/exercise-kit grade examples/submissions.zip --out graded --release
if command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null; then
  .venv/bin/exercise-kit free-response examples/submissions.zip --out graded/free_response
fi
.venv/bin/exercise-kit canvas graded/final_grades.csv examples/gradebook.csv --manual examples/q7_scores.csv --out graded/canvas_grades.csv
echo
env -u CANVAS_API_TOKEN .venv/bin/exercise-kit canvas graded/final_grades.csv examples/gradebook.csv --manual examples/q7_scores.csv --post
echo
echo "Grades: graded/final_grades.csv   Report: graded/summary/summary.md   Canvas: graded/canvas_grades.csv"
