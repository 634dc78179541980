"""The corpus: student submissions with known scores, made from the committed notebooks.

Most submissions are the solution notebook (or the blank student template) with a few exact
source edits. An edit must match exactly once in the notebook's code cells, so a change of the
master notebook that breaks an edit fails loudly instead of silently grading something else. What cannot
be written as edits (a zip with a malicious ``.OTTER_LOG``, a file that is not JSON, ...) is made
by a small function. ``write_corpus(folder)`` writes every submission into ``folder``.

Each submission states the points it must get per question and what the batch grader's
``grading_status`` must say (a regular expression). ``docs/hostile-cases.md`` explains the hostile
ones.
"""

import codecs
import io
import pickle
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from exercise_kit.paths import NOTEBOOK_NAME, SOLUTION_DIR, STUDENT_DIR

SOLUTION = SOLUTION_DIR / NOTEBOOK_NAME
TEMPLATE = STUDENT_DIR / NOTEBOOK_NAME
POINTS = {
    "q1_data": 2,
    "q2_model": 3,
    "q3_training": 3,
    "q4_predictions": 2,
    "q5_gates": 4,
    "q6_forget_gate": 1,
    "q6_input_gate": 1,
    "q6_output_gate": 1,
    "q6_hidden_state": 1,
    "q6_cell_candidate": 1,
    "q6_counting": 1,
}
ZERO = dict.fromkeys(POINTS, 0)
OTTER_LOG_MARKER = "otter-log-payload-ran"  # made next to the corpus folder if the payload ever runs
LEFTOVER_SLEEP = "31337"  # the `sleep` that the child-process case leaves running
COMPLETED = r"^Completed$"
INVALID = r"^Invalid submission: "


def points(**expected):
    """Full marks, except for the questions named (with their expected points)."""
    assert set(expected) <= set(POINTS), f"not questions: {set(expected) - set(POINTS)}"
    return {**POINTS, **expected}


@dataclass(frozen=True)
class Submission:
    name: str  # its file name in the corpus folder
    write: Callable[[Path], None] = field(repr=False)  # writes the file at the given path
    expected: dict  # question -> points
    status: str = COMPLETED  # a regular expression that grading_status must match
    known_weakness: str = ""  # set while the kit gives other points than ``expected``: why
    feedback: dict = field(default_factory=dict)  # question -> what its reason must say (a substring)


# ---------------------------------------------------------------------------------------------
# Edits of a notebook's sources


@dataclass(frozen=True)
class Replace:
    """Replace ``old`` by ``new`` in the one code cell where ``old`` occurs, once."""

    old: str
    new: str

    def apply(self, cells):
        cell = only_cell_with(cells, self.old)
        cell.source = cell.source.replace(self.old, self.new)


@dataclass(frozen=True)
class AddCell:
    """Insert a code cell after the one code cell that contains ``after``."""

    after: str
    source: str

    def apply(self, cells):
        cells.insert(cells.index(only_cell_with(cells, self.after)) + 1, nbformat.v4.new_code_cell(self.source))


def only_cell_with(cells, text: str):
    """The one code cell in which ``text`` occurs, once."""
    code = [cell for cell in cells if cell.cell_type == "code"]
    count = sum(cell.source.count(text) for cell in code)
    if count != 1:
        raise ValueError(f"{text!r} occurs {count} times in the code cells, not once")
    return next(cell for cell in code if text in cell.source)


def read_clean(path: Path) -> nbformat.NotebookNode:
    """The notebook without outputs, as a student who restarted the kernel would submit it."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def notebook_writer(nb: nbformat.NotebookNode) -> Callable[[Path], None]:
    return lambda path: nbformat.write(nb, path)


def edited(base: Path, *edits) -> Callable[[Path], None]:
    """``base`` with ``edits`` applied; the edits are checked when the corpus is declared."""
    nb = read_clean(base)
    for edit in edits:
        edit.apply(nb.cells)
    return notebook_writer(nb)


# ---------------------------------------------------------------------------------------------
# Correct, written differently: full marks

SOLUTION_FORWARD = """\
    h = tf.zeros((tf.shape(X)[0], 1))
    c = tf.zeros_like(h)
    for t in range(X.shape[1]):
        h, (h, c) = cell(X[:, t, :], [h, c])
    return output_layer(h)
