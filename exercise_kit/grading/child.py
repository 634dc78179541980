"""Stage 2, the grading child's side: run the notebook in a confined kernel, taking its values.

The child is forked from the fork server (``isolation.fork_server``), in its own session. It forks
the kernel's zygote first (``isolation.fork_kernel``), before it reads anything of the grader's,
then draws this submission's random probe, runs the notebook cell by cell and takes each
question's values at its check cell (``grading.values``). What it has to tell the worker, besides
the values, is its ``ChildReport``; its output goes to ``grading.log``.

Its files in the grading folder (the folder is 0711, these 0600: the grader's only)::

    probe.json    the random weights and inputs sent to the kernel with the requests
    child.json    the ChildReport
    grading.log   the child's output
"""

import ctypes
import json
import os
import secrets
import sys
import tempfile
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil

from .. import assignment
from ..files import write_atomic
from ..isolation import fork_kernel
from . import values, verdicts
from .stopwatch import Stopwatch

MARKER = "EXERCISE_KIT_SUBMISSION"  # set in the child's environment, inherited by the kernel
PR_SET_CHILD_SUBREAPER = 36
PROBE = "probe.json"
LOG = "grading.log"
REPORT = "child.json"
CHILD_TOTAL = "the child, its first line to its last"  # its last lap: what the others leave out is untimed


@dataclass(frozen=True)
class ChildReport:
    """What the child tells the worker when it ends (a child that is killed tells nothing)."""

    output_limited: bool = False  # the kernel sent too much output, and was shut down
    leftover_processes: int = 0  # left running by the notebook, killed by the child
    stages: list[tuple[str, float]] | None = None  # its stages' seconds (``Stopwatch``)

    def write(self, folder: Path) -> None:
        write_atomic(folder / REPORT, json.dumps(self.__dict__), mode=0o600)

    @classmethod
    def read(cls, folder: Path) -> "ChildReport":
        try:
            data = json.loads((folder / REPORT).read_text())
            return cls(
                bool(data["output_limited"]),
                int(data["leftover_processes"]),
                [(str(name), float(seconds)) for name, seconds in data["stages"]],
            )
        except (OSError, ValueError, KeyError, TypeError):
            return cls()


def grade_in_child(folder_name: str, marker: str, sandboxed: bool) -> None:
    """The child: own session, reaper of its orphans, output to a log, then the notebook."""
    started = time.perf_counter()
    os.setsid()
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    folder = Path(folder_name)
    os.environ[MARKER] = marker
    # Submissions are graded side by side, one per core: TensorFlow's thread pools only contend.
    os.environ.update(TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1", OMP_NUM_THREADS="1")
    log = os.open(folder / LOG, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    work, stopwatch, output_limited = folder / "work", Stopwatch(), False
    # The zygote, and so the kernel, is forked before this process reads the checks or draws the probe.
    with stopwatch.lap("fork the zygote"):
        hide = _grading_folders(folder) if sandboxed else None
        zygote = fork_kernel.install(folder / "jupyter", confine_hide=hide)

    import nbformat

    with stopwatch.lap("draw the probe"):
        source = folder / "source"
        checks, gatherer = assignment.load_checks(source), assignment.values_source(source)
        probe = checks.random_probe(np.random.default_rng(secrets.randbits(64)))
        write_atomic(folder / PROBE, json.dumps({key: array.tolist() for key, array in probe.items()}), mode=0o600)
        requests = {
            question: checks.request([name for name, _ in checks_], probe)
            for question, checks_ in verdicts.question_checks(source).items()
        }

    with stopwatch.lap("read the notebook"):
        notebook = next(work.glob("*.ipynb"))
        (work / ".kernel").mkdir(exist_ok=True)
        # ZeroMQ over Unix sockets in the kernel's own folder: the kernel needs no network at all.
        km = values.BoundedKernelManager(
            kernel_name="python3",
            transport="ipc",
            ip=str(work / ".kernel" / "ipc"),
            connection_file=str(work / ".kernel" / "connection.json"),
        )
        client = values.BoundedNotebookClient(
            nbformat.read(notebook, as_version=4),
            km=km,
            allow_errors=True,
            timeout=None,  # the worker's wall-clock limit covers the whole submission
            record_timing=False,
            resources={"metadata": {"path": str(work)}},
        )
    try:
        values.run_notebook(
            client,
            requests,
            gatherer,
            assignment.load_values(source).MIME_TYPE,
            folder / "values",
            checks.TAKEN_ONCE,
            stopwatch,
        )
    except values.OutputLimitExceeded:  # the kernel was shut down; the questions taken before keep their values
        output_limited = True
    with stopwatch.lap("wait for the kernel to go"):
        descendants = psutil.Process().children(recursive=True)
        # The kernel was killed on shutdown: give it a moment to go; what stays was left by the notebook.
        _, leftovers = psutil.wait_procs([process for process in descendants if process.pid != zygote], timeout=0.5)
    for process in leftovers:
        print(f"Left running by the notebook: process {process.pid}", file=sys.stderr)
    for process in descendants:
        with suppress(psutil.NoSuchProcess):
            process.kill()
    stopwatch.laps.append((CHILD_TOTAL, time.perf_counter() - started))
    ChildReport(output_limited, len(leftovers), stopwatch.laps).write(folder)
    # Skip the interpreter's teardown, which takes most of a second with TensorFlow loaded.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _grading_folders(folder: Path) -> list[Path]:
    """The folders that hold other submissions' grading folders, for the kernel not to see.

    Those under the kernel's private temporary folders (``/tmp``, the usual place) are out of its
    sight already.
    """
    private = [Path(path).resolve() for path in ("/tmp", "/var/tmp", "/dev/shm")]
    candidates = {Path(tempfile.gettempdir()).resolve(), folder.parent.resolve()}
    return sorted(path for path in candidates if not any(path == p or p in path.parents for p in private))
