"""Isolation of the student's kernel: imports done once in the ``fork_server`` (``preload``),
kernels forked from it (``fork_kernel``) and confined before their first cell (``confine``, with
its mechanisms: ``namespaces``, ``landlock``, ``seccomp``, and the system calls they share,
``syscalls``)."""
