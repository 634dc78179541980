"""The batch grader's own behaviour: resuming, interruption, and grading on a Dask cluster.

What it gives each kind of submission (correct, wrong, hostile, broken) is specified by the
corpus in test_corpus.py; here, small batches of quick notebooks (the blank template with a
distinguishing cell) exercise the machinery around the grading.
"""

import json
import signal
import subprocess
import sys
import time

import nbformat
import pandas as pd
import pytest

from exercise_kit.grading import submission
from exercise_kit.grading.batch import grade_folder
from exercise_kit.paths import NOTEBOOK_NAME, STUDENT_DIR


def write_blank_submissions(folder, count):
    """``count`` different (so differently hashed) copies of the blank template."""
    folder.mkdir()
    for i in range(count):
        nb = nbformat.read(STUDENT_DIR / NOTEBOOK_NAME, as_version=4)
        nb.cells.append(nbformat.v4.new_markdown_cell(f"student {i}"))
        nbformat.write(nb, folder / f"student{i}.ipynb")


def read_grades(out):
    grades = pd.read_csv(out / "final_grades.csv")
    assert grades["file"].iloc[0] == "points-per-question"
    return grades.iloc[1:]


@pytest.mark.slow
def test_ctrl_c_keeps_what_finished_and_a_rerun_grades_only_the_rest(tmp_path):
    submissions, out = tmp_path / "submissions", tmp_path / "out"
    write_blank_submissions(submissions, 3)
    command = [sys.executable, "-m", "exercise_kit", "grade", str(submissions), "--out", str(out), "--workers", "1"]
    run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not list(out.glob("submissions/*/record.json")) and time.monotonic() < deadline:
        time.sleep(0.2)
    run.send_signal(signal.SIGINT)
    run.wait(timeout=60)

    finished = read_grades(out)
    assert 1 <= len(finished) < 3, "the interrupted run should have finished some, not all"
    assert (finished["grading_status"] == "Completed").all()
    first = {f: json.loads((out / "submissions" / f / "record.json").read_text()) for f in finished["file"]}

    grades = grade_folder(submissions, out, workers=2)

    assert sorted(grades["file"].iloc[1:]) == ["student0.ipynb", "student1.ipynb", "student2.ipynb"]
    assert (grades["grading_status"].iloc[1:] == "Completed").all()
    for file, record in first.items():  # graded once: the rerun kept the record as it was
        assert json.loads((out / "submissions" / file / "record.json").read_text()) == record


@pytest.mark.slow
def test_a_submission_the_grader_failed_on_is_graded_again_on_the_next_run(tmp_path, monkeypatch):
    submissions, out = tmp_path / "submissions", tmp_path / "out"
    write_blank_submissions(submissions, 1)

    def broken(*args):
        raise RuntimeError("the grader broke")

    monkeypatch.setattr(submission, "grade_submission", broken)
    grade_folder(submissions, out, workers=1)
    assert read_grades(out)["grading_status"].iloc[0] == "Grader error: RuntimeError: the grader broke"
    monkeypatch.undo()
    grade_folder(submissions, out, workers=1)
    assert read_grades(out)["grading_status"].iloc[0] == "Completed"


@pytest.mark.slow
def test_a_changed_submission_is_graded_again(tmp_path):
    submissions, out = tmp_path / "submissions", tmp_path / "out"
    write_blank_submissions(submissions, 1)
    grade_folder(submissions, out, workers=1)
    before = json.loads((out / "submissions" / "student0.ipynb" / "record.json").read_text())

    nb = nbformat.read(submissions / "student0.ipynb", as_version=4)
    nb.cells = [cell for cell in nb.cells if "X = ..." not in cell.source]  # a new version of the file
    nbformat.write(nb, submissions / "student0.ipynb")
    grade_folder(submissions, out, workers=1)

    after = json.loads((out / "submissions" / "student0.ipynb" / "record.json").read_text())
    assert after["key"] != before["key"]


@pytest.fixture
def dask_scheduler():
    """A local Dask cluster of two worker processes, allowed to start grading children."""
    import dask
    from distributed import LocalCluster

    with dask.config.set({"distributed.worker.daemon": False}):
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            yield cluster.scheduler_address


