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
- cannot hold memory that the grader's cap (the tree's PSS) does not see: the seccomp filter
  refuses ``memfd_create``, ``memfd_secret`` and System V shared memory, and the temporary folders
  are one size-capped tmpfs;
- stay in the process group and session of the process that called ``confine``: the filter makes
  ``setsid`` do nothing and refuses ``setpgid``. The grader kills the whole group at once
  (``killpg``, which no fork can slip past), and the scheduler's autogroup is per session, so a
  hundred busy processes share the CPU of one submission;
- cannot signal, ptrace or read ``/proc`` of processes outside their sandbox (Landlock scopes;
  the kernel may read its own ``/proc/<pid>``);
- have capped processes, file sizes and no core dumps (rlimits), no controlling terminal, no
  capabilities, and ``no_new_privs``, so nothing they run can gain privileges back.

As root, everything the kernel makes runs as its uid: the grader also kills that uid's every
process (``kill(-1)`` as that uid), whatever group it is in.

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
import errno
import fcntl
import functools
import os
import resource
import socket
import stat
import struct
import sys
import tempfile
import termios
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

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
COVERED = ("/run",)  # service sockets (D-Bus, the user's systemd): Landlock does not guard connect()
HIDE_OPTIONS = "size=1m,mode=755"

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWNET = 0x00020000, 0x08000000, 0x10000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x1000, 0x4000, 0x40000
MS_RDONLY, MS_REMOUNT = 0x1, 0x20
# A remount keeps the flags the mount already has (in a user namespace they are locked).
KEPT_MOUNT_FLAGS = {os.ST_NOSUID: MS_NOSUID, os.ST_NODEV: MS_NODEV, os.ST_NOEXEC: 0x8, os.ST_NOATIME: 0x400, os.ST_NODIRATIME: 0x800, os.ST_RELATIME: 0x200000}
PR_CAPBSET_READ, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 23, 24, 38
LINUX_CAPABILITY_VERSION_3 = 0x20080522

# seccomp: classic BPF over struct seccomp_data (little-endian: the low half of the first argument)
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
LOAD_WORD, JUMP_IF_EQUAL, JUMP_IF_AT_LEAST, JUMP_IF_ANY_BIT, RETURN = 0x20, 0x15, 0x35, 0x45, 0x06  # BPF_LD|W|ABS, BPF_JMP|JEQ|K, ...
SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_ERRNO, SECCOMP_RET_ALLOW = 0x80000000, 0x00050000, 0x7FFF0000
SECCOMP_NR_OFFSET, SECCOMP_ARCH_OFFSET, SECCOMP_FIRST_ARG_OFFSET = 0, 4, 16
SECCOMP_ARCHES = {"x86_64": (0xC000003E, 41), "aarch64": (0xC00000B7, 198)}  # (AUDIT_ARCH_*, socket's number)
IO_URING = (425, 426, 427)  # io_uring_setup, _enter, _register: the same numbers on both
MEMFD_SECRET = 447  # the same number on both
# (socketpair, memfd_create, shmget, setsid, setpgid) of each architecture
SYSCALLS = {"x86_64": (53, 319, 29, 112, 109), "aarch64": (199, 279, 194, 157, 154)}
# inotify_init (x86-64 only), inotify_init1, fanotify_init: watching folders names what is made in
# them, and path lookups are outside Landlock's reach (the grader's output folder, say)
NOTIFY_SYSCALLS = {"x86_64": (253, 294, 300), "aarch64": (26, 262)}
SETSOCKOPT = {"x86_64": 54, "aarch64": 208}
# Larger socket buffers than the system's default: what a socket holds is in no process's memory,
# so the grader counts each socket at its default buffers, and a socket may not have more.
BUFFER_OPTIONS = (socket.SO_SNDBUF, socket.SO_RCVBUF, 32, 33)  # ..., SO_SNDBUFFORCE, SO_RCVBUFFORCE
MAX_OPEN_FILES = 1024  # per process: a notebook opens a few dozen
X32_SYSCALL_BIT = 0x40000000  # x32 calls share x86-64's AUDIT_ARCH: their numbers have this bit

