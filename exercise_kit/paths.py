"""Where the kit's inputs and outputs live in the repository (users look for these names)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT_DIR = ROOT / "assignment"
NOTEBOOK_NAME = "exercise-6-3-lstm.ipynb"
MASTER_NOTEBOOK = ASSIGNMENT_DIR / NOTEBOOK_NAME
STUDENT_DIR = ROOT / "student_template"
SOLUTION_DIR = ROOT / "solution"
AUTOGRADER_DIR = ROOT / "autograder"
AUTOGRADER_ZIP = AUTOGRADER_DIR / "exercise-6-3-lstm-autograder.zip"
OTTER_CONFIG = ROOT / "otter_config.json"
EXAMPLE_SUBMISSIONS = ROOT / "examples" / "submissions.zip"  # as Canvas downloads them
STUDENT_REQUIREMENTS = ASSIGNMENT_DIR / "student-requirements.txt"  # what students install (any laptop)
GRADING_REQUIREMENTS = ROOT / "requirements-grading.txt"  # what grading runs on (the Gradescope zip installs it)
GRADING_CONFIG = ASSIGNMENT_DIR / "grading.json"  # batch grading limits: timeout, memory, workers
