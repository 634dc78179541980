"""Manual scores (Q7) merged into the final grades: every total counts them, and a score that is
missing or invalid leaves that submission's total empty, never a silent 0."""

import io

import pandas as pd
import pytest

from exercise_kit.reporting.manual import manual_questions, merge, read_sheet, write_sheet

# final_grades.csv as the report writes it, with two of its questions.
GRADES = """\
file,q1_data,q2_model,total_points_earned,percent_correct,grading_status
points-per-question,2,3,5,1,--
ada.ipynb,2,3,5,1.0,Completed
alan.zip,2,1.5,3.5,0.7,Completed
grace.ipynb,2,0,2,0.4,Completed
emmy.ipynb,0,3,3,0.6,Completed
kurt.ipynb,2,3,5,1.0,Completed
edsger.ipynb,1,0,1,0.2,Timeout after 480 s
"""
# The sheet as staff fill it: Alan's score forgotten, Grace's and Emmy's out of range, Kurt's not a
# number, Edsger's row missing, and a row for a file that was never graded.
SHEET = """\
file,student,q7_explanation,comment
points-per-question,,3,
ada.ipynb,"Lovelace, Ada",2.5,good
alan.zip,"Turing, Alan",,
grace.ipynb,,-1,
emmy.ipynb,,4,
kurt.ipynb,,"2,5",
ghost.ipynb,,3,
"""
MERGED = """\
file,q1_data,q2_model,q7_explanation,total_points_earned,percent_correct,grading_status
points-per-question,2,3.0,3.0,8.0,1.0,--
ada.ipynb,2,3.0,2.5,7.5,0.9375,Completed
alan.zip,2,1.5,,,,Completed
grace.ipynb,2,0.0,,,,Completed
emmy.ipynb,0,3.0,,,,Completed
kurt.ipynb,2,3.0,,,,Completed
edsger.ipynb,1,0.0,,,,Timeout after 480 s
"""


def grades() -> pd.DataFrame:
    return pd.read_csv(io.StringIO(GRADES))


@pytest.fixture
def sheet(tmp_path):
    (tmp_path / "q7_scores.csv").write_text(SHEET)
    return tmp_path / "q7_scores.csv"


def test_merge_adds_the_manual_question_after_the_others_and_counts_it_in_totals_out_of_the_new_maximum(sheet):
    merged, _ = merge(grades(), sheet)
    assert merged.to_csv(index=False) == MERGED


def test_every_missing_or_invalid_score_is_one_sentence(sheet):
    _, problems = merge(grades(), sheet)
    assert problems == [
        "alan.zip: the q7_explanation score in q7_scores.csv is empty",
        "grace.ipynb: the q7_explanation score in q7_scores.csv is -1, not between 0 and 3",
        "emmy.ipynb: the q7_explanation score in q7_scores.csv is 4, not between 0 and 3",
        "kurt.ipynb: the q7_explanation score in q7_scores.csv is '2,5', not a number",
        "edsger.ipynb is not in q7_scores.csv",
        "q7_scores.csv has a row for ghost.ipynb, which is not a graded submission",
    ]


def test_a_file_with_two_rows_in_the_sheet_gets_no_total(tmp_path):
    (tmp_path / "q7.csv").write_text("file,student,q7_explanation,comment\npoints-per-question,,3,\nada.ipynb,,3,\nada.ipynb,,1,\n")
    merged, problems = merge(grades().iloc[:2], tmp_path / "q7.csv")
    assert pd.isna(merged.loc[1, "total_points_earned"])
    assert problems == ["q7.csv has 2 rows for ada.ipynb"]


def test_the_manual_questions_and_their_points_come_from_the_sheet(tmp_path):
    (tmp_path / "manual.csv").write_text(
        "file,student,q7_explanation,q8_plot,comment\npoints-per-question,,3,2.5,\nada.ipynb,,3,2,\n"
    )
    merged, problems = merge(grades().iloc[:2], tmp_path / "manual.csv")
    assert problems == []
    assert merged.columns.tolist()[3:6] == ["q7_explanation", "q8_plot", "total_points_earned"]
    assert merged["total_points_earned"].tolist() == [10.5, 10]
    assert merged["percent_correct"].tolist() == [1, 0.9524]


def test_grades_that_already_have_the_manual_column_are_refused(sheet):
    merged, _ = merge(grades(), sheet)
    with pytest.raises(ValueError, match="already have a column q7_explanation"):
        merge(merged, sheet)


@pytest.mark.parametrize(
    "text",
    [
        "file,student,comment\npoints-per-question,,\nada.ipynb,,\n",  # no question column
        "file,student,q7_explanation,comment\nada.ipynb,,3,\n",  # no points row
        "file,student,q7_explanation,comment\npoints-per-question,,,\nada.ipynb,,3,\n",  # no points
    ],
)
def test_a_sheet_that_does_not_say_what_a_question_is_worth_is_refused(tmp_path, text):
    (tmp_path / "q7.csv").write_text(text)
    with pytest.raises(ValueError, match="points"):
        read_sheet(tmp_path / "q7.csv")


def test_write_sheet_gives_the_points_row_then_one_empty_row_per_submission(tmp_path):
    write_sheet(tmp_path / "q7.csv", {"ada.ipynb": "Lovelace, Ada", "alan.zip": ""}, manual_questions())
    assert (tmp_path / "q7.csv").read_text() == (
        "file,student,q7_explanation,comment\n"
        "points-per-question,,3,\n"
        'ada.ipynb,"Lovelace, Ada",,\n'
        "alan.zip,,,\n"
    )


def test_writing_the_sheet_again_keeps_the_scores_and_adds_new_submissions(tmp_path, sheet):
    write_sheet(sheet, {"ada.ipynb": "Lovelace, Ada", "barbara.zip": "Liskov, Barbara"}, manual_questions())
    assert sheet.read_text() == SHEET + "barbara.zip,\"Liskov, Barbara\",,\n"
