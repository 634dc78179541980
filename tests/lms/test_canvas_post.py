"""Posting grades and feedback to Canvas (issue 19), against a stand-in for Canvas's API on 127.0.0.1.

The graded batch is the example class's (examples/: its gradebook export and Q7 sheet), written by
the kit's own report from hand-made records, as ``grade --release`` writes it; the last test
grades the example class for real and posts it through the command line.
"""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest

from exercise_kit.lms import canvas_post
from exercise_kit.lms.canvas import match
from exercise_kit.cli import main
from exercise_kit.paths import ROOT
from exercise_kit.reporting.report import write_report
from helpers import canvas_standin
from helpers.records import QUESTIONS, record

EXAMPLES = ROOT / "examples"
ASSIGNMENT = "Exercise 6-3 (LSTM)"
TOKEN = "7~standin-token-not-a-real-one"
ADA, ALAN, GRACE, EDSGER, BARBARA, DONALD, TEST_STUDENT = 1001, 1002, 1003, 1004, 1005, 1006, 1099
LONG_OUTPUT = "\n".join(f"    line {n} of a long traceback from the hidden check" for n in range(120))


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The example class graded and released: final_grades.csv and each submission's feedback.md."""
    edsger = record("dijkstraedsger_1004_50004_exercise-6-3-lstm.ipynb", scores=dict.fromkeys(QUESTIONS, 0))
    for test in edsger.results["tests"]:
        if test["name"] == "q3_training":
            test["output"] = LONG_OUTPUT  # a feedback too long for a comment: attached as a file
    records = [
        record("lovelaceada_1001_50001_exercise-6-3-lstm.ipynb"),
        record("turingalan_LATE_1002_50002_exercise-6-3-lstm.zip", "Completed; late"),
        record("hoppergrace_1003_50013_exercise-6-3-lstm-1.ipynb", scores={"q3_training": 0, "q5_gates": 2}),
        edsger,
        record("liskovbarbara_1005_50005_answers.txt", "Invalid submission: not a notebook", dict.fromkeys(QUESTIONS, 0)),
    ]
    out = tmp_path_factory.mktemp("canvas-post") / "graded"
    write_report(records, out, show_hidden=True)
    return out / "final_grades.csv"


@pytest.fixture
def canvas():
    """The course on the stand-in: every student of the gradebook has a submission (Donald's unsubmitted)."""
    canvas = canvas_standin.Canvas(token=TOKEN, course_id=77, assignment_id=4242)
    server = canvas_standin.serve(canvas)
    for user_id in (ADA, ALAN, EDSGER, BARBARA, TEST_STUDENT):
        canvas.submissions[user_id] = canvas_standin.submission(canvas, user_id)
    canvas.submissions[GRACE] = canvas_standin.submission(canvas, GRACE, attempt=2)
    canvas.submissions[DONALD] = canvas_standin.submission(canvas, DONALD, attempt=None)
    canvas.submissions[ADA]["submission_comments"].append({"id": 1, "author_id": 9, "author_name": "TA", "comment": "Nice plots.", "created_at": "2026-11-21T10:00:00Z"})
    yield canvas
    server.shutdown()
    assert not canvas.unexpected, [(r.method, r.path) for r in canvas.unexpected]


def run(graded, canvas, *, send=True, token=TOKEN, sheet=EXAMPLES / "q7_scores.csv", waits=None):
    """The post of the example class; returns (outcome, printed lines)."""
    lines = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the empty cells' warnings (tested in test_canvas), canvasapi's about http://
        students = canvas_post.students(graded, EXAMPLES / "gradebook.csv", assignment=ASSIGNMENT, manual=sheet)
        outcome = canvas_post.post(
            students, url=canvas.url, course_id=canvas.course_id, assignment_id=canvas.assignment_id, token=token, send=send,
            say=lines.append, wait=(waits if waits is not None else []).append,
        )  # fmt: skip
    assert not any(TOKEN in line for line in lines)
    return outcome, lines


