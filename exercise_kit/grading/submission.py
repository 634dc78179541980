"""Grade one submission: its notebook runs in a sandboxed kernel, every point is computed outside.

The stages, in order, each in its module:

1. ``unpack``: the submission's file, read as data, into the kernel's folder (or why not);
2. ``watch`` and ``child``: a grading child forked from the fork server runs the notebook in a
   confined kernel, under the worker's timeout, memory and disk caps; nothing of it is left after;
3. ``values``: in the child, each question's values taken from the kernel at its check cell;
4. ``verdicts``: in the worker, each question scored from those values by the assignment's checks.

The worker that calls ``grade_submission`` never runs or unpickles anything of the submission.

Layout of the private grading folder (0711: others may pass through it to ``work/`` by its full
path, which a kernel confined without namespaces needs, but not list it; everything else in it is
the grader's only)::

    source/      the autograder zip, unpacked: hidden tests, the assignment's checks and values modules
    work/        the kernel's folder: the student's notebook and files, the kernel's connection
                 file and sockets. The only folder the kernel sees (with namespaces) or may read.
    values/      each question's values as the kernel gave them
    probe.json, child.json, grading.log: the grading child's (``child``)
"""

import json
import os
import tempfile
import time
from pathlib import Path

import jsonschema
import numpy as np

from .. import assignment
from ..isolation import confine
from ..isolation.confine import SandboxUnavailable
from . import unpack, values, verdicts
from .child import LOG, PROBE, ChildReport
from .record import COMPLETED, Record, Status, failed
from .stopwatch import Stopwatch
from .watch import MAX_FILES, Ending, Limits, Outcome, grading_folder, run_child

LOG_TAIL_BYTES = 64 * 1024  # of the grading child's log, read for the reason of a crash
RESULTS_VALIDATOR = jsonschema.Draft202012Validator(
    json.loads((Path(__file__).parent.parent / "schemas" / "gradescope_results.schema.json").read_text())
)


def check_sandbox(limits: Limits) -> None:
    """Raise ``SandboxUnavailable`` when kernels are to be confined and this machine cannot."""
    if limits.sandbox:
        confine.require(alone=limits.alone)


def grade_submission(
    name: str, data: bytes, autograder: bytes, limits: Limits, stopwatch: Stopwatch | None = None
) -> Record:
    """Grade the submission file ``name`` (its bytes ``data``) with the autograder zip's bytes.

    ``stopwatch``: gets the time of each stage, the grading child's included.
    """
    start, stopwatch = time.monotonic(), stopwatch or Stopwatch()
    with grading_folder() as folder:
        with stopwatch.lap("unpack"):
            folder.chmod(0o711)
            for part in ("source", "values", "work"):
                (folder / part).mkdir(mode=0o700)
            source = unpack.unpack_autograder(autograder, folder / "source")
            questions = verdicts.question_checks(source)
            try:
                check_sandbox(limits)
                unpack.unpack_submission(
                    name,
                    data,
                    folder / "work",
                    unpack.assignment_name(source),
                    limits.grade_from_log,
                    unpack.public_tests(source),
                )
            except (unpack.InvalidSubmission, SandboxUnavailable) as reason:
                kind = "Invalid submission" if isinstance(reason, unpack.InvalidSubmission) else "Not graded"
                return failed(name, Status(kind, str(reason)), questions)

        with stopwatch.lap("grading child, start to end"):
            outcome = run_child(folder, limits, stopwatch)
        report = ChildReport.read(folder)
        stopwatch.laps += report.stages or []
        with stopwatch.lap("verdicts"):
            taken = values.read_taken(folder / "values")
            probe = {key: np.asarray(value) for key, value in _read_json(folder / PROBE).items()}
            evidence: dict = {}
            results = verdicts.results(
                taken, questions, assignment.load_checks(source), assignment.load_values(source), probe, evidence
            )
            RESULTS_VALIDATOR.validate(results)
        return Record(
            name,
            _status(outcome, report, folder, limits),
            results,
            round(time.monotonic() - start, 1),
            round(outcome.peak_memory_mb, 1),
            evidence,
        )


def failed_record(name: str, status: Status, autograder: bytes) -> Record:
    """The record of a submission that could not be graded: 0 on every question, and why."""
    with tempfile.TemporaryDirectory(prefix="exercise-kit-") as tmp:
        return failed(
            name, status, verdicts.question_checks(unpack.unpack_autograder(autograder, Path(tmp) / "source"))
        )


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _status(outcome: Outcome, report: ChildReport, folder: Path, limits: Limits) -> Status:
    """How grading ended: a limit the worker enforced, else what the child reported, else its crash."""
    if outcome.ending is Ending.TIMEOUT:
        kind, detail = "Timeout", f"grading took longer than {limits.timeout:g} s"
    elif outcome.ending is Ending.MEMORY:
        kind, detail = "Memory limit", f"the grader and its kernel used more than {limits.memory_mb} MB"
    elif outcome.ending is Ending.DISK:
        kind, detail = (
            "Disk limit",
            f"the notebook wrote more than {limits.disk_mb} MB or {MAX_FILES} files into its folder",
        )
    elif report.output_limited:
        kind = "Output limit"
        detail = (
            f"the notebook sent more than {values.MAX_OUTPUT_BYTES // 2**20} MB of output, "
            f"or {values.MAX_MESSAGE_BYTES // 2**20} MB at once"
        )
    elif outcome.ending is not Ending.FINISHED:
        kind, detail = "Crashed", _last_error(folder / LOG)
    else:
        kind, detail = COMPLETED, ""
    return Status(kind, detail, report.leftover_processes, unsandboxed=not limits.sandbox)


def _last_error(log_path: Path) -> str:
    """The last line of the grader's traceback, which names what broke (e.g. the kernel died).

    Only the grading child and the zygote write the log (a kernel holds none of their
    descriptors), and only its end is read.
    """
    try:
        with open(log_path, "rb") as log:
            log.seek(max(0, log.seek(0, os.SEEK_END) - LOG_TAIL_BYTES))
            lines = [line.strip() for line in log.read().decode(errors="replace").splitlines() if line.strip()]
    except OSError:
        lines = []
    errors = [line for line in lines if "Error" in line or "Exception" in line]
    return (errors[-1] if errors else "the grader did not finish")[:300]
