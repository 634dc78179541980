"""Canvas gradebook CSV from the grades and Canvas's own gradebook export (Otter has no Canvas code).

Canvas's gradebook export (``lib/gradebook_exporter.rb`` in instructure/canvas-lms) starts with the
columns ``Student, ID, [SIS User ID,] SIS Login ID, [Integration ID,] [Root Account,] Section``
(the bracketed ones depend on the user's permissions and the account's settings), then custom
columns, one column per assignment and read-only totals. Under the header come an optional row
whose cells say "Manual Posting" for assignments posted by hand, a row whose ``Student`` cell is
"    Points Possible", and one row per student, the test student ("Student, Test", no login) last.
Its importer (``lib/gradebook_importer.rb``) reads the same columns back, matches a student by
``ID`` first, skips those two rows, and matches a column to an assignment by title, or by id when
the title ends in "(<id>)", creating the assignment otherwise. An empty cell is no grade, not a 0.

The grades are Otter's ``final_grades.csv`` or Gradescope's *Download Grades* CSV. A submission
belongs to a student of the gradebook by, in this order: the roster's ``submission`` column (the
file's name in ``final_grades.csv``, for rosters made by hand), Gradescope's ``SID`` (the
``SIS User ID``) or ``Email`` (the ``SIS Login ID``), or the Canvas user id in the name Canvas
gives downloaded files (the ``ID``).
"""

import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from otter.grade.utils import (
    POINTS_POSSIBLE_LABEL,
    SCORES_DICT_FILE_KEY,
    SCORES_DICT_GRADING_STATUS_KEY,
    SCORES_DICT_PERCENT_CORRECT_KEY,
    SCORES_DICT_TOTAL_POINTS_KEY,
)

from ..reporting import csv_cells
from ..reporting.manual import merge, read_text_table
from .downloads import canvas_file, newest_by_user

STUDENT_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Integration ID", "Root Account", "Section"]
REQUIRED_COLUMNS = ["Student", "ID", "SIS Login ID", "Section"]
SUBMISSION_COLUMN = "submission"
TEST_STUDENT = "Student, Test"
MANUAL_POSTING = r"(?i)\s*(Muted|Manual Posting.*)?\s*"
GRADESCOPE_COLUMNS = ["SID", "Email", "Total Score", "Max Points", "Status", "Submission ID"]
GRADESCOPE_GRADED = "Graded"
GRADESCOPE_MISSING = "Missing"
NO_SUBMISSION = "no submission"
GRADER_ERROR = "Grader error"  # how a grading status starts when the kit itself failed (grade.py, gradescope.py)


@dataclass
class Export:
    """What ``export`` wrote, and what to look at before importing it."""

    table: pd.DataFrame
    empty: list[str]  # students whose cell is empty, each with the reason
    unclaimed: list[str]  # graded submissions that no student of the gradebook claims
    problems: list[
        str
    ]  # why totals were left empty (manual scores missing or invalid, not fully graded), stray sheet rows


@dataclass
class Match:
    """The gradebook's students, each with their submission and total: what the import file and the post give Canvas."""

    roster: pd.DataFrame
    files: pd.Series  # by roster row: the student's file in the grades ("" for none)
    totals: pd.Series  # by roster row: the total, NaN where the cell stays empty
    reasons: pd.Series  # by roster row: why the cell is empty ("" where it is not)
    points_possible: float
    grades: pd.DataFrame  # the grades table (with the manual questions), by file
    empty: list[str]
    unclaimed: list[str]
    problems: list[str]


def export(grades_csv: Path, roster_csv: Path, out_csv: Path, *, assignment: str, manual: Path | None = None) -> Export:
    """Write the Canvas CSV: the gradebook's students, each with the total points of their submission.

    With ``manual`` (the filled Q7 scoring sheet, see ``manual.py``), each total counts the manual questions and
    so does the points possible. Students without a total get an empty cell; they, graded
    submissions that no student claims, and the problems that left a total empty are each named
    in one ``UserWarning``. Nothing is written if a file is not in a form this module reads.
    """
    found = match(grades_csv, roster_csv, manual=manual)
    canvas = found.roster[[column for column in STUDENT_COLUMNS if column in found.roster.columns]].copy()
    canvas[assignment] = found.totals
    points_row = {**dict.fromkeys(canvas.columns, ""), "Student": "Points Possible", assignment: found.points_possible}
    canvas = pd.concat([pd.DataFrame([points_row]), canvas], ignore_index=True)
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    csv_cells.to_csv(canvas, out_csv)
    return Export(canvas, found.empty, found.unclaimed, found.problems)


