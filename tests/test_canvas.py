"""Canvas gradebook export: the roster's students with their total points, as Canvas's gradebook import reads it."""

import io
import warnings

import pandas as pd
import pytest

from exercise_kit.__main__ import main
from exercise_kit.canvas import export

# final_grades.csv as the report (and ``otter grade``) writes it, questions left out for brevity.
GRADES = """\
file,total_points_earned,percent_correct,grading_status
points-per-question,20,1.0,--
ada.ipynb,20,1.0,Completed
alan.zip,15.5,0.775,Completed
stray.ipynb,3,0.15,Completed
"""
ROSTER = """\
Student,ID,SIS User ID,SIS Login ID,Section,submission,Email
"Lovelace, Ada",101,0042,ada,Section A,ada.ipynb,ada@example.edu
"Turing, Alan",102,0043,alan,Section A,alan.zip,alan@example.edu
"Hopper, Grace",103,0044,grace,Section B,,grace@example.edu
"Noether, Emmy",104,0045,emmy,Section B,emmy.ipynb,emmy@example.edu
"""
# Header as Canvas exports it and reads it back; the Points Possible row sets the assignment's points.
CANVAS = """\
Student,ID,SIS User ID,SIS Login ID,Section,Exercise 6-3 (LSTM)
Points Possible,,,,,20.0
"Lovelace, Ada",101,0042,ada,Section A,20.0
"Turing, Alan",102,0043,alan,Section A,15.5
"Hopper, Grace",103,0044,grace,Section B,
"Noether, Emmy",104,0045,emmy,Section B,
"""


@pytest.fixture
def files(tmp_path):
    (tmp_path / "final_grades.csv").write_text(GRADES)
    (tmp_path / "roster.csv").write_text(ROSTER)
    return tmp_path / "final_grades.csv", tmp_path / "roster.csv", tmp_path / "canvas.csv"


def test_export_writes_the_roster_with_total_points_and_empty_cells_for_the_ungraded(files):
    grades, roster, out = files
    with pytest.warns(UserWarning):
        table = export(grades, roster, out, assignment="Exercise 6-3 (LSTM)")
    assert out.read_text() == CANVAS
    assert table.to_csv(index=False) == CANVAS


def test_export_names_students_without_a_grade_and_submissions_no_student_claims(files):
    grades, roster, out = files
    with pytest.warns(UserWarning) as caught:
        export(grades, roster, out, assignment="Exercise 6-3 (LSTM)")
    messages = [str(warning.message) for warning in caught]
    assert messages == [
        "2 student(s) get an empty cell: Hopper, Grace (no submission); Noether, Emmy (emmy.ipynb is not in final_grades.csv)",
        "1 graded submission(s) that no roster row claims: stray.ipynb",
    ]


def test_export_is_quiet_when_roster_and_grades_match(tmp_path):
    (tmp_path / "final_grades.csv").write_text(GRADES)
    roster = pd.read_csv(io.StringIO(ROSTER), dtype=str, keep_default_na=False).iloc[:3]
    roster.loc[2, "submission"] = "stray.ipynb"  # Grace submitted it; Emmy left the course
    roster.to_csv(tmp_path / "roster.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = export(tmp_path / "final_grades.csv", tmp_path / "roster.csv", tmp_path / "canvas.csv", assignment="Lab 6")
    assert table["Lab 6"].tolist() == [20, 20, 15.5, 3]  # the Points Possible row, then the students


def test_a_roster_without_the_required_columns_is_refused(tmp_path, files):
    grades, _, out = files
    (tmp_path / "short.csv").write_text("Student,ID,SIS User ID,Section\nAda,101,0042,A\n")
    with pytest.raises(ValueError, match="missing column\\(s\\) SIS Login ID, submission"):
        export(grades, tmp_path / "short.csv", out, assignment="Lab 6")
    assert not out.exists()


def test_a_grades_file_not_in_otters_format_is_refused(tmp_path, files):
    _, roster, out = files
    (tmp_path / "scores.csv").write_text("file,score\nada.ipynb,20\n")
    with pytest.raises(ValueError, match="not a final_grades.csv in Otter's format"):
        export(tmp_path / "scores.csv", roster, out, assignment="Lab 6")


def test_command_line_canvas_job(files, capsys):
    grades, roster, out = files
    main(["canvas", str(grades), str(roster), "--out", str(out)])
    assert out.read_text() == CANVAS
    assert capsys.readouterr().err.startswith("warning: "), "the warnings reach the instructor as plain lines"
