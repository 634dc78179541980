"""Kernels forked from a process that has already imported TensorFlow and Otter.

Grading one submission spends most of its CPU time before the student's first line runs: the
kernel imports TensorFlow (3-5 s) and Otter's init cell imports Otter (about 2 s). Here those
imports happen once per batch, in the fork server (``preload``); each grading child forks a
*zygote* before it starts any thread, and Jupyter launches each kernel by asking the zygote to
fork. Every kernel is
still a fresh process that never ran anyone else's code, and stays a descendant of its grading
child, so the timeout, the memory cap and the final kill cover it. When grading is sandboxed, the
kernel confines itself (``confine``) right after the fork, before it runs a line of the notebook,
and starts with an environment of a few known variables, not the grader's. Sandboxed or not, it
first closes every descriptor it inherited: none of the grader's pipes, logs or sockets is in reach.

Jupyter is pointed at it the documented way: a ``python3`` kernelspec (first on ``JUPYTER_PATH``)
whose metadata names the ``exercise-kit-fork`` kernel provisioner (an entry point of this package).
"""

import json
import multiprocessing.forkserver
import multiprocessing.resource_tracker
import os
import signal
import socket
import sys
import tempfile
from contextlib import suppress
from pathlib import Path

from jupyter_client.provisioning import LocalProvisioner
from traitlets.config import Config

from . import confine

PROVISIONER_NAME = "exercise-kit-fork"
ZYGOTE_SOCKET = "EXERCISE_KIT_ZYGOTE_FD"  # the grading child's end of the socket to its zygote


# What a kernel's environment keeps of the grading child's: nothing that names the grader's files.
KERNEL_ENVIRONMENT = (
    "PATH",
    "LANG",
    "LC_ALL",
    "OMP_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
    "TF_CPP_MIN_LOG_LEVEL",
    "PYDEVD_DISABLE_FILE_VALIDATION",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "EXERCISE_KIT_SUBMISSION",
)


# Figures are drawn by Jupyter's inline backend (``preload`` chooses it), as in the student's
# Jupyter: each cell's figures are shown, then closed. Shown as text only: no image is rendered,
# since nobody sees them while grading and no point depends on them. What the notebook's code draws
# or saves itself (``savefig``, ``canvas.draw``) is rendered as usual, and fails as it would.
KERNEL_CONFIG = Config({"InlineBackend": {"figure_formats": set()}})


def install(jupyter_dir: Path, confine_hide: list[Path] | None = None) -> int:
    """In the grading child: fork the zygote, make ``python3`` kernels come from it; its pid.

    ``confine_hide``: confine every kernel, with these folders hidden from it; None: do not.
    """
    ours, theirs = socket.socketpair()
    zygote = os.fork()
    if zygote == 0:
        ours.close()
        _serve(theirs, confine_hide)
    theirs.close()
    os.environ[ZYGOTE_SOCKET] = str(ours.detach())
    spec_dir = jupyter_dir / "kernels" / "python3"
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (forked, TensorFlow preloaded)",
        "language": "python",
        "metadata": {"kernel_provisioner": {"provisioner_name": PROVISIONER_NAME}},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    os.environ["JUPYTER_PATH"] = str(jupyter_dir)
    return zygote


def _serve(connection: socket.socket, confine_hide: list[Path] | None) -> None:
    """The zygote: fork one kernel per request until the grading child goes away."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # kernels are reaped as they exit
    requests = connection.makefile("r")
    for line in requests:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            connection.detach()  # its descriptor is closed with the others (``close`` waits for ``requests``)
            _become_kernel(**request, confine_hide=confine_hide)
        connection.sendall(f"{pid}\n".encode())
    os._exit(0)


def _become_kernel(connection_file: str, cwd: str, env: dict, confine_hide: list[Path] | None) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    _close_inherited_descriptors()
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(
        {name: value for name, value in env.items() if name in KERNEL_ENVIRONMENT or name.startswith("JPY_")}
    )
    os.environ.update(HOME=cwd, TMPDIR="/tmp" if confine_hide is not None else cwd)
    tempfile.tempdir = None  # the grader's, cached when the zygote was forked, may be hidden from the kernel
    from ipykernel.kernelapp import IPKernelApp

    try:
        if confine_hide is not None:
            confine.confine(Path(cwd), hide=confine_hide)
        # No input history: it is written to an SQLite file in the grader's home, from a thread.
        IPKernelApp.launch_instance(
            argv=["-f", connection_file, "--HistoryManager.enabled=False"], config=KERNEL_CONFIG
        )
    finally:
        os._exit(0)


def _close_inherited_descriptors() -> None:
    """Keep nothing the grader opened: standard streams from ``/dev/null``, every other descriptor closed.

    A kernel forked from the zygote holds copies of its ancestors' descriptors: the fork server's
    "alive" pipe (a byte written there stops it), the resource tracker's pipe (its requests run as
    the grader), the grading child's log (which the grader reads), the zygote's socket. ``confine``
    opens what it keeps after this. The objects of ``multiprocessing`` that name two of those
    numbers forget them, so that a library never writes into whatever reuses the number.
    """
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.closerange(3, max(int(fd) for fd in os.listdir("/proc/self/fd")) + 1)
    # Private attributes of multiprocessing, which typeshed does not declare.
    multiprocessing.forkserver._forkserver._forkserver_alive_fd = None  # type: ignore[attr-defined]
    multiprocessing.resource_tracker._resource_tracker._fd = None  # type: ignore[attr-defined]


class ForkedKernel:
    """The small part of ``subprocess.Popen`` that a provisioner uses, for a forked kernel."""

    stdin = stdout = stderr = None
    returncode = None

    def __init__(self, pid: int):
        self.pid = pid

    def poll(self):
        try:
            os.kill(self.pid, 0)
            return None
        except ProcessLookupError:
            self.returncode = 0
            return 0

    def wait(self, timeout=None):
        return self.poll()

    def send_signal(self, signum):
        with suppress(ProcessLookupError):
            os.kill(self.pid, signum)

    def kill(self):
        self.send_signal(signal.SIGKILL)

    def terminate(self):
        self.send_signal(signal.SIGTERM)


class ForkingProvisioner(LocalProvisioner):
    """Launches the kernel by asking this process's zygote to fork one."""

    async def launch_kernel(self, cmd, **kwargs):
        connection = socket.socket(fileno=os.dup(int(os.environ[ZYGOTE_SOCKET])))
        request = {
            "connection_file": cmd[cmd.index("-f") + 1],
            "cwd": str(kwargs.get("cwd") or os.getcwd()),
            "env": dict(kwargs.get("env") or os.environ),
        }
        with connection, connection.makefile("rw") as stream:
            stream.write(json.dumps(request) + "\n")
            stream.flush()
            kernel = ForkedKernel(int(stream.readline()))
            self.process = kernel  # type: ignore[assignment]  # the part of a Popen that the provisioner uses
        self.pid, self.pgid, self.cwd = kernel.pid, None, request["cwd"]
        return self.connection_info