def match(grades_csv: Path, roster_csv: Path, *, manual: Path | None = None) -> Match:
    """Each student of the gradebook with their submission and its total, matched as the module's
    docstring says; the empty cells, unclaimed submissions and problems are also warned of."""
    grades_csv = Path(grades_csv)
    roster = read_roster(roster_csv)
    grades, students, problems = read_grades(grades_csv)
    if manual is not None:
        grades, manual_problems = merge(grades, manual)
        problems += manual_problems
    grades = grades.set_index(SCORES_DICT_FILE_KEY)
    totals = grades[SCORES_DICT_TOTAL_POINTS_KEY]
    points_possible, totals = totals[POINTS_POSSIBLE_LABEL], totals.drop(POINTS_POSSIBLE_LABEL)
    status = (
        grades.get(SCORES_DICT_GRADING_STATUS_KEY, pd.Series("", index=grades.index))
        .drop(POINTS_POSSIBLE_LABEL)
        .astype(str)
    )
    not_graded = status.str.startswith(GRADER_ERROR)  # the kit failed, not the student: no 0
    problems += [f"{file} was not graded: {status[file]}" for file in status.index[not_graded]]
    totals = totals.where(~not_graded)

    superseded = set()
    if SUBMISSION_COLUMN in roster.columns:
        claimed = roster[SUBMISSION_COLUMN]
    elif students is not None:
        claimed = gradescope_claims(roster, students)
    else:
        newest = newest_by_user(totals.index)
        if not newest:
            raise ValueError(
                f"{grades_csv}: no file is named as Canvas names downloaded submissions "
                f"(<student>_<user id>_<submission id>_<file>); add a {SUBMISSION_COLUMN} column to the roster "
                f"that gives each student's file name in {grades_csv.name}"
            )
        claimed = roster["ID"].map(newest).fillna("")
        superseded = {file for file in totals.index if canvas_file(file)} - set(newest.values())

    student_totals = claimed.map(totals).astype(float)
    reasons = pd.Series(
        [
            why_empty(file, totals, grades_csv.name) if pd.isna(total) else ""
            for file, total in zip(claimed, student_totals, strict=True)
        ],
        index=roster.index,
    )
    empty = [f"{student} ({reason})" for student, reason in zip(roster["Student"], reasons, strict=True) if reason]
    labels = students["label"] if students is not None else pd.Series(totals.index, index=totals.index)
    unclaimed = [labels[file] for file in sorted(set(totals.index) - set(claimed) - superseded)]
    if problems:
        warnings.warn(f"{len(problems)} problem(s) with the grades: " + "; ".join(problems), stacklevel=2)
    if empty:
        warnings.warn(f"{len(empty)} student(s) get an empty cell: " + "; ".join(empty), stacklevel=2)
    if unclaimed:
        warnings.warn(
            f"{len(unclaimed)} graded submission(s) that no roster row claims: " + ", ".join(unclaimed), stacklevel=2
        )
    return Match(roster, claimed, student_totals, reasons, points_possible, grades, empty, unclaimed, problems)


def assignment_id(roster_csv: Path, assignment: str) -> int | None:
    """The assignment's Canvas id, from the gradebook export's column "<title> (<id>)", if it has one."""
    for column in read_roster(roster_csv).columns:
        found = re.fullmatch(re.escape(assignment) + r" \((\d+)\)", column)
        if found:
            return int(found[1])
    return None


def why_empty(file: str, totals: pd.Series, grades_name: str) -> str:
    if not file:
        return NO_SUBMISSION
    if file not in totals.index:
        return f"{file} is not in {grades_name}"
    return f"{file} has no total"


def gradescope_claims(roster: pd.DataFrame, students: pd.DataFrame) -> pd.Series:
    """Each gradebook row's submission on Gradescope: by SIS User ID = SID, else SIS Login ID = Email."""
    by_sid = {sid: file for file, sid in students["SID"].items() if sid}
    by_email = {email.lower(): file for file, email in students["Email"].items() if email}
    sis_ids = roster["SIS User ID"] if "SIS User ID" in roster.columns else pd.Series("", index=roster.index)
    return pd.Series(
        [
            by_sid.get(sis_id) or by_email.get(login.lower(), "")
            for sis_id, login in zip(sis_ids, roster["SIS Login ID"], strict=True)
        ],
        index=roster.index,
    )


def read_grades(grades_csv: Path) -> tuple[pd.DataFrame, pd.DataFrame | None, list[str]]:
    """Otter's final grades table; for a Gradescope CSV also its students (SID, Email, label) by
    file, and the submissions whose total is left empty because Gradescope has not graded them."""
    columns = pd.read_csv(grades_csv, nrows=0).columns
    if set(GRADESCOPE_COLUMNS) <= set(columns):
        return read_gradescope(grades_csv)
    grades = csv_cells.read_csv(grades_csv, dtype={SCORES_DICT_FILE_KEY: str})
    has_columns = {SCORES_DICT_FILE_KEY, SCORES_DICT_TOTAL_POINTS_KEY} <= set(grades.columns)
    if not has_columns or POINTS_POSSIBLE_LABEL not in set(grades[SCORES_DICT_FILE_KEY]):
        raise ValueError(
            f"{grades_csv}: not a final_grades.csv in Otter's format (columns {SCORES_DICT_FILE_KEY} and "
            f"{SCORES_DICT_TOTAL_POINTS_KEY}, a {POINTS_POSSIBLE_LABEL} row) nor Gradescope's Download Grades CSV "
            f"(columns {', '.join(GRADESCOPE_COLUMNS)})"
        )
    return grades, None, []


