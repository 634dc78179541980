"""Canvas gradebook CSV from ``final_grades.csv`` and the instructor's roster (Otter has no Canvas code).

Canvas imports a gradebook CSV whose header is ``Student, ID, SIS User ID, SIS Login ID, Section``
followed by one column per assignment, and an optional row whose ``Student`` cell is "Points
Possible", which sets the assignment's points (as in the gradebook Canvas exports). It matches a
column to an existing assignment by its title, or by its id when the title ends in "(<id>)", and
creates the assignment otherwise. An empty cell is no grade, not a zero.

The roster is the instructor's CSV with those five columns plus ``submission``: the student's file
name in ``final_grades.csv``, empty when the student did not submit.
"""

import warnings
from pathlib import Path

import pandas as pd
from otter.grade.utils import POINTS_POSSIBLE_LABEL, SCORES_DICT_FILE_KEY, SCORES_DICT_TOTAL_POINTS_KEY

STUDENT_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
SUBMISSION_COLUMN = "submission"


def export(grades_csv: Path, roster_csv: Path, out_csv: Path, *, assignment: str) -> pd.DataFrame:
    """Write the Canvas CSV: the roster's students, each with the total points of their submission.

    Students without a graded submission get an empty cell; they, and graded submissions that no
    student claims, are named in a ``UserWarning``. Returns the table as written.
    """
    grades_csv = Path(grades_csv)
    points_possible, totals = read_totals(grades_csv)
    roster = read_roster(roster_csv)
    claimed = roster[SUBMISSION_COLUMN]
    canvas = roster[STUDENT_COLUMNS].copy()
    canvas[assignment] = claimed.map(totals).astype(float)

    ungraded = [
        f"{student} ({f'{file} is not in {grades_csv.name}' if file else 'no submission'})"
        for student, file in zip(roster["Student"], claimed)
        if file not in totals.index
    ]
    if ungraded:
        warnings.warn(f"{len(ungraded)} student(s) get an empty cell: " + "; ".join(ungraded), stacklevel=2)
    unclaimed = sorted(set(totals.index) - set(claimed))
    if unclaimed:
        warnings.warn(f"{len(unclaimed)} graded submission(s) that no roster row claims: " + ", ".join(unclaimed), stacklevel=2)

    points_row = {**dict.fromkeys(STUDENT_COLUMNS, ""), "Student": "Points Possible", assignment: points_possible}
    canvas = pd.concat([pd.DataFrame([points_row]), canvas], ignore_index=True)
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    canvas.to_csv(out_csv, index=False)
    return canvas


def read_totals(grades_csv: Path) -> tuple[float, pd.Series]:
    """The points possible and ``total_points_earned`` by submission file, from Otter's CSV format."""
    grades = pd.read_csv(grades_csv, dtype={SCORES_DICT_FILE_KEY: str})
    has_columns = {SCORES_DICT_FILE_KEY, SCORES_DICT_TOTAL_POINTS_KEY} <= set(grades.columns)
    if not has_columns or POINTS_POSSIBLE_LABEL not in set(grades[SCORES_DICT_FILE_KEY]):
        raise ValueError(
            f"{grades_csv}: not a final_grades.csv in Otter's format (columns {SCORES_DICT_FILE_KEY} and "
            f"{SCORES_DICT_TOTAL_POINTS_KEY}, a {POINTS_POSSIBLE_LABEL} row)"
        )
    totals = grades.set_index(SCORES_DICT_FILE_KEY)[SCORES_DICT_TOTAL_POINTS_KEY]
    return totals[POINTS_POSSIBLE_LABEL], totals.drop(POINTS_POSSIBLE_LABEL)


def read_roster(roster_csv: Path) -> pd.DataFrame:
    """The roster as text (IDs keep their leading zeros, empty cells stay empty), columns checked."""
    roster = pd.read_csv(roster_csv, dtype=str, keep_default_na=False)
    missing = [column for column in [*STUDENT_COLUMNS, SUBMISSION_COLUMN] if column not in roster.columns]
    if missing:
        raise ValueError(
            f"{roster_csv}: missing column(s) {', '.join(missing)}. A roster has the columns "
            f"{', '.join(STUDENT_COLUMNS)} (as in a gradebook exported from Canvas) and {SUBMISSION_COLUMN} "
            "(the student's file name in final_grades.csv, empty if none)."
        )
    roster[SUBMISSION_COLUMN] = roster[SUBMISSION_COLUMN].str.strip()
    return roster
