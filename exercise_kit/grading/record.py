"""What grading one submission gives: its ``Record``, whose ``Status`` is turned into text here only.

A record goes from the grader (``grading.submission``) through the batch (``grading.batch``, which
adds the student) to the report (``reporting.report``, which stores it as ``record.json`` and reads
it back to resume) and to Gradescope (``lms.gradescope``). ``results`` is in Gradescope's
``results.json`` format: one test per question, with its score and the reason for lost points.
"""

import re
from dataclasses import dataclass, replace
from typing import Any

COMPLETED = "Completed"
UNSANDBOXED = "unsandboxed"
LATE = "late"


@dataclass(frozen=True)
class Status:
    """How grading ended, as fields; ``str()`` is the text every output shows (``grading_status``)."""

    # Completed, Timeout, Memory limit, Disk limit, Output limit, Crashed, Invalid submission, Not graded, Grader error
    kind: str = COMPLETED
    detail: str = ""  # why, in one sentence (after "kind: ")
    leftover_processes: int = 0  # left running by the notebook, and killed
    unsandboxed: bool = False  # graded with --no-sandbox
    late: bool = False  # the LMS says the submission came after the deadline

    def __post_init__(self) -> None:
        # The detail may quote a notebook (a crash's last line, an invalid file's name): one line,
        # and never the separator of the suffixes below, so that the text reads back as it was made.
        detail = " ".join(self.detail.split()).replace("; ", ", ")
        object.__setattr__(self, "detail", detail)

    def __str__(self) -> str:
        text = f"{self.kind}: {self.detail}" if self.detail else self.kind
        if self.leftover_processes:
            many = self.leftover_processes > 1
            processes = f"{self.leftover_processes} process{'es were' if many else ' was'}"
            text += f"; {processes} left running by the notebook and killed"
        if self.unsandboxed:
            text += f"; {UNSANDBOXED}"
        if self.late:
            text += f"; {LATE}"
        return text

    @property
    def completed(self) -> bool:
        return self.kind == COMPLETED

    @classmethod
    def parse(cls, text: str) -> "Status":
        """The status that ``str()`` gave ``text`` (records are read back from ``record.json``)."""
        late = text.endswith(f"; {LATE}")
        text = text.removesuffix(f"; {LATE}")
        unsandboxed = text.endswith(f"; {UNSANDBOXED}")
        text = text.removesuffix(f"; {UNSANDBOXED}")
        leftovers = re.search(r"; (\d+) process(?:es were| was) left running by the notebook and killed$", text)
        if leftovers:
            text = text[: leftovers.start()]
        kind, _, detail = text.partition(": ")
        return cls(kind, detail, int(leftovers.group(1)) if leftovers else 0, unsandboxed, late)


@dataclass(frozen=True)
class Record:
    """One submission's outcome. ``evidence`` (what each check compared, for staff) is stored apart
    from the record; ``student``, ``canvas_user_id`` and ``key`` are the batch's (``grading.batch``)."""

    file: str
    status: Status
    results: dict[str, Any]
    seconds: float
    peak_memory_mb: float
    evidence: dict[str, Any] | None = None
    student: str | None = None
    canvas_user_id: str | None = None
    key: str | None = None  # of the submission's content, the autograder and the limits: None is graded again

    def with_student(self, student: str | None, canvas_user_id: str | None, key: str | None, late: bool) -> "Record":
        return replace(
            self, student=student, canvas_user_id=canvas_user_id, key=key, status=replace(self.status, late=late)
        )

    def as_json(self) -> dict[str, Any]:
        """``record.json``: the record without its evidence."""
        return {
            "file": self.file,
            "grading_status": str(self.status),
            "results": self.results,
            "seconds": self.seconds,
            "peak_memory_mb": self.peak_memory_mb,
            "student": self.student,
            "canvas_user_id": self.canvas_user_id,
            "key": self.key,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], evidence: dict[str, Any] | None = None) -> "Record":
        return cls(
            file=data["file"],
            status=Status.parse(data["grading_status"]),
            results=data["results"],
            seconds=data["seconds"],
            peak_memory_mb=data["peak_memory_mb"],
            evidence=evidence,
            student=data.get("student"),
            canvas_user_id=data.get("canvas_user_id"),
            key=data.get("key"),
        )


def failed(file: str, status: Status, questions: dict[str, list[tuple[str, float]]]) -> Record:
    """The record of a submission that could not be graded: 0 on every question, and why."""
    reason = status.detail or status.kind
    tests = [
        {
            "name": question,
            "score": 0.0,
            "max_score": sum(points for _, points in checks),
            "visibility": "hidden",
            "status": "failed",
            "output": reason,
        }
        for question, checks in questions.items()
    ]
    return Record(file, status, {"score": 0.0, "tests": tests}, seconds=0.0, peak_memory_mb=0.0)
