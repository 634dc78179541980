"""Scores given by hand (Q7, from the PDFs) merged into Otter's final grades table.

The free-response job writes a scoring sheet beside the PDFs: the columns ``SHEET_COLUMNS``, a
first row ``points-per-question`` that gives the points of each manual question, then one row
per submission, named as in the ``file`` column of ``final_grades.csv``. Staff fill the scores
(and comments, for themselves). The manual questions are the sheet's columns other than
``file``, ``student`` and ``comment``, so a sheet with a second question needs no code here.
"""

import math
from pathlib import Path

import nbformat
import pandas as pd
import yaml
from otter.grade.utils import (
    POINTS_POSSIBLE_LABEL,
    SCORES_DICT_FILE_KEY,
    SCORES_DICT_GRADING_STATUS_KEY,
    SCORES_DICT_PERCENT_CORRECT_KEY,
    SCORES_DICT_TOTAL_POINTS_KEY,
)

from ..paths import MASTER_NOTEBOOK
from . import csv_cells

FILE_COLUMN = SCORES_DICT_FILE_KEY
STUDENT_COLUMN = "student"
COMMENT_COLUMN = "comment"
SHEET_COLUMNS = f"{FILE_COLUMN}, {STUDENT_COLUMN}, one column per manual question, {COMMENT_COLUMN}"
NOT_QUESTIONS = {FILE_COLUMN, STUDENT_COLUMN, COMMENT_COLUMN}
SUMMARY_COLUMNS = [SCORES_DICT_TOTAL_POINTS_KEY, SCORES_DICT_PERCENT_CORRECT_KEY, SCORES_DICT_GRADING_STATUS_KEY]


def manual_questions(master: Path = MASTER_NOTEBOOK) -> dict[str, float]:
    """{question: points} of the questions graded by hand, as the master notebook declares them:
    an Otter Assign ``# BEGIN QUESTION`` cell whose YAML says ``manual: true``."""
    questions = {}
    for cell in nbformat.read(master, as_version=4).cells:
        first, _, config = cell.source.partition("\n")
        if cell.cell_type in ("raw", "markdown") and first.strip() == "# BEGIN QUESTION":
            question = yaml.safe_load(config) or {}
            if question.get("manual"):
                questions[question["name"]] = question["points"]
    return questions


def write_sheet(path: Path, students: dict[str, str], points: dict[str, float]) -> pd.DataFrame:
    """Write the scoring sheet for ``students`` (file name -> display name, "" if unknown).

    Rows already in the sheet are kept as they are and only new files are added, so that running
    the free-response job again never erases a score. Returns the sheet as written.
    """
    path = Path(path)
    if path.exists():
        sheet = read_text_table(path)
    else:
        points_row = {question: f"{possible:g}" for question, possible in points.items()}
        sheet = pd.DataFrame(
            [{FILE_COLUMN: POINTS_POSSIBLE_LABEL, STUDENT_COLUMN: "", **points_row, COMMENT_COLUMN: ""}]
        )
    known = set(sheet[FILE_COLUMN])
    new = pd.DataFrame(
        [{FILE_COLUMN: file, STUDENT_COLUMN: name} for file, name in students.items() if file not in known],
        columns=sheet.columns,
        dtype=object,
    )
    sheet = pd.concat([sheet, new], ignore_index=True).fillna("")
    path.parent.mkdir(parents=True, exist_ok=True)
    csv_cells.to_csv(sheet, path)
    return sheet


