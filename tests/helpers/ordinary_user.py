"""Becoming an ordinary user, for tests that run as root (as CI does) and need the other mode."""

import os
import stat
import sys
from pathlib import Path

from exercise_kit.isolation import confine, namespaces, syscalls

USER = 65534  # nobody
PR_SET_DUMPABLE = 4


def become_ordinary_user():
    """Become ``nobody`` as an ordinary user's process is: no groups, no capabilities, dumpable.

    Python lives in root's home here (mode 0700): a mount namespace gives the user a way to it, and
    to nothing else in that home, as an ordinary user reaches their own Python.
    """
    prefix = Path(sys.base_prefix)
    blocked = [folder for folder in prefix.parents if not os.stat(folder).st_mode & stat.S_IXOTH]
    if blocked:
        assert syscalls._libc.unshare(namespaces.CLONE_NEWNS) == 0
        namespaces._mount(None, "/", None, namespaces.MS_REC | namespaces.MS_PRIVATE)
        namespaces._cover(blocked, {prefix: os.open(prefix, os.O_PATH)})
    os.setgroups([])
    os.setresgid(USER, USER, USER)
    os.setresuid(USER, USER, USER)
    confine._prctl(PR_SET_DUMPABLE, 1)  # a uid change cleared it; writing /proc/self/uid_map needs it
