"""Grading validity (issue 4): every submission of the corpus gets its known points.

The whole corpus (tests/corpus/variants.py) is graded in one batch by the kit's batch grader, with
real Otter and real TensorFlow: correct submissions written differently get full marks, each
mistake loses exactly the points aimed at it, and no hostile submission gets points it did not
earn. docs/hostile-cases.md explains each hostile case.

Then each submission is graded again as Gradescope grades it (issue 11): the autograder zip's own
``run_autograder``, as root, in a folder laid out like ``/autograder``, inside what Docker's default
seccomp profile refuses (no namespaces; Landlock allowed). Every score and every kind of status
must be the batch grader's: a score means the same thing in both places.
"""

import hashlib
import json
import os
import re
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path

import pandas as pd
import psutil
import pytest

from corpus import attacks, grader_reach, limits, mistakes, platform, references, review, variants
from exercise_kit.grading.record import Status
from exercise_kit.lms import gradescope
from exercise_kit.grading.batch import grade_folder
from exercise_kit.paths import ROOT
from helpers.container import seccomp_filter

CORPUS = variants.CORPUS + mistakes.MISTAKES + attacks.ATTACKS + references.ATTACKS + limits.ATTACKS + grader_reach.ATTACKS + platform.CASES + review.ATTACKS

pytestmark = pytest.mark.slow  # every test reads the corpus graded in one batch (about 15 min)

# A normal submission takes 10 to 20 s; the endless loop costs this much of one worker.
TIMEOUT_SECONDS = 120


@pytest.fixture(scope="session")
def corpus_batch(tmp_path_factory):
    """The corpus written to a folder and graded in one batch: (final grades by file, batch folder).

    The submissions' bytes before grading are kept in ``batch / "before.json"``.
    """
    batch = tmp_path_factory.mktemp("corpus-batch")
    variants.write_corpus(batch / "submissions", CORPUS)
    (batch / "before.json").write_text(json.dumps(digests(batch / "submissions")))
    grades = grade_folder(batch / "submissions", batch / "graded", workers=2, timeout=TIMEOUT_SECONDS)
    return grades.set_index("file"), batch


def digests(folder):
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.iterdir())}


@pytest.fixture(scope="session")
def corpus_grades(corpus_batch):
    return corpus_batch[0]


@pytest.fixture(scope="session")
def corpus_gradescope(corpus_batch, tmp_path_factory):
    """{file: results.json} of each submission graded as Gradescope runs the zip, two at a time."""
    submissions, folder = corpus_batch[1] / "submissions", tmp_path_factory.mktemp("corpus-gradescope")
    contained = seccomp_filter(landlock=True)

    def run(submission):
        return gradescope.run(submissions / submission.name, folder / submission.name, notebook_timeout=TIMEOUT_SECONDS, preexec_fn=contained)

    with ThreadPoolExecutor(2) as pool:
        return dict(zip((submission.name for submission in CORPUS), pool.map(run, CORPUS)))


def kind(status: str) -> str:
    """"Timeout" of "Timeout: grading took longer than 120 s", "Completed" of "Completed; 1 process ..."."""
    return Status.parse(status).kind


@pytest.mark.root
@pytest.mark.parametrize("submission", CORPUS, ids=lambda submission: submission.name)
def test_gradescope_gives_the_points_and_the_kind_of_status_of_the_batch_grader(corpus_grades, corpus_gradescope, submission):
    row, results = corpus_grades.loc[submission.name], corpus_gradescope[submission.name]
    gradescope_points = {test["name"]: test["score"] for test in results["tests"] if "max_score" in test}
    assert gradescope_points == {question: row[question] for question in variants.POINTS}
    assert kind(results["extra_data"]["grading_status"]) == kind(row["grading_status"]), (results["extra_data"], row["grading_status"])


def with_known_weakness(submission):
    """A submission the kit still grades wrongly is a strict xfail: fixing the kit makes it pass."""
    marks = [pytest.mark.xfail(strict=True, reason=submission.known_weakness)] if submission.known_weakness else []
    return pytest.param(submission, id=submission.name, marks=marks)


@pytest.mark.parametrize("submission", [with_known_weakness(s) for s in CORPUS])
def test_points_per_question(corpus_grades, submission):
    row = corpus_grades.loc[submission.name]
    wrong = [
        f"{question}: {row[question]:g} points, expected {points:g}"
        for question, points in submission.expected.items()
        if row[question] != points
    ]
    assert not wrong, f"{submission.name} ({row['grading_status']}): " + "; ".join(wrong)


@pytest.mark.parametrize("submission", CORPUS, ids=lambda submission: submission.name)
def test_grading_status(corpus_grades, submission):
    """Honest work completes; hostile or broken input says what happened."""
    status = corpus_grades.loc[submission.name, "grading_status"]
    assert re.search(submission.status, status), f"{submission.name}: {status!r} does not match {submission.status!r}"


@pytest.mark.parametrize("submission", [s for s in CORPUS if s.feedback], ids=lambda submission: submission.name)
def test_the_reason_of_a_lost_question_names_the_mistake(corpus_batch, submission):
    """What the student reads for each question the mistake costs (its results.json output)."""
    results = json.loads((corpus_batch[1] / "graded" / "submissions" / submission.name / "results.json").read_text())
    reasons = {test["name"]: test["output"] for test in results["tests"]}
    for question, expected in submission.feedback.items():
        assert expected in reasons[question], f"{question}: {reasons[question]!r}"


