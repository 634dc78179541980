"""Grade one submission: its notebook runs in a sandboxed kernel, every point is computed outside.

The worker that calls ``grade_submission`` stays clean: it lays out a private folder, unpacks and
checks the submission as data (``submission``), then forks a grading child from ``fork_server``
(which imported TensorFlow and Jupyter once). The child forks the kernel's *zygote* first, before
it reads anything of the grader's, then runs the notebook cell by cell in a kernel forked from
that zygote and confined (``confine``: its own folder, no network, no view of other processes or
folders, its own uid as root), taking each question's values at its check cell (``values``). The
worker watches the child's whole process tree (wall-clock timeout, memory cap), kills every
descendant when grading ends, and scores the values (``verdicts``).

Layout of the private folder (0711: others may pass through it to ``work/`` by its full path,
which a kernel confined without namespaces needs, but not list it; everything else in it is the
grader's only)::

    source/      the autograder zip, unpacked: hidden tests, lstm_checks.py, lstm_values.py
    work/        the kernel's folder: the student's notebook and files, the kernel's connection
                 file and sockets. The only folder the kernel sees (with namespaces) or may read.
    values/      each question's values as the kernel gave them
    probe.json   the random weights and inputs sent to the kernel with the requests
    grading.log  the grading child's output
"""

import ctypes
import functools
import json
import os
import secrets
import signal
import stat
import sys
import tempfile
import threading
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import numpy as np
import psutil

from . import confine, fork_kernel, fork_server, submission, values, verdicts
from .stopwatch import STAGES, Stopwatch

MARKER = "EXERCISE_KIT_SUBMISSION"  # set in the child's environment, inherited by the kernel
POLL_SECONDS = 0.1
KILL_SECONDS = 5.0  # at most, to kill a kernel's processes until none is left
SCAN_SECONDS = 1.0
MAX_FILES = 10_000  # in the kernel's folder: a notebook needs a handful
STOP = threading.Event()  # set by the batch grader on Ctrl-C: children are killed at once
LEFTOVERS = "leftover_processes"  # written by the child: how many it had to kill
OUTPUT_LIMITED = "output_limited"  # written by the child when the kernel sent too much output
LOG_TAIL_BYTES = 64 * 1024  # of the grading child's log, read for the reason of a crash
PROBE = "probe.json"  # the random weights and inputs the child sent to the kernel, for the verdicts
PR_SET_CHILD_SUBREAPER = 36
UNSANDBOXED = "unsandboxed"
RESULTS_VALIDATOR = jsonschema.Draft202012Validator(
    json.loads((Path(__file__).parent / "schemas" / "gradescope_results.schema.json").read_text())
)


@dataclass(frozen=True)
class Limits:
    timeout: float = 600.0  # seconds of wall clock for the whole submission
    memory_mb: int = 2048  # memory (PSS) of the grader and its kernel together
    grade_from_log: bool = False  # keep the student's .OTTER_LOG (Otter's runner would dill-load it)
    sandbox: bool = True  # confine the kernel (``confine``); off only with --no-sandbox
    disk_mb: int = 512  # what the notebook may write into its folder (on the grader's disk)
    alone: bool = False  # root in a container with this one submission (Gradescope): a uid of its own suffices


class SandboxUnavailable(Exception):
    """This machine cannot confine kernels; the message says why, in one sentence."""


def check_sandbox(limits: Limits) -> None:
    """Raise ``SandboxUnavailable`` when kernels are to be confined and this machine cannot."""
    if limits.sandbox:
        missing = confine.available().missing(alone=limits.alone)
        if missing:
            raise SandboxUnavailable(missing)


