"""Confine a freshly forked kernel, and what it forks, before it runs a student's code.

``confine(work, hide)`` is called in the kernel process itself, while it is still single-threaded
(forked from a process that imported TensorFlow), just before the first cell runs. It is a one-way
door: afterwards the process and its descendants

- see a private mount namespace: an empty tmpfs on every folder in ``hide`` (the grader's folders
  that hold other submissions) and on ``/run`` (service sockets), one size-capped tmpfs shared by
  ``/tmp``, ``/var/tmp`` and ``/dev/shm``, and their own folder ``work`` at its usual path;
- read only the Python environment, the system libraries and a few devices, and write only
  ``work`` and the private temporary folders (Landlock);
- have no network (a new network namespace holds a loopback that is down; Landlock denies TCP
  bind and connect as well, and a seccomp filter refuses every socket but a Unix one, which also
  holds without namespaces) and a new IPC namespace;
- cannot hold memory that the grader's cap (the tree's PSS) does not see: no memfd or System V
  shared memory (seccomp), and the temporary folders are one size-capped tmpfs;
- stay in the process group and session of the process that called ``confine`` (seccomp). The
  grader kills the whole group at once (``killpg``, which no fork can slip past), and the
  scheduler's autogroup is per session, so a hundred busy processes share the CPU of one submission;
- cannot signal, ptrace or read ``/proc`` of processes outside their sandbox (Landlock scopes;
  the kernel may read its own ``/proc/<pid>``);
- have capped processes, file sizes and no core dumps (rlimits), no controlling terminal, no
  capabilities, and ``no_new_privs``, so nothing they run can gain privileges back.

As root, everything the kernel makes runs as its uid: the grader also kills that uid's every
process (``kill(-1)`` as that uid), whatever group it is in.

Each mechanism is a module of its own, which says why it is there: ``namespaces`` (the namespaces
and the mounts), ``landlock`` (files, TCP, signals), ``seccomp`` (the system-call filter), and the
C library calls they share (``syscalls``). This module probes what the machine offers, chooses the
mode and the uid, and applies everything in order: the namespaces and mounts first (a Landlock
domain may not mount), rlimits, the Landlock ruleset opened while every path can still be opened,
then the uid and capabilities, ``no_new_privs``, the seccomp filter, and Landlock last.

Two modes, chosen by the effective uid:

- an ordinary user makes a user namespace (with the mount, network and IPC namespaces) that maps
  its own uid and gid to themselves. Since Linux 5.14 the process cap counts the processes of a
  user namespace, so it counts this kernel's processes only. Landlock ABI 6 is required: it alone
  keeps the files, signals and abstract sockets of the user's other processes out of reach.
- root (containers, CI) makes the namespaces without a user namespace, then becomes a uid and gid of
  its own, ``SANDBOX_UID_BASE + pid`` (plus a multiple of ``pid_max`` while a process holds that
  one). One uid per kernel, never a real user's nor one a process still runs as: the process cap
  is counted per uid, and kernels graded side by side must not share a cap, each other's files,
  or the final kill.
  ``work`` is handed to that uid. Without namespaces (``unshare`` needs CAP_SYS_ADMIN, which a
  Docker container such as Gradescope's lacks), the uid and whatever Landlock ABI the machine has
  are applied: files, TCP and (ABI 6) signals stay confined as far as Landlock goes, but hidden
  folders are only unreadable, not invisible, and ``work`` and the Python environment must be
  reachable by any user. The uid alone keeps the kernel out of every file that other users
  cannot read (the grader's, made so) and away from the grader's processes.

Whether what this machine offers is enough is the grader's decision (``Isolation.missing``): the
batch grader, which grades many submissions side by side, wants namespaces or Landlock ABI 4; a
grader alone in its container with one submission (Gradescope) accepts the uid alone.

``available()`` tells the grader, which is not confined, what this machine offers and whether it
is enough. ``confine`` raises ``ConfinementError`` when a step it needs fails; the process is then
half-way and must exit without running anything.
"""

import ctypes
import fcntl
import functools
import os
import resource
import sys
import tempfile
import termios
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .landlock import ALL, DEVICES, FS_READ_DIR, FS_READ_FILE, READ, _restrict_self, _ruleset, landlock_abi
from .namespaces import (
    COVERED,
    HIDE_OPTIONS,
    MS_NODEV,
    MS_NOSUID,
    MS_PRIVATE,
    MS_REC,
    _map_ids,
    _mount,
    _private_mounts,
    _private_tmp_dirs,
    _unshare,
)
from .seccomp import _seccomp_filter
from .syscalls import ConfinementError, _check, _libc

