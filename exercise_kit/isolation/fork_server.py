"""The fork server: one process per batch that imports TensorFlow and Otter once.

Every grading child is forked from it (``multiprocessing``'s forkserver), so a child starts with
everything it and its kernel need already imported (``preload``). Those
imports take 3-5 s on one core. The grade job calls ``start()`` before its own imports (pandas,
Otter's grading code, about 2 s) and before it reads the submissions, so the two overlap on the
machine's cores instead of following each other. This module imports nothing heavy for that reason.
"""

import multiprocessing
import multiprocessing.context
import multiprocessing.forkserver
import multiprocessing.popen_forkserver
import multiprocessing.spawn
import os
import threading
from contextlib import contextmanager
from functools import cache
from pathlib import Path

PRELOAD = ["exercise_kit.isolation.preload"]


class ForkServerStopped(Exception):
    """The batch's fork server has stopped: no more submissions can be graded in this batch."""


@cache
def context() -> multiprocessing.context.ForkServerContext:
    """The multiprocessing context whose processes are forked from the fork server."""
    _install(_OnceForkServer())
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    context.Process = _GradingProcess  # type: ignore[misc]  # on this instance alone; typeshed has a ClassVar
    return context


# What the fork server keeps of the grader's environment. Every grading child and every kernel is
# forked from it, and a kernel can read the environment its process image started with
# (/proc/self/environ): the instructor's own variables (tokens, paths) must not be there.
# Exact names: a prefix such as TF_ would also keep Terraform's TF_TOKEN_<host> and TF_VAR_*.
ENVIRONMENT = (
    "PATH",
    "HOME",
    "TMPDIR",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "PYDEVD_DISABLE_FILE_VALIDATION",
    "TF_CPP_MIN_LOG_LEVEL",
    "TF_ENABLE_ONEDNN_OPTS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "MKL_NUM_THREADS",
)
# What multiprocessing tells each grading child of the grade command, and so each kernel forked
# from it holds in memory: its command line (the submissions' and output folders), working folder
# and authkey. None of them is needed: the child's target gets what it needs as arguments. Nor is
# the main module of what started the batch (a script, pytest, a console script), which each child
# would run again before its target (0.27 s a child for a script that imports pandas): the target
# is the kit's own. (multiprocessing's "__main__" preload cannot help: its fork server is never
# told the main module's path.)
PREPARATION_LEFT_OUT = ("sys_argv", "authkey", "orig_dir", "init_main_from_path", "init_main_from_name")


class _GradingProcess(multiprocessing.context.ForkServerProcess):
    """A process of the fork server that is told nothing of the grade command (``PREPARATION_LEFT_OUT``)
    and starts in ``/``."""

    _starting = threading.Lock()

    @staticmethod
    def _Popen(process_obj):
        with _GradingProcess._starting:
            everything = multiprocessing.spawn.get_preparation_data
            multiprocessing.spawn.get_preparation_data = lambda name: {
                **{key: value for key, value in everything(name).items() if key not in PREPARATION_LEFT_OUT},
                "dir": "/",
            }
            try:
                return multiprocessing.popen_forkserver.Popen(process_obj)
            finally:
                multiprocessing.spawn.get_preparation_data = everything


def start(log: Path | None = None) -> None:
    """Start the fork server now; it imports in the background, and the first child waits for it.

    ``log``: where the fork server's output goes (TensorFlow's and Otter's log lines as they are
    imported) instead of the terminal, which keeps the progress bar and the summary.
    """
    context()
    saved = [os.dup(1), os.dup(2)] if log else []
    try:
        if log:  # the fork server inherits standard output and error as they are now
            Path(log).parent.mkdir(parents=True, exist_ok=True)
            with open(log, "ab") as output:
                os.dup2(output.fileno(), 1)
                os.dup2(output.fileno(), 2)
        multiprocessing.forkserver.ensure_running()
    finally:
        for fd, saved_fd in zip((1, 2), saved, strict=False):  # none saved without a log
            os.dup2(saved_fd, fd)
            os.close(saved_fd)


class _OnceForkServer(multiprocessing.forkserver.ForkServer):
    """multiprocessing's fork server, started once per process and with the short environment.

    Stock ``ensure_running`` starts a fork server that has stopped again, from whichever thread
    asks next, with the whole environment of the grader at that moment; and on a Dask worker the
    first start too would get the worker's whole environment. Here the first start, whoever asks
    for it, gets ``ENVIRONMENT``, and a fork server that has stopped stays stopped: the batch's
    remaining submissions fail with ``ForkServerStopped``.
    """

    _forkserver_pid: int | None  # multiprocessing's, set by ``ensure_running``

    def __init__(self):
        super().__init__()
        self._lock = threading.RLock()  # held around the first start, which takes it again
        self._started = False

    def ensure_running(self):
        with self._lock:
            if not self._started:
                self._started = True
                with _short_environment():
                    super().ensure_running()
            elif self._forkserver_pid is None or os.waitpid(self._forkserver_pid, os.WNOHANG)[0]:
                self._forkserver_pid = None  # reaped: not to be waited for again
                raise ForkServerStopped(
                    "The batch's fork server has stopped, so this submission could not be graded: "
                    "grade it again in a new run."
                )


@contextmanager
def _short_environment():
    """The process's environment (the C one, which a new process inherits) is ``ENVIRONMENT`` meanwhile.

    With PYTHONSAFEPATH: the fork server runs ``python -c``, which would otherwise import first from
    the folder the grade command was started in, where a submission's folder may be named ``exercise_kit``.
    """
    grader_environment = dict(os.environ)
    os.environ.clear()
    os.environ.update({name: value for name, value in grader_environment.items() if name in ENVIRONMENT})
    os.environ["PYTHONSAFEPATH"] = "1"
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(grader_environment)


def _install(server: _OnceForkServer) -> None:
    """Make ``server`` the one ``multiprocessing.forkserver``'s functions (and so the context) use."""
    module = multiprocessing.forkserver
    module._forkserver = server
    module.ensure_running = server.ensure_running
    module.get_inherited_fds = server.get_inherited_fds
    module.connect_to_new_process = server.connect_to_new_process
    module.set_forkserver_preload = server.set_forkserver_preload