def grade_submission(name: str, data: bytes, autograder: bytes, limits: Limits, stopwatch: Stopwatch | None = None) -> dict:
    """Grade the submission file ``name`` (its bytes ``data``); return its record (see report.py).

    ``stopwatch``: gets the time of each stage, the grading child's included.
    """
    start, stopwatch = time.monotonic(), stopwatch or Stopwatch()
    with grading_folder() as folder:
        with stopwatch.lap("unpack"):
            folder.chmod(0o711)
            for part in ("source", "values", "work"):
                (folder / part).mkdir(mode=0o700)
            source = submission.unpack_autograder(autograder, folder / "source")
            questions = verdicts.question_checks(source)
            try:
                check_sandbox(limits)
                submission.unpack_submission(name, data, folder / "work", submission.assignment_name(source), limits.grade_from_log, submission.public_tests(source))
            except (submission.InvalidSubmission, SandboxUnavailable) as reason:
                kind = "Invalid submission" if isinstance(reason, submission.InvalidSubmission) else "Not graded"
                return _failed_record(name, f"{kind}: {reason}", questions)

        with stopwatch.lap("grading child, start to end"):
            outcome, peak_mb = run_child(folder, limits, stopwatch)
        stopwatch.read(folder / STAGES)
        with stopwatch.lap("verdicts"):
            taken = values.read_taken(folder / "values")
            probe = {key: np.asarray(value) for key, value in _read_json(folder / PROBE).items()}
            evidence = {}
            results = verdicts.results(taken, questions, verdicts.load_checks(source), verdicts.load_values(source), probe, evidence)
            RESULTS_VALIDATOR.validate(results)
        return {**_record(name, _status(outcome, folder, limits), results, start, peak_mb), "evidence": evidence}  # report.EVIDENCE


def failed_record(name: str, status: str, autograder: bytes) -> dict:
    """The record of a submission that could not be graded: 0 on every question, and why."""
    with tempfile.TemporaryDirectory(prefix="exercise-kit-") as tmp:
        return _failed_record(name, status, verdicts.question_checks(submission.unpack_autograder(autograder, Path(tmp) / "source")))


def _failed_record(name: str, status: str, questions: dict) -> dict:
    reason = status.partition(": ")[2] or status
    tests = [
        {"name": question, "score": 0.0, "max_score": sum(points for _, points in checks), "visibility": "hidden", "status": "failed", "output": reason}
        for question, checks in questions.items()
    ]
    return _record(name, status, {"score": 0.0, "tests": tests}, time.monotonic(), 0.0)


def _record(name, status, results, start, peak_mb):
    return {
        "file": name,
        "grading_status": status,
        "results": results,
        "seconds": round(time.monotonic() - start, 1),
        "peak_memory_mb": round(peak_mb, 1),
    }


def run_child(folder: Path, limits: Limits, stopwatch: Stopwatch) -> tuple[str, float]:
    """Run the grading child; return its outcome and the peak memory (MB) of its process tree."""
    marker = secrets.token_hex(8)
    child = fork_server.context().Process(target=_grade_in_child, args=(str(folder), marker, limits.sandbox))
    with stopwatch.lap("fork the grading child"):
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
            if disk_mb(folder / "work", MAX_FILES, tree) > limits.disk_mb:
                outcome = "disk"
                break
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
    uid = None
    with suppress(OSError):  # the kernel's folder is handed to its uid when it is confined as root
        uid = os.stat(folder / "work").st_uid
    with stopwatch.lap("kill what is left"):
        kill_tree(child.pid, marker, uid)
        child.join()
    if outcome == "finished" and child.exitcode != 0:
        outcome = "crashed"
    return outcome, peak_mb


def disk_mb(folder: Path, max_files: int, processes: list[psutil.Process] = ()) -> float:
    """What the files under ``folder``, and those that ``processes`` hold open on its filesystem
    with no name left, take on disk (MB); infinite past ``max_files`` entries, or when any part of
    it cannot be measured.

    The kernel writes there: links are not followed, and each folder is opened from its parent's
    descriptor, so a path of any length is measured. What vanishes while it is measured takes no
    room; a folder that cannot be read counts as over the cap.
    """
    total, seen, stack = 0, 0, []
    try:
        total += _nameless_files(processes, os.stat(folder).st_dev, Path(folder))
        stack.append(_open_folder(folder))
        while stack:
            fd, entries = stack[-1]
            entry = next(entries, None)
            if entry is None:
                stack.pop()
                entries.close()
                os.close(fd)
                continue
            seen += 1
            if seen > max_files:
                return float("inf")
            with suppress(FileNotFoundError):
                if entry.is_dir(follow_symlinks=False):
                    stack.append(_open_folder(entry.name, fd))
                else:
                    total += entry.stat(follow_symlinks=False).st_blocks * 512
    except OSError:
        return float("inf")
    finally:
        for fd, entries in stack:
            entries.close()
            os.close(fd)
    return total / 2**20


