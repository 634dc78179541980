"""The C library as the confinement's modules call it: ``_libc`` (errno kept), ``_check`` of a
call's result, and ``ConfinementError``, which every step raises when it fails.

Shared by ``confine``, ``namespaces``, ``landlock`` and ``seccomp``, and importing none of them.
"""

import ctypes
import os

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class ConfinementError(RuntimeError):
    """A step of the confinement failed: the process must not run the student's code."""


def _check(result: int, what: str) -> None:
    if result < 0:
        raise ConfinementError(f"{what}: {os.strerror(ctypes.get_errno())}")
