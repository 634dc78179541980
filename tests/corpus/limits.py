"""Attacks on the grader's limits (issue 16): processes, memory, disk, CPU and sockets that a
kernel's children could once take past them. Conventions of ``attacks.py``: a canary spoils its
``answer_forget_gate`` when the forbidden action works; a resource attack gets the status of the
limit that stops it; one that damages keeps its full marks, and its neighbours keep theirs.

Each was measured against the grader before issue 16 (as root, each kernel with its own uid):
"Before:" in each comment is what it achieved there.
"""

from corpus.attacks import AFTER_LAST_CHECK, LEFT_RUNNING, _attack_cell, _canary
from corpus.variants import COMPLETED, POINTS, SOLUTION, ZERO, AddCell, Submission, edited, on_template

SURVIVOR = "exercise-kit-survivor-31339"  # in the survivor's command line: how the test finds it

# ---------------------------------------------------------------------------------------------
# A process that outlives the grading (solution, after its last check: must keep full marks, and
# no process of it may be left when the batch ends: tests/test_corpus.py looks for SURVIVOR). It
# leaves its session, runs Python with an empty environment (no grading marker), leaves the
# kernel's tree (which ipykernel kills on shutdown), becomes a subreaper and keeps a child that
# moves to a new pid every millisecond, waiting out the process cap when the grader holds its
# zombies; it ends by itself after 10 minutes, should the grader ever let it out. Before: it
# outlived the grade command as the kernel's uid, the status saying "1 process was left running
# by the notebook and killed" (measured).

OUTLIVE = r'''
import subprocess

SURVIVOR = """
import contextlib, ctypes, os, sys, time

if os.fork():
    os._exit(0)  # what it leaves is no longer the kernel's descendant, which the kernel kills on shutdown
deadline = time.time() + 600
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans below come back here
if os.fork():
    with contextlib.suppress(ChildProcessError):
        while True:
            os.wait()
    sys.exit()
while time.time() < deadline:
    time.sleep(0.001)
    try:
        if os.fork():
            os._exit(0)
    except BlockingIOError:
        pass  # the process cap: its zombies wait for a parent that reaps them
"""


def attack():
    subprocess.Popen([sys.executable, "-c", SURVIVOR, __SURVIVOR__], env={}, start_new_session=True,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    return "a survivor started"
'''.replace("__SURVIVOR__", repr(SURVIVOR))

# ---------------------------------------------------------------------------------------------
# Memory that the tree's PSS does not count (canary): a memfd's pages, or a System V segment's,
# stay while no process maps them. If one can be made, it holds 6 x 250 MB. Before: 1.5 GB held
# under --memory-mb 1000, "Completed".

HOARD_MEMORY = r'''
import ctypes


def attack():
    held = []
    try:
        for i in range(6):
            fd = os.memfd_create(f"hoard-{i}")
            os.posix_fallocate(fd, 0, 250 * 2**20)
            held.append(fd)
    except OSError as error:
        print("memfd:", error)
    libc = ctypes.CDLL(None, use_errno=True)
    segment = libc.shmget(0, ctypes.c_size_t(2**20), 0o1600)  # IPC_PRIVATE, IPC_CREAT | 0600
    if segment >= 0:
        libc.shmctl(segment, 0, None)  # IPC_RMID: one MB, removed at once
    return [f"{len(held)} memfds of 250 MB"] * bool(held) + ["a System V segment"] * (segment >= 0)
'''

# ---------------------------------------------------------------------------------------------
# 768 MB written 20 folders deep in 250-character names (template: 0 points). Past PATH_MAX, the
# path cannot be opened; the notebook reaches the folder from its parent's descriptor. Before:
# the disk cap skipped what it could not open, "Completed".

DEEP_WRITE = r'''
import os
import time

fd = os.open(".", os.O_RDONLY)
for _ in range(20):
    os.mkdir("d" * 250, dir_fd=fd)
    fd, parent = os.open("d" * 250, os.O_RDONLY, dir_fd=fd), fd
    os.close(parent)
for i in range(6):
    out = os.open(f"filler-{i}", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd)
    for _ in range(16):
        os.write(out, b"x" * 2**23)
    os.close(out)
time.sleep(5)  # held: the grader looks each second
'''

# ---------------------------------------------------------------------------------------------
# A CPU hog (solution, after its last check: must keep full marks, and its neighbours theirs):
# 100 busy processes, each in a session of its own (an autogroup of its own on Linux), for 30 s;
# then left running. Before: 100 sessions against a neighbour's one made that neighbour time out
# under --timeout 40 (5 / 20). The cheap version here is held to 30 s, under the corpus's 120 s.

HOG_CPU = r'''
import subprocess
import sys
import time

BUSY = "import time\nend = time.monotonic() + 600\nwhile time.monotonic() < end:\n    pass"
busy = []
for _ in range(100):
    try:
        busy.append(subprocess.Popen([sys.executable, "-S", "-c", BUSY], start_new_session=True))
    except OSError:
        break  # the process cap
print(len(busy), "busy processes")
time.sleep(30)
'''

# ---------------------------------------------------------------------------------------------
# Every socket family but Unix (canary): netlink (the host's interfaces and routes, in a container
# without namespaces), vsock (the hypervisor's channel on a VM), crypto (AF_ALG), Bluetooth, ...
# Before: AF_NETLINK, AF_VSOCK and more could be made, in both modes.

OTHER_SOCKETS = r'''
import socket

KINDS = (socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_RAW, socket.SOCK_SEQPACKET)


def attack():
    made = []
    for family in range(64):
        if family == socket.AF_UNIX:
            continue
        for kind in KINDS:
            try:
                socket.socket(family, kind).close()
            except OSError:
                continue
            made.append(f"family {family}")
            break
    return made
'''

ATTACKS = [
    Submission(
        "hostile-outlives-grading.ipynb",
        edited(SOLUTION, AddCell(AFTER_LAST_CHECK, _attack_cell("outlives-grading", OUTLIVE))),
        POINTS,
        LEFT_RUNNING,
    ),
    Submission("hostile-hoards-memfd.ipynb", _canary("hoards-memfd", HOARD_MEMORY), POINTS, COMPLETED),
    Submission("hostile-writes-past-path-max.ipynb", on_template(DEEP_WRITE), ZERO, r"^Disk limit: "),
    Submission("hostile-hogs-cpu.ipynb", edited(SOLUTION, AddCell(AFTER_LAST_CHECK, HOG_CPU)), POINTS, LEFT_RUNNING),
    Submission("hostile-opens-other-sockets.ipynb", _canary("opens-other-sockets", OTHER_SOCKETS), POINTS, COMPLETED),
]
