"""The kernel's own view of the machine: new mount, network and IPC namespaces (and, for an
ordinary user, a user namespace mapping its own ids), an empty tmpfs covering each hidden folder,
what the kernel uses bound back read-only, and one size-capped tmpfs for /tmp, /var/tmp and
/dev/shm.

Landlock decides what a process may open; these decide what exists for it: a covered folder's
names cannot be looked up (which Landlock does not guard), the network has only a loopback that is
down, and temporary files land where the grader's caps count them. ``confine`` applies them, while
the process may still mount.
"""

import ctypes
import os
import stat
from pathlib import Path

from .syscalls import ConfinementError, _check, _libc

COVERED = ("/run",)  # service sockets (D-Bus, the user's systemd): Landlock does not guard connect()
HIDE_OPTIONS = "size=1m,mode=755"

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWNET = 0x00020000, 0x08000000, 0x10000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x1000, 0x4000, 0x40000
MS_RDONLY, MS_REMOUNT = 0x1, 0x20
# A remount keeps the flags the mount already has (in a user namespace they are locked).
KEPT_MOUNT_FLAGS = {
    os.ST_NOSUID: MS_NOSUID,
    os.ST_NODEV: MS_NODEV,
    os.ST_NOEXEC: 0x8,
    os.ST_NOATIME: 0x400,
    os.ST_NODIRATIME: 0x800,
    os.ST_RELATIME: 0x200000,
}


def _unshare(root: bool) -> int:
    """Enter new namespaces for the mode; 0, or the errno of the kernel's refusal."""
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | (0 if root else CLONE_NEWUSER)
    return 0 if _libc.unshare(ctypes.c_int(flags)) == 0 else ctypes.get_errno()


def _map_ids(uid: int, gid: int) -> None:
    """Map the user's uid and gid to themselves in the new user namespace (no root inside)."""
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        try:
            fd = os.open(f"/proc/self/{name}", os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, text.encode())
            finally:
                os.close(fd)
        except OSError as error:
            raise ConfinementError(f"cannot write /proc/self/{name}: {error.strerror}") from error


def _private_mounts(work: Path, covers: list[Path], environment: list[str], root: bool, tmp_mb: int) -> None:
    """Make the private temporary folders, cover ``covers``, and keep what the kernel uses.

    As root, each ancestor of a kept folder that the sandbox uid cannot search (``/root`` when
    Python lives there, the grader's 0700 temporary folder) is covered as well, so that the uid
    reaches the kept folders and nothing else there.
    """
    keep = {}
    for path in [work, *map(Path, environment)]:
        try:
            keep[path] = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue  # out of the user's reach already
        if root:
            covers = covers + [ancestor for ancestor in path.parents if not os.stat(ancestor).st_mode & stat.S_IXOTH]
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _private_tmp(tmp_mb)
    _cover(covers, keep, writable=work)


def _cover(folders: list[Path], keep: dict[Path, int], writable: Path | None = None) -> None:
    """Cover each folder with an empty tmpfs, then bind each kept path (an O_PATH descriptor
    opened before) back where it was, if a cover hid it: paths into it stay valid.

    Each path bound back, but ``writable``, is made read-only: Landlock grants what a rule grants
    to any folder above, so a Python installation bound back below the writable private ``/tmp``
    (a grader whose virtual environment lives in /tmp) would otherwise be writable."""
    old_umask = os.umask(0o022)
    try:
        for folder in sorted(set(folders), key=lambda path: len(path.parts)):
            if folder.is_dir():  # already gone when under an earlier cover
                _mount("tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV, HIDE_OPTIONS)
        for path, fd in sorted(keep.items(), key=lambda item: len(item[0].parts)):
            if not _same_file(path, fd):
                if stat.S_ISDIR(os.fstat(fd).st_mode):
                    path.mkdir(parents=True, exist_ok=True)
                else:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.touch()
                _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
                if path != writable:
                    kept = os.statvfs(path).f_flag
                    flags = (
                        MS_BIND | MS_REMOUNT | MS_RDONLY | sum(ms for st, ms in KEPT_MOUNT_FLAGS.items() if kept & st)
                    )
                    _mount(None, path, None, flags)
            os.close(fd)
    finally:
        os.umask(old_umask)


def _private_tmp(tmp_mb: int) -> None:
    """One tmpfs of ``tmp_mb`` MB, one sticky folder of it each for /tmp, /var/tmp and /dev/shm."""
    _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={tmp_mb}m,mode=755")
    targets = [path for path in _private_tmp_dirs() if path != "/tmp"] + ["/tmp"]  # /tmp last: it hides the rest
    for index, target in enumerate(targets):
        staging = f"/tmp/{index}"
        os.mkdir(staging)
        os.chmod(staging, 0o1777)
        _mount(staging, target, None, MS_BIND)


def _private_tmp_dirs() -> list[str]:
    return list(
        dict.fromkeys(os.path.realpath(path) for path in ("/tmp", "/var/tmp", "/dev/shm") if os.path.isdir(path))
    )


def _same_file(path: Path, fd: int) -> bool:
    try:
        here, there = os.stat(path), os.fstat(fd)
    except FileNotFoundError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def _mount(source, target, fstype, flags: int, options: str | None = None) -> None:
    args = [None if value is None else os.fsencode(value) for value in (source, target, fstype)]
    result = _libc.mount(*args, ctypes.c_ulong(flags), None if options is None else options.encode())
    _check(result, f"mount {target}")
