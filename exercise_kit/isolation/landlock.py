"""Landlock: the files a confined process may read or write, no TCP, and (ABI 6) no signal or
abstract Unix socket beyond its own domain.

It holds without privileges and without namespaces, for an ordinary user and in a container that
refuses them alike; what it grants depends on the running kernel's ABI (``landlock_abi``), and the
ruleset handles every right that ABI knows, so that what no rule grants is denied.
"""

import ctypes
import os
import stat

from .syscalls import _check, _libc

SYS_LANDLOCK_CREATE_RULESET, SYS_LANDLOCK_ADD_RULE, SYS_LANDLOCK_RESTRICT_SELF = 444, 445, 446
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_ABI_1 = (1 << 13) - 1  # execute, read and write files, read folders, make and remove entries
FS_REFER, FS_TRUNCATE, FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
ALL = FS_ABI_1 | FS_REFER | FS_TRUNCATE | FS_IOCTL_DEV  # masked to what the running ABI handles
FS_FILE_ONLY = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
READ = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR
DEVICES = {
    "/dev/null": FS_READ_FILE | FS_WRITE_FILE | FS_TRUNCATE,
    "/dev/zero": FS_READ_FILE,
    "/dev/urandom": FS_READ_FILE,
}
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1


def landlock_abi() -> int:
    """The Landlock ABI version of the running kernel, 0 when Landlock is absent or disabled."""
    version = _libc.syscall(
        ctypes.c_long(SYS_LANDLOCK_CREATE_RULESET),
        None,
        ctypes.c_size_t(0),
        ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION),
    )
    return max(version, 0)


def _ruleset(abi: int, rules: dict[str, int]) -> int:
    """A Landlock ruleset handling every right this ABI knows, granting each path its rights.

    Network rights are handled with no rule, so TCP bind and connect are denied; signals and
    abstract Unix sockets are scoped to the sandbox.
    """
    handled_fs = _handled_fs(abi)
    attr = _RulesetAttr(
        handled_access_fs=handled_fs,
        handled_access_net=(NET_BIND_TCP | NET_CONNECT_TCP) * (abi >= 4),
        scoped=(SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL) * (abi >= 6),
    )
    ruleset = _libc.syscall(
        ctypes.c_long(SYS_LANDLOCK_CREATE_RULESET),
        ctypes.byref(attr),
        ctypes.c_size_t(ctypes.sizeof(attr)),
        ctypes.c_uint32(0),
    )
    _check(ruleset, "landlock_create_ruleset")
    for path, access in rules.items():
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        try:
            if not stat.S_ISDIR(os.fstat(fd).st_mode):
                access &= FS_FILE_ONLY
            rule = _PathBeneath(allowed_access=access & handled_fs, parent_fd=fd)
            result = _libc.syscall(
                ctypes.c_long(SYS_LANDLOCK_ADD_RULE),
                ctypes.c_int(ruleset),
                ctypes.c_int(LANDLOCK_RULE_PATH_BENEATH),
                ctypes.byref(rule),
                ctypes.c_uint32(0),
            )
            _check(result, f"landlock_add_rule {path}")
        finally:
            os.close(fd)
    return ruleset


def _handled_fs(abi: int) -> int:
    return FS_ABI_1 | FS_REFER * (abi >= 2) | FS_TRUNCATE * (abi >= 3) | FS_IOCTL_DEV * (abi >= 5)


def _restrict_self(ruleset: int) -> None:
    _check(
        _libc.syscall(ctypes.c_long(SYS_LANDLOCK_RESTRICT_SELF), ctypes.c_int(ruleset), ctypes.c_uint32(0)),
        "landlock_restrict_self",
    )
    os.close(ruleset)


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]
