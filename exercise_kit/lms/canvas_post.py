"""Post each student's grade and feedback to Canvas through its REST API, with ``canvasapi``.

The students, their submissions and their totals are the import file's (``canvas.match``): a
student whose cell would be empty (no submission, no valid Q7 score, not graded) is skipped and
listed, never posted a 0. The feedback is the ``feedback.md`` that ``grade`` (with ``--release``)
wrote beside ``final_grades.csv``. Each student gets one call, Canvas's *Grade or comment on a
submission* (``PUT /api/v1/courses/:course_id/assignments/:assignment_id/submissions/:user_id``
with ``submission[posted_grade]`` and ``comment[text_comment]``); a long feedback is also uploaded
as a file (``POST .../submissions/:user_id/comments/files``) and attached to that comment
(``comment[file_ids][]``), one comment with both (``Submission.upload_comment`` would post the file
as a comment of its own, canvasapi #496).

Posting twice posts nothing twice: every comment the kit posts ends with a marker line holding a
digest of the comment, and the assignment's submissions are read with their comments first. A
student gets the grade if Canvas holds another score, and the comment if none of their comments
carries its digest. Canvas throttles a client by answering "403 Forbidden (Rate Limit Exceeded)"
(429 in its newer documentation): that call is made again after a wait. Any other failure is
reported for that student and the others go on; running the command again finishes the rest.
The token is read from ``CANVAS_API_TOKEN`` and is never printed.
"""

import hashlib
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from canvasapi import Canvas
from canvasapi.exceptions import CanvasException, Forbidden, RateLimitExceeded
from canvasapi.upload import Uploader
from requests import RequestException

from ..reporting.manual import read_sheet
from .canvas import NO_SUBMISSION, match

TOKEN_VARIABLE = "CANVAS_API_TOKEN"
MARKER = "exercise-kit feedback {}"  # the last line of every comment the kit posts
MARKER_LINE = re.compile(r"^exercise-kit feedback ([0-9a-f]{16})$", re.MULTILINE)
TEXT_LIMIT = 4000  # characters: a longer feedback is attached as a file, its beginning in the comment
RETRIES = 6  # calls throttled in a row before the student is reported
FIRST_WAIT = 2.0  # seconds before the first retry, doubled each time
FEEDBACK = "feedback.md"


@dataclass
class Student:
    """What the kit would give one student in Canvas, or why it gives nothing."""

    user_id: str
    name: str
    grade: float | None = None
    out_of: float | None = None
    comment: str = ""
    attachment: Path | None = None  # the feedback file, when the comment holds only its beginning
    digest: str = ""  # in the comment's marker line: names this grade and feedback
    skipped: str = ""

    @property
    def label(self) -> str:
        return f"{self.name} ({self.user_id})"


def students(grades_csv: Path, roster_csv: Path, *, assignment: str, manual: Path | None = None) -> list[Student]:
    """Each student of the gradebook with their grade and comment, or the reason they are skipped."""
    found = match(grades_csv, roster_csv, manual=manual)
    manual_points = read_sheet(manual)[0] if manual is not None else {}
    folder = Path(grades_csv).parent / "submissions"
    result = []
    for row, user_id, name in zip(found.roster.index, found.roster["ID"], found.roster["Student"], strict=True):
        student = Student(user_id, name)
        file, total = found.files[row], found.totals[row]
        feedback = folder / file / FEEDBACK if file else None
        if found.reasons[row]:
            student.skipped = (
                "; ".join(problem for problem in found.problems if file and problem.startswith(file))
                or found.reasons[row]
            )
        elif feedback is None or not feedback.is_file():
            student.skipped = f"{file} has no {FEEDBACK} in {folder}"
        else:
            by_hand = ", ".join(
                f"{question} {found.grades.at[file, question]:g} / {points:g}"
                for question, points in manual_points.items()
            )
            heading = (
                f"{assignment}: {total:g} / {found.points_possible:g} points"
                + (f" ({by_hand} graded by hand)" if by_hand else "")
                + "."
            )
            text = f"{heading}\n\n{feedback.read_text().strip()}\n"
            if len(text) > TEXT_LIMIT:
                text, left_out = shortened(text, TEXT_LIMIT)
                text += f"\n(The whole feedback is in the attached {FEEDBACK}, with {'; '.join(left_out)}.)\n"
                student.attachment = feedback
            student.grade, student.out_of, student.digest = total, found.points_possible, digest(heading, feedback)
            student.comment = f"{text}\n{MARKER.format(student.digest)}"
        result.append(student)
    return result


def shortened(text: str, limit: int) -> tuple[str, list[str]]:
    """The sections of ``text`` (from one Markdown heading to the next) that fit in ``limit``
    characters, in order, and the titles of those left out: a long test output leaves out its own
    section, not the reasons after it."""
    first, *sections = re.split(r"(?m)^(?=#{2,6} )", text)
    kept, left_out = first[: first.rfind("\n", 0, limit) + 1], []
    for section in sections:
        if len(kept) + len(section) <= limit:
            kept += section
        else:
            left_out.append(section.partition("\n")[0].lstrip("# "))
    return kept, left_out or ["the rest"]


def digest(heading: str, feedback: Path) -> str:
    """Names this grade and feedback: a new digest when either changes."""
    return hashlib.sha256(f"{heading}\n{feedback.read_text()}".encode()).hexdigest()[:16]


