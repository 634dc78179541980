"""Canvas gradebook export: the gradebook's students with their total points, as Canvas's gradebook
import reads it, from Canvas's own gradebook export, the grades (Otter's or Gradescope's) and the
Q7 scoring sheet."""

import io
import warnings

import pandas as pd
import pytest

from exercise_kit.cli import main
from exercise_kit.lms.canvas import export

ASSIGNMENT = "Exercise 6-3 (LSTM)"

# Grades > Export > Export Entire Gradebook, unchanged: the manual-posting row, the Points Possible
# row, custom and read-only columns, and the test student last (lib/gradebook_exporter.rb).
GRADEBOOK = """\
Student,ID,SIS User ID,SIS Login ID,Section,Notes,Exercise 6-3 (LSTM) (5501),Quiz 1 (5502),Current Score,Unposted Current Score,Final Score,Unposted Final Score
,,,,,,Manual Posting,,,,,
    Points Possible,,,,,(read only),23.00,5.00,(read only),(read only),(read only),(read only)
"Lovelace, Ada",101,0042,ada@example.edu,Section A,,,5.00,100.00,100.00,20.00,20.00
"Turing, Alan",102,0043,alan@example.edu,Section A,,,4.00,80.00,80.00,16.00,16.00
"Hopper, Grace",103,0044,grace@example.edu,Section B,,,,,,0.00,0.00
"Noether, Emmy",104,0045,emmy@example.edu,Section B,audits,,5.00,100.00,100.00,20.00,20.00
"Student, Test",110,,,Section A,,,,,,0.00,0.00
"""
# final_grades.csv of the Canvas download (questions left out for brevity): Alan submitted late,
# Emmy uploaded her notebook again (Canvas renamed it -1), Grace did not submit, and someone who
# is not in the gradebook (dropped the course) did.
GRADES = """\
file,total_points_earned,percent_correct,grading_status
points-per-question,20,1.0,--
lovelaceada_101_9001_exercise-6-3-lstm.zip,20,1.0,Completed
noetheremmy_104_9003_exercise-6-3-lstm-1.ipynb,18,0.9,Completed
strayperson_999_9004_exercise-6-3-lstm.zip,3,0.15,Completed
turingalan_LATE_102_9002_exercise-6-3-lstm.zip,15.5,0.775,Completed
"""
# The Q7 sheet once staff filled it: Alan's score forgotten, the stray submission's not a number.
SHEET = """\
file,student,q7_explanation,comment
points-per-question,,3,
lovelaceada_101_9001_exercise-6-3-lstm.zip,"Lovelace, Ada",2.5,
turingalan_LATE_102_9002_exercise-6-3-lstm.zip,"Turing, Alan",,
noetheremmy_104_9003_exercise-6-3-lstm-1.ipynb,"Noether, Emmy",3,
strayperson_999_9004_exercise-6-3-lstm.zip,,three,
"""
# What Canvas's import reads: the student columns, the assignment, its points; no test student.
CANVAS = """\
Student,ID,SIS User ID,SIS Login ID,Section,Exercise 6-3 (LSTM)
Points Possible,,,,,20.0
"Lovelace, Ada",101,0042,ada@example.edu,Section A,20.0
"Turing, Alan",102,0043,alan@example.edu,Section A,15.5
"Hopper, Grace",103,0044,grace@example.edu,Section B,
"Noether, Emmy",104,0045,emmy@example.edu,Section B,18.0
"""
CANVAS_WITH_Q7 = """\
Student,ID,SIS User ID,SIS Login ID,Section,Exercise 6-3 (LSTM)
Points Possible,,,,,23.0
"Lovelace, Ada",101,0042,ada@example.edu,Section A,22.5
"Turing, Alan",102,0043,alan@example.edu,Section A,
"Hopper, Grace",103,0044,grace@example.edu,Section B,
"Noether, Emmy",104,0045,emmy@example.edu,Section B,21.0
"""
STRAY = "1 graded submission(s) that no roster row claims: strayperson_999_9004_exercise-6-3-lstm.zip"