"""

SOLUTION_TRAINING_LOOP = """\
    while loss >= 1e-5 and epoch < max_epochs:
        with tf.GradientTape() as tape:
            loss = mse_loss(Y, forward(cell, output_layer, X))
        gradients = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(gradients, variables))
        losses = losses.write(epoch, loss)
        epoch += 1
"""

SOLUTION_GATES = """\
    W = cell.kernel.numpy()
    U = cell.recurrent_kernel.numpy()
    b = cell.bias.numpy()
    batch, steps, _ = X.shape
    h = np.zeros((batch, 1), np.float32)
    c = np.zeros((batch, 1), np.float32)
    gates = {name: np.zeros((batch, steps), np.float32) for name in ("input", "forget", "candidate", "output", "cell", "hidden")}
    sigmoid = lambda z: 1 / (1 + np.exp(-z))
    for t in range(steps):
        z = X[:, t, :] @ W + h @ U + b
        i, f, g, o = sigmoid(z[:, 0:1]), sigmoid(z[:, 1:2]), np.tanh(z[:, 2:3]), sigmoid(z[:, 3:4])
        c = f * c + i * g
        h = o * np.tanh(c)
        for name, value in zip(gates, (i, f, g, o, c, h)):
            gates[name][:, t] = value[:, 0]
    return gates
"""

# A tf.function train step, called from tf.while_loop instead of an autograph `while`
# (benchmarks/training_probe.py measures it too).
WHILE_LOOP_TRAINING = (
    Replace(
        "@tf.function\ndef train(X, Y, max_epochs):",
        """\
@tf.function
def train_step(X, Y):
    with tf.GradientTape() as tape:
        loss = mse_loss(Y, forward(cell, output_layer, X))
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
    return loss


@tf.function
def train(X, Y, max_epochs):""",
    ),
    Replace(
        SOLUTION_TRAINING_LOOP,
        """\
    def step(epoch, loss, losses):
        loss = train_step(X, Y)
        return epoch + 1, loss, losses.write(epoch, loss)

    def not_done(epoch, loss, losses):
        return tf.logical_and(loss >= 1e-5, epoch < max_epochs)

    epoch, loss, losses = tf.while_loop(not_done, step, (epoch, loss, losses))
