"""Submission stage: turn an uploaded file into a grading folder holding one notebook, or say why not.

Everything here reads the student's bytes as data: nothing of the submission runs. The folder it
fills is the kernel's whole world later (see ``sandbox``), so it receives the student's files and
nothing of the grader's.
"""

import io
import json
import zipfile
from pathlib import Path

import nbformat

OTTER_LOG = ".OTTER_LOG"
MAX_UNPACKED_BYTES = 200 * 2**20  # a bigger export zip is not a notebook submission


class InvalidSubmission(Exception):
    """The input is not something the grader can grade; the message says why, for the CSV."""


def unpack_autograder(autograder: bytes, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(autograder)) as zf:
        zf.extractall(folder)
    return folder


def assignment_name(source: Path) -> str | None:
    return json.loads((source / "otter_config.json").read_text()).get("assignment_name")


def unpack_submission(name: str, data: bytes, folder: Path, assignment_name, grade_from_log: bool = False) -> Path:
    """Put the submission's notebook (and the files of its export zip) in ``folder``; check it.

    The notebook is named after the assignment, as the student's copy was: its Otter init cell,
    ``grader = otter.Notebook("<assignment>.ipynb")``, opens that file even while grading. Under
    any other name that cell fails, and so does every ``grader.check`` cell after it.
    """
    suffix = Path(name).suffix.lower()
    if suffix == ".ipynb":
        (folder / "submission.ipynb").write_bytes(data)
    elif suffix == ".zip":
        _unpack_zip(data, folder)
        if not grade_from_log:
            (folder / OTTER_LOG).unlink(missing_ok=True)  # Otter would dill-load it: arbitrary code
    else:
        raise InvalidSubmission("not a notebook (.ipynb) or the zip that the notebook's export cell makes")

    notebooks = sorted(folder.glob("*.ipynb"))
    if len(notebooks) != 1:
        raise InvalidSubmission(f"the zip holds {len(notebooks) or 'no'} notebook{'s' if len(notebooks) != 1 else ''} at its top level, not one")
    try:
        nb = nbformat.read(notebooks[0], as_version=4)
    except Exception as error:
        raise InvalidSubmission(f"the notebook cannot be read ({type(error).__name__}: {str(error)[:120]})")
    if not any(cell.cell_type == "code" for cell in nb.cells):
        raise InvalidSubmission("the notebook has no code cells")
    got = nb.metadata.get("otter", {}).get("assignment_name")
    if assignment_name and got != assignment_name:
        raise InvalidSubmission(f"the notebook is for assignment '{got}', not '{assignment_name}'")
    return notebooks[0].rename(folder / f"{assignment_name}.ipynb") if assignment_name else notebooks[0]


def _unpack_zip(data: bytes, folder: Path) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            members = zf.infolist()
            if not members:
                raise InvalidSubmission("the zip is empty")
            if sum(member.file_size for member in members) > MAX_UNPACKED_BYTES:
                raise InvalidSubmission("the zip unpacks to more than 200 MB")
            zf.extractall(folder)  # zipfile drops absolute paths and '..' from member names
    except zipfile.BadZipFile as error:
        raise InvalidSubmission(f"the zip is corrupt ({error})")
