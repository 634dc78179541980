"""The instructor's round trip (issue 12): from Canvas's download to Canvas's import, Q7 included.

The example class (examples/: a Canvas *Download Submissions* zip and an *Export Entire
Gradebook* CSV, made-up students: a late one, one who uploaded again, one who did not submit, one
whose upload is not a notebook) goes through the commands an instructor types, the console script
``exercise-kit``: grade, free-response, the Q7 sheet filled as staff would, canvas. The Canvas
import file is checked cell by cell.
"""

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from exercise_kit.paths import ROOT

EXAMPLES = ROOT / "examples"
COMMAND = Path(sys.executable).with_name("exercise-kit")
Q7 = {  # what staff write in the sheet, by student; Barbara's upload is not a notebook: no score
    "dijkstraedsger": "1",
    "hoppergrace": "2.5",
    "lovelaceada": "3",
    "turingalan": "2",
}


def exercise_kit(*args) -> subprocess.CompletedProcess:
    return subprocess.run([str(COMMAND), *map(str, args)], capture_output=True, text=True, timeout=900, check=True)


@pytest.fixture(scope="module")
def round_trip(browser_tools, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("round-trip")
    graded = exercise_kit("grade", EXAMPLES / "submissions.zip", "--out", tmp / "graded")
    pdfs = exercise_kit("free-response", EXAMPLES / "submissions.zip", "--out", tmp / "free_response")
    sheet = tmp / "free_response" / "q7_scores.csv"
    rows = list(csv.DictReader(sheet.open()))
    for row in rows[1:]:
        row["q7_explanation"] = Q7.get(row["student"], "")
    with sheet.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    canvas = exercise_kit("canvas", tmp / "graded" / "final_grades.csv", EXAMPLES / "gradebook.csv", "--manual", sheet, "--out", tmp / "canvas.csv")
    # The sheet given to grade instead: nothing is graded again (the records are kept), and
    # final_grades.csv gets the Q7 column.
    with_q7 = exercise_kit("grade", EXAMPLES / "submissions.zip", "--out", tmp / "graded", "--manual", sheet)
    return {"grade": graded, "free-response": pdfs, "canvas": canvas, "grade --manual": with_q7, "folder": tmp}


@pytest.mark.browser
@pytest.mark.slow
def test_the_canvas_import_file_holds_each_students_total_with_q7_out_of_23(round_trip):
    with (round_trip["folder"] / "canvas.csv").open() as file:
        table = list(csv.reader(file))
    assert table == [
        ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Exercise 6-3 (LSTM)"],
        ["Points Possible", "", "", "", "", "23.0"],
        ["Dijkstra, Edsger", "1004", "S1004", "edsger", "Section 2", "1.0"],  # the blank template: 0 + Q7
        ["Hopper, Grace", "1003", "S1003", "grace", "Section 2", "17.5"],  # her newer upload: 15 + 2.5
        ["Knuth, Donald", "1006", "S1006", "donald", "Section 1", ""],  # no submission: no grade, not 0
        ["Liskov, Barbara", "1005", "S1005", "barbara", "Section 2", ""],  # not a notebook, no Q7 score
        ["Lovelace, Ada", "1001", "S1001", "ada", "Section 1", "23.0"],
        ["Turing, Alan", "1002", "S1002", "alan", "Section 1", "22.0"],  # late: graded, and said so
    ]  # the test student (Student, Test) is left out


@pytest.mark.browser
@pytest.mark.slow
def test_grade_keeps_each_students_newest_file_marks_late_ones_and_prints_only_progress_and_a_summary(round_trip):
    graded = round_trip["grade"]
    with (round_trip["folder"] / "graded" / "final_grades.csv").open() as file:
        status = {row["file"]: row["grading_status"] for row in csv.DictReader(file)}
    assert status["turingalan_LATE_1002_50002_exercise-6-3-lstm.zip"] == "Completed; late"
    assert "hoppergrace_1003_50003_exercise-6-3-lstm.ipynb" not in status
    assert "not graded: hoppergrace_1003_50003_exercise-6-3-lstm.ipynb (the same student's newer file was)" in graded.stdout
    assert graded.stdout.startswith("5 submissions graded: 4 Completed, 1 Invalid submission (1 late)")
    assert not any(noise in graded.stdout + graded.stderr for noise in ("oneDNN", "I0000", "absl", "tensorflow"))


@pytest.mark.browser
@pytest.mark.slow
def test_free_response_gives_every_notebook_a_pdf_and_the_upload_that_is_none_a_line(round_trip):
    folder, printed = round_trip["folder"] / "free_response", round_trip["free-response"].stdout
    assert sorted(pdf.name for pdf in folder.glob("*.pdf")) == [
        "dijkstraedsger_1004_50004_exercise-6-3-lstm.pdf",
        "hoppergrace_1003_50013_exercise-6-3-lstm-1.pdf",
        "lovelaceada_1001_50001_exercise-6-3-lstm.pdf",
        "q7_all_students.pdf",
        "turingalan_LATE_1002_50002_exercise-6-3-lstm.pdf",
    ]
    assert "unreadable: liskovbarbara_1005_50005_answers.txt: not a notebook" in printed


@pytest.mark.browser
@pytest.mark.slow
def test_canvas_lists_the_students_whose_cell_is_empty_and_why(round_trip):
    warnings = round_trip["canvas"].stderr
    assert "Knuth, Donald (no submission)" in warnings
    assert "liskovbarbara_1005_50005_answers.txt: the q7_explanation score in q7_scores.csv is empty" in warnings


@pytest.mark.browser
@pytest.mark.slow
def test_grade_with_the_filled_sheet_adds_q7_to_final_grades_out_of_23(round_trip):
    with (round_trip["folder"] / "graded" / "final_grades.csv").open() as file:
        grades = {row["file"]: row for row in csv.DictReader(file)}
    points = grades["points-per-question"]
    assert (points["q7_explanation"], points["total_points_earned"]) == ("3.0", "23.0")
    ada, grace = grades["lovelaceada_1001_50001_exercise-6-3-lstm.ipynb"], grades["hoppergrace_1003_50013_exercise-6-3-lstm-1.ipynb"]
    assert (ada["q7_explanation"], ada["total_points_earned"]) == ("3.0", "23.0")
    assert (grace["q7_explanation"], grace["total_points_earned"]) == ("2.5", "17.5")
    barbara = grades["liskovbarbara_1005_50005_answers.txt"]
    assert (barbara["q7_explanation"], barbara["total_points_earned"]) == ("", "")  # no score: no total, not 0
    assert "manual score: liskovbarbara_1005_50005_answers.txt" in round_trip["grade --manual"].stdout


@pytest.mark.parametrize("job", ["build", "grade", "run-autograder", "free-response", "canvas"])
def test_every_jobs_help_shows_an_example(job):
    assert f"example:\n  exercise-kit {job}" in exercise_kit(job, "--help").stdout


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("file", ["lovelaceada_1001_50001_exercise-6-3-lstm.ipynb", "turingalan_LATE_1002_50002_exercise-6-3-lstm.zip"])
def test_a_correct_examples_feedback_shows_what_a_student_sees_and_nothing_hidden(round_trip, file):
    """The example notebooks are made from the student template and run, as students make them."""
    feedback = (round_trip["folder"] / "graded" / "submissions" / file / "feedback.md").read_text()
    assert "**20 / 20**" in feedback and "q1_data results: All test cases passed!" in feedback
    assert not any(word in feedback for word in ("Traceback", "Error", "run_check", "lstm_checks")), feedback
