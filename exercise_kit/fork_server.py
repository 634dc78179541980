"""The fork server: one process per batch that imports TensorFlow and Otter once.

Every grading child is forked from it (``multiprocessing``'s forkserver), so a child starts with
everything it and its kernel need already imported (``preload``). Those
imports take 3-5 s on one core. The grade job calls ``start()`` before its own imports (pandas,
Otter's grading code, about 2 s) and before it reads the submissions, so the two overlap on the
machine's cores instead of following each other. This module imports nothing heavy for that reason.
"""

import multiprocessing
import multiprocessing.forkserver
import os
import threading
from contextlib import contextmanager
from functools import cache
from pathlib import Path

# "__main__" as multiprocessing's default has it: a script that uses the kit (a benchmark, say) is
# imported once here, not again in every child.
PRELOAD = ["__main__", "exercise_kit.preload"]


class ForkServerStopped(Exception):
    """The batch's fork server has stopped: no more submissions can be graded in this batch."""


@cache
def context() -> multiprocessing.context.ForkServerContext:
    """The multiprocessing context whose processes are forked from the fork server."""
    _install(_OnceForkServer())
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


# What the fork server keeps of the grader's environment. Every grading child and every kernel is
# forked from it, and a kernel can read the environment its process image started with
# (/proc/self/environ): the instructor's own variables (tokens, paths) must not be there.
ENVIRONMENT = ("PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "MPLBACKEND", "PYDEVD_DISABLE_FILE_VALIDATION")
ENVIRONMENT_PREFIXES = ("TF_", "OMP_", "OPENBLAS_", "MKL_", "DASK_")


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
        for fd, saved_fd in zip((1, 2), saved):
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
                raise ForkServerStopped("The batch's fork server has stopped, so this submission could not be graded; grade it again in a new run.")


@contextmanager
def _short_environment():
    """The process's environment (the C one, which a new process inherits) is ``ENVIRONMENT`` meanwhile.

    With PYTHONSAFEPATH: the fork server runs ``python -c``, which would otherwise import first from
    the folder the grade command was started in, where a submission's folder may be named ``exercise_kit``.
    """
    grader_environment = dict(os.environ)
    os.environ.clear()
    os.environ.update({name: value for name, value in grader_environment.items() if name in ENVIRONMENT or name.startswith(ENVIRONMENT_PREFIXES)})
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