def test_each_student_gets_their_total_and_feedback_as_one_comment(graded, canvas):
    outcome, lines = run(graded, canvas)
    scores = {user: canvas.submissions[user]["score"] for user in canvas.submissions}
    # Totals as the import file has them (test_round_trip): Q7 from the sheet, out of 23.
    assert scores == {ADA: 23, ALAN: 23, GRACE: 17.5, EDSGER: 0, BARBARA: None, DONALD: None, TEST_STUDENT: None}
    assert outcome["posted"] == ["Dijkstra, Edsger (1004)", "Hopper, Grace (1003)", "Lovelace, Ada (1001)", "Turing, Alan (1002)"]
    assert outcome["skipped"] == ["Knuth, Donald (1006)", "Liskov, Barbara (1005)"]
    assert "Knuth, Donald (1006): skipped, no submission" in lines
    assert "Liskov, Barbara (1005): skipped, liskovbarbara_1005_50005_answers.txt: the q7_explanation score in q7_scores.csv is empty" in lines

    grace = canvas.comments(GRACE)
    assert len(grace) == 1 and grace[0]["attempt"] == 2, "on her current attempt (canvasapi #631)"
    text = grace[0]["comment"]
    assert text.startswith(f"{ASSIGNMENT}: 17.5 / 23 points (q7_explanation 2.5 / 3 graded by hand).\n\n# Feedback on hoppergrace_1003_50013_exercise-6-3-lstm-1.ipynb")
    assert "hidden message of q3_training" in text, "released: the reason of each failed hidden check"
    assert text.splitlines()[-1].startswith("exercise-kit feedback ")
    assert [c["author_name"] for c in canvas.comments(ADA)] == ["TA", "Instructor"]


def test_a_long_feedback_is_attached_as_a_file_to_the_same_comment_which_keeps_what_fits(graded, canvas):
    run(graded, canvas)
    (comment,) = canvas.comments(EDSGER)
    (attachment,) = comment["attachments"]
    name, data = canvas.files[attachment["id"]]
    feedback = (graded.parent / "submissions" / "dijkstraedsger_1004_50004_exercise-6-3-lstm.ipynb" / "feedback.md").read_bytes()
    assert (name, data) == ("feedback.md", feedback)
    assert len(comment["comment"]) < canvas_post.TEXT_LIMIT + 200
    assert "(The whole feedback is in the attached feedback.md, with q3_training: 0 / 3.)" in comment["comment"]
    assert "hidden message of q5_gates" in comment["comment"], "the long output leaves out its own section, not the reasons after it"
    assert all(not c.get("attachments") for user in (ADA, ALAN, GRACE) for c in canvas.comments(user))


def test_a_second_run_posts_nothing_and_a_changed_grade_is_posted_again(graded, canvas, tmp_path):
    run(graded, canvas)
    before = len(canvas.posts())
    outcome, lines = run(graded, canvas)
    assert len(canvas.posts()) == before, "nothing posted twice"
    assert len(outcome["up to date"]) == 4 and not outcome["posted"]
    assert "Lovelace, Ada (1001): up to date (grade 23 and this feedback are in Canvas)" in lines

    sheet = tmp_path / "q7_scores.csv"  # Ada's Q7 regraded: 3 -> 2
    sheet.write_text((EXAMPLES / "q7_scores.csv").read_text().replace("lovelaceada,3,", "lovelaceada,2,"))
    outcome, lines = run(graded, canvas, sheet=sheet)
    assert outcome["posted"] == ["Lovelace, Ada (1001)"]
    assert canvas.submissions[ADA]["score"] == 22
    assert canvas.comments(ADA)[-1]["comment"].startswith(f"{ASSIGNMENT}: 22 / 23 points (q7_explanation 2 / 3")
    assert "Lovelace, Ada (1001): posted grade 22 and a comment of" in "\n".join(lines)


def test_a_dry_run_reads_canvas_and_posts_nothing(graded, canvas):
    canvas.submissions[ALAN]["score"] = 20.0  # entered by hand in Canvas
    outcome, lines = run(graded, canvas, send=False)
    assert not canvas.posts()
    assert len(outcome["would post"]) == 4
    assert any(line.startswith("Turing, Alan (1002): would post grade 23 and a comment of") and line.endswith("(Canvas holds 20)") for line in lines)