@pytest.mark.slow
def test_the_same_batch_graded_on_a_dask_cluster(tmp_path, dask_scheduler):
    submissions = tmp_path / "submissions"
    write_blank_submissions(submissions, 2)
    (submissions / "notes.txt").write_text("not a submission")

    grades = grade_folder(submissions, tmp_path / "out", scheduler=dask_scheduler)

    rows = grades.iloc[1:].set_index("file")
    assert list(rows.index) == ["notes.txt", "student0.ipynb", "student1.ipynb"]
    assert rows.loc["student0.ipynb", "grading_status"] == "Completed"
    assert rows.loc["student1.ipynb", "grading_status"] == "Completed"
    assert rows.loc["notes.txt", "grading_status"].startswith("Invalid submission: not a notebook")
    assert (rows["total_points_earned"] == 0).all()


def test_where_kernels_cannot_be_sandboxed_nothing_is_graded_and_the_command_says_why(tmp_path, monkeypatch, capsys):
    from exercise_kit.isolation import confine
    from exercise_kit.cli import main

    monkeypatch.setattr(confine, "available", lambda: confine.Isolation(root=False, landlock_abi=3, namespaces=False))
    submissions = tmp_path / "submissions"
    write_blank_submissions(submissions, 1)

    with pytest.raises(SystemExit) as exit_:
        main(["grade", str(submissions), "--out", str(tmp_path / "out")])

    assert exit_.value.code == 2
    assert capsys.readouterr().err == (
        "Nothing was graded: Kernels cannot be confined on this machine, which lacks unprivileged user namespaces "
        "and Landlock ABI 6 or later (this kernel has 3); `--no-sandbox` grades anyway, unconfined.\n"
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_released_feedback_names_the_mistake_in_one_sentence_without_grading_again(tmp_path):
    from corpus import variants

    submissions, out = tmp_path / "submissions", tmp_path / "out"
    variants.write_corpus(submissions, [variants.by_name("wrong-predictions-hard-coded.ipynb")])
    feedback = out / "submissions" / "wrong-predictions-hard-coded.ipynb" / "feedback.md"
    mistake = "predictions are not the outputs of the trained cell and output_layer for X: compute them with forward(cell, output_layer, X) after training."

    grade_folder(submissions, out, workers=1)
    record = (out / "submissions" / "wrong-predictions-hard-coded.ipynb" / "record.json").read_text()
    assert mistake not in feedback.read_text() and "Hidden tests' messages are not shown" in feedback.read_text()

    grade_folder(submissions, out, workers=1, release=True)
    what_failed = feedback.read_text().partition("## What failed")[2]
    assert what_failed == f"\n\n### q4_predictions: 0 / 2\n\n    {mistake}\n"  # one sentence, no traceback, no numbers
    assert (out / "submissions" / "wrong-predictions-hard-coded.ipynb" / "record.json").read_text() == record


STOP_THE_FORK_SERVER_AFTER_THE_FIRST = """\
import os, signal, sys
from exercise_kit.grading import submission
from exercise_kit.grading.batch import grade_folder

grade = submission.grade_submission


def grade_then_stop_the_fork_server(*args):
    record = grade(*args)
    pid = sys.modules["multiprocessing.forkserver"]._forkserver._forkserver_pid
    os.kill(pid, signal.SIGKILL)
    while open(f"/proc/{pid}/stat").read().split()[2] != "Z":  # dead, not yet reaped
        pass
    return record


submission.grade_submission = grade_then_stop_the_fork_server
grade_folder(sys.argv[1], sys.argv[2], workers=1)
"""


@pytest.mark.slow
def test_after_the_fork_server_stops_the_rest_of_the_batch_says_so(tmp_path):
    """It is not started again (multiprocessing would, with the grader's whole environment)."""
    submissions, out = tmp_path / "submissions", tmp_path / "out"
    write_blank_submissions(submissions, 2)
    subprocess.run([sys.executable, "-c", STOP_THE_FORK_SERVER_AFTER_THE_FIRST, submissions, out], cwd=tmp_path, check=True, capture_output=True)
    assert list(read_grades(out)["grading_status"]) == [
        "Completed",
        "Grader error: ForkServerStopped: The batch's fork server has stopped, so this submission could not be graded: grade it again in a new run.",
    ]