@pytest.mark.parametrize("submission", [s for s in CORPUS if s.name.startswith("correct-")], ids=lambda submission: submission.name)
def test_a_correct_submission_shows_passing_public_checks_and_nothing_hidden(corpus_batch, submission):
    """Most correct cases are made from the solution, whose metadata carries the hidden tests: the
    grader runs the instructor's public tests instead, as every student's notebook does."""
    results = json.loads((corpus_batch[1] / "graded" / "submissions" / submission.name / "results.json").read_text())
    public = results["tests"][0]["output"]
    assert "passed" in public
    assert not any(word in public for word in ("Traceback", "Error", "run_check", "lstm_checks", "failed")), public


def test_the_evidence_for_a_regrade_holds_what_each_check_compared(corpus_batch):
    evidence = json.loads((corpus_batch[1] / "graded" / "submissions" / "mistake-loss-sum-of-squares.ipynb" / "evidence.json").read_text())
    loss = evidence["q2_model"]["checks"]["loss_function"]
    assert loss["verdict"].startswith("mse_loss returns the sum of the squared errors")
    (compared,) = loss["compared"]
    assert compared["got"] == pytest.approx(5 * compared["expected"], rel=1e-4)  # the sum of 5 squared errors
    assert set(evidence["q2_model"]["inputs"]) >= {"y_true", "y_pred", "x", "kernel"}
    assert evidence["q3_training"]["checks"]["training"]["verdict"] is None  # the loop is right


def test_the_summary_of_the_corpus_lists_each_reason_with_its_count_and_each_questions_item_statistics(corpus_batch):
    summary = corpus_batch[1] / "graded" / "summary"
    questions = pd.read_csv(summary / "questions.csv").set_index("question")
    assert sorted(questions.index) == sorted(variants.POINTS)
    assert questions["facility"].between(0, 1).all() and questions["discrimination"].between(-1, 1).all()
    reasons = pd.read_csv(summary / "reasons.csv")
    for submission in (s for s in CORPUS if s.feedback):
        for question, expected in submission.feedback.items():
            rows = reasons[(reasons["question"] == question) & reasons["reason"].str.contains(expected, regex=False)]
            assert len(rows) and rows["files"].str.contains(submission.name, regex=False).any(), (question, expected)
            assert (rows["submissions"] >= 1).all()


@pytest.mark.root
def test_no_grading_folder_outlives_its_grading(corpus_batch, corpus_gradescope):
    """The deep-folder case leaves a marker at the top of its kernel's folder, under a folder nested
    past any recursion limit: neither grader may leave it on disk."""
    assert not list(Path(tempfile.gettempdir()).glob(f"exercise-kit-*/work/{review.DEEP_FOLDER_MARKER}"))


def test_points_possible_are_the_assignments(corpus_grades):
    row = corpus_grades.loc["points-per-question"]
    assert {question: row[question] for question in variants.POINTS} == variants.POINTS


def test_every_submission_is_graded_and_has_results(corpus_batch):
    grades, batch = corpus_batch
    assert sorted(grades.index.drop("points-per-question")) == sorted(s.name for s in CORPUS)
    for submission in CORPUS:
        assert (batch / "graded" / "submissions" / submission.name / "results.json").is_file()


def test_otter_log_payload_never_ran(corpus_batch):
    """The export zip's .OTTER_LOG would run code when dill-loaded: the grader never loads it."""
    _, batch = corpus_batch
    assert not (batch / variants.OTTER_LOG_MARKER).exists()


def test_no_process_left_running(corpus_batch):
    """The notebook that starts `sleep` in a new session does not leave it behind."""
    leftovers = []
    for process in psutil.process_iter(["cmdline"]):
        if process.info["cmdline"] == ["sleep", variants.LEFTOVER_SLEEP]:
            leftovers.append(process)
            process.kill()
    assert not leftovers


@pytest.mark.root
def test_no_process_of_a_kernel_outlives_grading(corpus_batch, corpus_gradescope):
    """The survivor (an empty environment, a new pid every millisecond) is gone after both
    graders: its pids are looked for over two seconds, by reading each command line at once (a
    slower scan misses it between hops)."""
    seen, deadline = set(), time.monotonic() + 2
    while time.monotonic() < deadline:
        for pid in filter(str.isdigit, os.listdir("/proc")):
            with suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                if limits.SURVIVOR.encode() in cmdline.read():
                    seen.add(pid)
    assert not seen


def test_no_submission_was_changed_deleted_or_added_by_another(corpus_batch):
    _, batch = corpus_batch
    assert digests(batch / "submissions") == json.loads((batch / "before.json").read_text())


def quoted_statuses():
    """(submission, status pattern) for each case of docs/hostile-cases.md's table that quotes one.

    In a quoted status, "…" stands for any text and "N" for a number.
    """
    names = {submission.name: submission.name for submission in CORPUS} | {Path(s.name).stem: s.name for s in CORPUS}
    cases = []
    for line in (ROOT / "docs" / "hostile-cases.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0].startswith("`"):
            name = names[cells[0].split("`")[1]]
            for quoted in re.findall(r"`([^`]+)`", cells[3]):
                if re.match(r"(Completed|Crashed|Timeout|Memory limit|Disk limit|Output limit|Invalid submission)\b", quoted):
                    pattern = re.escape(quoted).replace("…", ".*").replace(r"\.\.\.", ".*").replace(r"\ N\ ", r"\ \d+\ ")
                    cases.append(pytest.param(name, pattern, id=name))
    return cases


@pytest.mark.parametrize("submission, pattern", quoted_statuses())
def test_the_hostile_cases_page_quotes_the_status_the_grader_writes(corpus_grades, submission, pattern):
    status = corpus_grades.loc[submission, "grading_status"]
    assert re.fullmatch(pattern, status), f"docs/hostile-cases.md quotes {pattern!r} for {submission}; the grader wrote {status!r}"
