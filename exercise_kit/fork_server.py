"""The fork server: one process per batch that imports TensorFlow and Otter once.

Every grading child is forked from it (``multiprocessing``'s forkserver), so a child starts with
Otter's runner and, through ``kernel_preload``, everything its kernel needs already imported. Those
imports take 3-5 s on one core. The grade job calls ``start()`` before its own imports (pandas,
Otter's grading code, about 2 s) and before it reads the submissions, so the two overlap on the
machine's cores instead of following each other. This module imports nothing heavy for that reason.
"""

import multiprocessing
import multiprocessing.forkserver
from functools import cache

# "__main__" as multiprocessing's default has it: a script that uses the kit (a benchmark, say) is
# imported once here, not again in every child.
PRELOAD = ["__main__", "exercise_kit.kernel_preload", "exercise_kit.sandbox", "nbclient", "jupyter_client.manager"]


@cache
def context() -> multiprocessing.context.ForkServerContext:
    """The multiprocessing context whose processes are forked from the fork server."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def start() -> None:
    """Start the fork server now; it imports in the background, and the first child waits for it."""
    context()
    multiprocessing.forkserver.ensure_running()