def read_gradescope(grades_csv: Path) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Gradescope's Download Grades CSV as Otter's table, one row per submission named
    ``submission_<Submission ID>`` (the folder of Gradescope's Export Submissions). Students marked
    Missing have no submission; a submission not fully graded gets no total."""
    table = read_text_table(grades_csv)
    maximum = table["Max Points"].unique()
    if len(maximum) != 1:
        raise ValueError(
            f"{grades_csv}: Max Points differs between rows ({', '.join(maximum)}); "
            "download the grades of one assignment"
        )
    submitted = table[table["Status"] != GRADESCOPE_MISSING]
    files = ("submission_" + submitted["Submission ID"]).tolist()
    graded = submitted["Status"] == GRADESCOPE_GRADED
    totals = pd.to_numeric(submitted["Total Score"], errors="coerce").where(graded).tolist()
    possible = float(maximum[0])
    grades = pd.DataFrame(
        {
            SCORES_DICT_FILE_KEY: [POINTS_POSSIBLE_LABEL, *files],
            SCORES_DICT_TOTAL_POINTS_KEY: [possible, *totals],
            SCORES_DICT_PERCENT_CORRECT_KEY: [1, *(round(total / possible, 4) for total in totals)],
            SCORES_DICT_GRADING_STATUS_KEY: ["--", *submitted["Status"]],
        }
    )
    if {"First Name", "Last Name"} <= set(table.columns):
        names = submitted["First Name"] + " " + submitted["Last Name"]
    else:
        names = submitted.get("Name", submitted["Email"])
    labels = [f"{name} ({file})" for name, file in zip(names, files, strict=True)]
    students = pd.DataFrame(
        {"SID": submitted["SID"].tolist(), "Email": submitted["Email"].tolist(), "label": labels}, index=files
    )
    problems = [
        f"{label} is {status} on Gradescope, not {GRADESCOPE_GRADED}"
        for label, status, is_graded in zip(labels, submitted["Status"], graded, strict=True)
        if not is_graded
    ]
    return grades, students, problems


def read_roster(roster_csv: Path) -> pd.DataFrame:
    """The students of Canvas's gradebook export as text (IDs keep their leading zeros, empty cells
    stay empty), without the rows that are not students. Also reads exports saved with a byte-order
    mark or with semicolons (two options of Canvas's export)."""
    header = Path(roster_csv).read_text(encoding="utf-8-sig").partition("\n")[0]
    separator = ";" if header.startswith("Student;") else ","
    roster = pd.read_csv(roster_csv, dtype=str, keep_default_na=False, sep=separator, encoding="utf-8-sig")
    missing = [column for column in REQUIRED_COLUMNS if column not in roster.columns]
    if missing:
        raise ValueError(
            f"{roster_csv}: missing column(s) {', '.join(missing)}. The roster is the CSV of Canvas's "
            f"Grades > Export > Export Entire Gradebook, whose first columns are {', '.join(REQUIRED_COLUMNS)} "
            f"(with SIS User ID when you may see it)."
        )
    points_possible = roster["Student"].str.contains("Points Possible")
    manual_posting = roster.apply(lambda column: column.str.fullmatch(MANUAL_POSTING)).all(axis=1)
    test_student = (roster["Student"] == TEST_STUDENT) & (roster["SIS Login ID"] == "")
    roster = roster[~(points_possible | manual_posting | test_student)].copy()
    if SUBMISSION_COLUMN in roster.columns:
        roster[SUBMISSION_COLUMN] = roster[SUBMISSION_COLUMN].str.strip()
    return roster


def main(args) -> None:
    """The canvas job: the gradebook import file, or (``--post``) each grade and comment through the API."""
    from ..cli import JobError
    from . import canvas_post

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if args.post:
                students = canvas_post.students(
                    args.grades, args.roster, assignment=args.assignment, manual=args.manual
                )
            else:
                export(args.grades, args.roster, args.out, assignment=args.assignment, manual=args.manual)
        except ValueError as error:
            raise JobError(f"error: {error}") from None
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    if not args.post:
        print(f"Canvas import file: {args.out}")
        return
    try:
        outcome = canvas_post.post(
            students,
            url=args.canvas_url,
            course_id=args.course,
            assignment_id=args.assignment_id or assignment_id(args.roster, args.assignment),
            token=canvas_post.token(),
            send=args.yes,
        )
    except ValueError as error:
        raise JobError(f"error: {error} (nothing was posted)") from None
    print(", ".join(f"{len(names)} {kind}" for kind, names in outcome.items() if names) + ".")
    if outcome["would post"] and args.yes:
        print(
            f"Nothing was posted: set {canvas_post.TOKEN_VARIABLE} to post (docs/canvas.md says how to make a token)."
        )
    elif outcome["would post"]:
        print("Dry run: nothing was posted. Run the same command with --yes to post.")
    if outcome["failed"]:
        print("Run the same command again to post what failed: what Canvas already holds is left out.")
