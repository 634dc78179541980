"""Grade one submission with Otter's own runner, in a child process under limits.

The worker that calls ``grade_submission`` stays clean: it lays out a Gradescope-shaped folder,
unpacks and checks the submission as data, then forks a child (from ``fork_server``, which imported
Otter and TensorFlow once) which calls ``otter.run.run_autograder.main``. The worker enforces a
wall-clock timeout and a memory cap on the child's whole process tree (grader and kernel), kills
every descendant when grading ends, and finally re-scores the evidence with ``verify``.
"""

import ctypes
import io
import json
import os
import secrets
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import nbformat
import numpy as np
import psutil

from . import fork_kernel, fork_server, verify

MARKER = "EXERCISE_KIT_SUBMISSION"  # set in the child's environment, inherited by the kernel
OTTER_LOG = ".OTTER_LOG"
MAX_UNPACKED_BYTES = 200 * 2**20  # a bigger export zip is not a notebook submission
POLL_SECONDS = 0.1
SCAN_SECONDS = 1.0
STOP = threading.Event()  # set by the batch grader on Ctrl-C: children are killed at once
LEFTOVERS = "leftover_processes"  # written by the child: how many it had to kill
PR_SET_CHILD_SUBREAPER = 36
RESULTS_VALIDATOR = jsonschema.Draft202012Validator(
    json.loads((Path(__file__).parent / "schemas" / "gradescope_results.schema.json").read_text())
)
EVIDENCE_CELL = """\
# Added by the grader: save the evidence for the kit's clean check.
import lstm_checks as _kit_lstm_checks
_kit_lstm_checks.save_evidence(globals(), {probe!r}, {evidence!r})
"""


@dataclass(frozen=True)
class Limits:
    timeout: float = 600.0  # seconds of wall clock for the whole submission
    memory_mb: int = 2048  # memory (PSS) of the grader and its kernel together
    grade_from_log: bool = False  # deserialise the student's .OTTER_LOG (runs code from it)


class InvalidSubmission(Exception):
    """The input is not something Otter can grade; the message says why, for the CSV."""


def grade_submission(name: str, data: bytes, autograder: bytes, limits: Limits) -> dict:
    """Grade the submission file ``name`` (its bytes ``data``); return its record (see report.py)."""
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="exercise-kit-") as tmp:
        ag_dir, evidence_dir = Path(tmp) / "autograder", Path(tmp) / "evidence"
        for folder in ("source", "submission", "results"):
            (ag_dir / folder).mkdir(parents=True)
        evidence_dir.mkdir()
        (ag_dir / "submission_metadata.json").write_text("{}")
        source = unpack_autograder(autograder, ag_dir / "source")
        checks, questions = verify.load_checks(source), verify.question_checks(source)
        check_names = [check for checks_of_question in questions.values() for check, _ in checks_of_question]
        config = json.loads((source / "otter_config.json").read_text())

        try:
            notebook = unpack_submission(name, data, ag_dir / "submission", config.get("assignment_name"), limits)
        except InvalidSubmission as reason:
            return _failed_record(name, f"Invalid submission: {reason}", questions)

        probe = checks.random_probe(np.random.default_rng(secrets.randbits(64)))
        probe_path, evidence_path = evidence_dir / "probe.npz", evidence_dir / "evidence.npz"
        np.savez(probe_path, **probe)
        add_evidence_cell(notebook, probe_path, evidence_path)

        outcome, peak_mb = run_child(ag_dir, Path(tmp) / "grading.log", limits)
        otter_results = read_results(ag_dir / "results" / "results.json")
        verdicts = verify.clean_verdicts(checks, evidence_path, probe, check_names)
        results, overrides = verify.rescore(otter_results or {"tests": []}, questions, verdicts)
        status = _status(outcome, otter_results, overrides, Path(tmp), limits)
        return _record(name, status, results, start, peak_mb)


def failed_record(name: str, status: str, autograder: bytes) -> dict:
    """The record of a submission that could not be graded: 0 on every question, and why."""
    with tempfile.TemporaryDirectory(prefix="exercise-kit-") as tmp:
        return _failed_record(name, status, verify.question_checks(unpack_autograder(autograder, Path(tmp) / "source")))


def _failed_record(name: str, status: str, questions: dict) -> dict:
    reason = status.partition(": ")[2] or status
    verdicts = {name: reason for checks in questions.values() for name, _ in checks}
    results, _ = verify.rescore({"tests": []}, questions, verdicts)
    return _record(name, status, results, time.monotonic(), 0.0)


def unpack_autograder(autograder: bytes, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(autograder)) as zf:
        zf.extractall(folder)
    return folder


def _record(name, status, results, start, peak_mb):
    return {
        "file": name,
        "grading_status": status,
        "results": results,
        "seconds": round(time.monotonic() - start, 1),
        "peak_memory_mb": round(peak_mb, 1),
    }


def unpack_submission(name: str, data: bytes, folder: Path, assignment_name, limits: Limits) -> Path:
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
        if not limits.grade_from_log:
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


def add_evidence_cell(notebook: Path, probe_path: Path, evidence_path: Path) -> None:
    """Append the cell that saves the evidence; Otter's own final cell comes after it."""
    nb = nbformat.read(notebook, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(EVIDENCE_CELL.format(probe=str(probe_path), evidence=str(evidence_path))))
    nbformat.write(nb, notebook)


