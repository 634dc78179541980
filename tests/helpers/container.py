"""What a Docker container such as Gradescope's refuses a root process, made here without Docker.

Gradescope runs ``run_autograder`` as root under Docker's default seccomp profile, which returns
EPERM for the system calls that make namespaces or mounts (``unshare``, ``setns``, ``mount``,
``umount2``, ``pivot_root``, and ``clone`` with a namespace flag) unless the container was given
CAP_SYS_ADMIN, and ENOSYS for ``clone3`` (so that the C library falls back to ``clone``). Docker
has allowed Landlock's system calls since 2022 (moby/moby#43199), but the host's kernel may lack
Landlock, which ``landlock=False`` stands for. ``seccomp_filter`` returns a ``preexec_fn`` that
installs such a filter (with the kit's own BPF writer, ``seccomp.install_seccomp``) in the process
about to run the grader; it is inherited by every process the grader starts and cannot be removed.

Only x86-64 is handled (these machines' architecture, and Gradescope's); elsewhere it refuses.
"""

import errno
import platform

from exercise_kit.isolation.seccomp import (
    JUMP_IF_ANY_BIT,
    JUMP_IF_EQUAL,
    LOAD_WORD,
    RETURN,
    SECCOMP_ARCH_OFFSET,
    SECCOMP_ARCHES,
    SECCOMP_FIRST_ARG_OFFSET,
    SECCOMP_NR_OFFSET,
    SECCOMP_RET_ALLOW,
    SECCOMP_RET_ERRNO,
    install_seccomp,
)

UNSHARE, SETNS, MOUNT, UMOUNT2, PIVOT_ROOT, CLONE, CLONE3 = 272, 308, 165, 166, 155, 56, 435
LANDLOCK = (444, 445, 446)  # create_ruleset, add_rule, restrict_self
# CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000


def _program(landlock: bool) -> list[tuple[int, int, int, int]]:
    refused = {nr: errno.EPERM for nr in (UNSHARE, SETNS, MOUNT, UMOUNT2, PIVOT_ROOT)} | {CLONE3: errno.ENOSYS}
    if not landlock:
        refused |= dict.fromkeys(LANDLOCK, errno.ENOSYS)  # as on a kernel built without Landlock
    audit_arch, _ = SECCOMP_ARCHES["x86_64"]
    program = [(LOAD_WORD, 0, 0, SECCOMP_ARCH_OFFSET), (JUMP_IF_EQUAL, 1, 0, audit_arch), (RETURN, 0, 0, SECCOMP_RET_ALLOW), (LOAD_WORD, 0, 0, SECCOMP_NR_OFFSET)]
    for nr, error in refused.items():
        program += [(JUMP_IF_EQUAL, 0, 1, nr), (RETURN, 0, 0, SECCOMP_RET_ERRNO | error)]
    program += [
        (JUMP_IF_EQUAL, 0, 3, CLONE),
        (LOAD_WORD, 0, 0, SECCOMP_FIRST_ARG_OFFSET),
        (JUMP_IF_ANY_BIT, 0, 1, NAMESPACE_FLAGS),
        (RETURN, 0, 0, SECCOMP_RET_ERRNO | errno.EPERM),
        (RETURN, 0, 0, SECCOMP_RET_ALLOW),
    ]
    return program


def seccomp_filter(landlock: bool = True):
    """A ``preexec_fn`` that makes the process refuse what Docker's default profile refuses."""
    if platform.machine() != "x86_64":
        raise RuntimeError("the container's seccomp filter is written for x86-64")
    program = _program(landlock)

    def install():
        if not install_seccomp(program):
            raise OSError("cannot install the container's seccomp filter")

    return install