def read_sheet(path: Path) -> tuple[dict[str, float], pd.DataFrame]:
    """The points of each manual question, and the submissions' rows (as text) indexed by file.

    A sheet without manual questions or without their points cannot be graded from: refused.
    """
    path = Path(path)
    sheet = read_text_table(path)
    if FILE_COLUMN not in sheet.columns:
        raise ValueError(f"{path}: no {FILE_COLUMN} column; a scoring sheet has the columns {SHEET_COLUMNS}")
    questions = [column for column in sheet.columns if column not in NOT_QUESTIONS]
    points_rows = sheet[sheet[FILE_COLUMN] == POINTS_POSSIBLE_LABEL]
    if not questions or len(points_rows) != 1:
        raise ValueError(
            f"{path}: a scoring sheet has a column per manual question (as {SHEET_COLUMNS}) "
            f"and one {POINTS_POSSIBLE_LABEL} row giving their points"
        )
    points = {}
    for question in questions:
        possible = number(points_rows.iloc[0][question])
        if possible is None or possible <= 0:
            raise ValueError(f"{path}: the {POINTS_POSSIBLE_LABEL} row gives no points for {question}")
        points[question] = possible
    return points, sheet[sheet[FILE_COLUMN] != POINTS_POSSIBLE_LABEL].set_index(FILE_COLUMN)


def merge(grades: pd.DataFrame, sheet: Path) -> tuple[pd.DataFrame, list[str]]:
    """``grades`` (Otter's final grades table) with the sheet's manual questions, and the problems found.

    The manual columns come after the auto-graded questions; the totals and percentages count
    them. A submission whose manual score is blank, not a number, negative or over the question's
    points, or that the sheet lacks, gets empty cells for that question and for its total and
    percent (never a 0 nobody gave), and a one-sentence problem; so do sheet rows that name no
    graded submission.
    """
    sheet = Path(sheet)
    points, scores = read_sheet(sheet)
    already = [question for question in points if question in grades.columns]
    if already:
        raise ValueError(
            f"the grades already have a column {', '.join(already)}: were they merged with a sheet before?"
        )
    problems = []
    repeated = scores.index[scores.index.duplicated()].unique()
    problems += [f"{sheet.name} has {(scores.index == file).sum()} rows for {file}" for file in repeated]
    scores = scores.drop(repeated)

    is_points_row = grades[FILE_COLUMN] == POINTS_POSSIBLE_LABEL
    manual = pd.DataFrame(index=grades.index, columns=list(points), dtype=float)
    manual.loc[is_points_row] = list(points.values())
    for index, file in grades.loc[~is_points_row, FILE_COLUMN].items():
        if file in repeated:
            continue
        if file not in scores.index:
            problems.append(f"{file} is not in {sheet.name}")
            continue
        for question, possible in points.items():
            score, problem = checked_score(scores.at[file, question], possible)
            if problem:
                problems.append(f"{file}: the {question} score in {sheet.name} {problem}")
            else:
                manual.at[index, question] = score
    graded = set(grades[FILE_COLUMN])
    problems += [
        f"{sheet.name} has a row for {file}, which is not a graded submission"
        for file in scores.index
        if file not in graded
    ]

    complete = manual.notna().all(axis=1)
    total = (grades[SCORES_DICT_TOTAL_POINTS_KEY] + manual.sum(axis=1)).where(complete).round(5)
    possible = total[is_points_row].iloc[0]
    merged = pd.concat([grades.drop(columns=SUMMARY_COLUMNS), manual], axis=1)
    merged[SCORES_DICT_TOTAL_POINTS_KEY] = total
    merged[SCORES_DICT_PERCENT_CORRECT_KEY] = (total / possible).round(4)
    merged[SCORES_DICT_GRADING_STATUS_KEY] = grades[SCORES_DICT_GRADING_STATUS_KEY]
    return merged, problems


def checked_score(cell: str, possible: float) -> tuple[float | None, str | None]:
    """The score written in ``cell``, or why it cannot be used."""
    if not cell.strip():
        return None, "is empty"
    score = number(cell)
    if score is None:
        return None, f"is {cell!r}, not a number"
    if not 0 <= score <= possible:
        return None, f"is {score:g}, not between 0 and {possible:g}"
    return score, None


def number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def read_text_table(path: Path) -> pd.DataFrame:
    """A CSV as text, empty cells empty (not NaN), cells stripped: what staff typed, to be checked."""
    return csv_cells.read_csv(path, dtype=str, keep_default_na=False).apply(lambda column: column.str.strip())