@pytest.fixture
def files(tmp_path):
    (tmp_path / "final_grades.csv").write_text(GRADES)
    (tmp_path / "gradebook.csv").write_text(GRADEBOOK)
    (tmp_path / "q7_scores.csv").write_text(SHEET)
    return tmp_path / "final_grades.csv", tmp_path / "gradebook.csv", tmp_path / "canvas.csv"


def messages(caught) -> list[str]:
    return [str(warning.message) for warning in caught]


def test_canvas_gradebook_export_is_the_roster_and_students_are_matched_by_their_canvas_user_id(files):
    grades, gradebook, out = files
    with pytest.warns(UserWarning) as caught:
        result = export(grades, gradebook, out, assignment=ASSIGNMENT)
    assert out.read_text() == CANVAS
    assert result.table.to_csv(index=False) == CANVAS
    assert messages(caught) == ["1 student(s) get an empty cell: Hopper, Grace (no submission)", STRAY]
    assert result.empty == ["Hopper, Grace (no submission)"]
    assert result.unclaimed == ["strayperson_999_9004_exercise-6-3-lstm.zip"]


def test_with_the_q7_sheet_each_cell_is_out_of_23_and_a_missing_or_invalid_score_leaves_it_empty(files):
    grades, gradebook, out = files
    with pytest.warns(UserWarning) as caught:
        result = export(grades, gradebook, out, assignment=ASSIGNMENT, manual=grades.parent / "q7_scores.csv")
    assert out.read_text() == CANVAS_WITH_Q7
    assert messages(caught) == [
        "2 problem(s) with the grades: "
        "strayperson_999_9004_exercise-6-3-lstm.zip: the q7_explanation score in q7_scores.csv is 'three', not a number; "
        "turingalan_LATE_102_9002_exercise-6-3-lstm.zip: the q7_explanation score in q7_scores.csv is empty",
        "2 student(s) get an empty cell: "
        "Turing, Alan (turingalan_LATE_102_9002_exercise-6-3-lstm.zip has no total); Hopper, Grace (no submission)",
        STRAY,
    ]
    assert len(result.problems) == 2


def test_of_several_files_of_one_student_the_newest_counts(tmp_path):
    (tmp_path / "final_grades.csv").write_text(
        "file,total_points_earned,percent_correct,grading_status\n"
        "points-per-question,20,1.0,--\n"
        "lovelaceada_101_9001_exercise-6-3-lstm-1.ipynb,11,0.55,Completed\n"
        "lovelaceada_101_9007_exercise-6-3-lstm.zip,20,1.0,Completed\n"  # a later submission
        "noetheremmy_104_9003_exercise-6-3-lstm.ipynb,12,0.6,Completed\n"
        "noetheremmy_104_9003_exercise-6-3-lstm-1.ipynb,18,0.9,Completed\n"  # the same one, uploaded again
    )
    (tmp_path / "gradebook.csv").write_text(GRADEBOOK)
    with pytest.warns(UserWarning) as caught:
        result = export(tmp_path / "final_grades.csv", tmp_path / "gradebook.csv", tmp_path / "canvas.csv", assignment="Lab 6")
    assert result.table["Lab 6"].tolist()[:2] == [20, 20]
    assert result.table["Lab 6"].tolist()[4] == 18
    assert result.unclaimed == [], "older files of a student are not strays"
    assert "Turing, Alan (no submission); Hopper, Grace (no submission)" in messages(caught)[0]


def test_a_gradebook_saved_with_semicolons_and_a_byte_order_mark_reads_the_same(files):
    grades, gradebook, out = files
    table = pd.read_csv(io.StringIO(GRADEBOOK), dtype=str, keep_default_na=False)
    gradebook.write_text("\ufeff" + table.to_csv(index=False, sep=";"))
    with pytest.warns(UserWarning):
        export(grades, gradebook, out, assignment=ASSIGNMENT)
    assert out.read_text() == CANVAS