# The kit's checkout when it runs from one (an editable install), whose hidden tests the kernel must
# not see. An installed kit lives in site-packages, inside the Python environment: nothing to leave out.
REPO = Path(__file__).resolve().parents[2]  # exercise_kit/isolation/confine.py
CHECKOUT = REPO if (REPO / "pyproject.toml").exists() else None
SANDBOX_UID_BASE = 3_000_000_000  # + pid: above any real uid, below 2**32 - 1 for any pid
MAX_PROCESSES = 128
SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/bin")  # the interpreter's libraries, and programs
SYSTEM_FILES = (
    "/etc/ld.so.cache",  # where a program started by the kernel finds its libraries
    "/etc/localtime",  # local time (often a link into /usr, not always)
    "/proc/cpuinfo",  # else TensorFlow writes a warning into the notebook's output at each fit
)
PR_CAPBSET_READ, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 23, 24, 38
LINUX_CAPABILITY_VERSION_3 = 0x20080522
MAX_OPEN_FILES = 1024  # per process: a notebook opens a few dozen

_pinned: list[int] = []  # descriptors kept open for the process's life (see _own_proc)


@dataclass(frozen=True)
class Isolation:
    """What this machine lets ``confine`` use in the grader's mode."""

    root: bool
    landlock_abi: int  # 0 when absent
    namespaces: bool  # the mode's unshare works (tested in a forked child)
    seccomp: bool = False  # a seccomp filter can be installed (Unix sockets only, no memfd, one session)

    def layers(self) -> list[str]:
        """The layers a confined kernel gets here, for the grader's report."""
        layers = []
        if self.namespaces:
            layers.append(("" if self.root else "user, ") + "mount, network and IPC namespaces")
        if self.landlock_abi:
            guarded = ["files"] + ["TCP"] * (self.landlock_abi >= 4) + ["signals"] * (self.landlock_abi >= 6)
            layers.append(f"Landlock ABI {self.landlock_abi} ({', '.join(guarded)})")
        if self.seccomp:
            layers.append("Unix sockets only, no memfd, one session (seccomp)")
        if self.root:
            layers.append("a uid of its own per kernel")
        layers.append(f"process cap {MAX_PROCESSES}")
        return layers

    def missing(self, alone: bool = False) -> str | None:
        """None when kernels can be confined; else one sentence saying what is missing.

        ``alone``: the grader is root in a container of its own with one submission, where a uid
        of the kernel's own is enough (the other layers are added when the container has them).
        """
        if not sys.platform.startswith("linux"):
            return (
                "The batch grader confines kernels with Linux's namespaces and Landlock: on macOS or Windows, "
                "grade in WSL2, a Linux virtual machine or on the course's Linux server."
            )
        if self.root:
            if self.namespaces or self.landlock_abi >= 4 or alone:
                return None
            lacking = "mount and network namespaces (unshare is not permitted) and Landlock ABI 4 or later"
        else:
            gaps = ["unprivileged user namespaces"] * (not self.namespaces)
            if self.landlock_abi < 6:
                gaps.append(f"Landlock ABI 6 or later (this kernel has {self.landlock_abi or 'none'})")
            if not gaps:
                return None
            lacking = " and ".join(gaps)
        return (
            f"Kernels cannot be confined on this machine, which lacks {lacking}; "
            "`--no-sandbox` grades anyway, unconfined."
        )


class SandboxUnavailable(Exception):
    """This machine cannot confine kernels as the grader needs; the message says why, in one sentence."""


def require(alone: bool = False) -> None:
    """Raise ``SandboxUnavailable`` when this machine cannot confine kernels (``Isolation.missing``).

    Each entry point of grading asks (the command line before it starts anything, a batch, each
    submission for a Dask worker or Gradescope's container); the machine is probed once a process.
    """
    missing = available().missing(alone=alone)
    if missing:
        raise SandboxUnavailable(missing)


@functools.cache
def available() -> Isolation:
    """Probe, in a forked child, the mode's namespaces (with a tmpfs mount) and a Landlock ruleset."""
    root = os.geteuid() == 0
    if not sys.platform.startswith("linux"):
        return Isolation(root=root, landlock_abi=0, namespaces=False)
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            code = _probe(root)
        finally:
            os._exit(code)  # never back into the caller's code
    code = max(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), 0)  # killed: nothing works
    return Isolation(root=root, landlock_abi=code >> 2, namespaces=bool(code & 1), seccomp=bool(code & 2))


