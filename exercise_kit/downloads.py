"""What learning-management systems download, made into one submission per student.

Canvas's *Download Submissions* gives a zip of every student's files, each named
``<student>[_LATE]_<user id>_<submission id>_<file name>``: ``<student>`` is the student's sortable
name in lower case without spaces or punctuation, ``LATE`` marks a submission after the due date,
and a file a student uploaded again under the same name is renamed ``<stem>-1<suffix>``,
``<stem>-2<suffix>``... Gradescope's *Export Submissions* gives a folder per submission beside a
``submission_metadata.yml`` that names its students. Anything else is taken file by file (and
folder by folder), named as it is.
"""

import re
from dataclasses import dataclass
from pathlib import Path

CANVAS_NAME = re.compile(r"^(?P<student>[a-z0-9]+)(?P<late>_LATE)?_(?P<user_id>\d+)_(?P<submission_id>\d+)_(?P<file>.+)$")
RESUBMITTED = re.compile(r"^(?P<stem>.+)-(?P<copy>\d+)(?P<suffix>\.[A-Za-z0-9]+)$")


@dataclass(frozen=True)
class CanvasFile:
    """What Canvas's name of a downloaded file says about it."""

    student: str
    late: bool
    user_id: str
    submission_id: int
    file: str  # as the student named it, with Canvas's -1, -2 if uploaded again

    @property
    def upload(self) -> int:
        """0 for a file uploaded once, n for the n-th re-upload under the same name."""
        match = RESUBMITTED.match(self.file)
        return int(match["copy"]) if match else 0


def canvas_file(name: str) -> CanvasFile | None:
    """The parts of a Canvas download's file name, or None when it is not named as Canvas names."""
    match = CANVAS_NAME.match(Path(name).name)
    if not match:
        return None
    return CanvasFile(match["student"], bool(match["late"]), match["user_id"], int(match["submission_id"]), match["file"])