""",
    ),
)

GATE_LINE = "i, f, g, o = sigmoid(z[:, 0:1]), sigmoid(z[:, 1:2]), np.tanh(z[:, 2:3]), sigmoid(z[:, 3:4])"
APPLE_DOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        "  # a Mac's file metadata, in __MACOSX/


def zipped_folder(path: Path) -> None:
    """The solution's folder compressed on a Mac after working in Jupyter: the notebook, Jupyter's
    checkpoint copy (of the blank template it was first saved as) and ``__MACOSX`` entries."""
    path.write_bytes(zip_of({
        "exercise 6-3/": b"",
        f"exercise 6-3/{NOTEBOOK_NAME}": notebook_bytes(read_clean(SOLUTION)),
        "exercise 6-3/.ipynb_checkpoints/exercise-6-3-lstm-checkpoint.ipynb": notebook_bytes(read_clean(TEMPLATE)),
        f"__MACOSX/exercise 6-3/._{NOTEBOOK_NAME}": APPLE_DOUBLE,
    }))  # fmt: skip


def last_answer_at_the_end(path: Path) -> None:
    """The solution with its last answer and check moved into a cell after the export cell: the
    notebook's last cell, which the grader's requests for values must not take the place of."""
    nb = read_clean(SOLUTION)
    moved = [only_cell_with(nb.cells, 'answer_counting = "A"'), only_cell_with(nb.cells, 'grader.check("q6_counting")')]
    nb.cells = [cell for cell in nb.cells if cell not in moved]
    nb.cells.append(nbformat.v4.new_code_cell("\n".join(cell.source for cell in moved)))
    notebook_writer(nb)(path)


def with_byte_order_mark(path: Path) -> None:
    """The solution as an editor that starts UTF-8 files with a byte-order mark saves it."""
    path.write_bytes(codecs.BOM_UTF8 + notebook_bytes(read_clean(SOLUTION)))


CORRECT = [
    Submission(
        "correct-tf-gates.ipynb",
        edited(
            SOLUTION,
            Replace(
                SOLUTION_GATES,
                """\
    h = tf.zeros((X.shape[0], 1))
    c = tf.zeros_like(h)
    steps = {name: [] for name in ("input", "forget", "candidate", "output", "cell", "hidden")}
    for t in range(X.shape[1]):
        z = tf.matmul(X[:, t, :], cell.kernel) + tf.matmul(h, cell.recurrent_kernel) + cell.bias
        i, f, g, o = tf.split(z, 4, axis=1)
        i, f, g, o = tf.sigmoid(i), tf.sigmoid(f), tf.tanh(g), tf.sigmoid(o)
        c = f * c + i * g
        h = o * tf.tanh(c)
        for name, value in zip(steps, (i, f, g, o, c, h)):
            steps[name].append(value[:, 0])
    return {name: tf.stack(values, axis=1).numpy() for name, values in steps.items()}