def _probe(root: bool) -> int:
    """In the probing child: the Landlock ABI that restricts it, times 4, plus 2 if the seccomp
    filter installs, plus 1 if the namespaces work."""
    namespaces = abi = 0
    uid, gid = os.geteuid(), os.getegid()
    try:
        if _unshare(root) == 0:  # mounts first: a Landlock domain may not mount
            if not root:
                _map_ids(uid, gid)
            _mount(None, "/", None, MS_REC | MS_PRIVATE)
            _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, HIDE_OPTIONS)
            namespaces = 1
    except ConfinementError:
        pass
    try:
        _prctl(PR_SET_NO_NEW_PRIVS, 1)
        if landlock_abi():
            _restrict_self(_ruleset(landlock_abi(), {}))
            abi = landlock_abi()
    except ConfinementError:
        pass
    return abi << 2 | _seccomp_filter() << 1 | namespaces


def confine(
    work: Path,
    hide: Sequence[Path] = (),
    *,
    max_processes: int = MAX_PROCESSES,
    max_file_mb: int = 256,
    tmp_mb: int = 256,
) -> None:
    """Confine this process and its future descendants to ``work`` (see the module's docstring).

    Call it single-threaded: Landlock and the uid change apply to the calling thread only.
    """
    try:
        _confine(Path(work), [Path(path) for path in hide], max_processes, max_file_mb, tmp_mb)
    except OSError as error:
        raise ConfinementError(f"confinement failed: {error}") from error


def _confine(work: Path, hide: list[Path], max_processes: int, max_file_mb: int, tmp_mb: int) -> None:
    work = work.resolve(strict=True)
    if not work.is_dir():
        raise ConfinementError(f"{work} is not a folder")
    hide = [path.resolve() for path in hide]
    if any(path.exists() and not path.is_dir() for path in hide):
        raise ConfinementError("only folders can be hidden")
    if len(os.listdir("/proc/self/task")) != 1:
        raise ConfinementError("the process has several threads: Landlock would confine only the calling one")
    root = os.geteuid() == 0
    abi = landlock_abi()
    uid, gid = (_sandbox_id("uid"), _sandbox_id("gid")) if root else (os.geteuid(), os.getegid())
    if not root and abi < 6:
        raise ConfinementError(Isolation(root=False, landlock_abi=abi, namespaces=True).missing())
    environment = python_environment()

    error = _unshare(root)
    namespaces = error == 0
    if not namespaces and not root:
        raise ConfinementError(f"unshare: {os.strerror(error)}")
    if not root:
        _map_ids(uid, gid)
    if namespaces:
        cwd = _cwd()
        _private_mounts(work, [*hide, *(Path(path).resolve() for path in COVERED)], environment, root, tmp_mb)
        os.chdir(cwd if cwd and (cwd == work or work in cwd.parents) else work)
    else:  # no private /tmp: temporary files go in the kernel's own folder
        os.chdir(work)
        os.environ["TMPDIR"] = str(work)
        tempfile.tempdir = None
    if root:
        _chown_tree(work, uid, gid)

    _drop_terminal()
    _lower_limit(resource.RLIMIT_NPROC, max_processes)
    _lower_limit(resource.RLIMIT_FSIZE, max_file_mb * 2**20)
    _lower_limit(resource.RLIMIT_CORE, 0)
    _lower_limit(resource.RLIMIT_NOFILE, MAX_OPEN_FILES)

    ruleset = None
    if abi:
        writable = [str(work), *(_private_tmp_dirs() if namespaces else [])]
        rules = (
            {path: READ for path in [*environment, *SYSTEM_DIRS, *SYSTEM_FILES]}
            | DEVICES
            | {path: ALL for path in writable}
        )
        rules[_own_proc()] = FS_READ_FILE | FS_READ_DIR
        ruleset = _ruleset(abi, rules)  # opened now, while every path can still be opened

    _drop_bounding_set()
    if root:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    _clear_capabilities()
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    _seccomp_filter()  # where the machine allows it; ``available()`` reports whether
    if ruleset is not None:
        _restrict_self(ruleset)


def python_environment() -> list[str]:
    """The Python installation and virtual environment the kernel imports from, minus the kit.

    Only ``sys.prefix``, ``sys.base_prefix`` and ``sys.exec_prefix`` (the standard library and
    site-packages are inside them). ``sys.path`` entries elsewhere are left out: the grader's current
    folder is one (``python -m``), and it may hold anything, submissions included; a folder kept
    here is bound back into the kernel's view, below its writable ``/tmp`` when it lies there.
    The kit's repository is left out too (an editable install points there: its hidden tests).
    """
    prefixes = {Path(path).resolve() for path in (sys.prefix, sys.base_prefix, sys.exec_prefix) if os.path.exists(path)}
    kept = sorted(str(path) for path in prefixes if not CHECKOUT or (path != CHECKOUT and path not in CHECKOUT.parents))
    return [path for path in kept if not any(Path(other) in Path(path).parents for other in kept)]


