"""Imported once by the fork server: what every grading child and forked kernel starts with.

Two things happen here besides the imports.

A kernel started the usual way makes IPython's debugger the standard one (``pdb.Pdb``) before it
runs any cell, and ``doctest`` (which Otter's tests use) subclasses ``pdb.Pdb`` when it is
imported. Here Otter, and so ``doctest``, is imported before any kernel starts, so the switch is
made first, as the kernel would have it: otherwise every doctest fails in ``pdb``.

Importing TensorFlow reads about 330 MB of its libraries into memory (their start-up code
registers every operation) and then hardly touches most of it again. Those pages are clean copies
of files, so they are handed back to the system as the imports go (``MADV_PAGEOUT``), and each
process forked from here reads back only what it uses. This is what lets a submission be graded
within Gradescope's default 768 MB: the fork server drops from about 600 MB to 280 MB, and its
import peaks near 340 MB instead of 600 MB. The Python objects made by the imports are then moved
out of the garbage collector's sight (``gc.freeze``), so that a collection in a forked process
does not copy every page that holds them.
"""

import ctypes
import gc
import os
import pdb
import re
import sys
from contextlib import contextmanager

from IPython.core.debugger import Pdb

pdb.Pdb = Pdb  # type: ignore[misc, assignment]  # IPython's debugger in the stdlib's place, as a kernel does

# The kernel imports its debugger (debugpy, 0.1 s a kernel) at start. debugpy warns about Python's
# frozen modules when imported; ipykernel's own kernelspec turns that check off the same way.
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")

MADV_PAGEOUT = 21  # Linux 5.4; older kernels refuse it and keep the pages
PAGE_OUT_EVERY_MB = 100  # of growth while importing
MAPPING = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \d+ +(/.*)?$")
_libc = ctypes.CDLL(None, use_errno=True)
_libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]


def resident_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def release_library_pages() -> None:
    """Page out every file mapping of this process that holds no changed page.

    Only clean file pages go, which the system reads back from the file when they are touched
    again; memory a process wrote (its heap, relocated library data) is never released.
    """
    mappings, current = [], None
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            match = MAPPING.match(line)
            if match:
                current = [int(match[1], 16), int(match[2], 16), bool(match[3]), 0]
                mappings.append(current)
            elif line.startswith(("Private_Dirty:", "Shared_Dirty:", "Anonymous:")) and current:
                current[3] += int(line.split()[1])
    for start, end, is_file, changed_kb in mappings:
        if is_file and not changed_kb:
            _libc.madvise(start, end - start, MADV_PAGEOUT)


class _PageOutWhileImporting:
    """A finder that finds nothing: it runs before each new module is looked for, and releases the
    library pages read so far whenever the process has grown by ``PAGE_OUT_EVERY_MB``."""

    def __init__(self):
        self.released_at = resident_mb()

    def find_spec(self, name, path=None, target=None):
        if resident_mb() - self.released_at > PAGE_OUT_EVERY_MB:
            release_library_pages()
            self.released_at = resident_mb()
        return None


@contextmanager
def pages_released_while_importing():
    finder = _PageOutWhileImporting()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
        release_library_pages()


with pages_released_while_importing():
    import ipykernel.debugger  # noqa: F401
    import ipykernel.ipkernel  # noqa: F401
    import ipykernel.kernelapp  # noqa: F401
    import jupyter_client.manager  # noqa: F401
    import keras  # noqa: F401
    import matplotlib
    import matplotlib.pyplot  # noqa: F401
    import nbclient  # noqa: F401
    import nbformat
    import otter  # noqa: F401
    import tensorflow  # noqa: F401

    from exercise_kit.grading import submission  # noqa: F401  (the grading child's code)

    # Otter's runner and the notebook's init cell each read the notebook, and nbformat compiles its
    # JSON-schema validator (60 ms) the first time: once here instead, for every grader and kernel.
    nbformat.validator.get_validator(version=4, version_minor=nbformat.current_nbformat_minor)

# Figures in a kernel: Jupyter's inline backend, whatever the grader's MPLBACKEND (matplotlib reads
# it at its import, here). Its module is imported at the kernel's first figure, when IPython runs,
# and hooks into the kernel's shell then (``fork_kernel.KERNEL_CONFIG``: nothing rendered).
matplotlib.rcParams["backend"] = "module://matplotlib_inline.backend_inline"

gc.freeze()