def test_grades_whose_files_canvas_did_not_name_need_the_submission_column(tmp_path, files):
    _, gradebook, out = files
    (tmp_path / "plain.csv").write_text(GRADES_BY_FILE)
    with pytest.raises(ValueError, match="add a submission column to the roster"):
        export(tmp_path / "plain.csv", gradebook, out, assignment="Lab 6")
    assert not out.exists()


# The form for grades of other sources: a roster made by hand with a submission column naming each
# student's file in final_grades.csv.
GRADES_BY_FILE = """\
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
CANVAS_BY_FILE = """\
Student,ID,SIS User ID,SIS Login ID,Section,Exercise 6-3 (LSTM)
Points Possible,,,,,20.0
"Lovelace, Ada",101,0042,ada,Section A,20.0
"Turing, Alan",102,0043,alan,Section A,15.5
"Hopper, Grace",103,0044,grace,Section B,
"Noether, Emmy",104,0045,emmy,Section B,
"""


@pytest.fixture
def roster_files(tmp_path):
    (tmp_path / "final_grades.csv").write_text(GRADES_BY_FILE)
    (tmp_path / "roster.csv").write_text(ROSTER)
    return tmp_path / "final_grades.csv", tmp_path / "roster.csv", tmp_path / "canvas.csv"


def test_a_roster_with_a_submission_column_matches_students_by_file_name(roster_files):
    grades, roster, out = roster_files
    with pytest.warns(UserWarning) as caught:
        result = export(grades, roster, out, assignment=ASSIGNMENT)
    assert out.read_text() == CANVAS_BY_FILE
    assert result.table.to_csv(index=False) == CANVAS_BY_FILE
    assert messages(caught) == [
        "2 student(s) get an empty cell: Hopper, Grace (no submission); Noether, Emmy (emmy.ipynb is not in final_grades.csv)",
        "1 graded submission(s) that no roster row claims: stray.ipynb",
    ]


def test_export_is_quiet_when_roster_and_grades_match(tmp_path):
    (tmp_path / "final_grades.csv").write_text(GRADES_BY_FILE)
    roster = pd.read_csv(io.StringIO(ROSTER), dtype=str, keep_default_na=False).iloc[:3]
    roster.loc[2, "submission"] = "stray.ipynb"  # Grace submitted it; Emmy left the course
    roster.to_csv(tmp_path / "roster.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = export(tmp_path / "final_grades.csv", tmp_path / "roster.csv", tmp_path / "canvas.csv", assignment="Lab 6")
    assert result.table["Lab 6"].tolist() == [20, 20, 15.5, 3]  # the Points Possible row, then the students
    assert (result.empty, result.unclaimed, result.problems) == ([], [], [])


def test_a_submission_the_kit_failed_to_grade_gets_an_empty_cell_not_a_0(files):
    grades, gradebook, out = files
    grades.write_text(GRADES.replace("20,1.0,Completed", "0,0.0,Grader error: BrokenProcessPool: A child process terminated abruptly"))
    with pytest.warns(UserWarning):
        result = export(grades, gradebook, out, assignment=ASSIGNMENT)
    assert pd.isna(result.table.set_index("ID").at["101", ASSIGNMENT])
    assert result.problems == ["lovelaceada_101_9001_exercise-6-3-lstm.zip was not graded: Grader error: BrokenProcessPool: A child process terminated abruptly"]


def test_a_roster_without_the_required_columns_is_refused(tmp_path, roster_files):
    grades, _, out = roster_files
    (tmp_path / "short.csv").write_text("Student,ID,SIS User ID,Section\nAda,101,0042,A\n")
    with pytest.raises(ValueError, match="missing column\\(s\\) SIS Login ID"):
        export(grades, tmp_path / "short.csv", out, assignment="Lab 6")
    assert not out.exists()


def test_a_grades_file_in_neither_format_is_refused(tmp_path, roster_files):
    _, roster, out = roster_files
    (tmp_path / "scores.csv").write_text("file,score\nada.ipynb,20\n")
    with pytest.raises(ValueError, match="not a final_grades.csv in Otter's format .* nor Gradescope's Download Grades CSV"):
        export(tmp_path / "scores.csv", roster, out, assignment="Lab 6")


# Gradescope's Download Grades CSV of the assignment with Q7 as its second question: Ada's email on
# Gradescope is not her Canvas login (her SID matches), Emmy has no SID (her email matches), Alan's
# Q7 is not graded yet, Grace did not submit.
GRADESCOPE = """\
First Name,Last Name,SID,Email,Sections,Total Score,Max Points,Status,Submission ID,Submission Time,Lateness (H:M:S),View Count,Submission Count,1: Autograder (20.0 pts),2: Q7 (3.0 pts)
Ada,Lovelace,0042,ada.lovelace@mail.example.com,Section A,22.5,23.0,Graded,301,2025-03-03 10:00:00 -0500,00:00:00,1,2,20.0,2.5
Alan,Turing,0043,alan@example.edu,Section A,15.5,23.0,Ungraded,302,2025-03-04 09:12:00 -0500,10:12:00,0,1,15.5,
Grace,Hopper,0044,grace@example.edu,Section B,,23.0,Missing,,,,0,0,,
Emmy,Noether,,EMMY@example.edu,Section B,21.0,23.0,Graded,304,2025-03-03 11:00:00 -0500,00:00:00,1,1,18.0,3.0
Stray,Person,0999,stray@example.edu,,3.0,23.0,Graded,305,2025-03-03 12:00:00 -0500,00:00:00,0,1,3.0,0.0
"""


def test_gradescope_grades_match_students_by_sis_user_id_or_login(files):
    _, gradebook, out = files
    (gradebook.parent / "scores.csv").write_text(GRADESCOPE)
    with pytest.warns(UserWarning) as caught:
        export(gradebook.parent / "scores.csv", gradebook, out, assignment=ASSIGNMENT)
    assert out.read_text() == CANVAS_WITH_Q7
    assert messages(caught) == [
        "1 problem(s) with the grades: Alan Turing (submission_302) is Ungraded on Gradescope, not Graded",
        "2 student(s) get an empty cell: Turing, Alan (submission_302 has no total); Hopper, Grace (no submission)",
        "1 graded submission(s) that no roster row claims: Stray Person (submission_305)",
    ]


def test_gradescope_grades_take_q7_from_the_sheet_when_it_is_graded_outside_gradescope(files):
    _, gradebook, out = files
    autograder_only = pd.read_csv(io.StringIO(GRADESCOPE), dtype=str, keep_default_na=False)
    autograder_only = autograder_only.drop(columns="2: Q7 (3.0 pts)").assign(**{"Max Points": "20.0", "Status": "Graded"})
    autograder_only["Total Score"] = autograder_only["1: Autograder (20.0 pts)"]
    autograder_only.loc[2, "Status"] = "Missing"
    autograder_only.to_csv(gradebook.parent / "scores.csv", index=False)
    (gradebook.parent / "q7.csv").write_text(
        "file,student,q7_explanation,comment\npoints-per-question,,3,\n"
        "submission_301,,2.5,\nsubmission_302,,,\nsubmission_304,,3,\nsubmission_305,,0,\n"
    )
    with pytest.warns(UserWarning):
        result = export(gradebook.parent / "scores.csv", gradebook, out, assignment=ASSIGNMENT, manual=gradebook.parent / "q7.csv")
    assert out.read_text() == CANVAS_WITH_Q7
    assert result.problems == ["submission_302: the q7_explanation score in q7.csv is empty"]


def test_command_line_canvas_job(roster_files, capsys):
    grades, roster, out = roster_files
    main(["canvas", str(grades), str(roster), "--out", str(out)])
    assert out.read_text() == CANVAS_BY_FILE
    assert capsys.readouterr().err.startswith("warning: "), "the warnings reach the instructor as plain lines"
