"""Attacks on what the checks compare against: values the kernel reports, bent for one check.

Each case was measured against the grader of commit a50b8e4, whose references were built in part
from what the kernel reported (its ``X`` and ``Y`` for the training probe, its cell's weights at
each check), and which took a question's values at any cell whose text held
``grader.check("...")``, a comment included. Now every reference is the grader's own (``make_data()``
and the probe drawn for the submission), the trained weights are taken once, at the first check that
needs them, and only a real call takes values: each case gets what the same notebook gets without
its trick.
"""

from corpus.attacks import AFTER_Q3_CHECK, PASTED_TRAINING, _solution_training_function
from corpus.variants import AFTER_TRAINING, COMPLETED, POINTS, SOLUTION, AddCell, Replace, Submission, edited, points

# 1. Pasted trained weights, and Y set to 1e160 around q3's check cell: the reference losses, built
# from the kernel's Y, were all infinite, and any finite curve was within 1e-4 * inf of them.
# Before: 20 / 20 (pasted weights alone: 17 / 20). Now the probe trains on data the grader draws.
DEGENERATE_Y = """\
Y_kept = Y
Y = np.full((5, 1), 1e160)  # only while q3 is checked
"""
RESTORE_Y = "Y = Y_kept"

# 2. An lstm_gates with no LSTM maths (i = f = o = 0.5, candidate = c = h = 0), and the cell's
# weights set to zeros around q5's check cell, where those are the gates exactly.
# Before: 18 / 20 (q5's check on "the trained weights" read them at q5's check). Now q5 calls
# lstm_gates on cells the grader builds, and every later question uses the weights taken at q3.
CONSTANT_GATES = """\
def lstm_gates(cell, X):
    batch, steps = np.shape(X)[:2]
    half, zero = np.full((batch, steps), 0.5), np.zeros((batch, steps))
    return {"input": half, "forget": half, "candidate": zero, "output": half, "cell": zero, "hidden": zero}


def unused_lstm_gates(cell, X):
"""
ZERO_WEIGHTS = """\
kept_weights = (cell.get_weights(), output_layer.get_weights())
cell.set_weights([np.zeros_like(w) for w in kept_weights[0]])  # only while q5 is checked
"""
RESTORE_WEIGHTS = """\
cell.set_weights(kept_weights[0])
output_layer.set_weights(kept_weights[1])
"""

# 3. A canary: a wrong answer set in cells that name q6_forget_gate's check in a comment and a
# string, one before the real answer cell and one after its check cell. Were either taken as a
# check, a wrong answer would be graded (now a question is taken at its first check cell; before,
# at its last). Before: a comment triggered a take, and the cell after the check cost the point.
COMMENTED_CHECK = """\
answer_forget_gate = "C"  # grader.check("q6_forget_gate")
reminder = 'grader.check("q6_forget_gate")'
"""

ATTACKS = [
    Submission(
        "hostile-degenerate-y-at-q3.ipynb",
        edited(
            SOLUTION,
            Replace(_solution_training_function(), PASTED_TRAINING),
            AddCell(AFTER_TRAINING, DEGENERATE_Y),
            AddCell(AFTER_Q3_CHECK, RESTORE_Y),
        ),
        points(q3_training=0),
        COMPLETED,
    ),
    Submission(
        "hostile-zero-weights-at-q5.ipynb",
        edited(
            SOLUTION,
            Replace("def lstm_gates(cell, X):\n", CONSTANT_GATES),
            AddCell("gates = lstm_gates(cell, X)", ZERO_WEIGHTS),
            AddCell('grader.check("q5_gates")', RESTORE_WEIGHTS),
        ),
        points(q5_gates=0),
        COMPLETED,
    ),
    Submission(
        "hostile-commented-check.ipynb",
        edited(SOLUTION, AddCell('grader.check("q6_forget_gate")', COMMENTED_CHECK), AddCell("fig.suptitle(", COMMENTED_CHECK)),
        POINTS,
        COMPLETED,
    ),
]
