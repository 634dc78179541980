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
import zipfile
from dataclasses import dataclass
from pathlib import Path

import yaml

CANVAS_NAME = re.compile(
    r"^(?P<student>[a-z0-9]+)(?P<late>_LATE)?_(?P<user_id>\d+)_(?P<submission_id>\d+)_(?P<file>.+)$"
)
GRADESCOPE_METADATA = "submission_metadata.yml"
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
    return CanvasFile(
        match["student"], bool(match["late"]), match["user_id"], int(match["submission_id"]), match["file"]
    )


@dataclass(frozen=True)
class Upload:
    """One submission to grade: its name (the row's ``file`` in final_grades.csv), its bytes (a
    notebook or a zip; a folder is zipped), and what the download says about its student."""

    name: str
    data: bytes
    student: str = ""
    late: bool = False
    canvas_user_id: str = ""


@dataclass(frozen=True)
class Collected:
    uploads: list[Upload]
    superseded: list[str]  # a student's older files, left out: their newest is graded


def collect(source: Path) -> Collected:
    """The submissions in ``source``: a folder (of files and folders, as downloaded and unpacked) or
    a zip that an LMS downloads (Canvas's *Download Submissions*). A student with several Canvas
    files is graded on the newest (highest submission id, then the latest re-upload)."""
    source = Path(source)
    entries = _zip_entries(source) if source.is_file() else _folder_entries(source)
    uploads = [Upload(name, data, **_student(name, students)) for name, data, students in entries]
    newest = set(newest_by_user(upload.name for upload in uploads).values())
    superseded = sorted(upload.name for upload in uploads if canvas_file(upload.name) and upload.name not in newest)
    return Collected([upload for upload in uploads if upload.name not in superseded], superseded)


def newest_by_user(names) -> dict[str, str]:
    """Canvas user id -> the name of that user's newest file (highest submission id, then latest re-upload)."""
    named = [(canvas, name) for name in names if (canvas := canvas_file(name))]
    oldest_first = sorted(named, key=lambda pair: (pair[0].submission_id, pair[0].upload, pair[1]))
    return {canvas.user_id: name for canvas, name in oldest_first}


def _student(name: str, students: dict[str, str]) -> dict:
    canvas = canvas_file(name)
    if canvas:
        return {"student": canvas.student, "late": canvas.late, "canvas_user_id": canvas.user_id}
    return {"student": students.get(name, "")}


def _folder_entries(folder: Path):
    """(name, bytes, students) of each file and folder in ``folder``, hidden ones left out. A
    folder's files are zipped; Gradescope's ``submission_metadata.yml`` names each folder's students."""
    from ..grading.unpack import folder_as_zip

    students = gradescope_students(folder / GRADESCOPE_METADATA)
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.name == GRADESCOPE_METADATA or path.is_symlink():
            continue
        yield path.name, folder_as_zip(path) if path.is_dir() else path.read_bytes(), students


def _zip_entries(download: Path):
    """(name, bytes, no students) of each file in a downloaded zip of submissions."""
    with zipfile.ZipFile(download) as archive:
        for info in sorted(archive.infolist(), key=lambda info: info.filename):
            name = Path(info.filename).name
            if not info.is_dir() and not name.startswith(".") and not info.filename.startswith("__MACOSX/"):
                yield name, archive.read(info), {}


def gradescope_students(path: Path) -> dict[str, str]:
    """{submission folder: "Name, Other Name"} from Gradescope's export metadata, if there is one."""
    if not path.is_file():
        return {}
    metadata = yaml.safe_load(path.read_text()) or {}
    return {
        str(folder): ", ".join(str(submitter.get(":name", "")) for submitter in (fields or {}).get(":submitters", []))
        for folder, fields in metadata.items()
    }
