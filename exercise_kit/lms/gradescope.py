"""Gradescope job: the autograder zip's entry point, and a Gradescope-shaped run to try a zip here.

On Gradescope the zip's ``setup.sh`` installs the pinned grading environment and the kit (shipped
in the zip) once, and its ``run_autograder`` runs ``python -m exercise_kit run-autograder`` as root
for each submission. ``grade`` then grades the upload in ``/autograder/submission`` with the batch
grader's own code (``grading.submission``: sandboxed kernel, values at each check cell,
points computed outside the kernel) and writes ``/autograder/results/results.json``. A score means
the same thing on Gradescope and in ``python -m exercise_kit grade``.

Gradescope runs the container as root with Docker's default seccomp profile, which refuses the
namespaces the batch grader confines kernels with. There the kernel gets a uid of its own, which
cannot read the autograder's files (``grade`` makes them root's alone) nor reach the grader's
processes, and Landlock on top where the host has it (``isolation.confine``).

``run`` lays a folder out as Gradescope does (``<folder>/autograder/{source,submission,results}``)
and runs the zip's own ``run_autograder`` in it, pointed there and at this machine's Python, to try
a zip before uploading it.
"""

import io
import json
import os
import subprocess
import sys
import traceback
import zipfile
from pathlib import Path

from ..grading.record import COMPLETED, Record, Status
from ..grading.unpack import folder_as_zip
from ..paths import AUTOGRADER_ZIP

GRADESCOPE_ROOT = Path("/autograder")
# Gradescope's defaults: 10 minutes, then it stops the autograder with no result; 768 MB for the
# whole container. The kit stops a notebook first, so that the student gets a result and a reason.
# The memory cap is the grading child's tree (kernel included); the grader and its fork server
# take about 150 MB beside it.
TIMEOUT_SECONDS = 480
MEMORY_MB = 600
# What Gradescope writes beside the submission (its documented fields).
SUBMISSION_METADATA = {
    "id": 1,
    "created_at": "2026-01-01T12:00:00.000000-08:00",
    "assignment": {"id": 1, "title": "Exercise 6-3 (LSTM)", "total_points": "20.0"},
    "submission_method": "upload",
    "users": [{"email": "student@example.edu", "id": 1, "name": "A Student"}],
    "previous_submissions": [],
}


def grade(root: Path = GRADESCOPE_ROOT, timeout: float = TIMEOUT_SECONDS) -> dict:
    """Grade ``<root>/submission``, write ``<root>/results/results.json``, and return it.

    Whatever happens, a valid results file is written: a failure of the grader itself gives every
    question 0 and says so (its traceback goes to the instructor's output, not the student's).
    """
    from ..grading import submission
    from ..grading.watch import Limits
    from ..isolation import confine

    root = Path(root)
    source = root / "source"
    lock(source)
    limits = Limits(timeout=timeout, memory_mb=MEMORY_MB, alone=True)
    print(f"Kernel isolation here: {', '.join(confine.available().layers())}", flush=True)
    autograder = autograder_bytes(source)
    try:
        name, data = submitted_file(root / "submission")
        record = submission.grade_submission(name, data, autograder, limits)
    except Exception as error:  # the grader failed, not the notebook: recorded, never lost
        traceback.print_exc(file=sys.stdout)
        record = submission.failed_record("submission", Status("Grader error", type(error).__name__), autograder)
    show_hidden = json.loads((source / "otter_config.json").read_text()).get("show_hidden", False)
    results = gradescope_results(record, show_hidden)
    submission.RESULTS_VALIDATOR.validate(results)
    print(
        f"{record.status}: {results['score']:g} points in {record.seconds} s, "
        f"peak {record.peak_memory_mb} MB (kernel's tree)",
        flush=True,
    )
    path = root / "results" / "results.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1))
    return results


def gradescope_results(record: Record, show_hidden: bool) -> dict:
    """The record's results as Gradescope shows them: public checks at once, each question's score
    and one-sentence verdict when grades are published (``show_hidden``) or never; a grading that
    did not complete says why, at once."""
    results = json.loads(json.dumps(record.results))
    for test in results["tests"]:
        if test.get("visibility") == "hidden":
            test["visibility"] = "after_published" if show_hidden else "hidden"
    status = str(record.status)
    if status != COMPLETED:
        results["output"] = f"Grading did not complete. {status}."
    results["stdout_visibility"] = "hidden"
    results["extra_data"] = {
        "grading_status": status,
        "seconds": record.seconds,
        "peak_memory_mb": record.peak_memory_mb,
    }
    return results