def _nameless_files(processes: list[psutil.Process], device: int, folder: Path) -> int:
    """Bytes on ``device`` of the files that ``processes`` hold open or mapped with no name left
    (deleted, or made with O_TMPFILE), which no walk of a folder sees. A mapping keeps its file
    without any descriptor: each is found in ``/proc/<pid>/maps`` and measured through
    ``map_files`` (root's; a deleted mapping on ``device`` that cannot be measured is over the cap),
    if it was in ``folder`` (the only place on ``device`` where the kernel can make files: a library
    of the Python environment replaced while the fork server had it mapped is not the kernel's)."""
    held = {}
    for process in processes:
        try:
            for fd in os.listdir(f"/proc/{process.pid}/fd"):
                with suppress(FileNotFoundError):  # closed meanwhile
                    info = os.stat(f"/proc/{process.pid}/fd/{fd}")
                    if stat.S_ISREG(info.st_mode) and info.st_nlink == 0 and info.st_dev == device:
                        held[info.st_ino] = info.st_blocks * 512
            with open(f"/proc/{process.pid}/maps") as maps:
                deleted = [line.split(maxsplit=5) for line in maps if line.endswith(" (deleted)\n")]
            for address, _, _, mapped_device, _, path in deleted:
                if not path.startswith(f"{folder.resolve()}/"):
                    continue
                major, minor = (int(number, 16) for number in mapped_device.split(":"))
                if os.makedev(major, minor) != device:
                    continue  # a memfd, or a file elsewhere (the private /tmp)
                with suppress(FileNotFoundError):  # unmapped meanwhile
                    info = os.stat(f"/proc/{process.pid}/map_files/{address}")  # PermissionError but as root
                    if stat.S_ISREG(info.st_mode) and info.st_nlink == 0:
                        held[info.st_ino] = info.st_blocks * 512
        except FileNotFoundError:
            continue  # gone
        except PermissionError:
            if _has_memory(process.pid):
                raise
            # A zombie, or exiting: its /proc folder is root's, and it holds no file for long.
    return sum(held.values())


