"""Attacks found by a review of the issue-16 grader, written as a student who had read its source.

Each worked against the grader of commit 08de1e2 (measured; before the fixes of d25a891) and
gets here what the same notebook without its trick gets. ``docs/hostile-cases.md`` has their rows.
"""

import os

from corpus.attacks import IMPORTS, _canary
from corpus.variants import COMPLETED, POINTS, SOLUTION, TEMPLATE, ZERO, AddCell, Replace, Submission, edited, points

DISK_LIMIT = r"^Disk limit: "

# A variable of the grader's shell whose name starts like TensorFlow's (TF_) but is Terraform's
# token: the fork server kept every TF_* variable, and a kernel read it from its initial environment.
GRADER_TOKEN = "TF_TOKEN_app_terraform_io"
os.environ.setdefault(GRADER_TOKEN, "canary-token-of-the-grader")

# 1. q5 without a gate equation: lstm_gates records the gates as Keras's own cell computes them, by
# wrapping its activations. Before: 4 / 20 from the blank template (q5). Now the grader's cell has
# weights only.
GATES_FROM_KERAS = """\
def lstm_gates(cell, X):
    sigmoid, tanh, seen = cell.recurrent_activation, cell.activation, []
    cell.recurrent_activation = lambda z: seen.append(sigmoid(z)) or seen[-1]
    cell.activation = lambda z: seen.append(tanh(z)) or seen[-1]
    gates = {k: [] for k in ("input", "forget", "candidate", "output", "cell", "hidden")}
    h = c = tf.zeros((X.shape[0], 1))
    try:
        for t in range(X.shape[1]):
            seen.clear()
            h, (h, c) = cell(tf.constant(X[:, t, :], tf.float32), [h, c])
            i, f, g, o, _ = seen  # Keras calls them in this order
            for key, value in zip(gates, (i, f, g, o, c, h)):
                gates[key].append(np.asarray(value)[:, 0])
    finally:
        cell.recurrent_activation, cell.activation = sigmoid, tanh
    return {key: np.stack(values, axis=1) for key, values in gates.items()}"""

# 2. A canary: the grader's variables (a TF_ prefix) and the grade command's line, read from the
# kernel's initial environment and its sys.argv. Before: both read (19 / 20).
READS_GRADER_VARIABLES = f"""
import ctypes
import sys


def attack():
    ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE: /proc/self/* are this uid's again
    with open("/proc/self/environ") as environ:
        initial = dict(line.split("=", 1) for line in environ.read().split("\\0") if "=" in line)
    found = [name for name in initial if name == {GRADER_TOKEN!r}]
    return found + [arg for arg in sys.argv if arg in ("grade", "--out") or "submissions" in arg]
"""

# 3. Each values request answered with a million empty lists (4 MB of JSON): the grade command,
# which has no memory cap, parsed every answer into objects. Before: 0 / 20, the grade command 750
# MB larger. Now the grading child keeps only requested values of the plain shape.
OBJECT_BOMB = """\
import IPython.display
MIME = "application/vnd.exercise-kit.values+json"


def publish_display_data(data, *args, **kwargs):
    from IPython.core.display_functions import publish_display_data as real
    real({MIME: {"values": {"X": [[]] * 990_000}, "errors": {}}})


IPython.display.publish_display_data = publish_display_data"""

# 4. A lone surrogate in what a check cell prints and in an answer's error: sent as JSON escapes,
# it became a str UTF-8 cannot encode, and writing feedback.md stopped the batch (and every run
# after it into that folder). Before: the batch stopped at this submission. Now: its own 19 / 20.
RAW_JSON_MESSAGES = """\
import json
from jupyter_client.jsonutil import json_default
session = get_ipython().kernel.session
session.pack = lambda obj: json.dumps(obj, default=json_default).encode()  # ensure_ascii: "\\ud800" travels as text"""
SURROGATE_ANSWER = """\
class Answer:
    def __str__(self):
        raise ValueError("\\ud800")  # its message becomes the reason of a lost point


answer_counting = Answer()"""