def test_a_student_who_submitted_after_the_download_is_skipped_with_what_to_do(graded, canvas):
    canvas.submissions[DONALD] = canvas_standin.submission(canvas, DONALD)
    outcome, lines = run(graded, canvas)
    assert "Knuth, Donald (1006): skipped, no submission graded (Canvas has one, submitted 2026-11-20T23:59:00Z: download it and grade it)" in lines
    assert canvas.submissions[DONALD]["score"] is None


def test_grades_out_of_other_points_than_canvass_assignment_are_posted_with_a_warning(graded, canvas):
    outcome, lines = run(graded, canvas, sheet=None, send=False)  # without Q7: out of 20
    assert lines[0] == "warning: the assignment is out of 23 points in Canvas, these grades out of 20"
    assert "Lovelace, Ada (1001): would post grade 20 and a comment of" in "\n".join(lines)


def test_without_a_token_the_dry_run_is_offline_and_says_so(graded, canvas):
    outcome, lines = run(graded, canvas, token=None)
    assert not canvas.requests
    assert lines[0].startswith("CANVAS_API_TOKEN is not set: Canvas was not asked, so what it already holds is unknown")
    assert len(outcome["would post"]) == 4 and len(outcome["skipped"]) == 2
    assert "Dijkstra, Edsger (1004): would post grade 0 and a comment of" in "\n".join(lines)


def test_a_throttled_call_waits_and_is_made_again(graded, canvas):
    canvas.fail[("PUT", GRACE)] = [canvas_standin.THROTTLED, canvas_standin.THROTTLED]
    canvas.fail[("POST", EDSGER)] = [canvas_standin.THROTTLED]
    waits = []
    outcome, lines = run(graded, canvas, waits=waits)
    assert waits == [2, 2, 4]  # Edsger's upload asked once, then Grace's grade twice
    assert len(outcome["posted"]) == 4 and canvas.submissions[GRACE]["score"] == 17.5
    assert len(canvas.comments(GRACE)) == 1 and len(canvas.comments(EDSGER)) == 1


def test_a_refused_call_is_reported_the_rest_go_on_and_a_rerun_finishes(graded, canvas):
    canvas.fail[("PUT", ALAN)] = [canvas_standin.NOT_ALLOWED]
    outcome, lines = run(graded, canvas)
    assert outcome["failed"] == ["Turing, Alan (1002)"]
    assert "Turing, Alan (1002): failed, Forbidden: " in "\n".join(lines)
    assert "user not authorized to perform that action" in "\n".join(lines)
    assert len(outcome["posted"]) == 3 and canvas.submissions[ALAN]["score"] is None
    outcome, _ = run(graded, canvas)
    assert outcome["posted"] == ["Turing, Alan (1002)"] and len(outcome["up to date"]) == 3


def test_a_wrong_token_stops_before_anything_is_posted_and_is_not_printed(graded, canvas):
    with pytest.raises(ValueError, match="InvalidAccessToken") as error:
        run(graded, canvas, token="7~wrong-token")
    assert "7~wrong-token" not in str(error.value)
    assert not canvas.posts()


def test_the_command_line_reads_the_token_from_the_environment_and_the_assignment_id_from_the_gradebook(graded, canvas, monkeypatch, capsys):
    monkeypatch.setenv("CANVAS_API_TOKEN", TOKEN)
    command = ["canvas", str(graded), str(EXAMPLES / "gradebook.csv"), "--manual", str(EXAMPLES / "q7_scores.csv"), "--post", "--canvas-url", canvas.url, "--course", "77"]
    main(command)
    printed = capsys.readouterr()
    assert not canvas.posts()
    assert printed.out.endswith("4 would post, 2 skipped.\nDry run: nothing was posted. Run the same command with --yes to post.\n")
    main([*command, "--yes"])
    printed = capsys.readouterr()
    assert printed.out.endswith("4 posted, 2 skipped.\n")
    assert TOKEN not in printed.out + printed.err
    assert canvas.submissions[ADA]["score"] == 23