""",
            ),
        ),
        POINTS,
    ),
    Submission("correct-while-loop-training.ipynb", edited(SOLUTION, *WHILE_LOOP_TRAINING), POINTS),
    # Literal readings of the prose (docs/hidden-checks.md): "run the cell over the 10 steps"...
    Submission(
        "correct-forward-ten-steps.ipynb",
        edited(SOLUTION, Replace("    for t in range(X.shape[1]):\n        h, (h, c)", "    for t in range(10):\n        h, (h, c)")),
        POINTS,
    ),
    # ... and "write the loss into losses at index epoch", with the loss computed after the update.
    Submission(
        "correct-records-loss-after-update.ipynb",
        edited(
            SOLUTION,
            Replace(
                "        losses = losses.write(epoch, loss)\n",
                "        loss = mse_loss(Y, forward(cell, output_layer, X))\n        losses = losses.write(epoch, loss)\n",
            ),
        ),
        POINTS,
    ),
    Submission(
        "correct-keras-rnn.ipynb",
        edited(SOLUTION, Replace(SOLUTION_FORWARD, "    return output_layer(keras.layers.RNN(cell)(X))\n")),
        POINTS,
    ),
    # extra cells and prints in between, and a check run twice
    Submission(
        "correct-extra-cells.ipynb",
        edited(
            SOLUTION,
            AddCell("print(Y[:, 0])", 'print("ones in X:", int(X.sum()))\ngrader.check("q1_data")'),
            AddCell('print(f"{epochs} epochs, final loss', 'print("first losses:", losses[:3])\nfinal_loss = losses[-1]'),
            AddCell("gates = lstm_gates(cell, X)", 'for name, values in gates.items():\n    print(name, values[:, -1].round(3))'),
        ),
        POINTS,
    ),
    # submitted as students make them, not as the export cell does
    Submission("correct-zipped-folder.zip", zipped_folder, POINTS),
    Submission("correct-with-bom.ipynb", with_byte_order_mark, POINTS),
    Submission("correct-last-answer-after-export-cell.ipynb", last_answer_at_the_end, POINTS),
]

# ---------------------------------------------------------------------------------------------
# Wrong, one mistake each: they lose the points of the check aimed at that mistake

# Training from these weights (Keras' random initialisation with seed 8) solves the task with
# another mechanism: the forget gate stays about 1 at the reset step, the cell candidate is about
# the same at every step and the cell state does not count down (measured: the same under 1e-3
# perturbations of these weights).
OTHER_MECHANISM_WEIGHTS = """\
INITIAL_WEIGHTS = {
    "kernel": [[-0.965, -1.04, -0.2, -1.006]],  # W_i, W_f, W_c, W_o
    "recurrent_kernel": [[0.071, 0.431, 0.854, 0.282]],  # U_i, U_f, U_c, U_o
    "bias": [0.0, 1.0, 0.0, 0.0],  # b_i, b_f, b_c, b_o
    "dense_kernel": [[-1.099]],
    "dense_bias": [0.0],
}
"""

SOLUTION_INITIAL_WEIGHTS = """\
INITIAL_WEIGHTS = {
    "kernel": [[-0.346, 0.975, -0.363, 0.577]],  # W_i, W_f, W_c, W_o
    "recurrent_kernel": [[0.74, -0.218, -0.124, -0.255]],  # U_i, U_f, U_c, U_o
    "bias": [0.0, 1.0, 0.0, 0.0],  # b_i, b_f, b_c, b_o
    "dense_kernel": [[-0.786]],
    "dense_bias": [0.0],
}
"""

WRONG_ANSWERS = {
    "answer_forget_gate": ("A", "C"),
    "answer_input_gate": ("C", "A"),
    "answer_output_gate": ("C", "A"),
    "answer_hidden_state": ("A", "B"),
    "answer_cell_candidate": ("A", "B"),
    "answer_counting": ("A", "B"),
}

WRONG = [
    Submission(
        "wrong-gate-order-if.ipynb",
        edited(SOLUTION, Replace(GATE_LINE, GATE_LINE.replace("i, f, g, o =", "f, i, g, o ="))),
        points(q5_gates=0),
        feedback={"q5_gates": "reads the columns of W, U and b in the order f, i, c̃, o"},
    ),
    Submission(
        "wrong-gate-order-co.ipynb",
        edited(
            SOLUTION,
            Replace(GATE_LINE, "i, f, o, g = sigmoid(z[:, 0:1]), sigmoid(z[:, 1:2]), sigmoid(z[:, 2:3]), np.tanh(z[:, 3:4])"),
        ),
        points(q5_gates=0),
        feedback={"q5_gates": "reads the columns of W, U and b in the order i, f, o, c̃"},
    ),
    Submission(
        "wrong-forget-gate-without-bias.ipynb",
        edited(SOLUTION, Replace("b = cell.bias.numpy()", "b = cell.bias.numpy() * np.array([1, 0, 1, 1], np.float32)")),
        points(q5_gates=0),
        feedback={"q5_gates": "leaves the forget gate's bias b_f out"},
    ),
    Submission(
        "wrong-sigmoid-for-tanh.ipynb",
        edited(SOLUTION, Replace("np.tanh(z[:, 2:3])", "sigmoid(z[:, 2:3])")),
        points(q5_gates=0),
        feedback={"q5_gates": "computes the candidate c̃ with a sigmoid"},
    ),
    Submission(
        "wrong-cell-state-not-carried.ipynb",
        edited(SOLUTION, Replace("c = f * c + i * g", "c = i * g")),
        points(q5_gates=0),
        feedback={"q5_gates": "does not carry the cell state from step to step"},
    ),
    # Every sequence shifted by one step, X and Y alike: the same five sequences in another order,
    # so training learns the same task. q4 is lost too, necessarily: `predictions` are the model's
    # outputs for the student's X, in the wrong order for the real X.
    Submission(
        "wrong-data-shifted.ipynb",
        edited(
            SOLUTION,
            Replace("float((s - n) % 5 == 0)", "float((s + 1 - n) % 5 == 0)"),
            Replace("float((s - 10) % 5 == 0)", "float((s + 1 - 10) % 5 == 0)"),
        ),
        points(q1_data=0, q4_predictions=0),
        feedback={"q1_data": "X is not the 5 shifted sequences"},
    ),
    # Y says whether the last element (not the next) is 1. The model learns that other task, so
    # the loss and the predictions on the real task fail too, and the answers fail: they can only
    # be checked against a cell that predicts the real sequence.
    Submission(
        "wrong-targets-off-by-one.ipynb",
        edited(SOLUTION, Replace("float((s - 10) % 5 == 0)", "float((s - 9) % 5 == 0)")),
        points(q1_data=1, q3_training=0, q4_predictions=0, **{question: 0 for question in POINTS if question.startswith("q6_")}),
    ),
    Submission(
        "wrong-stopped-at-1e-3.ipynb",
        edited(SOLUTION, Replace("while loss >= 1e-5 and", "while loss >= 1e-3 and")),
        points(q3_training=0),
        feedback={"q3_training": "train until it is below 1e-5"},
    ),
    Submission(
        "wrong-predictions-hard-coded.ipynb",
        edited(
            SOLUTION,
            Replace(
                "predictions = forward(cell, output_layer, X).numpy()",
                "predictions = np.array([[1.0], [0.0], [0.0], [0.0], [0.0]], np.float32)",
            ),
        ),
        points(q4_predictions=0),
        feedback={"q4_predictions": "predictions are not the outputs of the trained cell and output_layer for X"},
    ),
    # The table of the trained cell, returned whatever the weights and inputs: the grader calls
    # lstm_gates on the trained cell with other inputs than X, and on other weights.
    Submission(
        "wrong-gate-table-hard-coded.ipynb",
        edited(
            SOLUTION,
            Replace(
                "\n\ngates = lstm_gates(cell, X)",
                """