def _own_proc() -> str:
    """This process's /proc folder, pinned open so that its Landlock rule keeps holding.

    TensorFlow reads /proc/self/cmdline when Keras fits a model (a failed CHECK aborts). The rule is
    attached to the inode of /proc/<pid>, and procfs makes a new inode when it looks the folder up
    again after the dentry was dropped: an open descriptor keeps the dentry. Other processes'
    folders, and those of the kernel's own children, stay unreadable.
    """
    path = f"/proc/{os.getpid()}"
    _pinned.append(os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC))
    return path


def _sandbox_id(kind: str) -> int:
    """The kernel's own uid or gid as root: ``SANDBOX_UID_BASE + pid`` (or ``_unheld``'s next)
    where the machine has it; in a container that maps fewer ids (rootless, or user-namespaced),
    one from the upper half of the ids it maps, above its real users' and below ``nobody``."""
    with open(f"/proc/self/{kind}_map") as id_map:
        ranges = [tuple(map(int, line.split())) for line in id_map if line.strip()]
    wanted = _unheld(SANDBOX_UID_BASE + os.getpid(), kind)
    if any(first <= wanted < first + count for first, _, count in ranges):
        return wanted
    first, _, count = max(ranges, key=lambda mapped: mapped[2])
    if count < 1024:
        raise ConfinementError(f"this machine maps {count} {kind}s: none can be the kernel's own")
    return first + count // 2 + os.getpid() % (count // 2 - 2)


def _unheld(wanted: int, kind: str) -> int:
    """``wanted``, or the first id after it, ``pid_max`` apart, that no process holds. Pids are
    reused: what an earlier kernel with this pid left running must neither share this kernel's uid
    (its files, its process cap) nor be killed with it, nor kill it."""
    field = "Uid:" if kind == "uid" else "Gid:"
    held = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/status") as status:
                held.add(int(next(line for line in status if line.startswith(field)).split()[1]))
        except (OSError, StopIteration):
            continue  # gone
    with open("/proc/sys/kernel/pid_max") as pid_max:
        step = int(pid_max.read())
    while wanted in held:
        wanted += step
    return wanted


def _cwd() -> Path | None:
    try:
        return Path(os.getcwd())
    except OSError:
        return None


def _chown_tree(work: Path, uid: int, gid: int) -> None:
    """Hand ``work`` to the sandbox uid; symbolic links are changed, never followed."""
    os.chown(work, uid, gid)
    for folder, dirs, files in os.walk(work):
        for name in dirs + files:
            os.chown(os.path.join(folder, name), uid, gid, follow_symlinks=False)


def _drop_terminal() -> None:
    """Give up the controlling terminal, if any: TIOCSTI could type commands into the grader's
    shell. The process keeps its session and group (see ``seccomp._seccomp_filter``)."""
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return  # none
    try:
        fcntl.ioctl(fd, termios.TIOCNOTTY)
    finally:
        os.close(fd)


def _lower_limit(kind: int, value: int) -> None:
    """Set both limits to ``value``, or keep a hard limit that is already lower."""
    hard = resource.getrlimit(kind)[1]
    value = value if hard == resource.RLIM_INFINITY else min(value, hard)
    resource.setrlimit(kind, (value, value))


def _drop_bounding_set() -> None:
    """Drop every capability from the bounding set (needs CAP_SETPCAP, so before the uid drop)."""
    cap = 0
    while _libc.prctl(PR_CAPBSET_READ, ctypes.c_ulong(cap), 0, 0, 0) >= 0:
        _prctl(PR_CAPBSET_DROP, cap)
        cap += 1


def _clear_capabilities() -> None:
    """Empty the effective, permitted and inheritable sets, and check that they are empty."""
    header = _CapHeader(version=LINUX_CAPABILITY_VERSION_3, pid=0)
    data = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(header), data), "capset")
    _check(_libc.capget(ctypes.byref(header), data), "capget")
    if any(item.effective or item.permitted or item.inheritable for item in data):
        raise ConfinementError("capabilities remain after capset")


def _prctl(option: int, value: int) -> None:
    zero = ctypes.c_ulong(0)
    _check(_libc.prctl(option, ctypes.c_ulong(value), zero, zero, zero), f"prctl {option}")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]
