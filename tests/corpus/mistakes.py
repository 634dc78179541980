"""One-mistake submissions whose feedback must name the mistake (issue 17).

Each is the solution with one mistake a student makes, and states the points it must lose and what
its question's reason must say. Most pass every public check, so the reason is the only place where
the student learns what is wrong; the points show that the mistake costs only its own question.
"""

from corpus.variants import GATE_LINE, POINTS, SOLUTION, SOLUTION_FORWARD, Replace, Submission, edited, points

MSE = "return tf.reduce_mean(tf.square(y_true - y_pred))"
CELL_WEIGHTS = "W = cell.kernel.numpy()\n    U = cell.recurrent_kernel.numpy()\n    b = cell.bias.numpy()"

MISTAKES = [
    Submission(
        "mistake-tf1-gate-order.ipynb",
        edited(SOLUTION, Replace(GATE_LINE, "i, g, f, o = sigmoid(z[:, 0:1]), np.tanh(z[:, 1:2]), sigmoid(z[:, 2:3]), sigmoid(z[:, 3:4])")),
        points(q5_gates=0),
        feedback={"q5_gates": "in the order i, c̃, f, o: Keras keeps them as i, f, c̃, o (TF1's LSTMCell used i, j, f, o)"},
    ),
    Submission(
        "mistake-gates-without-recurrent-term.ipynb",
        edited(SOLUTION, Replace("z = X[:, t, :] @ W + h @ U + b", "z = X[:, t, :] @ W + b")),
        points(q5_gates=0),
        feedback={"q5_gates": "leaves the recurrent term h_prev·U out of the gates"},
    ),
    Submission(
        "mistake-hidden-state-without-tanh.ipynb",
        edited(SOLUTION, Replace("h = o * np.tanh(c)", "h = o * c")),
        points(q5_gates=0),
        feedback={"q5_gates": "computes h = o·c: the hidden state is o·tanh(c)"},
    ),
    Submission(
        "mistake-gates-from-initial-weights.ipynb",
        edited(SOLUTION, Replace(CELL_WEIGHTS, 'W, U, b = (np.array(INITIAL_WEIGHTS[k], np.float32) for k in ("kernel", "recurrent_kernel", "bias"))')),
        points(q5_gates=0),
        feedback={"q5_gates": "computes the gates from INITIAL_WEIGHTS, not from the cell it is given"},
    ),
    Submission(
        "mistake-gates-steps-by-batch.ipynb",
        edited(SOLUTION, Replace("    return gates\n", "    return {name: value.T for name, value in gates.items()}\n")),
        points(q5_gates=0),
        feedback={"q5_gates": "lstm_gates returns 'input' as (steps, batch): each value should have shape (batch, steps)"},
    ),
    Submission(
        "mistake-predictions-untrained.ipynb",
        edited(SOLUTION, Replace("predictions = forward(cell, output_layer, X).numpy()", "predictions = forward(*make_model(), X).numpy()")),
        points(q4_predictions=0),
        feedback={"q4_predictions": "predictions are the outputs of the untrained model (INITIAL_WEIGHTS)"},
    ),
    # RMSprop hardly notices the loss's scale: this trains as the solution does. Only Q2's loss point.
    Submission(
        "mistake-loss-sum-of-squares.ipynb",
        edited(SOLUTION, Replace(MSE, "return tf.reduce_sum(tf.square(y_true - y_pred))")),
        points(q2_model=2),
        feedback={"q2_model": "mse_loss returns the sum of the squared errors"},
    ),
    # Trained on the mean absolute error, this model settles at predicting 0 for every sequence (4 of
    # the 5 targets), and the notebook's training cell says it stopped at MAX_EPOCHS. The loop itself
    # is right (q3's probe follows RMSprop on that loss), but a model that does not learn the task
    # cannot have its predictions or its gates read: q3's loss, q4 and q6 are lost with q2's point.
    Submission(
        "mistake-loss-mean-absolute-error.ipynb",
        edited(SOLUTION, Replace(MSE, "return tf.reduce_mean(tf.abs(y_true - y_pred))")),
        {**points(q2_model=2, q3_training=0, q4_predictions=0), **{question: 0 for question in POINTS if question.startswith("q6_")}},
        feedback={"q2_model": "mse_loss returns the mean absolute error", "q3_training": "Your mse_loss is not the mean squared error (see q2_model)"},
    ),
    # The output layer on the cell state: a model that trains as well. q3 and q4 judge the student's
    # own model (the readout q2's probe shows), so they keep their points. Three of Q6's answers
    # cannot: in a model that reads c, the output gate and the hidden state play no part, and the
    # cell trained this way counts differently, so the typed answers describe neither the student's
    # cell nor the exercise's mechanism.
    Submission(
        "mistake-forward-reads-cell-state.ipynb",
        edited(SOLUTION, Replace(SOLUTION_FORWARD, SOLUTION_FORWARD.replace("return output_layer(h)", "return output_layer(c)"))),
        points(q2_model=1, q6_output_gate=0, q6_hidden_state=0, q6_counting=0),
        feedback={"q2_model": "forward applies output_layer to the last cell state c: apply it to the last hidden state h."},
    ),
    # Zero states of a fixed batch of 5: the notebook's own X passes, the grader's 3 sequences raise.
    # q2's public check calls forward on X[:3] too, so the student is warned (tests/test_platform.py).
    Submission(
        "mistake-forward-fixed-batch.ipynb",
        edited(SOLUTION, Replace(SOLUTION_FORWARD, SOLUTION_FORWARD.replace("h = tf.zeros((tf.shape(X)[0], 1))", "h = tf.zeros((5, 1))"))),
        points(q2_model=1),
        feedback={"q2_model": "forward(cell, output_layer, X) with a new cell and output layer and X of 3 sequences failed: InvalidArgumentError:"},
    ),
]
