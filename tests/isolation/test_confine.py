"""What a kernel confined by ``confine`` can and cannot do, as root and as an ordinary user.

Each test forks a child that confines itself to a folder, tries something, and sends back what
happened. The suite runs as root: the "user" mode drops the child to ``nobody`` first, the way an
ordinary user's grader would start. The folders the tests make live outside /tmp (which the
sandbox replaces with its own anyway), with permissions that let any user read them, so that only
the sandbox stands between the child and them.
"""

import ctypes
import errno
import importlib
import importlib.util
import os
import pickle
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

from exercise_kit.isolation import confine, seccomp
from helpers.container import seccomp_filter
from helpers.ordinary_user import USER, become_ordinary_user

FRESH_MODULES = ["numpy.polynomial", "numpy.ma", "colorsys", "tabnanny"]  # those not imported yet are, after confining

pytestmark = [pytest.mark.root, pytest.mark.skipif(os.geteuid() != 0, reason="the tests make users and folders as root")]


@pytest.fixture(params=["root", "user"])
def mode(request):
    return request.param


@pytest.fixture(scope="module")
def elsewhere():
    """A folder outside /tmp, /var/tmp and /dev/shm, readable and writable by anyone."""
    base = Path(tempfile.mkdtemp(prefix="exercise-kit-confine-", dir="/var/lib"))
    base.chmod(0o777)
    yield base
    shutil.rmtree(base)


@pytest.fixture
def work(elsewhere, mode):
    return make_work(elsewhere / uuid.uuid4().hex, mode)


def make_work(folder: Path, mode: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "given.txt").write_text("from the grader")
    if mode == "user":
        for path in (folder, folder / "given.txt"):
            os.chown(path, USER, USER)
    return folder


