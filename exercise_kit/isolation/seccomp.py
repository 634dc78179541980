"""The seccomp filter: what namespaces and Landlock leave open, closed at the system call.

Sockets but Unix ones (UDP, raw, netlink and vsock are outside Landlock's reach), memory the
grader's cap does not see (memfd, System V segments), a session or process group of one's own,
larger socket buffers, inotify and fanotify, and system calls of another ABI. It holds with or
without namespaces; ``install_seccomp`` is also the tests' BPF writer.
"""

import ctypes
import errno
import os
import socket
import struct

from .syscalls import _libc

# seccomp: classic BPF over struct seccomp_data (little-endian: the low half of the first argument)
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
# BPF_LD|W|ABS, BPF_JMP|JEQ|K, BPF_JMP|JGE|K, BPF_JMP|JSET|K, BPF_RET|K
LOAD_WORD, JUMP_IF_EQUAL, JUMP_IF_AT_LEAST, JUMP_IF_ANY_BIT, RETURN = 0x20, 0x15, 0x35, 0x45, 0x06
SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_ERRNO, SECCOMP_RET_ALLOW = 0x80000000, 0x00050000, 0x7FFF0000
SECCOMP_NR_OFFSET, SECCOMP_ARCH_OFFSET, SECCOMP_FIRST_ARG_OFFSET = 0, 4, 16
SECCOMP_ARCHES = {"x86_64": (0xC000003E, 41), "aarch64": (0xC00000B7, 198)}  # (AUDIT_ARCH_*, socket's number)
IO_URING = (425, 426, 427)  # io_uring_setup, _enter, _register: the same numbers on both
MEMFD_SECRET = 447  # the same number on both
# (socketpair, memfd_create, shmget, setsid, setpgid) of each architecture
SYSCALLS = {"x86_64": (53, 319, 29, 112, 109), "aarch64": (199, 279, 194, 157, 154)}
# inotify_init (x86-64 only), inotify_init1, fanotify_init: watching folders names what is made in
# them, and path lookups are outside Landlock's reach (the grader's output folder, say)
NOTIFY_SYSCALLS = {"x86_64": (253, 294, 300), "aarch64": (26, 262)}
SETSOCKOPT = {"x86_64": 54, "aarch64": 208}
# Larger socket buffers than the system's default: what a socket holds is in no process's memory,
# so the grader counts each socket at its default buffers, and a socket may not have more.
BUFFER_OPTIONS = (socket.SO_SNDBUF, socket.SO_RCVBUF, 32, 33)  # ..., SO_SNDBUFFORCE, SO_RCVBUFFORCE
X32_SYSCALL_BIT = 0x40000000  # x32 calls share x86-64's AUDIT_ARCH: their numbers have this bit