def lock(source: Path) -> None:
    """Make the autograder's files root's alone: the kernel's uid must not read the hidden tests."""
    for folder, _dirs, files in os.walk(source):
        os.chmod(folder, 0o700)
        for name in files:
            path = os.path.join(folder, name)
            os.chmod(path, os.stat(path).st_mode & 0o700)


def autograder_bytes(source: Path) -> bytes:
    """The autograder's grading files (tests, support files, config) as the zip the grader reads."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(
            [source / "otter_config.json", *(source / "tests").rglob("*"), *(source / "files").rglob("*")]
        ):
            if path.is_file():
                archive.write(path, path.relative_to(source).as_posix())
    return buffer.getvalue()


def submitted_file(folder: Path) -> tuple[str, bytes]:
    """What the student uploaded, as one file: a lone notebook as it is, anything else (Gradescope
    unpacks an uploaded zip) zipped again, for the grader to check as it checks an export zip."""
    files = sorted(path for path in Path(folder).iterdir() if not path.is_symlink())
    if len(files) == 1 and files[0].is_file() and files[0].suffix == ".ipynb":
        return files[0].name, files[0].read_bytes()
    return "submission.zip", folder_as_zip(folder)


# Trying a zip on this machine -------------------------------------------------------------------


def lay_out(folder: Path, submission: Path, autograder: Path = AUTOGRADER_ZIP) -> Path:
    """Lay ``folder/autograder/`` out as Gradescope does for ``submission``; returns that folder."""
    folder, submission = Path(folder), Path(submission)
    root = folder / "autograder"
    for part in ("source", "submission", "results"):
        (root / part).mkdir(parents=True)
    with zipfile.ZipFile(autograder) as archive:
        archive.extractall(root / "source")
    (root / "source" / "run_autograder").chmod(0o755)
    try:  # Gradescope unpacks an uploaded zip
        with zipfile.ZipFile(submission) as archive:
            archive.extractall(root / "submission")
    except zipfile.BadZipFile:  # a notebook, or a zip it cannot read: kept as uploaded
        (root / "submission" / submission.name).write_bytes(submission.read_bytes())
    (root / "submission_metadata.json").write_text(json.dumps(SUBMISSION_METADATA, indent=2))
    return root


def start(folder: Path, args=(), preexec_fn=None) -> subprocess.Popen:
    """Run the zip's ``run_autograder`` in the folder ``lay_out`` made, with this machine's Python
    in place of the one ``setup.sh`` installs; its output goes to ``results/stdout``."""
    root = Path(folder) / "autograder"
    environment = {**os.environ, "EXERCISE_KIT_AUTOGRADER_ROOT": str(root), "EXERCISE_KIT_PYTHON": sys.executable}
    with open(root / "results" / "stdout", "wb") as stdout:  # where Gradescope keeps it for instructors
        return subprocess.Popen(
            [str(root / "source" / "run_autograder"), *args],
            cwd=root,
            env=environment,
            stdout=stdout,
            stderr=subprocess.STDOUT,
            preexec_fn=preexec_fn,
        )


def run(submission: Path, folder: Path, *, notebook_timeout: float | None = None, preexec_fn=None) -> dict:
    """Grade ``submission`` as Gradescope would; returns the ``results.json`` the zip wrote.

    ``notebook_timeout``: the grader's limit for the notebook, in place of the zip's own;
    ``preexec_fn``: run in the grader's process before it starts (to make it a container's, say).
    """
    root = lay_out(folder, submission)
    args = ["--timeout", str(notebook_timeout)] if notebook_timeout else []
    timeout = (notebook_timeout or TIMEOUT_SECONDS) + 120  # the grader's own start and end
    process = start(folder, args, preexec_fn)
    try:
        returncode = process.wait(timeout)
    finally:  # also on a timeout: no grader or kernel left behind
        from ..grading.watch import kill_tree

        kill_tree(process.pid)
    if returncode != 0:
        raise RuntimeError(f"run_autograder exited with {returncode}: see {root / 'results' / 'stdout'}")
    return json.loads((root / "results" / "results.json").read_text())


def main(args) -> None:
    """The run-autograder job (the zip's ``run_autograder`` runs it as root)."""
    grade(args.root, timeout=args.timeout or TIMEOUT_SECONDS)