def make_file(path: Path, text: str = "not yours", mode: int = 0o644) -> Path:
    """A file that anyone may read (and with mode 0o666 write), in folders that anyone may change."""
    new_folders = [folder for folder in path.parents if not folder.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    for folder in new_folders:
        folder.chmod(0o777)
    path.write_text(text)
    path.chmod(mode)
    return path


def in_sandbox(mode, work, action, hide=(), before=False, **limits):
    """Run ``action()`` in a child confined to ``work``; what it returned.

    With ``before``, the child also runs it just before confining: (before, after) is returned.
    """

    def confined():
        baseline = action() if before else None
        confine.confine(work, hide, **limits)
        return (baseline, action()) if before else action()

    return in_child(mode, confined)


def in_child(mode, action):
    """Run ``action()`` in a forked child, as ``nobody`` in the user mode; what it returned."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            if mode == "user":
                become_ordinary_user()
            data = pickle.dumps(("done", action()))
        except BaseException as error:
            data = pickle.dumps(("failed", repr(error)))
        with os.fdopen(write, "wb") as pipe:
            pipe.write(data)
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    status, result = pickle.loads(data)
    assert status == "done", result
    return result


def python_in(folder: str) -> list[str]:
    """What a private temporary folder shows: nothing but the way to the Python installation, when
    it lives there (bound back read-only), as in a checkout under /tmp."""
    return sorted({Path(path).relative_to(folder).parts[0] for path in confine.python_environment() if Path(path).is_relative_to(folder)})


def outcome(attempt) -> str:
    """Return "ok", or the name of the exception that the attempt raised."""
    try:
        attempt()
        return "ok"
    except OSError as error:
        return type(error).__name__


def test_this_machine_can_confine_kernels_in_both_modes(mode):
    def probe():
        confine.available.cache_clear()
        isolation = confine.available()
        return isolation, isolation.missing(), isolation.layers()

    isolation, missing, layers = in_child(mode, probe)
    assert missing is None, missing
    assert isolation.namespaces and isolation.landlock_abi >= 6 and isolation.seccomp
    assert isolation.root == (mode == "root")
    assert any("Landlock" in layer for layer in layers)


def test_a_confined_process_reads_and_writes_its_folder_and_reads_python(mode, work):
    def use():
        (work / "notes.txt").write_text("mine")
        (work / "sub").mkdir()
        (work / "notes.txt").rename(work / "sub" / "notes.txt")
        import numpy

        fresh = [name for name in FRESH_MODULES if name not in sys.modules]
        for name in fresh:
            importlib.import_module(name)
        return {
            "given": (work / "given.txt").read_text(),
            "moved": (work / "sub" / "notes.txt").read_text(),
            "sum": int(numpy.arange(4).sum()),
            "fresh imports": fresh,
            "numpy's files": len(Path(numpy.__file__).read_bytes()) > 0,
            "stdlib": len(Path(os.__file__).read_bytes()) > 0,
            "cwd": os.getcwd(),
        }

    result = in_sandbox(mode, work, use)
    assert result["given"] == "from the grader" and result["moved"] == "mine"
    assert result["sum"] == 6 and result["fresh imports"] and result["numpy's files"] and result["stdlib"]
    assert result["cwd"] == str(work)


def test_a_folder_in_the_graders_tmp_keeps_its_path(mode):
    """The grader's folders are in /tmp, which the sandbox replaces: the kernel's alone is put back."""
    grader = Path(tempfile.mkdtemp(prefix="exercise-kit-"))  # mode 0700, as the grader's
    work = make_work(grader / "submission", mode)
    make_file(grader / "source" / "hidden_tests.py")
    if mode == "user":
        os.chown(grader, USER, USER)
    try:

        def use():
            (work / "answers.txt").write_text("42")
            return os.getcwd(), (work / "given.txt").read_text(), os.listdir("/tmp"), os.listdir(grader)

        cwd, given, tmp, siblings = in_sandbox(mode, work, use)
        assert (cwd, given, sorted(tmp), siblings) == (str(work), "from the grader", sorted([grader.name, *python_in("/tmp")]), ["submission"])
        assert (work / "answers.txt").read_text() == "42"
    finally:
        shutil.rmtree(grader)


def test_a_confined_process_cannot_write_into_the_python_environment(mode, work):
    name = f"confine-test-{uuid.uuid4().hex}"
    numpy_dir = Path(importlib.util.find_spec("numpy").origin).parent
    targets = [Path(sys.prefix) / name, Path(sys.base_prefix) / name, numpy_dir / name]

    def write():
        return [outcome(lambda: target.write_text("x")) for target in targets] + [
            outcome(lambda: open(numpy_dir / "__init__.py", "a").close()),
            outcome(lambda: (numpy_dir / name).mkdir()),
        ]

    try:
        assert "ok" not in in_sandbox(mode, work, write)
    finally:
        for target in targets:
            target.unlink(missing_ok=True)


def test_a_confined_process_cannot_read_files_outside_its_folder(mode, work, elsewhere):
    outside = make_file(elsewhere / "other" / "notes.txt")
    home = make_file(Path.home() / f".confine-test-{uuid.uuid4().hex}")
    readable = [outside, confine.REPO / "README.md"]
    try:

        def read():
            return [outcome(path.read_bytes) for path in [*readable, home]] + [outcome(lambda: os.listdir(outside.parent))]

        before, after = in_sandbox(mode, work, read, before=True)
    finally:
        home.unlink()
    assert before[: len(readable)] == ["ok"] * len(readable)  # the files themselves let anyone read them
    assert "ok" not in after


def test_a_confined_process_cannot_see_the_folders_it_is_told_to_hide(mode, elsewhere):
    """Alice's folder sits among the other submissions, and another batch lies elsewhere."""
    submissions, batch = elsewhere / f"submissions-{uuid.uuid4().hex}", elsewhere / f"batch-{uuid.uuid4().hex}"
    alice = make_work(submissions / "alice", mode)
    bob, carol = make_file(submissions / "bob" / "answers.ipynb"), make_file(batch / "carol" / "answers.ipynb")

    def look():
        return {
            "bob": os.path.lexists(bob),
            "carol": os.path.lexists(carol),
            "siblings": outcome(lambda: os.listdir(submissions)),
            "alice": (alice / "given.txt").read_text(),
        }

    result = in_sandbox(mode, alice, look, hide=[submissions, batch])
    assert not result["bob"] and not result["carol"]
    assert result["siblings"] == "PermissionError"  # even the empty cover is not to be read
    assert result["alice"] == "from the grader"


def test_a_confined_process_cannot_create_change_or_delete_files_outside_its_folder(mode, work, elsewhere):
    folder = elsewhere / f"submissions-{uuid.uuid4().hex}"
    target = make_file(folder / "answers.ipynb", "graded", mode=0o666)

    def tamper():
        attempts = [
            lambda: (folder / "new.txt").write_text("x"),
            lambda: target.open("a").write("x"),
            lambda: os.truncate(target, 0),
            lambda: target.rename(folder / "moved.ipynb"),
            lambda: target.unlink(),
            lambda: (folder / "sub").mkdir(),
            lambda: (folder / "link").symlink_to(work),
        ]
        return [outcome(attempt) for attempt in attempts]

    assert "ok" not in in_sandbox(mode, work, tamper)
    assert sorted(os.listdir(folder)) == ["answers.ipynb"] and target.read_text() == "graded"


def test_a_confined_process_opens_no_network_connection(mode, work, elsewhere):
    submissions = elsewhere / uuid.uuid4().hex[:8]  # short: a Unix socket's path has at most 107 bytes
    alice = make_work(submissions / "alice", mode)
    (submissions / "bob").mkdir()
    with socket.create_server(("127.0.0.1", 0)) as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, socket.socket(socket.AF_UNIX) as unix:
        udp.bind(("127.0.0.1", 0))
        unix.bind(str(submissions / "bob" / "kernel.sock"))
        unix.listen()
        os.chmod(submissions / "bob" / "kernel.sock", 0o777)

        def connect():
            def send_udp():
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                    sock.sendto(b"hello", udp.getsockname())

            def connect_to(family, address):
                with socket.socket(family) as sock:
                    sock.connect(address)

            return {
                "tcp": outcome(lambda: connect_to(socket.AF_INET, tcp.getsockname())),
                "udp": outcome(send_udp),
                "unix": outcome(lambda: connect_to(socket.AF_UNIX, str(submissions / "bob" / "kernel.sock"))),
            }

        result = in_sandbox(mode, alice, connect, hide=[submissions])
        assert result["tcp"] != "ok" and result["unix"] != "ok"
        for server in (tcp, udp, unix):
            server.settimeout(0.2)
        with pytest.raises(TimeoutError):
            udp.recv(16)
        with pytest.raises(TimeoutError):
            tcp.accept()
        with pytest.raises(TimeoutError):
            unix.accept()


def test_a_confined_process_creates_no_socket_but_a_unix_one(mode, work):
    """No IPv4, IPv6, raw, netlink or vsock socket at all (without a network namespace, as in a
    Docker container, Landlock alone would leave them open); the kernel's own ZeroMQ sockets are
    Unix sockets."""
    families = {"udp": (socket.AF_INET, socket.SOCK_DGRAM), "tcp6": (socket.AF_INET6, socket.SOCK_STREAM), "packet": (socket.AF_PACKET, socket.SOCK_RAW),
                "netlink": (socket.AF_NETLINK, socket.SOCK_RAW), "vsock": (socket.AF_VSOCK, socket.SOCK_STREAM), "unknown": (1000, socket.SOCK_STREAM)}

    def make_sockets():
        def make(family, kind):
            socket.socket(family, kind).close()

        return {
            **{name: outcome(lambda: make(*args)) for name, args in families.items()},
            "inet pair": outcome(lambda: socket.socketpair(socket.AF_INET)),
            "unix": outcome(lambda: make(socket.AF_UNIX, socket.SOCK_STREAM)),
            "pair": outcome(lambda: [end.close() for end in socket.socketpair()]),
        }

    made = in_sandbox(mode, work, make_sockets)
    assert made == {**dict.fromkeys(families, "PermissionError"), "netlink": "OSError", "inet pair": "PermissionError", "unix": "ok", "pair": "ok"}


def test_a_confined_process_holds_no_memory_outside_its_mappings(mode, work):
    """A memfd or a System V segment keeps its pages while no process maps them, where the
    grader's memory cap (the tree's PSS) does not see them: both are refused."""

    def hoard():
        libc = ctypes.CDLL(None, use_errno=True)
        segment = libc.shmget(0, ctypes.c_size_t(2**20), 0o1600)  # IPC_PRIVATE, IPC_CREAT | 0600
        return outcome(lambda: os.memfd_create("hoard")), "ok" if segment >= 0 else errno.errorcode[ctypes.get_errno()]

    assert in_sandbox(mode, work, hoard) == ("PermissionError", "EPERM")


def test_a_confined_process_and_its_children_stay_in_its_process_group_and_session(mode, work):
    """``setsid`` does nothing and ``setpgid`` is refused: one ``killpg`` reaches every process
    the kernel makes, and the scheduler gives the whole tree one autogroup's share."""

    def leave():
        before = os.getpgrp(), os.getsid(0)
        os.setsid()
        refused = outcome(lambda: os.setpgid(0, 0))
        child = subprocess.run([sys.executable, "-c", "import os; os.setsid(); print(os.getpgrp(), os.getsid(0))"], start_new_session=True, capture_output=True, text=True, check=True)
        return before, (os.getpgrp(), os.getsid(0)), tuple(map(int, child.stdout.split())), refused

    before, after, child, refused = in_sandbox(mode, work, leave)
    assert before == after == child
    assert refused == "PermissionError"


def test_a_confined_process_cannot_signal_or_inspect_processes_outside_it(mode, work):
    def reach():
        parent = os.getppid()
        return [
            outcome(lambda: os.kill(parent, 0)),
            outcome(lambda: os.kill(parent, signal.SIGCONT)),  # allowed within a session, but not here
            outcome(lambda: os.kill(1, 0)),
            outcome(lambda: Path(f"/proc/{parent}/cmdline").read_bytes()),
            outcome(lambda: os.readlink(f"/proc/{parent}/cwd")),
            outcome(lambda: os.listdir("/proc")),
        ]

    assert "ok" not in in_sandbox(mode, work, reach)


def test_a_fork_bomb_stops_at_the_process_cap(mode, work):
    def bomb():
        release, hold = os.pipe()
        children, error = [], None
        while len(children) < 300:
            try:
                pid = os.fork()
            except OSError as failure:
                error = type(failure).__name__
                break
            if pid == 0:
                os.close(hold)
                os.read(release, 1)  # until the bomb's pipe closes
                os._exit(0)
            children.append(pid)
        os.close(hold)
        reaped = sum(os.waitpid(pid, 0)[0] == pid for pid in children)
        return len(children), reaped, error

    forked, reaped, error = in_sandbox(mode, work, bomb)
    assert error == "BlockingIOError" and 10 < forked < confine.MAX_PROCESSES
    assert reaped == forked


def test_the_private_tmp_is_empty_writable_and_not_the_real_one(mode, work):
    name = f"confine-test-{uuid.uuid4().hex}"

    def use_tmp():
        empty = {folder: os.listdir(folder) for folder in ("/tmp", "/var/tmp", "/dev/shm")}
        for folder in empty:
            Path(folder, name).write_text("scratch")
        with tempfile.NamedTemporaryFile() as scratch:
            scratch.write(b"x")
        return empty, sorted(os.listdir("/tmp"))

    empty, listing = in_sandbox(mode, work, use_tmp)
    assert empty == {folder: python_in(folder) for folder in ("/tmp", "/var/tmp", "/dev/shm")}
    assert listing == sorted([name, *python_in("/tmp")])
    assert not any(Path(folder, name).exists() for folder in ("/tmp", "/var/tmp", "/dev/shm"))


def test_a_confined_process_cannot_set_up_io_uring_which_makes_sockets_without_the_socket_call(mode, work):
    def set_up_ring():
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        params = ctypes.create_string_buffer(120)  # struct io_uring_params
        ring = libc.syscall(ctypes.c_long(seccomp.IO_URING[0]), ctypes.c_uint(4), params)
        return "ok" if ring >= 0 else errno.errorcode[ctypes.get_errno()]

    assert in_sandbox(mode, work, set_up_ring) == "EPERM"


def test_in_a_container_the_kernel_keeps_its_temporary_files_in_its_folder(elsewhere):
    """Without namespaces (Docker's refusals, Landlock allowed) there is no private tmpfs: the
    kernel's TMPDIR is its own folder, under the disk cap, and the container's /tmp and /dev/shm
    (memory no cap sees) are not writable."""
    work = make_work(elsewhere / uuid.uuid4().hex, "root")
    name = f"confine-test-{uuid.uuid4().hex}"

    def contained():
        seccomp_filter(landlock=True)()
        confine.confine(work)
        return os.environ["TMPDIR"], [outcome(lambda: Path(folder, name).write_text("x")) for folder in ("/tmp", "/var/tmp", "/dev/shm")]

    try:
        assert in_child("root", contained) == (str(work), ["PermissionError"] * 3)
    finally:
        for folder in ("/tmp", "/var/tmp", "/dev/shm"):
            Path(folder, name).unlink(missing_ok=True)


def test_a_kernel_never_takes_the_uid_of_a_process_still_running():
    """Pids are reused: a kernel whose pid was an earlier kernel's gets another uid while what
    the earlier one left runs (else each could reach the other, and be killed with it)."""
    taken = confine.SANDBOX_UID_BASE + 1_000_000 + os.getpid()
    release, hold = os.pipe()
    ready, done = os.pipe()
    left = os.fork()
    if left == 0:
        os.close(hold)
        os.setresuid(taken, taken, taken)
        os.write(done, b"x")
        os.read(release, 1)
        os._exit(0)
    os.close(release)
    os.read(ready, 1)
    try:
        with open("/proc/sys/kernel/pid_max") as pid_max:
            assert confine._unheld(taken, "uid") == taken + int(pid_max.read())
        assert confine._unheld(taken + 1, "uid") == taken + 1
    finally:
        os.close(hold)
        os.waitpid(left, 0)


def test_a_confined_process_cannot_grow_socket_buffers_or_watch_folders(mode, work):
    """What a socket holds is in no process's memory: the grader counts each socket at the system's
    default buffers, which a confined process may not enlarge, with a bounded number of
    descriptors. inotify would name what is made in folders it can look up but not list."""

    def try_all():
        a, b = socket.socketpair()
        grown = outcome(lambda: a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20))
        other = outcome(lambda: a.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1))  # other options stay
        libc = ctypes.CDLL(None, use_errno=True)
        watch = "ok" if libc.inotify_init1(0) >= 0 else errno.errorcode[ctypes.get_errno()]
        return grown, other, watch, resource.getrlimit(resource.RLIMIT_NOFILE)

    grown, other, watch, files = in_sandbox(mode, work, try_all)
    assert (grown, other, watch) == ("PermissionError", "ok", "EPERM")
    assert files[1] <= confine.MAX_OPEN_FILES