SYS_LANDLOCK_CREATE_RULESET, SYS_LANDLOCK_ADD_RULE, SYS_LANDLOCK_RESTRICT_SELF = 444, 445, 446
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_ABI_1 = (1 << 13) - 1  # execute, read and write files, read folders, make and remove entries
FS_REFER, FS_TRUNCATE, FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
ALL = FS_ABI_1 | FS_REFER | FS_TRUNCATE | FS_IOCTL_DEV  # masked to what the running ABI handles
FS_FILE_ONLY = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
READ = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR
DEVICES = {"/dev/null": FS_READ_FILE | FS_WRITE_FILE | FS_TRUNCATE, "/dev/zero": FS_READ_FILE, "/dev/urandom": FS_READ_FILE}
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_pinned: list[int] = []  # descriptors kept open for the process's life (see _own_proc)


class ConfinementError(RuntimeError):
    """A step of the confinement failed: the process must not run the student's code."""


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
            return "The batch grader confines kernels with Linux's namespaces and Landlock: on macOS or Windows, grade in WSL2, a Linux virtual machine or on the course's Linux server."
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
        return f"Kernels cannot be confined on this machine, which lacks {lacking}; `--no-sandbox` grades anyway, unconfined."


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


def landlock_abi() -> int:
    """The Landlock ABI version of the running kernel, 0 when Landlock is absent or disabled."""
    version = _libc.syscall(ctypes.c_long(SYS_LANDLOCK_CREATE_RULESET), None, ctypes.c_size_t(0), ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION))
    return max(version, 0)


def confine(work: Path, hide: Sequence[Path] = (), *, max_processes: int = MAX_PROCESSES, max_file_mb: int = 256, tmp_mb: int = 256) -> None:
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
        rules = {path: READ for path in [*environment, *SYSTEM_DIRS, *SYSTEM_FILES]} | DEVICES | {path: ALL for path in writable}
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


def _unshare(root: bool) -> int:
    """Enter new namespaces for the mode; 0, or the errno of the kernel's refusal."""
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | (0 if root else CLONE_NEWUSER)
    return 0 if _libc.unshare(ctypes.c_int(flags)) == 0 else ctypes.get_errno()


def _map_ids(uid: int, gid: int) -> None:
    """Map the user's uid and gid to themselves in the new user namespace (no root inside)."""
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        try:
            fd = os.open(f"/proc/self/{name}", os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, text.encode())
            finally:
                os.close(fd)
        except OSError as error:
            raise ConfinementError(f"cannot write /proc/self/{name}: {error.strerror}") from error


def _private_mounts(work: Path, covers: list[Path], environment: list[str], root: bool, tmp_mb: int) -> None:
    """Make the private temporary folders, cover ``covers``, and keep what the kernel uses.

    As root, each ancestor of a kept folder that the sandbox uid cannot search (``/root`` when
    Python lives there, the grader's 0700 temporary folder) is covered as well, so that the uid
    reaches the kept folders and nothing else there.
    """
    keep = {}
    for path in [work, *map(Path, environment)]:
        try:
            keep[path] = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue  # out of the user's reach already
        if root:
            covers = covers + [ancestor for ancestor in path.parents if not os.stat(ancestor).st_mode & stat.S_IXOTH]
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _private_tmp(tmp_mb)
    _cover(covers, keep, writable=work)


