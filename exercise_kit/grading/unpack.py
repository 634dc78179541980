"""Submission stage: turn an uploaded file into a grading folder holding one notebook, or say why not.

Everything here reads the student's bytes as data: nothing of the submission runs. The folder it
fills is the kernel's whole world later (see ``sandbox``), so it receives the student's files and
nothing of the grader's.

Students submit the zip that the notebook's export cell makes, a notebook, or a zip of the folder
that holds their notebook (a file manager's "Compress"). Such a zip also carries Jupyter's
``.ipynb_checkpoints`` copies and, from a Mac, ``__MACOSX`` entries: neither is the student's work.
"""

import codecs
import contextlib
import io
import json
import zipfile
from pathlib import Path

import nbformat

from .verdicts import ok_test_spec

OTTER_LOG = ".OTTER_LOG"
MAX_UNPACKED_BYTES = 200 * 2**20  # a bigger export zip is not a notebook submission
NOT_WORK = {".ipynb_checkpoints", "__MACOSX"}  # Jupyter's autosaved copies, a Mac's file metadata


class InvalidSubmission(Exception):
    """The input is not something the grader can grade; the message says why, for the CSV."""


def unpack_autograder(autograder: bytes, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(autograder)) as zf:
        zf.extractall(folder)
    return folder


def assignment_name(source: Path) -> str | None:
    return json.loads((source / "otter_config.json").read_text()).get("assignment_name")


def public_tests(source: Path) -> dict:
    """The public test cases of the autograder's test files, as Otter keeps them in a student
    notebook's metadata: what the student's own check cells ran."""
    tests = {}
    for path in sorted((source / "tests").glob("*.py")):
        spec = ok_test_spec(path)
        suites = [
            {**suite, "cases": [case for case in suite["cases"] if not case.get("hidden")]} for suite in spec["suites"]
        ]
        tests[spec["name"]] = {**spec, "suites": suites}
    return tests


def unpack_submission(
    name: str, data: bytes, folder: Path, assignment_name, grade_from_log: bool = False, tests: dict | None = None
) -> Path:
    """Put the submission's notebook (and the files beside it in a zip) in ``folder``; check it.

    The notebook is named after the assignment, as the student's copy was: its Otter init cell,
    ``grader = otter.Notebook("<assignment>.ipynb")``, opens that file even while grading. Under
    any other name that cell fails, and so does every ``grader.check`` cell after it. The files
    beside it come along so that a notebook that reads a data file next to it still works.

    ``tests``: the instructor's public tests (``public_tests``), which replace whatever tests the
    notebook's metadata carries, so that its check cells run what every student's run: a notebook
    made from the solution (as staff try the grader) carries the hidden ones, and a student may
    have edited them.
    """
    notebook, home = find_notebook(name, data)
    nb = _parse(notebook)
    if not any(cell.cell_type == "code" for cell in nb.cells):
        raise InvalidSubmission("the notebook has no code cells")
    got = nb.metadata.get("otter", {}).get("assignment_name")
    if assignment_name and got not in (assignment_name, None):  # None: a copy that lost Otter's metadata
        raise InvalidSubmission(f"the notebook is for assignment {str(got)[:100]!r}, not {assignment_name!r}")
    if home is not None:
        _unpack_beside(data, home, folder, grade_from_log)
    path = folder / f"{assignment_name or 'submission'}.ipynb"
    if tests is not None:
        nb.metadata["otter"] = {**nb.metadata.get("otter", {}), "OK_FORMAT": True, "tests": tests}
        notebook = nbformat.writes(nb).encode()
    path.write_bytes(notebook)
    return path


def read_notebook(name: str, data: bytes) -> nbformat.NotebookNode:
    """The submission's notebook, found and read as the grader finds and reads it."""
    return _parse(find_notebook(name, data)[0])


def find_notebook(name: str, data: bytes) -> tuple[bytes, str | None]:
    """The bytes of the submission's one notebook, without a UTF-8 byte-order mark (which JSON
    readers refuse), and, for a zip, the folder in it that holds the notebook ("" at its top level,
    else ending in "/"). A zip is known by its content too: a folder arrives zipped under its name.
    """
    if Path(name).suffix.lower() == ".zip" or zipfile.is_zipfile(io.BytesIO(data)):
        with _open_zip(data) as zf:
            notebooks = [member for member in zf.infolist() if _is_notebook(member)]
            if not notebooks:
                raise InvalidSubmission("the zip holds no notebook (.ipynb)")
            if len(notebooks) > 1:
                raise InvalidSubmission(f"the zip holds {len(notebooks)} notebooks, not one")
            member = notebooks[0]
            return zf.read(member).removeprefix(codecs.BOM_UTF8), member.filename[: member.filename.rfind("/") + 1]
    if Path(name).suffix.lower() == ".ipynb":
        return data.removeprefix(codecs.BOM_UTF8), None
    raise InvalidSubmission("not a notebook (.ipynb) or the zip that the notebook's export cell makes")


def folder_as_zip(folder: Path) -> bytes:
    """A submission's folder (Gradescope's export has one per submission) as a zip of its files,
    for ``unpack_submission``. Symlinks are left out: they would bring in what they point at."""
    folder = Path(folder)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", strict_timestamps=False) as zf:
        for path in sorted(folder.rglob("*")):  # rglob does not enter symlinked folders
            if path.is_file() and not path.is_symlink():
                zf.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def _parse(notebook: bytes) -> nbformat.NotebookNode:
    try:
        return nbformat.reads(notebook.decode("utf-8"), as_version=4)
    except Exception as error:
        raise InvalidSubmission(f"the notebook cannot be read ({type(error).__name__}: {str(error)[:120]})") from error


def _is_notebook(member: zipfile.ZipInfo) -> bool:
    return not member.is_dir() and member.filename.lower().endswith(".ipynb") and not _is_not_work(member)


def _is_not_work(member: zipfile.ZipInfo) -> bool:
    return not NOT_WORK.isdisjoint(member.filename.split("/"))


def _unpack_beside(data: bytes, home: str, folder: Path, grade_from_log: bool) -> None:
    """Extract the files of the zip's folder ``home`` into ``folder``, but the notebook itself,
    what is not the student's work, and (unless asked) any ``.OTTER_LOG``: Otter would dill-load
    it, which runs arbitrary code."""
    with _open_zip(data) as zf:
        for member in zf.infolist():
            if not member.filename.startswith(home) or _is_notebook(member) or _is_not_work(member):
                continue
            relative = member.filename[len(home) :]
            if not relative or (Path(relative).name == OTTER_LOG and not grade_from_log):
                continue
            member.filename = relative  # zipfile extracts under this name, without '..' or a root
            zf.extract(member, folder)  # and never makes a symlink: a link's target is a file's text


@contextlib.contextmanager
def _open_zip(data: bytes):
    """The zip, checked for size; whatever goes wrong in reading it becomes an ``InvalidSubmission``."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            members = zf.infolist()
            if not members:
                raise InvalidSubmission("the zip is empty")
            if sum(member.file_size for member in members) > MAX_UNPACKED_BYTES:
                raise InvalidSubmission("the zip unpacks to more than 200 MB")
            yield zf
    except (zipfile.BadZipFile, EOFError) as error:
        raise InvalidSubmission(f"the zip is corrupt ({error})") from error
    except (NotImplementedError, RuntimeError) as error:  # a compression zipfile lacks, a password
        raise InvalidSubmission(f"the zip cannot be read ({error})") from error
    except OSError as error:
        raise InvalidSubmission(f"the zip's files cannot be unpacked ({type(error).__name__})") from error
