"""The batch report: final_grades.csv as Otter writes it, each submission's results and feedback, the summary.

Records are built by hand here as the grader makes them (no grading, no TensorFlow).
"""

import json
from dataclasses import replace
from pathlib import Path

import jsonschema
import pandas as pd
import pytest
from otter.grade.utils import merge_scores_to_df
from otter.test_files import GradingResults, abstract_test
from otter.test_files.ok_test import OKTestFile
from PIL import Image

from corpus.variants import POINTS as QUESTIONS  # the auto-graded questions, in Otter's order, with their points
from exercise_kit.reporting import report
from exercise_kit.reporting.report import load_records, write_report
from exercise_kit.grading.record import Record
from exercise_kit.paths import ROOT
from helpers.records import record

COLUMNS = ["file", *sorted(QUESTIONS), "total_points_earned", "percent_correct", "grading_status"]
SCHEMA = json.loads((ROOT / "exercise_kit/schemas/gradescope_results.schema.json").read_text())
TIMEOUT = "Timeout: grading took longer than 300 s"
OVERRIDDEN = "Completed; clean check overrode q3_training (Otter 3, clean 0)"


RECORDS = [  # not in file order: the report sorts
    record("timeout.ipynb", TIMEOUT, dict.fromkeys(QUESTIONS, 0)),
    record("complete.ipynb"),
    record("partial.zip", scores={"q2_model": 1.5, "q5_gates": 2, "q6_counting": 0}),
    record("overridden.ipynb", OVERRIDDEN, {"q3_training": 0}),
]


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    write_report(RECORDS, out)
    return out


def feedback_of(out: Path, file: str) -> str:
    return (out / "submissions" / file / "feedback.md").read_text()


def otter_grading_results(record: Record) -> GradingResults:
    """Otter's own results object with the record's question scores, as ``otter grade`` would hold them."""
    test_files = []
    for test in record.results["tests"]:
        if test.get("max_score") is not None:
            case = abstract_test.TestCase(test["name"], body=None, hidden=True, points=test["max_score"], success_message=None, failure_message=None)
            test_file = OKTestFile(test["name"], f"tests/{test['name']}.py", [case])
            test_file.update_score(test["score"])
            test_files.append(test_file)
    results = GradingResults(test_files)
    results.file = record.file
    return results


def test_final_grades_csv_is_what_otter_grade_writes_for_the_same_scores(out):
    otter = merge_scores_to_df([otter_grading_results(r) for r in RECORDS])
    # Otter knows no grading status but "Completed" for results it could read; the kit says more.
    otter["grading_status"] = ["--", "Completed", OVERRIDDEN, "Completed", TIMEOUT]
    assert (out / "final_grades.csv").read_text() == otter.to_csv(index=False)


def test_final_grades_csv_rows(out):
    grades = pd.read_csv(out / "final_grades.csv")
    assert list(grades.columns) == COLUMNS
    assert list(grades["file"]) == ["points-per-question", "complete.ipynb", "overridden.ipynb", "partial.zip", "timeout.ipynb"]
    rows = grades.set_index("file")
    assert rows.loc["points-per-question", list(QUESTIONS)].tolist() == list(QUESTIONS.values())
    assert rows.loc["points-per-question", ["total_points_earned", "percent_correct", "grading_status"]].tolist() == [20, 1, "--"]
    expected = {  # file: total, percent, status, the questions without full marks
        "complete.ipynb": (20, 1.0, "Completed", {}),
        "overridden.ipynb": (17, 0.85, OVERRIDDEN, {"q3_training": 0}),
        "partial.zip": (15.5, 0.775, "Completed", {"q2_model": 1.5, "q5_gates": 2, "q6_counting": 0}),
        "timeout.ipynb": (0, 0.0, TIMEOUT, dict.fromkeys(QUESTIONS, 0)),
    }
    for file, (total, percent, status, lost) in expected.items():
        assert rows.loc[file, ["total_points_earned", "percent_correct", "grading_status"]].tolist() == [total, percent, status]
        assert rows.loc[file, list(QUESTIONS)].to_dict() == {**QUESTIONS, **lost}


def test_write_report_returns_the_table_it_writes(tmp_path):
    assert write_report(RECORDS, tmp_path).to_csv(index=False) == (tmp_path / "final_grades.csv").read_text()


def test_percent_correct_is_a_fraction_rounded_to_four_digits_as_otter_does(tmp_path):
    write_report([record("third.ipynb", scores={"q1_data": 1 / 3})], tmp_path)
    assert pd.read_csv(tmp_path / "final_grades.csv")["percent_correct"].tolist() == [1, 0.9167]  # 18.333 / 20


