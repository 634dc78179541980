"""Imported once by the fork server: what every forked kernel (``fork_kernel``) starts with.

A kernel started the usual way makes IPython's debugger the standard one (``pdb.Pdb``) before it
runs any cell, and ``doctest`` (which Otter's tests use) subclasses ``pdb.Pdb`` when it is
imported. Here Otter, and so ``doctest``, is imported before any kernel starts, so the switch is
made first, as the kernel would have it: otherwise every doctest fails in ``pdb``.
"""

import os
import pdb

from IPython.core.debugger import Pdb

pdb.Pdb = Pdb

# The kernel imports its debugger (debugpy, 0.1 s a kernel) at start. debugpy warns about Python's
# frozen modules when imported; ipykernel's own kernelspec turns that check off the same way.
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")

import ipykernel.debugger  # noqa: E402,F401
import ipykernel.ipkernel  # noqa: E402,F401
import ipykernel.kernelapp  # noqa: E402,F401
import keras  # noqa: E402,F401
import matplotlib.pyplot  # noqa: E402,F401
import nbformat  # noqa: E402
import otter  # noqa: E402,F401
import tensorflow  # noqa: E402,F401

# Otter's runner and the notebook's init cell each read the notebook, and nbformat compiles its
# JSON-schema validator (60 ms) the first time: once here instead, for every grader and kernel.
nbformat.validator.get_validator(version=4, version_minor=nbformat.current_nbformat_minor)
