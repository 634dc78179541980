"""What a Docker container such as Gradescope's refuses a root process, made here without Docker.

Gradescope runs ``run_autograder`` as root under Docker's default seccomp profile, which returns
EPERM for the system calls that make namespaces or mounts (``unshare``, ``setns``, ``mount``,
``umount2``, ``pivot_root``, and ``clone`` with a namespace flag) unless the container was given
CAP_SYS_ADMIN, and ENOSYS for ``clone3`` (so that the C library falls back to ``clone``). Docker
has allowed Landlock's system calls since 2022 (moby/moby#43199), but the host's kernel may lack
Landlock, which ``landlock=False`` stands for. ``seccomp_filter`` returns a ``preexec_fn`` that
installs such a filter in the process about to run the grader; the filter is inherited by every
process it starts and cannot be removed.

Only x86-64 is handled (the architecture of these machines and of Gradescope's); on another one the
filter refuses to install rather than pretend.
"""

import ctypes
import errno
import platform
import struct

PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
AUDIT_ARCH_X86_64 = 0xC000003E
LOAD_WORD, JUMP_IF_EQUAL, JUMP_IF_ANY_BIT, RETURN = 0x20, 0x15, 0x45, 0x06
ALLOW, FAIL_WITH = 0x7FFF0000, 0x00050000  # SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO | errno
ARCH_OFFSET, NR_OFFSET, FIRST_ARG_OFFSET = 4, 0, 16  # in struct seccomp_data (little-endian)

UNSHARE, SETNS, MOUNT, UMOUNT2, PIVOT_ROOT, CLONE, CLONE3 = 272, 308, 165, 166, 155, 56, 435
LANDLOCK = (444, 445, 446)  # create_ruleset, add_rule, restrict_self
# CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000


def _filter(landlock: bool) -> list[tuple[int, int, int, int]]:
    refused = {nr: errno.EPERM for nr in (UNSHARE, SETNS, MOUNT, UMOUNT2, PIVOT_ROOT)} | {CLONE3: errno.ENOSYS}
    if not landlock:
        refused |= dict.fromkeys(LANDLOCK, errno.ENOSYS)  # as on a kernel built without Landlock
    program = [(LOAD_WORD, 0, 0, ARCH_OFFSET), (JUMP_IF_EQUAL, 1, 0, AUDIT_ARCH_X86_64), (RETURN, 0, 0, ALLOW), (LOAD_WORD, 0, 0, NR_OFFSET)]
    for nr, error in refused.items():
        program += [(JUMP_IF_EQUAL, 0, 1, nr), (RETURN, 0, 0, FAIL_WITH | error)]
    program += [
        (JUMP_IF_EQUAL, 0, 3, CLONE),
        (LOAD_WORD, 0, 0, FIRST_ARG_OFFSET),
        (JUMP_IF_ANY_BIT, 0, 1, NAMESPACE_FLAGS),
        (RETURN, 0, 0, FAIL_WITH | errno.EPERM),
        (RETURN, 0, 0, ALLOW),
    ]
    return program


def seccomp_filter(landlock: bool = True):
    """A ``preexec_fn`` that makes the process refuse what Docker's default profile refuses."""
    if platform.machine() != "x86_64":
        raise RuntimeError("the container's seccomp filter is written for x86-64")
    code = b"".join(struct.pack("<HBBI", *instruction) for instruction in _filter(landlock))

    def install():
        libc = ctypes.CDLL(None, use_errno=True)
        buffer = ctypes.create_string_buffer(code)
        program = struct.pack("<HxxxxxxQ", len(code) // 8, ctypes.addressof(buffer))
        if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.c_char_p(program), 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "cannot install the container's seccomp filter")

    return install