TRAINED_TABLE = lstm_gates(cell, X)


def lstm_gates(cell, X):
    return TRAINED_TABLE


gates = lstm_gates(cell, X)""",
            ),
        ),
        points(q5_gates=0),
        feedback={"q5_gates": "with shape (batch, steps) = (3, 10) on new weights and inputs, not (5, 10)"},
    ),
    Submission(
        "wrong-answers.ipynb",
        edited(SOLUTION, *(Replace(f'{name} = "{right}"', f'{name} = "{wrong}"') for name, (right, wrong) in WRONG_ANSWERS.items())),
        points(**{name.replace("answer_", "q6_"): 0 for name in WRONG_ANSWERS}),
        feedback={"q6_forget_gate": "does not describe what your own trained cell shows"},
    ),
    # Training skipped: the loss and the predictions fail. The answers describe a trained cell, so
    # they fail too (an untrained cell's hidden state happens to follow tanh of its cell state, and
    # its cell state drifts one way: the answer checks first require a cell that does the task).
    Submission(
        "wrong-not-trained.ipynb",
        edited(
            SOLUTION,
            Replace(
                "epochs, losses = train(tf.constant(X), tf.constant(Y), tf.constant(MAX_EPOCHS))",
                "epochs, losses = tf.constant(1), tf.constant([0.25])  # training skipped",
            ),
        ),
        points(q3_training=0, q4_predictions=0, **{question: 0 for question in POINTS if question.startswith("q6_")}),
        feedback={"q3_training": "train until it is below 1e-5", "q4_predictions": "does not predict 1 for exactly the sequence"},
    ),
    # Only Q1 done, the rest of the template left as it is.
    Submission(
        "wrong-only-data-done.ipynb",
        edited(
            TEMPLATE,
            Replace("X = ...\nY = ...", "X = np.array([[[float((s - n) % 5 == 0)] for n in range(10)] for s in range(5)], dtype=np.float32)\n"
                    "Y = np.array([[float((s - 10) % 5 == 0)] for s in range(5)], dtype=np.float32)"),
        ),
        {**ZERO, "q1_data": 2},
    ),
    # Answers that are right for the exercise's mechanism, but this cell learnt another one: the
    # answers it shows differently (forget gate, cell candidate, counting) fail the consistency part.
    Submission(
        "wrong-answers-not-own-mechanism.ipynb",
        edited(SOLUTION, Replace(SOLUTION_INITIAL_WEIGHTS, OTHER_MECHANISM_WEIGHTS)),
        points(q6_forget_gate=0, q6_cell_candidate=0, q6_counting=0),
    ),
]

# ---------------------------------------------------------------------------------------------
# Hostile: they try to get points they did not earn, or to break the grader

QUESTIONS = list(POINTS)

PRINT_ALL_PASSED = f"""\
print("All tests passed!")
for question in {QUESTIONS!r}:
    print(question, "results: All test cases passed!")
