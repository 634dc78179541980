"""What a student may do with the names and shapes the grader relies on (issue 18).

The hidden probes run the student's ``train`` with the global ``optimizer`` and call ``forward``
and ``lstm_gates`` on 3 sequences. Each case here is either accepted by the grader or caught by a
public check before submission, never lost silently: ``PUBLIC_WARNINGS`` holds what the check cell
shows the student (``tests/test_platform.py`` runs the check cells), and the points are the
grader's.
"""

from corpus.variants import SOLUTION, Replace, Submission, edited, points

OPTIMIZER = "optimizer = keras.optimizers.RMSprop(learning_rate=0.01)"
BUILD = "optimizer.build(variables)"
APPLY = "optimizer.apply_gradients(zip(gradients, variables))"

CASES = [
    # The optimizer under another name: the probe finds no `optimizer` to reset and train with.
    Submission(
        "platform-optimizer-renamed.ipynb",
        edited(SOLUTION, Replace(OPTIMIZER, "opt = keras.optimizers.RMSprop(0.01)"), Replace(BUILD, "opt.build(variables)"), Replace(APPLY, "opt.apply_gradients(zip(gradients, variables))")),
        points(q3_training=0),
        feedback={"q3_training": "'optimizer' is not defined in the notebook"},
    ),
    # A second optimizer that train uses, `optimizer` left unused: the probe resets `optimizer`, and
    # train goes on with the state of the notebook's own training.
    Submission(
        "platform-second-optimizer.ipynb",
        edited(SOLUTION, Replace(BUILD, "opt = keras.optimizers.RMSprop(learning_rate=0.01)\nopt.build(variables)"), Replace(APPLY, "opt.apply_gradients(zip(gradients, variables))")),
        points(q3_training=0),
        feedback={"q3_training": "do not follow the expected training"},
    ),
    # lstm_gates for a batch of 5: the notebook's X passes the shape check; the probe of 3 sequences
    # raises (gates_random), the one of 5 binary sequences passes (gates_binary).
    Submission(
        "platform-gates-fixed-batch.ipynb",
        edited(SOLUTION, Replace("batch, steps, _ = X.shape", "batch, steps = 5, 10")),
        points(q5_gates=2),
        feedback={"q5_gates": "lstm_gates(cell, X) on new weights and inputs failed: ValueError:"},
    ),
]

# What the check cell shows, before submission, for each case the grader does not accept.
PUBLIC_WARNINGS = {
    "platform-optimizer-renamed.ipynb": "Keep the optimizer in the variable optimizer",
    "platform-second-optimizer.ipynb": "In 3 epochs, train made 0 updates with optimizer",
    "platform-gates-fixed-batch.ipynb": "lstm_gates must work for any batch size and return (batch, steps)",
    "mistake-forward-fixed-batch.ipynb": "forward must work for any batch size and return (batch, 1)",
}