def _seccomp_filter() -> bool:
    """Install the kernel's seccomp filter; True if installed.

    - Sockets: a Unix socket or pair only. Without a network namespace (a Docker container refuses
      them) Landlock stops TCP but not UDP, raw, netlink or vsock (the hypervisor's) sockets. The
      kernel talks to the grader over Unix sockets. io_uring, which makes sockets without the
      socket call, is refused too.
    - Memory the tree's PSS does not count: a memfd or a System V segment holds pages while no
      process maps them. TensorFlow, NumPy and Jupyter use neither.
    - Every process stays in the kernel's group (killed at once) and session (one autogroup):
      ``setsid`` succeeds and does nothing, so that a program started in a new session
      (``start_new_session``) still starts; ``setpgid`` is refused, so that a program that
      moves to a group of its own and then signals its old one does not signal itself.
    - Socket buffers larger than the system's default are refused (with at most
      ``confine.MAX_OPEN_FILES`` descriptors a process, the grader counts each socket at its default
      buffers: see ``watch.memory_mb``), and so are inotify and fanotify, which would name what is made in
      folders whose paths a kernel can look up but not list (Landlock does not guard lookups).
    - System calls of another ABI than the process's own (32-bit x86, x32) kill the process.
    """
    arch = SECCOMP_ARCHES.get(os.uname().machine)
    if arch is None:
        return False
    audit_arch, socket_nr = arch
    socketpair_nr, memfd_nr, shmget_nr, setsid_nr, setpgid_nr = SYSCALLS[os.uname().machine]
    program = [
        (LOAD_WORD, 0, 0, SECCOMP_ARCH_OFFSET),
        (JUMP_IF_EQUAL, 1, 0, audit_arch),
        (RETURN, 0, 0, SECCOMP_RET_KILL_PROCESS),
        (LOAD_WORD, 0, 0, SECCOMP_NR_OFFSET),
        (JUMP_IF_AT_LEAST, 0, 1, X32_SYSCALL_BIT),
        (RETURN, 0, 0, SECCOMP_RET_KILL_PROCESS),
    ]
    for nr in (*IO_URING, memfd_nr, MEMFD_SECRET, shmget_nr, setpgid_nr, *NOTIFY_SYSCALLS[os.uname().machine]):
        program += [(JUMP_IF_EQUAL, 0, 1, nr), (RETURN, 0, 0, SECCOMP_RET_ERRNO | errno.EPERM)]
    program += [(JUMP_IF_EQUAL, 0, 1, setsid_nr), (RETURN, 0, 0, SECCOMP_RET_ERRNO | 0)]  # returns 0
    buffer_options = [
        (LOAD_WORD, 0, 0, SECCOMP_FIRST_ARG_OFFSET + 8),
        (JUMP_IF_EQUAL, 0, 2 * len(BUFFER_OPTIONS) + 1, socket.SOL_SOCKET),
    ]
    buffer_options.append((LOAD_WORD, 0, 0, SECCOMP_FIRST_ARG_OFFSET + 16))  # the option
    for option in BUFFER_OPTIONS:
        buffer_options += [(JUMP_IF_EQUAL, 0, 1, option), (RETURN, 0, 0, SECCOMP_RET_ERRNO | errno.EPERM)]
    buffer_options.append((RETURN, 0, 0, SECCOMP_RET_ALLOW))
    program += [(JUMP_IF_EQUAL, 0, len(buffer_options), SETSOCKOPT[os.uname().machine]), *buffer_options]
    program += [
        (JUMP_IF_EQUAL, 2, 0, socket_nr),
        (JUMP_IF_EQUAL, 1, 0, socketpair_nr),
        (RETURN, 0, 0, SECCOMP_RET_ALLOW),
        (LOAD_WORD, 0, 0, SECCOMP_FIRST_ARG_OFFSET),  # the family (an int: the low half is all)
        (JUMP_IF_EQUAL, 0, 1, socket.AF_UNIX),
        (RETURN, 0, 0, SECCOMP_RET_ALLOW),
        # Netlink as on a kernel without it: getifaddrs fails with EOPNOTSUPP, which ZeroMQ takes
        # for "no such interface" (any other error aborts the kernel when it binds its IOPub pipe).
        (JUMP_IF_EQUAL, 0, 1, socket.AF_NETLINK),
        (RETURN, 0, 0, SECCOMP_RET_ERRNO | errno.EOPNOTSUPP),
        (RETURN, 0, 0, SECCOMP_RET_ERRNO | errno.EACCES),
    ]
    return install_seccomp(program)


def install_seccomp(program: list[tuple[int, int, int, int]]) -> bool:
    """Install a classic-BPF seccomp filter on this process and its future children; False if the
    machine refuses (needs ``no_new_privs`` or CAP_SYS_ADMIN)."""
    code = b"".join(struct.pack("<HBBI", *instruction) for instruction in program)
    buffer = ctypes.create_string_buffer(code, len(code))
    fprog = struct.pack("<HxxxxxxQ", len(program), ctypes.addressof(buffer))
    return _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.c_char_p(fprog), 0, 0) == 0
