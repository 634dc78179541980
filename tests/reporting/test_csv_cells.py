"""No formulas in the kit's CSV files (issue 19): a text cell a spreadsheet would run is written as text.

A student names their notebook as a formula; it is graded for real (one submission), and every
CSV the kit writes about it (final_grades.csv, the summary's tables, the Q7 sheet, the Canvas
import file) holds the name with a quote in front, which the kit itself reads back as the name.
"""

import csv
import io
import shutil
import warnings

import pandas as pd
import pytest

from corpus.variants import SOLUTION
from exercise_kit.reporting import csv_cells
from exercise_kit.lms.canvas import export
from exercise_kit.grading.batch import grade_folder
from exercise_kit.reporting.manual import merge, write_sheet

FORMULA = '=HYPERLINK("example.com","open").ipynb'  # "/" cannot be in a file name: no "http://"


def cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


@pytest.mark.parametrize("text", ["=1+2", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "'=1+2"])
def test_a_cell_a_spreadsheet_would_run_is_written_with_a_quote_and_read_back_as_it_was(text):
    written = csv_cells.to_csv(pd.DataFrame({"file": [text], "points": [1.5]}))
    assert cells(written)[1] == ["'" + text, "1.5"]
    assert csv_cells.read_csv(io.StringIO(written))["file"].tolist() == [text]


def test_a_cell_starting_with_a_carriage_return_is_quoted_too():
    assert csv_cells.as_text("\rx") == "'\rx" and csv_cells.from_text("'\rx") == "\rx"


@pytest.mark.parametrize("text", ["-1", "+2.5", "--", "lovelaceada_1001_50001_exercise-6-3-lstm.ipynb", "a=b", "'quoted'"])
def test_numbers_and_plain_text_are_written_as_they_are(text):
    written = csv_cells.to_csv(pd.DataFrame({"file": [text], "points": [-1.0]}))
    assert cells(written)[1] == [text, "-1.0"]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("formula")
    (tmp / "submissions").mkdir()
    shutil.copy(SOLUTION, tmp / "submissions" / FORMULA)
    grades = grade_folder(tmp / "submissions", tmp / "graded", workers=1)
    return tmp, grades


@pytest.mark.slow
def test_a_submission_named_as_a_formula_is_graded_and_its_name_is_text_in_every_csv(graded):
    tmp, grades = graded
    assert grades.set_index("file").at[FORMULA, "total_points_earned"] == 20
    assert cells((tmp / "graded" / "final_grades.csv").read_text())[2][0] == "'" + FORMULA
    for table in [tmp / "graded" / "final_grades.csv", *(tmp / "graded" / "summary").glob("*.csv")]:
        for cell in sum(cells(table.read_text()), []):
            assert not cell.startswith(csv_cells.FORMULA_STARTS) or csv_cells.HARMLESS.fullmatch(cell), (table.name, cell)

    sheet = tmp / "q7_scores.csv"
    write_sheet(sheet, {FORMULA: "=cmd|' /C calc'!A0"}, {"q7_explanation": 3})
    assert cells(sheet.read_text())[2][:2] == ["'" + FORMULA, "'=cmd|' /C calc'!A0"]
    sheet.write_text(sheet.read_text().replace("calc'!A0,,", "calc'!A0,2.5,"))  # staff score it
    merged, problems = merge(grades, sheet)
    assert problems == [] and merged.set_index("file").at[FORMULA, "total_points_earned"] == 22.5

    roster = tmp / "roster.csv"
    roster.write_text(f'Student,ID,SIS Login ID,Section,submission\n"@Mallory",1,mallory,A,"{FORMULA.replace(chr(34), chr(34) * 2)}"\n')
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the name matched: no empty cell, nothing unclaimed
        export(tmp / "graded" / "final_grades.csv", roster, tmp / "canvas.csv", assignment="Exercise 6-3 (LSTM)", manual=sheet)
    assert cells((tmp / "canvas.csv").read_text())[2] == ["'@Mallory", "1", "mallory", "A", "22.5"]