def test_each_submission_gets_its_results_json_in_gradescopes_schema(out):
    for r in RECORDS:
        results = json.loads((out / "submissions" / r.file / "results.json").read_text())
        assert results == r.results
        jsonschema.validate(results, SCHEMA)


def test_feedback_of_a_complete_submission(out):
    text = feedback_of(out, "complete.ipynb")
    assert text.startswith("# Feedback on complete.ipynb\n\n**20 / 20** auto-graded points (100%).\n")
    assert "Grading status" not in text
    assert "| q5_gates | 4 | 4 |" in text
    assert "## Public Tests\n\n    q1_data results: All test cases passed!" in text
    assert text.endswith("## What failed\n\nNothing: every auto-graded question earned full marks.\n")


def test_feedback_says_which_questions_failed_and_hides_hidden_tests_messages(out):
    text = feedback_of(out, "partial.zip")
    assert "**15.5 / 20** auto-graded points (78%)" in text
    assert "| q2_model | 1.5 | 3 |" in text
    failed = text.split("## What failed")[1]
    assert [line for line in failed.splitlines() if line.startswith("### ")] == ["### q2_model: 1.5 / 3", "### q5_gates: 2 / 4", "### q6_counting: 0 / 1"]
    assert failed.count("Hidden tests' messages are not shown") == 3
    assert "hidden message" not in text


def test_feedback_gives_the_grading_status_when_not_completed(out):
    assert "Grading status: Completed; clean check overrode q3_training (Otter 3, clean 0)\n" in feedback_of(out, "overridden.ipynb")
    text = feedback_of(out, "timeout.ipynb")
    assert "**0 / 20** auto-graded points (0%).\n\nGrading status: Timeout: grading took longer than 300 s\n" in text
    assert text.count("\n### ") == len(QUESTIONS)


@pytest.mark.parametrize(
    "visibility, show_hidden, shown",
    [("hidden", False, False), ("hidden", True, True), ("after_published", False, False), ("after_published", True, True), ("visible", False, True)],
)
def test_a_failed_tests_output_reaches_the_student_only_when_visible_or_allowed(tmp_path, visibility, show_hidden, shown):
    write_report([record("student.ipynb", scores={"q3_training": 0}, visibility=visibility)], tmp_path, show_hidden=show_hidden)
    text = feedback_of(tmp_path, "student.ipynb")
    assert ("### q3_training: 0 / 3\n\n    q3_training results:\n        hidden message of q3_training\n" in text) == shown
    assert ("hidden message" in text) == shown


def test_mean_facility_and_full_marks_per_question(out):
    rates = pd.read_csv(out / "summary" / "questions.csv").set_index("question")
    assert list(rates.columns) == ["max_score", "mean_score", "facility", "discrimination", "discrimination_note", "full_marks"]
    assert list(rates.index) == sorted(QUESTIONS)
    columns = ["max_score", "mean_score", "facility", "full_marks"]
    assert rates.loc["q1_data", columns].tolist() == [2, 1.5, 0.75, 0.75]  # 2, 2, 2, 0
    assert rates.loc["q2_model", columns].tolist() == [3, 1.875, 0.625, 0.5]  # 3, 3, 1.5, 0
    assert rates.loc["q3_training", columns].tolist() == [3, 1.5, 0.5, 0.5]  # 3, 0, 3, 0
    assert rates.loc["q5_gates", columns].tolist() == [4, 2.5, 0.625, 0.5]  # 4, 4, 2, 0


def test_summary_for_the_instructor(out):
    text = (out / "summary" / "summary.md").read_text()
    assert "4 submissions graded.\nTotal points (of 20): mean 13.12, median 16.25.\n" in text
    assert "| Completed | 2 |\n" in text
    assert f"| {OVERRIDDEN} | 1 |\n" in text
    assert f"| {TIMEOUT} | 1 |\n" in text
    assert "| question | max | mean | facility | discrimination | full marks |\n" in text
    assert "| q3_training | 3 | 1.5 | 50% | 0.45 | 50% |\n" in text
    assert "](item_statistics.png)" in text and "](score_histogram.png)" in text
    assert "### q3_training: 2 of 4 submissions lost points\n" in text
    assert "| q3_training results: hidden message of q3_training | 2 | overridden.ipynb, timeout.ipynb |\n" in text
    to_look_at = text.split("## Submissions to look at")[1]
    assert "overridden.ipynb" in to_look_at and "timeout.ipynb" in to_look_at
    assert "partial.zip" not in to_look_at and "complete.ipynb" not in to_look_at