def test_a_student_canvas_does_not_list_is_reported_and_the_rest_go_on(graded, canvas):
    del canvas.submissions[ALAN]  # left the course after the download
    outcome, lines = run(graded, canvas)
    assert outcome["failed"] == ["Turing, Alan (1002)"] and len(outcome["posted"]) == 3
    assert "Turing, Alan (1002): failed, Canvas has no submission of this user id in the assignment (not enrolled?)" in lines


def test_canvas_out_of_reach_stops_before_anything_is_posted(graded, canvas):
    canvas.url = "http://127.0.0.1:9"  # nothing listens on the discard port
    with pytest.raises(ValueError, match="Canvas did not give the assignment's submissions: ConnectionError"):
        run(graded, canvas)


@pytest.mark.slow
def test_the_example_class_goes_grade_release_then_post_through_the_command_line(tmp_path):
    """The instructor's commands end to end, on the example class graded for real (about 40 s):
    each student gets what the import file gives them, and their released feedback."""
    command = Path(sys.executable).with_name("exercise-kit")
    grades, gradebook, sheet = tmp_path / "graded" / "final_grades.csv", EXAMPLES / "gradebook.csv", EXAMPLES / "q7_scores.csv"
    subprocess.run([command, "grade", EXAMPLES / "submissions.zip", "--out", grades.parent, "--release"], capture_output=True, check=True, timeout=900)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = match(grades, gradebook, manual=sheet)
    given = {int(user_id): (file, total) for user_id, file, total in zip(found.roster["ID"], found.files, found.totals) if not pd.isna(total)}
    canvas = canvas_standin.Canvas(token=TOKEN, course_id=77, assignment_id=4242)
    server = canvas_standin.serve(canvas)
    for user_id in [*map(int, found.roster["ID"]), TEST_STUDENT]:
        canvas.submissions[user_id] = canvas_standin.submission(canvas, user_id)
    post = [command, "canvas", grades, gradebook, "--manual", sheet, "--post", "--canvas-url", canvas.url, "--course", "77"]
    environment = {**os.environ, "CANVAS_API_TOKEN": TOKEN}
    try:
        offline = subprocess.run(post, capture_output=True, text=True, check=True, env={**os.environ, "CANVAS_API_TOKEN": ""})
        dry = subprocess.run(post, capture_output=True, text=True, check=True, env=environment)
        assert not canvas.posts()
        posted = subprocess.run([*post, "--yes"], capture_output=True, text=True, check=True, env=environment)
        before = len(canvas.posts())
        again = subprocess.run([*post, "--yes"], capture_output=True, text=True, check=True, env=environment)
    finally:
        server.shutdown()
    skipped = len(found.roster) - len(given)
    assert offline.stdout.startswith("CANVAS_API_TOKEN is not set")
    for run_ in (offline, dry):
        assert run_.stdout.endswith(f"{len(given)} would post, {skipped} skipped.\nDry run: nothing was posted. Run the same command with --yes to post.\n")
    assert posted.stdout.endswith(f"{len(given)} posted, {skipped} skipped.\n") and again.stdout.endswith(f"{len(given)} up to date, {skipped} skipped.\n")
    assert len(canvas.posts()) == before, "the second run posts nothing"
    assert {user: held["score"] for user, held in canvas.submissions.items() if held["score"] is not None} == {user: total for user, (_, total) in given.items()}
    for user, (file, _) in given.items():
        (comment,) = canvas.comments(user)
        assert f"# Feedback on {file}" in comment["comment"] and "Hidden tests' messages are not shown" not in comment["comment"], "released"
        feedback = (grades.parent / "submissions" / file / "feedback.md").read_bytes()
        assert all(canvas.files[attachment["id"]] == ("feedback.md", feedback) for attachment in comment["attachments"])
    assert any("## What failed\n\n### q" in canvas.comments(user)[0]["comment"] for user in given), "someone's reasons reach them"
    assert not canvas.unexpected and TOKEN not in "".join(run_.stdout + run_.stderr for run_ in (offline, dry, posted, again))