def _cover(folders: list[Path], keep: dict[Path, int], writable: Path | None = None) -> None:
    """Cover each folder with an empty tmpfs, then bind each kept path (an O_PATH descriptor
    opened before) back where it was, if a cover hid it: paths into it stay valid.

    Each path bound back, but ``writable``, is made read-only: Landlock grants what a rule grants
    to any folder above, so a Python installation bound back below the writable private ``/tmp``
    (a grader whose virtual environment lives in /tmp) would otherwise be writable."""
    old_umask = os.umask(0o022)
    try:
        for folder in sorted(set(folders), key=lambda path: len(path.parts)):
            if folder.is_dir():  # already gone when under an earlier cover
                _mount("tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV, HIDE_OPTIONS)
        for path, fd in sorted(keep.items(), key=lambda item: len(item[0].parts)):
            if not _same_file(path, fd):
                if stat.S_ISDIR(os.fstat(fd).st_mode):
                    path.mkdir(parents=True, exist_ok=True)
                else:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.touch()
                _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
                if path != writable:
                    kept = os.statvfs(path).f_flag
                    flags = MS_BIND | MS_REMOUNT | MS_RDONLY | sum(ms for st, ms in KEPT_MOUNT_FLAGS.items() if kept & st)
                    _mount(None, path, None, flags)
            os.close(fd)
    finally:
        os.umask(old_umask)


def _private_tmp(tmp_mb: int) -> None:
    """One tmpfs of ``tmp_mb`` MB, one sticky folder of it each for /tmp, /var/tmp and /dev/shm."""
    _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={tmp_mb}m,mode=755")
    targets = [path for path in _private_tmp_dirs() if path != "/tmp"] + ["/tmp"]  # /tmp last: it hides the rest
    for index, target in enumerate(targets):
        staging = f"/tmp/{index}"
        os.mkdir(staging)
        os.chmod(staging, 0o1777)
        _mount(staging, target, None, MS_BIND)


def _private_tmp_dirs() -> list[str]:
    return list(dict.fromkeys(os.path.realpath(path) for path in ("/tmp", "/var/tmp", "/dev/shm") if os.path.isdir(path)))


def _same_file(path: Path, fd: int) -> bool:
    try:
        here, there = os.stat(path), os.fstat(fd)
    except FileNotFoundError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


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


def _seccomp_filter() -> bool:
    """Install the kernel's seccomp filter; True if installed.

    - Sockets: a Unix socket or pair only. Without a network namespace (a Docker container refuses
      them) Landlock stops TCP but not UDP, raw, netlink or vsock (the hypervisor's) sockets. The
      kernel talks to the grader over Unix sockets. io_uring, which makes sockets without the
      socket call, is refused too.
    - Memory the tree's PSS does not count: a memfd or a System V segment holds pages while no
      process maps them. TensorFlow, NumPy and Jupyter use neither.
    - Every process stays in the kernel's group (killed at once) and session (one autogroup):
      ``setsid`` succeeds and does nothing, so that a program started in a new session
      (``start_new_session``) still starts; ``setpgid`` is refused, so that a program that
      moves to a group of its own and then signals its old one does not signal itself.
    - Socket buffers larger than the system's default are refused (with at most ``MAX_OPEN_FILES``
      descriptors a process, the grader counts each socket at its default buffers: see
      ``sandbox.memory_mb``), and so are inotify and fanotify, which would name what is made in
      folders whose paths a kernel can look up but not list (Landlock does not guard lookups).
    - System calls of another ABI than the process's own (32-bit x86, x32) kill the process.
    """
    arch = SECCOMP_ARCHES.get(os.uname().machine)
    if arch is None:
        return False
    audit_arch, socket_nr = arch
    socketpair_nr, memfd_nr, shmget_nr, setsid_nr, setpgid_nr = SYSCALLS[os.uname().machine]
    program = [
        (LOAD_WORD, 0, 0, SECCOMP_ARCH_OFFSET),
        (JUMP_IF_EQUAL, 1, 0, audit_arch),
        (RETURN, 0, 0, SECCOMP_RET_KILL_PROCESS),
        (LOAD_WORD, 0, 0, SECCOMP_NR_OFFSET),
        (JUMP_IF_AT_LEAST, 0, 1, X32_SYSCALL_BIT),
        (RETURN, 0, 0, SECCOMP_RET_KILL_PROCESS),
    ]
    for nr in (*IO_URING, memfd_nr, MEMFD_SECRET, shmget_nr, setpgid_nr, *NOTIFY_SYSCALLS[os.uname().machine]):
        program += [(JUMP_IF_EQUAL, 0, 1, nr), (RETURN, 0, 0, SECCOMP_RET_ERRNO | errno.EPERM)]
    program += [(JUMP_IF_EQUAL, 0, 1, setsid_nr), (RETURN, 0, 0, SECCOMP_RET_ERRNO | 0)]  # returns 0
    buffer_options = [(LOAD_WORD, 0, 0, SECCOMP_FIRST_ARG_OFFSET + 8), (JUMP_IF_EQUAL, 0, 2 * len(BUFFER_OPTIONS) + 1, socket.SOL_SOCKET)]
    buffer_options.append((LOAD_WORD, 0, 0, SECCOMP_FIRST_ARG_OFFSET + 16))  # the option
    for option in BUFFER_OPTIONS:
        buffer_options += [(JUMP_IF_EQUAL, 0, 1, option), (RETURN, 0, 0, SECCOMP_RET_ERRNO | errno.EPERM)]
    buffer_options.append((RETURN, 0, 0, SECCOMP_RET_ALLOW))
    program += [(JUMP_IF_EQUAL, 0, len(buffer_options), SETSOCKOPT[os.uname().machine]), *buffer_options]
    program += [
        (JUMP_IF_EQUAL, 2, 0, socket_nr),
        (JUMP_IF_EQUAL, 1, 0, socketpair_nr),
        (RETURN, 0, 0, SECCOMP_RET_ALLOW),
        (LOAD_WORD, 0, 0, SECCOMP_FIRST_ARG_OFFSET),  # the family (an int: the low half is all)
        (JUMP_IF_EQUAL, 0, 1, socket.AF_UNIX),
        (RETURN, 0, 0, SECCOMP_RET_ALLOW),
        # Netlink as on a kernel without it: getifaddrs fails with EOPNOTSUPP, which ZeroMQ takes
        # for "no such interface" (any other error aborts the kernel when it binds its IOPub pipe).
        (JUMP_IF_EQUAL, 0, 1, socket.AF_NETLINK),
        (RETURN, 0, 0, SECCOMP_RET_ERRNO | errno.EOPNOTSUPP),
        (RETURN, 0, 0, SECCOMP_RET_ERRNO | errno.EACCES),
    ]
    return install_seccomp(program)


def install_seccomp(program: list[tuple[int, int, int, int]]) -> bool:
    """Install a classic-BPF seccomp filter on this process and its future children; False if the
    machine refuses (needs ``no_new_privs`` or CAP_SYS_ADMIN)."""
    code = b"".join(struct.pack("<HBBI", *instruction) for instruction in program)
    buffer = ctypes.create_string_buffer(code, len(code))
    fprog = struct.pack("<HxxxxxxQ", len(program), ctypes.addressof(buffer))
    return _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.c_char_p(fprog), 0, 0) == 0