# 5. A folder 1,100 deep in the kernel's folder after its last check: the grading folder's removal
# (shutil.rmtree, recursive) raised RecursionError, the status was "Grader error" and the folder,
# the grader's probe.json included, stayed on disk. Now it is removed without recursion; the test
# looks for the marker file left at its top.
DEEP_FOLDER_MARKER = "deep-folder-left-behind"
DEEP_FOLDER = f"""
import os
open({DEEP_FOLDER_MARKER!r}, "w").close()
fd = os.open(".", os.O_RDONLY)
for _ in range(1100):
    os.mkdir("d", dir_fd=fd)
    deeper = os.open("d", os.O_RDONLY, dir_fd=fd)
    os.close(fd)
    fd = deeper
os.close(os.open("left-behind.bin", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
"""

# 6. A canary: socket buffers grown to the system's maximum (what a socket holds is in no process's
# PSS: 2 GB held under a 1,000 MB cap), and an inotify watch (it named, as they were graded, the
# files that the grader wrote into its output folder, which the kernel can look up but not list).
# Before: both worked (19 / 20). Now the seccomp filter refuses both, and each socket counts
# towards the memory cap at its default buffers.
GROWS_SOCKETS_AND_WATCHES = """
import ctypes
import socket


def attack():
    a, b = socket.socketpair()
    got = []
    try:
        a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        got.append("socket buffer grown")
    except OSError:
        pass
    if ctypes.CDLL(None, use_errno=True).inotify_init1(0) >= 0:
        got.append("inotify")
    return got
"""

# 7. 600 MB in deleted files that only a mapping keeps (libc's mmap keeps no descriptor; the pages
# never touched, so in no PSS): the disk cap saw no name and no descriptor. Before: "Completed"
# while 600 MB stayed on the disk. Now the mappings are measured: "Disk limit".
MAPPED_DELETED_FILES = """import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
KEPT = []
for n in range(6):
    fd = os.open(f"big{n}", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    for _ in range(100):
        os.write(fd, b"\\1" * 2**20)
    KEPT.append(libc.mmap(None, 4096, 1, 1, fd, 0))  # PROT_READ, MAP_SHARED: one page keeps the whole file
    os.close(fd)
    os.unlink(f"big{n}")
import time
time.sleep(30)  # held while the grader looks
"""

ATTACKS = [
    Submission(
        "hostile-gates-from-keras.ipynb",
        edited(TEMPLATE, Replace("def lstm_gates(cell, X):\n    ...", GATES_FROM_KERAS)),
        ZERO,
        COMPLETED,
        feedback={"q5_gates": "the grader's cell gives lstm_gates only kernel, recurrent_kernel and bias"},
    ),
    Submission("hostile-reads-grader-variables.ipynb", _canary("reads-grader-variables", READS_GRADER_VARIABLES), POINTS, COMPLETED),
    Submission("hostile-object-bomb.ipynb", edited(TEMPLATE, AddCell(IMPORTS, OBJECT_BOMB)), ZERO, COMPLETED),
    Submission(
        "hostile-lone-surrogates.ipynb",
        edited(
            SOLUTION,
            AddCell(IMPORTS, RAW_JSON_MESSAGES),
            Replace('grader.check("q1_data")', 'grader.check("q1_data")\nprint("\\ud800")'),
            Replace('answer_counting = "A"  # SOLUTION', SURROGATE_ANSWER),
        ),
        points(q6_counting=0),
        COMPLETED,
    ),
    Submission("hostile-deep-folder.ipynb", edited(SOLUTION, AddCell('grader.check("q6_counting")', DEEP_FOLDER)), POINTS, COMPLETED),
    Submission("hostile-grows-sockets-and-watches.ipynb", _canary("grows-sockets-and-watches", GROWS_SOCKETS_AND_WATCHES), POINTS, COMPLETED),
    Submission("hostile-maps-deleted-files.ipynb", edited(SOLUTION, AddCell(IMPORTS, MAPPED_DELETED_FILES)), ZERO, DISK_LIMIT),
]