def _has_memory(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return statm.read().split()[0] != "0"
    except FileNotFoundError:
        return False


@contextmanager
def grading_folder():
    """A new private folder, removed afterwards however deep the kernel's folder in it became."""
    folder = Path(tempfile.mkdtemp(prefix="exercise-kit-"))
    try:
        yield folder
    finally:
        remove_tree(folder)


def remove_tree(folder: Path) -> None:
    """Remove ``folder`` and all in it, each folder opened from its parent's descriptor, without
    recursion: the kernel may have nested folders past any path length or recursion limit, and
    made them unreadable (as root or as their owner, the grader opens them again)."""
    stack, names = [_open_folder(folder)], [None]
    try:
        while stack:
            fd, entries = stack[-1]
            entry = next(entries, None)
            if entry is None:
                entries.close()
                os.close(fd)
                stack.pop()
                name = names.pop()
                if stack:
                    os.rmdir(name, dir_fd=stack[-1][0])
            elif entry.is_dir(follow_symlinks=False):
                with suppress(PermissionError):
                    os.chmod(entry.name, 0o700, dir_fd=fd)  # a folder, not a link: checked just above
                stack.append(_open_folder(entry.name, fd))
                names.append(entry.name)
            else:
                os.unlink(entry.name, dir_fd=fd)
    finally:
        for fd, entries in stack:
            entries.close()
            os.close(fd)
    os.rmdir(folder)


def _open_folder(name, dir_fd: int | None = None) -> tuple:
    """A folder's descriptor (never through a link) and its entries."""
    fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        return fd, os.scandir(fd)
    except OSError:
        os.close(fd)
        raise


def process_tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def memory_mb(processes: list[psutil.Process], kind: str) -> float:
    """Memory of the processes together: "rss" (resident) or "pss" (shared pages divided among
    the processes that map them, so the sum counts each library once, as a container's limit does,
    and with the most their sockets can hold: see ``_socket_bytes``)."""
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss if kind == "rss" else process.memory_full_info().pss
        except psutil.NoSuchProcess:
            pass
    if kind == "pss":
        total += _socket_bytes(processes)
    return total / 2**20


def _socket_bytes(processes: list[psutil.Process]) -> float:
    """The most that the sockets ``processes`` hold can buffer, which no process's memory shows:
    each at the system's default send and receive buffers (a confined kernel may not enlarge them,
    and holds at most ``confine.MAX_OPEN_FILES`` descriptors a process). A live process whose
    descriptors cannot be read counts as over any cap."""
    sockets = set()
    for process in processes:
        try:
            for fd in os.listdir(f"/proc/{process.pid}/fd"):
                with suppress(OSError):  # closed meanwhile, or a file whose path is too long to read (not a socket)
                    target = os.readlink(f"/proc/{process.pid}/fd/{fd}")
                    if target.startswith("socket:"):
                        sockets.add(target)
        except (FileNotFoundError, ProcessLookupError):
            continue  # gone
        except PermissionError:
            if _has_memory(process.pid):
                return float("inf")
    return len(sockets) * _default_socket_buffers()


@functools.cache
def _default_socket_buffers() -> int:
    total = 0
    for name in ("rmem_default", "wmem_default"):
        with open(f"/proc/sys/net/core/{name}") as value:
            total += int(value.read())
    return total


def kill_tree(pid: int, marker: str, uid: int | None = None) -> None:
    """Kill the child, its descendants, and anything else that still carries its marker, is in
    its process group or, as root, runs as ``uid`` (its kernel's own).

    The child's group is its own (it calls setsid), and a confined kernel's processes cannot
    leave it: one ``killpg`` reaches them all, even those that hop to a new pid faster than a
    scan can list them, or that no longer descend from the child.
    """
    processes = []
    try:
        root = psutil.Process(pid)
        root.suspend()  # so that it cannot start anything new while the tree is collected
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        pass
    _kill_until_none_left(lambda: os.killpg(pid, signal.SIGKILL), lambda process: _in_group(process, pid))
    if os.geteuid() == 0 and uid not in (None, 0):
        _kill_uid(uid)
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


def _kill_until_none_left(kill, of) -> None:
    """Send SIGKILL with ``kill`` until no live process is ``of`` its target, a few seconds at most.

    Zombies are not waited for: the killed processes' new parent reaps them when it will.
    """
    deadline = time.monotonic() + KILL_SECONDS
    while True:
        try:
            kill()
        except ProcessLookupError:
            return
        if not any(of(process) for process in _live_processes()) or time.monotonic() > deadline:
            return
        time.sleep(POLL_SECONDS / 10)


def _live_processes():
    for process in psutil.process_iter(["status", "uids"]):
        if process.info["status"] not in (None, psutil.STATUS_ZOMBIE) and process.pid != os.getpid():
            yield process


def _in_group(process: psutil.Process, pgid: int) -> bool:
    try:
        return os.getpgid(process.pid) == pgid
    except ProcessLookupError:
        return False


def _kill_uid(uid: int) -> None:
    """Kill every process of ``uid``: ``kill(-1)`` from a process that has become that uid reaches
    them all, whatever their group or parent."""
    _kill_until_none_left(lambda: _kill_all_as(uid), lambda process: process.info["uids"] and process.info["uids"].real == uid)


def _kill_all_as(uid: int) -> None:
    """``kill(-1, SIGKILL)`` from a child that has become ``uid`` (and does nothing else)."""
    helper = os.fork()
    if helper == 0:
        try:
            os.setgroups([])
            os.setresuid(uid, uid, uid)
            os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(helper, 0)


def _grade_in_child(folder: str, marker: str, sandboxed: bool) -> None:
    """The child: own session, reaper of its orphans, output to a log, then the notebook."""
    os.setsid()
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    folder = Path(folder)
    os.environ[MARKER] = marker
    # Submissions are graded side by side, one per core: TensorFlow's thread pools only contend.
    os.environ.update(TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1", OMP_NUM_THREADS="1")
    log = os.open(folder / "grading.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    work, stopwatch = folder / "work", Stopwatch()
    # The zygote, and so the kernel, is forked before this process reads the checks or draws the probe.
    with stopwatch.lap("fork the zygote"):
        hide = _grading_folders(folder) if sandboxed else None
        zygote = fork_kernel.install(folder / "jupyter", confine_hide=hide)

    import nbformat

    with stopwatch.lap("draw the probe"):
        source = folder / "source"
        checks, gatherer = verdicts.load_checks(source), source / "files" / "lstm_values.py"
        probe = checks.random_probe(np.random.default_rng(secrets.randbits(64)))
        _write_json(folder / PROBE, {key: array.tolist() for key, array in probe.items()})
        requests = {question: checks.request([name for name, _ in checks_], probe) for question, checks_ in verdicts.question_checks(source).items()}

    notebook = next(work.glob("*.ipynb"))
    (work / ".kernel").mkdir(exist_ok=True)
    # ZeroMQ over Unix sockets in the kernel's own folder: the kernel needs no network at all.
    km = values.BoundedKernelManager(kernel_name="python3", transport="ipc", ip=str(work / ".kernel" / "ipc"), connection_file=str(work / ".kernel" / "connection.json"))
    client = values.BoundedNotebookClient(
        nbformat.read(notebook, as_version=4),
        km=km,
        allow_errors=True,
        timeout=None,  # the worker's wall-clock limit covers the whole submission
        record_timing=False,
        resources={"metadata": {"path": str(work)}},
    )
    try:
        values.run_notebook(client, requests, gatherer.read_text(), verdicts.load_values(source).MIME_TYPE, folder / "values", checks.TAKEN_ONCE, stopwatch)
    except values.OutputLimitExceeded:  # the kernel was shut down; the questions taken before keep their values
        (folder / OUTPUT_LIMITED).touch()
    with stopwatch.lap("wait for the kernel to go"):
        descendants = psutil.Process().children(recursive=True)
        # The kernel was killed on shutdown: give it a moment to go; what stays was left by the notebook.
        _, leftovers = psutil.wait_procs([process for process in descendants if process.pid != zygote], timeout=0.5)
    for process in leftovers:
        print(f"Left running by the notebook: process {process.pid}", file=sys.stderr)
    (folder / LEFTOVERS).write_text(str(len(leftovers)))
    for process in descendants:
        with suppress(psutil.NoSuchProcess):
            process.kill()
    stopwatch.write(folder / STAGES)
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


def _write_json(path: Path, data) -> None:
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as file:
        json.dump(data, file)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _status(outcome, folder: Path, limits: Limits) -> str:
    if outcome == "timeout":
        status = f"Timeout: grading took longer than {limits.timeout:g} s"
    elif outcome == "memory":
        status = f"Memory limit: the grader and its kernel used more than {limits.memory_mb} MB"
    elif outcome == "disk":
        status = f"Disk limit: the notebook wrote more than {limits.disk_mb} MB or {MAX_FILES} files into its folder"
    elif (folder / OUTPUT_LIMITED).exists():
        status = f"Output limit: the notebook sent more than {values.MAX_OUTPUT_BYTES // 2**20} MB of output, or {values.MAX_MESSAGE_BYTES // 2**20} MB at once"
    elif outcome != "finished":
        status = f"Crashed: {_last_error(folder / 'grading.log')}"
    else:
        status = "Completed"
    leftovers = int((folder / LEFTOVERS).read_text()) if (folder / LEFTOVERS).exists() else 0
    if leftovers:
        status += f"; {leftovers} process{'es were' if leftovers > 1 else ' was'} left running by the notebook and killed"
    if not limits.sandbox:
        status += f"; {UNSANDBOXED}"
    return status


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