"""

PATCH_TEST_RUN = """\
from otter.test_files import abstract_test, ok_test


def run_all_passed(self, global_environment):
    self.test_case_results = [
        abstract_test.TestCaseResult(test_case=case, message="✅ Test case passed", passed=True)
        for case in self.test_cases
    ]


ok_test.OKTestFile.run = run_all_passed
"""

PATCH_CHECKER = """\
from otter.execute import Checker

otter_check = Checker.check.__func__


def check_full_marks(cls, *args, **kwargs):
    test_file = otter_check(cls, *args, **kwargs)
    test_file.update_score(test_file.possible)
    return test_file


Checker.check = classmethod(check_full_marks)
"""

PATCH_GRADING_RESULTS = """\
import otter.test_files

otter_init = otter.test_files.GradingResults.__init__


def init_full_marks(self, test_files, notebook=None):
    otter_init(self, test_files, notebook)
    for test_file in self.results.values():
        test_file.update_score(test_file.possible)


otter.test_files.GradingResults.__init__ = init_full_marks
"""

# After Otter's last cell has pickled the results, rewrite that pickle with full marks.
REWRITE_RESULTS_PICKLE = """\
import pickle
import re


def rewrite_results(result):
    found = re.search(r'open\\("([^"]+\\.pkl)", "wb"\\)', result.info.raw_cell)
    if found:
        with open(found.group(1), "rb") as f:
            results = pickle.load(f)
        for test_file in results.results.values():
            test_file.update_score(test_file.possible)
        with open(found.group(1), "wb") as f:
            pickle.dump(results, f)


get_ipython().events.register("post_run_cell", rewrite_results)
"""

# Every hidden test case becomes `>>> pass`, keeping its points.
EDIT_TESTS = """\
from pathlib import Path

for path in Path("tests").glob("*.py"):
    spec = {}
    exec(path.read_text(), spec)
    for suite in spec["test"]["suites"]:
        for case in suite["cases"]:
            case["code"] = ">>> pass\\n"
    path.write_text(f"OK_FORMAT = True\\ntest = {spec['test']!r}\\n")
"""

DELETE_TESTS = """\
import shutil

shutil.rmtree("tests")
"""

READ_HIDDEN_TESTS = """\
from pathlib import Path

for path in [*Path("tests").glob("*.py"), Path("lstm_checks.py")]:
    print(path.read_text())
"""

# The student's functions are the grader's own reference maths, imported from the grading folder
# (only mse_loss is the student's).
USE_GRADER_REFERENCE = [  # the grader's reference maths in the answer cells; only mse_loss is its own
    Replace("X = ...\nY = ...", "import lstm_checks\n\nX, Y = (a.astype(np.float32) for a in lstm_checks.make_data())"),
    Replace(
        "def forward(cell, output_layer, X):\n    ...",
        "def forward(cell, output_layer, X):\n"
        "    weights = dict(zip(lstm_checks.WEIGHT_NAMES, cell.get_weights() + output_layer.get_weights()))\n"
        "    return lstm_checks.predict(weights, X)",
    ),
    Replace("def mse_loss(y_true, y_pred):\n    ...", "def mse_loss(y_true, y_pred):\n    return np.mean((y_true - y_pred) ** 2)"),
    Replace("def lstm_gates(cell, X):\n    ...", "def lstm_gates(cell, X):\n    return lstm_checks.lstm_trace(*cell.get_weights(), X)"),
]

UNBOUNDED_MEMORY = """\
import time