def post(
    students: list[Student],
    *,
    url: str | None,
    course_id: int | None,
    assignment_id: int | None,
    token: str | None,
    send: bool,
    say=print,
    wait=time.sleep,
) -> dict[str, list[str]]:
    """Post (``send``) or show (a dry run) what each student gets; return the students by outcome.

    Without a token nothing is asked of Canvas. With one, the assignment's submissions are read
    even in a dry run, so that it shows exactly what a post would change.
    """
    held = None
    if not token:
        say(
            f"{TOKEN_VARIABLE} is not set: Canvas was not asked, so what it already holds is unknown "
            "(a post leaves out what it holds)."
        )
    elif not (url and course_id and assignment_id):
        needed = {
            "the Canvas address (--canvas-url)": url,
            "the course id (--course)": course_id,
            'the assignment id (--assignment-id, or a gradebook column "<title> (<id>)")': assignment_id,
        }
        raise ValueError("posting needs " + ", ".join(name for name, value in needed.items() if not value))
    else:
        try:
            assignment = patiently(
                lambda: Canvas(url, token).get_course(course_id).get_assignment(assignment_id), wait, say
            )
            held = patiently(
                lambda: {
                    str(s.user_id): s for s in assignment.get_submissions(include=["submission_comments"], per_page=100)
                },
                wait,
                say,
            )
        except (CanvasException, RequestException) as error:
            raise ValueError(
                f"Canvas did not give the assignment's submissions: {type(error).__name__}: {without(token, error)}"
            ) from None
        out_of = {student.out_of for student in students if student.out_of is not None}
        if getattr(assignment, "points_possible", None) not in (None, *out_of):
            say(
                f"warning: the assignment is out of {assignment.points_possible:g} points in Canvas, "
                f"these grades out of {', '.join(f'{points:g}' for points in out_of)}"
            )
    outcome: dict[str, list[str]] = {"posted": [], "would post": [], "up to date": [], "skipped": [], "failed": []}

    def report(kind: str, student: Student, text: str) -> None:
        outcome[kind].append(student.label)
        say(f"{student.label}: {text}")

    for student in students:
        if student.skipped:
            submitted = (
                held
                and student.skipped == NO_SUBMISSION
                and getattr(held.get(str(student.user_id)), "submitted_at", None)
            )
            report(
                "skipped",
                student,
                f"skipped, {student.skipped}"
                + (f" graded (Canvas has one, submitted {submitted}: download it and grade it)" if submitted else ""),
            )
            continue
        if held is None:
            report("would post", student, f"would post {what(student, student.grade, True)}")
            continue
        submission = held.get(str(student.user_id))
        if submission is None:
            report(
                "failed", student, "failed, Canvas has no submission of this user id in the assignment (not enrolled?)"
            )
            continue
        score = getattr(submission, "score", None)
        grade = student.grade if score is None or abs(score - student.grade) > 1e-6 else None
        comments = [comment.get("comment") or "" for comment in getattr(submission, "submission_comments", None) or []]
        new_comment = not any(student.digest in MARKER_LINE.findall(comment) for comment in comments)
        if grade is None and not new_comment:
            report("up to date", student, f"up to date (grade {score:g} and this feedback are in Canvas)")
            continue
        change = what(student, grade, new_comment) + (
            f" (Canvas holds {score:g})" if grade is not None and score is not None else ""
        )
        if not send:
            report("would post", student, f"would post {change}")
            continue
        try:
            give(submission, student, grade, new_comment, wait, say)
        except (CanvasException, RequestException, ValueError) as error:
            report("failed", student, f"failed, {type(error).__name__}: {without(token, error)}")
            continue
        report("posted", student, f"posted {change}")
    return outcome


def what(student: Student, grade: float | None, comment: bool) -> str:
    parts = [f"grade {grade:g}"] if grade is not None else []
    if comment:
        parts.append(
            f"a comment of {len(student.comment.splitlines())} lines"
            + (f" with {FEEDBACK} attached" if student.attachment else "")
        )
    return " and ".join(parts)


def give(submission, student: Student, grade: float | None, comment: bool, wait, say) -> None:
    """One PUT with the grade and the comment, on the submission's current attempt (canvasapi #631). The
    file goes through canvasapi's ``Uploader`` as ``upload_comment`` sends it, and is attached to
    this comment, not to one of its own (#496)."""
    changes: dict[str, dict[str, Any]] = {}
    if grade is not None:
        changes["submission"] = {"posted_grade": f"{grade:g}"}
    if comment:
        changes["comment"] = {"text_comment": student.comment}
        if getattr(submission, "attempt", None):
            changes["comment"]["attempt"] = submission.attempt
        if student.attachment:
            path = (
                f"courses/{submission.course_id}/assignments/{submission.assignment_id}"
                f"/submissions/{submission.user_id}/comments/files"
            )
            uploaded, file = patiently(
                lambda: Uploader(submission._requester, path, student.attachment).start(), wait, say
            )
            if not uploaded:
                raise ValueError(f"the upload of {FEEDBACK} did not succeed")
            changes["comment"]["file_ids"] = [file["id"]]
    patiently(lambda: submission.edit(**changes), wait, say)


def patiently(call, wait, say):
    """``call()``, made again after a wait (doubled each time) while Canvas throttles it."""
    for attempt in range(RETRIES):
        try:
            return call()
        except Forbidden as error:  # canvasapi's RateLimitExceeded (a 429) is a Forbidden too
            if (
                not (isinstance(error, RateLimitExceeded) or "Rate Limit Exceeded" in str(error))
                or attempt == RETRIES - 1
            ):
                raise
            seconds = FIRST_WAIT * 2**attempt
            say(f"Canvas throttles: waiting {seconds:g} s")
            wait(seconds)


def without(token: str | None, error: Exception) -> str:
    """The error's message, with the token blanked out should Canvas or the network ever echo it."""
    message = str(error)
    return (message.replace(token, "<token>") if token else message) or "no message"


def token() -> str | None:
    return os.environ.get(TOKEN_VARIABLE, "").strip() or None
