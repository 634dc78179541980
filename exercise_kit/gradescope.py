"""The autograder zip run as Gradescope runs it, on this machine, to try a zip before uploading it.

Gradescope unpacks the zip into ``/autograder/source/``, the student's upload into
``/autograder/submission/`` (a zip upload unpacked), writes ``submission_metadata.json`` and runs
``run_autograder``, which runs ``python /autograder/source/run_otter.py``: Otter's runner on the
path ``"/autograder"``, written into the script. The runner reads ``otter_config.json`` from
``<that path>/source/``, so the config's ``autograder_dir`` key cannot move it: the key is read
from the folder it would name. So the zip's own ``run_otter.py`` runs here as a copy in which that
path, and nothing else, is replaced by a temporary folder laid out the same way. The Python is
the kit's (pinned to the zip's versions), in place of Gradescope's conda environment.
"""

import json
import shutil
import subprocess
import sys
import zipfile
from contextlib import suppress
from pathlib import Path

import psutil

from .paths import AUTOGRADER_ZIP

GRADESCOPE_DIR = '"/autograder"'
# What Gradescope writes beside the submission (its documented fields; Otter reads it for plugins).
SUBMISSION_METADATA = {
    "id": 1,
    "created_at": "2026-01-01T12:00:00.000000-08:00",
    "assignment": {"id": 1, "title": "Exercise 6-3 (LSTM)", "total_points": "20.0"},
    "submission_method": "upload",
    "users": [{"email": "student@example.edu", "id": 1, "name": "A Student"}],
    "previous_submissions": [],
}


def lay_out(folder: Path, submission: Path, autograder: Path = AUTOGRADER_ZIP) -> Path:
    """Lay ``folder/autograder/`` out as Gradescope does for ``submission``; returns that folder.

    Also writes ``folder/run_otter.py``, the zip's entry point pointed at it.
    """
    folder, submission = Path(folder), Path(submission)
    root = folder / "autograder"
    for part in ("source", "submission", "results"):
        (root / part).mkdir(parents=True)
    with zipfile.ZipFile(autograder) as archive:
        archive.extractall(root / "source")
    if submission.suffix == ".zip":
        with zipfile.ZipFile(submission) as archive:
            archive.extractall(root / "submission")
    else:
        shutil.copyfile(submission, root / "submission" / submission.name)
    (root / "submission_metadata.json").write_text(json.dumps(SUBMISSION_METADATA, indent=2))
    entry_point = (root / "source" / "run_otter.py").read_text()
    if entry_point.count(GRADESCOPE_DIR) != 1:
        raise ValueError(f"run_otter.py should name {GRADESCOPE_DIR} once; this Otter writes it differently")
    (folder / "run_otter.py").write_text(entry_point.replace(GRADESCOPE_DIR, json.dumps(str(root))))
    return root


def start(folder: Path) -> subprocess.Popen:
    """Start the entry point written by ``lay_out`` in Gradescope's working folder; output to ``stdout``."""
    root = Path(folder) / "autograder"
    with open(root / "results" / "stdout", "wb") as stdout:  # where Gradescope keeps it for instructors
        return subprocess.Popen([sys.executable, str(Path(folder) / "run_otter.py")], cwd=root, stdout=stdout, stderr=subprocess.STDOUT)


def kill_tree(pid: int) -> None:
    with suppress(psutil.NoSuchProcess):
        parent = psutil.Process(pid)
        for process in [*parent.children(recursive=True), parent]:
            with suppress(psutil.NoSuchProcess):
                process.kill()


def run(submission: Path, folder: Path, timeout: float = 600) -> dict:
    """Grade ``submission`` as Gradescope would; returns the ``results.json`` the zip wrote."""
    root = lay_out(folder, submission)
    process = start(folder)
    try:
        returncode = process.wait(timeout)
    finally:
        kill_tree(process.pid)  # the kernel too, if the run timed out
    if returncode != 0:
        raise RuntimeError(f"run_otter.py exited with {returncode}: see {root / 'results' / 'stdout'}")
    return json.loads((root / "results" / "results.json").read_text())