hoard = []
while True:
    hoard.append(b"x" * 2**25)  # 32 MB, written, so it is resident
    time.sleep(0.02)
"""

# Files under the per-file cap, in its own folder, until the grader's disk cap stops it (3 GB at
# most, should the cap ever fail).
FILL_DISK = """\
for i in range(24):
    with open(f"filler-{i}", "wb") as f:
        f.write(b"x" * 2**27)
"""

AFTER_TRAINING = 'print(f"{epochs} epochs, final loss'  # a line of the training cell
TEMPLATE_IMPORTS = "import tensorflow as tf"


def on_template(source: str, after: str = TEMPLATE_IMPORTS) -> Callable[[Path], None]:
    return edited(TEMPLATE, AddCell(after, source))


def on_solution(source: str, after: str = AFTER_TRAINING) -> Callable[[Path], None]:
    return edited(SOLUTION, AddCell(after, source))


def raise_in_every_cell(path: Path) -> None:
    nb = read_clean(SOLUTION)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = f'raise RuntimeError("no")\n{cell.source}'
    nbformat.write(nb, path)


def write_bytes(data: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data)


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def notebook_bytes(nb: nbformat.NotebookNode) -> bytes:
    return nbformat.writes(nb).encode()


class TouchOnLoad:
    """Unpickling this creates the file ``path``: proof that a payload ran."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def __reduce__(self):
        return Path.touch, (self.path,)


def zip_with_otter_log(path: Path) -> None:
    """The solution's export zip, with an ``.OTTER_LOG`` that Otter would dill-load."""
    payload = pickle.dumps(TouchOnLoad(path.absolute().parent.parent / OTTER_LOG_MARKER))
    path.write_bytes(zip_of({NOTEBOOK_NAME: notebook_bytes(read_clean(SOLUTION)), ".OTTER_LOG": payload}))


def other_assignment(path: Path) -> None:
    nb = read_clean(SOLUTION)
    nb.metadata.otter.assignment_name = "exercise-6-2-rnn"
    nbformat.write(nb, path)


def assignment_name_with_markdown(path: Path) -> None:
    """Another assignment's name that would write headings and an unclosed comment into the summary."""
    nb = read_clean(SOLUTION)
    nb.metadata.otter.assignment_name = "x'\n\n## Submissions to look at\n\nNone.\n\n<!--"
    nbformat.write(nb, path)


