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
from functools import cache
from pathlib import Path

# "__main__" as multiprocessing's default has it: a script that uses the kit (a benchmark, say) is
# imported once here, not again in every child.
PRELOAD = ["__main__", "exercise_kit.preload"]


@cache
def context() -> multiprocessing.context.ForkServerContext:
    """The multiprocessing context whose processes are forked from the fork server."""
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
    grader_environment = dict(os.environ)
    os.environ.clear()  # the fork server is started with this environment (the C one: putenv)
    os.environ.update({name: value for name, value in grader_environment.items() if name in ENVIRONMENT or name.startswith(ENVIRONMENT_PREFIXES)})
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
        os.environ.clear()
        os.environ.update(grader_environment)