def _drop_terminal() -> None:
    """Give up the controlling terminal, if any: TIOCSTI could type commands into the grader's
    shell. The process keeps its session and group (see ``_seccomp_filter``)."""
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


def _ruleset(abi: int, rules: dict[str, int]) -> int:
    """A Landlock ruleset handling every right this ABI knows, granting each path its rights.

    Network rights are handled with no rule, so TCP bind and connect are denied; signals and
    abstract Unix sockets are scoped to the sandbox.
    """
    handled_fs = _handled_fs(abi)
    attr = _RulesetAttr(
        handled_access_fs=handled_fs,
        handled_access_net=(NET_BIND_TCP | NET_CONNECT_TCP) * (abi >= 4),
        scoped=(SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL) * (abi >= 6),
    )
    ruleset = _libc.syscall(ctypes.c_long(SYS_LANDLOCK_CREATE_RULESET), ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)), ctypes.c_uint32(0))
    _check(ruleset, "landlock_create_ruleset")
    for path, access in rules.items():
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        try:
            if not stat.S_ISDIR(os.fstat(fd).st_mode):
                access &= FS_FILE_ONLY
            rule = _PathBeneath(allowed_access=access & handled_fs, parent_fd=fd)
            result = _libc.syscall(ctypes.c_long(SYS_LANDLOCK_ADD_RULE), ctypes.c_int(ruleset), ctypes.c_int(LANDLOCK_RULE_PATH_BENEATH), ctypes.byref(rule), ctypes.c_uint32(0))
            _check(result, f"landlock_add_rule {path}")
        finally:
            os.close(fd)
    return ruleset


def _handled_fs(abi: int) -> int:
    return FS_ABI_1 | FS_REFER * (abi >= 2) | FS_TRUNCATE * (abi >= 3) | FS_IOCTL_DEV * (abi >= 5)


def _restrict_self(ruleset: int) -> None:
    _check(_libc.syscall(ctypes.c_long(SYS_LANDLOCK_RESTRICT_SELF), ctypes.c_int(ruleset), ctypes.c_uint32(0)), "landlock_restrict_self")
    os.close(ruleset)


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


def _mount(source, target, fstype, flags: int, options: str | None = None) -> None:
    args = [None if value is None else os.fsencode(value) for value in (source, target, fstype)]
    result = _libc.mount(*args, ctypes.c_ulong(flags), None if options is None else options.encode())
    _check(result, f"mount {target}")


def _prctl(option: int, value: int) -> None:
    zero = ctypes.c_ulong(0)
    _check(_libc.prctl(option, ctypes.c_ulong(value), zero, zero, zero), f"prctl {option}")


def _check(result: int, what: str) -> None:
    if result < 0:
        raise ConfinementError(f"{what}: {os.strerror(ctypes.get_errno())}")


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]