def corrupt_zip(path: Path) -> None:
    whole = zip_of({NOTEBOOK_NAME: notebook_bytes(read_clean(SOLUTION))})
    path.write_bytes(whole[: len(whole) // 2])


HOSTILE = [
    Submission("hostile-prints-all-passed.ipynb", on_template(PRINT_ALL_PASSED), ZERO),
    # Otter's in-kernel scores count for nothing: patching Otter changes nothing.
    Submission("hostile-patches-test-run.ipynb", on_template(PATCH_TEST_RUN), ZERO),
    Submission("hostile-patches-checker.ipynb", on_template(PATCH_CHECKER), ZERO),
    Submission("hostile-patches-grading-results.ipynb", on_template(PATCH_GRADING_RESULTS), ZERO),
    Submission("hostile-rewrites-results-pickle.ipynb", on_template(REWRITE_RESULTS_PICKLE), ZERO),
    # The kernel's folder holds no tests and no checks: these find nothing to edit, delete or read.
    Submission("hostile-edits-tests.ipynb", on_template(EDIT_TESTS), ZERO),
    Submission("hostile-deletes-tests.ipynb", on_solution(DELETE_TESTS), POINTS),
    Submission("hostile-reads-hidden-tests.ipynb", on_template(READ_HIDDEN_TESTS), ZERO),
    # ... nor can it import the grader's reference: only its own mse_loss counts.
    Submission("hostile-uses-grader-reference.ipynb", edited(TEMPLATE, *USE_GRADER_REFERENCE), {**ZERO, "q2_model": 1}),
    Submission("hostile-sys-exit.ipynb", on_solution('import sys\n\nsys.exit("done")'), POINTS),
    # The kernel dies right after training: the questions checked before keep their points.
    Submission("hostile-os-exit.ipynb", on_solution("import os\n\nos._exit(0)"), {**ZERO, "q1_data": 2, "q2_model": 3}, r"^Crashed: .*DeadKernelError"),
    Submission(
        "hostile-kills-kernel.ipynb",
        on_solution("import os\nimport signal\n\nos.kill(os.getpid(), signal.SIGKILL)"),
        {**ZERO, "q1_data": 2, "q2_model": 3},
        r"^Crashed: .*DeadKernelError",
    ),
    Submission("hostile-endless-loop.ipynb", on_template("while True:\n    pass"), ZERO, r"^Timeout: "),
    Submission("hostile-unbounded-memory.ipynb", on_template(UNBOUNDED_MEMORY), ZERO, r"^Memory limit: "),
    Submission("hostile-fills-disk.ipynb", on_template(FILL_DISK), ZERO, r"^Disk limit: "),
    Submission(
        "hostile-leaves-child-process.ipynb",
        on_solution(f'import subprocess\n\nsubprocess.Popen(["sleep", "{LEFTOVER_SLEEP}"], start_new_session=True)'),
        POINTS,
        r"^Completed; 1 process was left running by the notebook and killed$",
    ),
    Submission("hostile-raises-in-every-cell.ipynb", raise_in_every_cell, ZERO),
    Submission("hostile-otter-log.zip", zip_with_otter_log, POINTS),
]

BAD_INPUTS = [
    Submission("bad-not-json.ipynb", write_bytes(b"this is not a notebook\n"), ZERO, INVALID + "the notebook cannot be read"),
    Submission("bad-no-cells.ipynb", notebook_writer(nbformat.v4.new_notebook()), ZERO, INVALID + "the notebook has no code cells"),
    Submission("bad-other-assignment.ipynb", other_assignment, ZERO, INVALID + "the notebook is for assignment 'exercise-6-2-rnn'"),
    Submission("bad-assignment-name-with-markdown.ipynb", assignment_name_with_markdown, ZERO, INVALID + r"the notebook is for assignment \"x'\\n\\n## "),
    Submission("bad-empty.zip", write_bytes(zip_of({})), ZERO, INVALID + "the zip is empty"),
    Submission("bad-corrupt.zip", corrupt_zip, ZERO, INVALID + "the zip is corrupt"),
    Submission(
        "bad-two-notebooks.zip",
        write_bytes(zip_of({NOTEBOOK_NAME: notebook_bytes(read_clean(SOLUTION)), "copy.ipynb": notebook_bytes(read_clean(TEMPLATE))})),
        ZERO,
        INVALID + "the zip holds 2 notebooks",
    ),
    # a zipped folder with two real notebooks: the checkpoint copy does not count, the copy does
    Submission(
        "bad-folder-two-notebooks.zip",
        write_bytes(zip_of({
            f"lstm/{NOTEBOOK_NAME}": notebook_bytes(read_clean(SOLUTION)),
            "lstm/copy.ipynb": notebook_bytes(read_clean(SOLUTION)),
            "lstm/.ipynb_checkpoints/copy-checkpoint.ipynb": notebook_bytes(read_clean(TEMPLATE)),
        })),  # fmt: skip
        ZERO,
        INVALID + "the zip holds 2 notebooks, not one$",
    ),
]

CORPUS = CORRECT + WRONG + HOSTILE + BAD_INPUTS


def write_corpus(folder: Path, submissions=CORPUS) -> list[Submission]:
    """Write ``submissions`` into ``folder`` (created if needed); return them."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for submission in submissions:
        submission.write(folder / submission.name)
    return submissions


def by_name(name: str) -> Submission:
    return next(submission for submission in CORPUS if submission.name == name)