def test_score_histogram_is_a_png_without_version_or_date(out):
    with Image.open(out / "summary" / "score_histogram.png") as image:
        assert image.format == "PNG"
        assert image.size == (640, 360)
        assert image.info.keys() <= {"dpi"}
        image.verify()


def files_in(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def test_report_is_byte_identical_when_written_twice(tmp_path, out):
    write_report(list(reversed(RECORDS)), tmp_path)
    assert files_in(tmp_path) == files_in(out)
    write_report(RECORDS, tmp_path)
    assert files_in(tmp_path) == files_in(out)


def test_report_written_after_each_submission_is_complete_each_time(tmp_path):
    """As the grader writes it: after each submission, that submission's files and the batch's."""
    for done in range(1, len(RECORDS) + 1):
        write_report(RECORDS[:done], tmp_path / "batch", changed={RECORDS[done - 1].file})
        assert len(pd.read_csv(tmp_path / "batch" / "final_grades.csv")) == done + 1
        assert sorted(path.name for path in (tmp_path / "batch" / "submissions").iterdir()) == sorted(r.file for r in RECORDS[:done])
    assert not [path for path in tmp_path.rglob("*") if path.name.endswith(".tmp")]
    assert files_in(tmp_path / "batch").keys() == {
        "final_grades.csv",
        *(f"submissions/{r.file}/{name}" for r in RECORDS for name in ["feedback.md", "record.json", "results.json"]),
        "summary/item_statistics.png",
        "summary/questions.csv",
        "summary/reasons.csv",
        "summary/score_histogram.png",
        "summary/summary.md",
    }
    write_report(RECORDS, tmp_path / "at-once")
    figures = {"summary/item_statistics.png", "summary/score_histogram.png"}  # drawn by the first call only, this fast
    batch, at_once = files_in(tmp_path / "batch"), files_in(tmp_path / "at-once")
    assert {name: data for name, data in batch.items() if name not in figures} == {name: data for name, data in at_once.items() if name not in figures}
    write_report(RECORDS, tmp_path / "batch")  # the grader's last call: without changed
    assert files_in(tmp_path / "batch") == at_once


def test_figures_are_redrawn_at_most_every_figure_seconds_while_grading(tmp_path, monkeypatch):
    write_report(RECORDS[:1], tmp_path, changed={RECORDS[0].file})
    first = files_in(tmp_path / "summary")
    write_report(RECORDS[:2], tmp_path, changed={RECORDS[1].file})
    second = files_in(tmp_path / "summary")
    assert second["item_statistics.png"] == first["item_statistics.png"] and second["summary.md"] != first["summary.md"]
    monkeypatch.setattr(report, "FIGURE_SECONDS", 0)
    write_report(RECORDS[:2], tmp_path, changed={RECORDS[1].file})
    assert files_in(tmp_path / "summary")["item_statistics.png"] != first["item_statistics.png"]


def test_load_records_gives_back_the_records_for_resuming(out, tmp_path):
    assert load_records(out) == sorted(RECORDS, key=lambda r: r.file)
    assert load_records(tmp_path / "new") == []


def test_a_submission_that_could_not_be_graded_at_all_scores_zero(tmp_path):
    broken = replace(record("broken.zip", "Invalid submission: the zip holds 2 notebooks"), results={"tests": []})
    write_report([record("complete.ipynb"), broken], tmp_path)
    row = pd.read_csv(tmp_path / "final_grades.csv").set_index("file").loc["broken.zip"]
    assert row[list(QUESTIONS)].tolist() == [0] * len(QUESTIONS)
    assert row[["total_points_earned", "percent_correct", "grading_status"]].tolist() == [0, 0, "Invalid submission: the zip holds 2 notebooks"]
    assert "**0 / 0** auto-graded points.\n\nGrading status: Invalid submission" in feedback_of(tmp_path, "broken.zip")


def test_an_empty_batch_still_gives_a_valid_report(tmp_path):
    assert write_report([], tmp_path)["file"].tolist() == ["points-per-question"]
    assert (tmp_path / "final_grades.csv").read_text() == "file,total_points_earned,percent_correct,grading_status\npoints-per-question,0,1,--\n"
    assert "0 submissions graded." in (tmp_path / "summary" / "summary.md").read_text()


def test_records_graded_with_another_autograder_are_refused(tmp_path):
    other = record("other.ipynb")
    other.results["tests"][1]["max_score"] = 5
    with pytest.raises(ValueError, match="another autograder"):
        write_report([record("complete.ipynb"), other], tmp_path)


@pytest.mark.parametrize("file", ["../escape.ipynb", "sub/dir.ipynb", "..", ""])
def test_a_file_name_that_leaves_the_submissions_folder_is_refused(tmp_path, file):
    with pytest.raises(ValueError, match="plain file name"):
        write_report([record(file)], tmp_path)


def summary_of(records: list[Record], out: Path) -> tuple[pd.DataFrame, str]:
    write_report(records, out)
    questions = pd.read_csv(out / "summary" / "questions.csv", keep_default_na=False, na_values={"discrimination": [""]})
    return questions.set_index("question"), (out / "summary" / "summary.md").read_text()


def test_item_statistics_of_a_small_table_by_hand(tmp_path):
    # q1_data (of 2): 2 2 2 0 0, q2_model (of 3): 3 3 0 3 0, q3_training 0 for all, the rest full.
    # Facility: 1.2 / 2 = 0.6 and 1.8 / 3 = 0.6. The rest of the test of q1_data is q2_model + 12, and
    # the other way round: deviations (.8 .8 .8 -1.2 -1.2) and (1.2 1.2 -1.8 1.2 -1.8), products sum
    # to 1.2, squares to 4.8 and 10.8: r = 1.2 / sqrt(4.8 * 10.8) = 1.2 / 7.2 = 1/6 for both
    # (with the total, q1_data included, it would be 0.65).
    q1, q2 = [2, 2, 2, 0, 0], [3, 3, 0, 3, 0]
    records = [record(f"s{i}.ipynb", scores={"q1_data": q1[i], "q2_model": q2[i], "q3_training": 0}) for i in range(5)]
    questions, text = summary_of(records, tmp_path)
    columns = ["mean_score", "facility", "discrimination", "discrimination_note", "full_marks"]
    assert questions.loc["q1_data", columns].tolist() == [1.2, 0.6, 0.1667, "", 0.6]
    assert questions.loc["q2_model", columns].tolist() == [1.8, 0.6, 0.1667, "", 0.6]
    assert questions["discrimination"].isna().sum() == len(QUESTIONS) - 2  # the constant columns
    assert questions.loc["q3_training", columns].fillna("n/a").tolist() == [0, 0, "n/a", "every submission scored 0", 0]
    assert questions.loc["q5_gates", columns].fillna("n/a").tolist() == [4, 1, "n/a", "every submission scored 4", 1]
    assert "| q1_data | 2 | 1.2 | 60% | 0.17 | 60% |\n" in text
    assert "| q3_training | 3 | 0 | 0% | n/a: every submission scored 0 | 0% |\n" in text
    assert "Every submission earned full marks on q4_predictions, q5_gates, q6_cell_candidate," in text
    assert "### q5_gates" not in text


@pytest.mark.parametrize(
    "scores, note",
    [
        ([{"q1_data": 0}, {}, {}], "every submission scored 18 on the rest of the test"),  # only q1_data varies
        ([{"q1_data": 0}, {}], "2 submissions: a correlation needs 3 or more"),
        ([{"q1_data": 0}], "1 submission: a correlation needs 3 or more"),
    ],
)
def test_no_discrimination_where_it_means_nothing_and_no_nan(tmp_path, scores, note):
    questions, text = summary_of([record(f"s{i}.ipynb", scores=lost) for i, lost in enumerate(scores)], tmp_path)
    assert pd.isna(questions.loc["q1_data", "discrimination"]) and questions.loc["q1_data", "discrimination_note"] == note
    assert f"| n/a: {note} |" in text.split("\n| q1_data | 2 | ")[1].splitlines()[0]
    assert "nan" not in text.lower() and "nan" not in (tmp_path / "summary" / "questions.csv").read_text().lower()


def with_output(r: Record, question: str, output: str) -> Record:
    next(test for test in r.results["tests"] if test["name"] == question)["output"] = output
    return r


def test_reasons_for_lost_points_with_their_counts_and_submissions(tmp_path):
    wrong_x = "X is not the 5 shifted sequences in which every 5th element is 1."
    wrong_y = "Y should say, for each sequence, whether its next element is 1."
    at_end = "(Its grader.check cell did not run: graded at the end of the notebook.)"
    records = [
        with_output(record("b.ipynb", scores={"q1_data": 0}), "q1_data", f"{wrong_x} {wrong_y}"),
        with_output(record("a.ipynb", scores={"q1_data": 1}), "q1_data", f"{wrong_y}\n{at_end}"),
        with_output(record("c.ipynb", scores={"q1_data": 1}), "q1_data", wrong_y),
        with_output(record("d.ipynb", scores={"q4_predictions": 0}), "q4_predictions", ""),
        replace(record("e.zip", "Invalid submission: the zip holds 2 notebooks"), results={"tests": []}),
        record("f.ipynb"),
    ]
    questions, text = summary_of(records, tmp_path)
    reasons = pd.read_csv(tmp_path / "summary" / "reasons.csv")
    assert list(reasons.columns) == ["question", "reason", "submissions", "files"]
    q1 = reasons[reasons["question"] == "q1_data"]
    assert q1[["reason", "submissions", "files"]].values.tolist() == [
        [wrong_y, 3, "a.ipynb; b.ipynb; c.ipynb"],
        [at_end, 1, "a.ipynb"],
        ["Invalid submission: the zip holds 2 notebooks", 1, "e.zip"],
        [wrong_x, 1, "b.ipynb"],
    ]
    q4 = reasons[reasons["question"] == "q4_predictions"]
    assert q4[["reason", "files"]].values.tolist() == [["(no reason recorded)", "d.ipynb"], ["Invalid submission: the zip holds 2 notebooks", "e.zip"]]
    assert "### q1_data: 4 of 6 submissions lost points\n" in text
    assert f"| {wrong_y} | 3 | a.ipynb, b.ipynb, c.ipynb |\n" in text


def test_the_figure_of_facility_and_discrimination_is_a_png(out):
    with Image.open(out / "summary" / "item_statistics.png") as image:
        assert image.format == "PNG"
        assert image.size == (800, 130 + 30 * len(QUESTIONS))
        assert image.info.keys() <= {"dpi"}
        image.verify()


def test_markdown_shortens_long_lists_and_the_csv_names_every_submission(tmp_path):
    files = [f"student{i:03}.ipynb" for i in range(300)]
    records = [with_output(record(file, scores={"q2_model": 0}), "q2_model", f"Mistake number {i % 12}.") for i, file in enumerate(files)]
    _, text = summary_of(records, tmp_path)
    reasons = pd.read_csv(tmp_path / "summary" / "reasons.csv")
    assert len(reasons) == 12 and reasons["submissions"].tolist() == [25] * 12
    assert sorted("; ".join(reasons["files"]).split("; ")) == files
    assert "| Mistake number 0. | 25 | student000.ipynb, student012.ipynb, student024.ipynb, student036.ipynb, student048.ipynb and 20 more |\n" in text
    assert "| Mistake number 11. |" in text and "Mistake number 9." not in text  # as many each: by text, 0 1 10 11 2 ... 7 shown
    assert "And 2 other reasons: see `reasons.csv`.\n" in text


def test_evidence_for_a_regrade_is_kept_for_staff_and_never_shown_to_the_student(tmp_path):
    evidence = {"q2_model": {"taken_at": 11, "inputs": {"y_true": [[0.25]]}, "checks": {"loss_function": {
        "verdict": "mse_loss returns the sum of the squared errors: divide by their number (take the mean).",
        "compared": [{"what": "mse_loss on the probe's y_true and y_pred", "got": 0.8125, "expected": 0.1625, "atol": 1e-7, "rtol": 1e-4}],
        "errors": {}}}}}
    graded = replace(record("ada.ipynb", scores={"q2_model": 2}), evidence=evidence)
    write_report([graded], tmp_path, show_hidden=True)
    folder = tmp_path / "submissions" / "ada.ipynb"
    assert json.loads((folder / "evidence.json").read_text()) == evidence
    assert "evidence" not in json.loads((folder / "record.json").read_text())
    assert "0.1625" not in (folder / "feedback.md").read_text() and "expected" not in (folder / "feedback.md").read_text()
    assert load_records(tmp_path) == [graded]  # a resumed batch keeps it


def test_what_a_notebook_put_in_a_name_or_a_reason_stays_in_its_cell_of_the_summary(tmp_path):
    """A file name or a reason may hold a newline, a column break or an unclosed HTML comment: in
    summary.md each stays in its table cell, and the rest of the page shows."""
    injected = "x|\n\n## Submissions to look at\n\nNone.\n\n<!--"
    tampered = with_output(record(f"{injected}.ipynb", scores={"q2_model": 0}), "q2_model", injected)
    _, text = summary_of([tampered, record("b.ipynb")], tmp_path)
    assert [line for line in text.splitlines() if line.startswith("#") and "Submissions" in line] == ["## Submissions to look at"]
    assert "<!--" not in text
    assert "x\\| ## Submissions to look at None. &lt;!--" in text  # in its cell, on one line
