"""Stage 2, the worker's side: run the grading child under its limits, and leave nothing of it.

The worker forks the grading child (``grading.child``) from the fork server and watches its whole
process tree: the wall-clock timeout, the memory cap (the PSS of the grader and its kernel
together, with what their sockets can buffer), the disk cap on the kernel's folder. When the child
ends or breaks a limit, every process of it is killed: its process group (which a confined kernel
cannot leave), and as root every process of the kernel's uid.
"""

import enum
import functools
import os
import secrets
import signal
import stat
import tempfile
import threading
import time
from collections.abc import Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import psutil

from ..isolation import fork_server
from .child import MARKER, grade_in_child
from .stopwatch import Stopwatch

POLL_SECONDS = 0.1
KILL_SECONDS = 5.0  # at most, to kill a kernel's processes until none is left
SCAN_SECONDS = 1.0
MAX_FILES = 10_000  # in the kernel's folder: a notebook needs a handful
STOP = threading.Event()  # set by the batch grader on Ctrl-C: children are killed at once


@dataclass(frozen=True)
class Limits:
    timeout: float = 600.0  # seconds of wall clock for the whole submission
    memory_mb: int = 2048  # memory (PSS) of the grader and its kernel together
    grade_from_log: bool = False  # keep the student's .OTTER_LOG (Otter's runner would dill-load it)
    sandbox: bool = True  # confine the kernel (``isolation.confine``); off only with --no-sandbox
    disk_mb: int = 512  # what the notebook may write into its folder (on the grader's disk)
    alone: bool = False  # root in a container with this one submission (Gradescope): a uid of its own suffices


class Ending(enum.Enum):
    """How the grading child's run ended, as the worker saw it."""

    FINISHED = "finished"
    CRASHED = "crashed"  # exited with an error
    TIMEOUT = "timeout"
    MEMORY = "memory"
    DISK = "disk"
    INTERRUPTED = "interrupted"  # the batch was stopped (Ctrl-C)


@dataclass(frozen=True)
class Outcome:
    ending: Ending
    peak_memory_mb: float  # of the child's process tree (PSS)


def run_child(folder: Path, limits: Limits, stopwatch: Stopwatch) -> Outcome:
    """Run the grading child (``target(folder, marker, sandboxed)``) until it ends or breaks a limit;
    then kill what is left of it."""
    marker = secrets.token_hex(8)
    child = fork_server.context().Process(target=grade_in_child, args=(str(folder), marker, limits.sandbox))
    with stopwatch.lap("fork the grading child"):
        child.start()
    pid = child.pid
    assert pid is not None  # started
    deadline = time.monotonic() + limits.timeout
    ending, peak_mb, last_scan, tree = Ending.FINISHED, 0.0, 0.0, []
    while child.is_alive():
        # Each second, find the tree anew (a scan of every process) and read its PSS, which counts
        # the libraries shared by grader and kernel once but costs milliseconds a process. In
        # between, the RSS of the processes known is cheap; over the cap, PSS decides at once.
        if time.monotonic() - last_scan > SCAN_SECONDS:
            tree, last_scan = process_tree(pid), time.monotonic()
            peak_mb = max(peak_mb, memory_mb(tree, "pss"))
            if disk_mb(folder / "work", MAX_FILES, tree) > limits.disk_mb:
                ending = Ending.DISK
                break
        elif memory_mb(tree, "rss") > limits.memory_mb:
            peak_mb = max(peak_mb, memory_mb(process_tree(pid), "pss"))
        if peak_mb > limits.memory_mb:
            ending = Ending.MEMORY
            break
        if time.monotonic() > deadline:
            ending = Ending.TIMEOUT
            break
        if STOP.is_set():
            ending = Ending.INTERRUPTED
            break
        child.join(POLL_SECONDS)
    uid = None
    with suppress(OSError):  # the kernel's folder is handed to its uid when it is confined as root
        uid = os.stat(folder / "work").st_uid
    with stopwatch.lap("kill what is left"):
        kill_tree(pid, marker, uid)
        child.join()
    if ending is Ending.FINISHED and child.exitcode != 0:
        ending = Ending.CRASHED
    return Outcome(ending, peak_mb)


def disk_mb(folder: Path, max_files: int, processes: Sequence[psutil.Process] = ()) -> float:
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


def _nameless_files(processes: Sequence[psutil.Process], device: int, folder: Path) -> int:
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
    stack = [_open_folder(folder)]
    names: list[str | None] = [None]  # the folder itself is removed last, by its path
    try:
        while stack:
            fd, entries = stack[-1]
            entry = next(entries, None)
            if entry is None:
                entries.close()
                os.close(fd)
                stack.pop()
                name = names.pop()
                if name is not None:  # a folder inside it, from its parent's descriptor
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
    total: float = 0
    for process in processes:
        with suppress(psutil.NoSuchProcess):
            total += process.memory_info().rss if kind == "rss" else process.memory_full_info().pss
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


def kill_tree(pid: int, marker: str | None = None, uid: int | None = None) -> None:
    """Kill the process ``pid``, its descendants, and anything else that still carries its
    ``marker``, is in its process group or, as root, runs as ``uid`` (its kernel's own).

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
    for process in psutil.process_iter() if marker is not None else ():
        try:
            if process.environ().get(MARKER) == marker and process not in processes:
                processes.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass
    for process in processes:
        with suppress(psutil.NoSuchProcess):
            process.kill()
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
    _kill_until_none_left(
        lambda: _kill_all_as(uid), lambda process: process.info["uids"] and process.info["uids"].real == uid
    )


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