def read_results(path: Path):
    """Otter's results.json as data, or None when it is missing or not Gradescope's format."""
    try:
        results = json.loads(path.read_text())
        RESULTS_VALIDATOR.validate(results)
        return results
    except (OSError, ValueError, jsonschema.ValidationError):
        return None


def run_child(ag_dir: Path, log_path: Path, limits: Limits) -> tuple[str, float]:
    """Run Otter in a child; return its outcome and the peak memory (MB) of its process tree."""
    marker = secrets.token_hex(8)
    child = fork_server.context().Process(target=_grade_in_child, args=(str(ag_dir), str(log_path), marker))
    child.start()
    deadline = time.monotonic() + limits.timeout
    outcome, peak_mb, last_scan, tree = "finished", 0.0, 0.0, []
    while child.is_alive():
        # Each second, find the tree anew (a scan of every process) and read its PSS, which counts
        # the libraries shared by grader and kernel once but costs milliseconds a process. In
        # between, the RSS of the processes known is cheap; over the cap, PSS decides at once.
        if time.monotonic() - last_scan > SCAN_SECONDS:
            tree, last_scan = process_tree(child.pid), time.monotonic()
            peak_mb = max(peak_mb, memory_mb(tree, "pss"))
        elif memory_mb(tree, "rss") > limits.memory_mb:
            peak_mb = max(peak_mb, memory_mb(process_tree(child.pid), "pss"))
        if peak_mb > limits.memory_mb:
            outcome = "memory"
            break
        if time.monotonic() > deadline:
            outcome = "timeout"
            break
        if STOP.is_set():
            outcome = "interrupted"
            break
        child.join(POLL_SECONDS)
    kill_tree(child.pid, marker)
    child.join()
    if outcome == "finished" and child.exitcode != 0:
        outcome = "crashed"
    return outcome, peak_mb


def process_tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def memory_mb(processes: list[psutil.Process], kind: str) -> float:
    """Memory of the processes together: "rss" (resident) or "pss" (shared pages divided among
    the processes that map them, so the sum counts each library once, as a container's limit does)."""
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss if kind == "rss" else process.memory_full_info().pss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


def kill_tree(pid: int, marker: str) -> None:
    """Kill the child, its descendants, and anything else that still carries its marker."""
    processes = []
    try:
        root = psutil.Process(pid)
        root.suspend()  # so that it cannot start anything new while the tree is collected
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        pass
    for process in psutil.process_iter():
        try:
            if process.environ().get(MARKER) == marker and process not in processes:
                processes.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass
    for process in processes:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(processes, timeout=10)


def _grade_in_child(ag_dir: str, log_path: str, marker: str) -> None:
    """The child: own session, reaper of its orphans, output to a log, then Otter's runner."""
    os.setsid()
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    os.environ[MARKER] = marker
    os.environ["MPLBACKEND"] = "agg"  # figures are not graded: do not spend time rendering them
    # Submissions are graded side by side, one per core: TensorFlow's thread pools only contend.
    os.environ.update(TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1", OMP_NUM_THREADS="1")
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    zygote = fork_kernel.install(Path(ag_dir).parent / "jupyter")  # before Otter starts any thread
    from nbclient import NotebookClient
    from otter.run.run_autograder import main as run_autograder

    # Otter's last cell has written the results when the kernel is shut down: kill it rather
    # than wait 1-3 s for a polite exit (Otter builds its executor's config itself).
    NotebookClient.shutdown_kernel.default_value = "immediate"

    # otter_run=False makes Otter run the notebook in the python3 kernel whatever the notebook's
    # metadata names, as on Gradescope.
    run_autograder(ag_dir, otter_run=False, logo=False, debug=False)
    descendants = psutil.Process().children(recursive=True)  # the kernel has been shut down
    leftovers = [process for process in descendants if process.pid != zygote]
    Path(ag_dir, "..", LEFTOVERS).write_text(str(len(leftovers)))
    for process in descendants:
        process.kill()
    # Otter has written and closed results.json: skip the interpreter's teardown, which takes
    # most of a second with TensorFlow loaded.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _status(outcome, otter_results, overrides, folder: Path, limits: Limits) -> str:
    if outcome == "timeout":
        status = f"Timeout: grading took longer than {limits.timeout:g} s"
    elif outcome == "memory":
        status = f"Memory limit: the grader and its kernel used more than {limits.memory_mb} MB"
    elif outcome == "crashed" or otter_results is None:
        status = f"Crashed: {_last_error(folder / 'grading.log')}"
    elif not any(test.get("max_score") is not None for test in otter_results["tests"]):
        status = "Completed; Otter's own grading failed, the clean check alone scored it"
    else:
        status = "Completed"
    if overrides:
        status += "; clean check overrode " + ", ".join(overrides)
    leftovers = int((folder / LEFTOVERS).read_text()) if (folder / LEFTOVERS).exists() else 0
    if leftovers:
        status += f"; {leftovers} process{'es were' if leftovers > 1 else ' was'} left running by the notebook and killed"
    return status


def _last_error(log_path: Path) -> str:
    """The last line of the grader's traceback, which names what broke (e.g. the kernel died)."""
    try:
        lines = [line.strip() for line in log_path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        lines = []
    errors = [line for line in lines if "Error" in line or "Exception" in line]
    return (errors[-1] if errors else "Otter did not finish grading")[:300]
