"""Reference maths and grading checks for Exercise 6-3 (autograder only: never in the student's kernel).

The kit's grader takes the values each question needs out of the student's kernel when the
question's ``grader.check`` cell has run (``lstm_values.py`` names them), and calls ``verdict``
here, in the grader's own process, which runs none of the student's code. Every check reads only
those plain values (numbers and strings), recomputes what it needs with the float64 NumPy reference
below, and raises ``CheckFailed`` with one sentence saying what is wrong. Nothing a student's code
printed or stored as a result is trusted as a result, and a student's function is called on random
weights and inputs drawn for each submission, so only code that computes the right thing passes.

``run_check`` is the same check run inside the kernel by Otter's hidden tests, for graders that run
Otter alone (``otter run``, Gradescope's Otter image).
"""

import contextvars
import itertools
import re

import numpy as np

SEQUENCES = 5  # one sequence per phase of the period
STEPS = 10  # two periods per sequence
PERIOD = 5  # every 5th element is 1
GATE_NAMES = ("input", "forget", "candidate", "output", "cell", "hidden")
WEIGHT_NAMES = ("kernel", "recurrent_kernel", "bias", "dense_kernel", "dense_bias")
ANSWER_NAMES = (
    "answer_forget_gate",
    "answer_input_gate",
    "answer_output_gate",
    "answer_hidden_state",
    "answer_cell_candidate",
    "answer_counting",
)
# The mechanism that training reaches from the kit's fixed initial weights (see README).
EXPECTED_ANSWERS = {
    "answer_forget_gate": "A",
    "answer_input_gate": "C",
    "answer_output_gate": "C",
    "answer_hidden_state": "A",
    "answer_cell_candidate": "A",
    "answer_counting": "A",
}
MAX_REASON = 200  # characters of an exception's first line in a message
LOSS_THRESHOLD = 1e-5
# float32 training vs this float64 recomputation differ by far less than this
LOSS_TOLERANCE = 1.01
PREDICTION_MARGIN = 0.1  # "next is 1" above 0.9, the others below 0.1
ATOL = 1e-4  # float32 model vs float64 reference
KERNEL_PROBE_SEED = 20240603
# The probe of the student's train, from initial weights drawn near INITIAL_WEIGHTS and on 0/1 data
# drawn for each submission (so a train that replays a recorded curve fails, and the reference never
# depends on the kernel). Over 60 epochs on 20 drawn probes, float32 TensorFlow and this float64
# reference differ by at most 8e-7 (relative); past about 80 epochs, RMSprop's normalised steps
# amplify rounding and they drift apart. Every wrong training measured (a learning rate 10% off,
# another optimizer or loss, gradients not applied, a layer not trained) is at least 1.3e-2 away
# within 60 epochs: benchmarks/training_probe.py prints the figures.
TRAINING_EPOCHS = 60
TRAINING_START_SPREAD = 0.1  # standard deviation of the probe's initial weights around INITIAL_WEIGHTS
MIN_TRAINING_DROP = 0.1  # the training probe's reference loss falls by at least this share over its epochs
# On some 0/1 data, float32 rounding sends RMSprop's normalised steps elsewhere within 60 epochs: a
# probe is drawn again until the same steps in float32 stay this close to the float64 reference.
TRAINING_STABILITY_RTOL = 1e-6
GATE_PROBE_SCALE = 3.0  # standard deviation of the weights of the gate probe on 0/1 inputs
GATE_PROBE_MARGIN = 100 * 1e-4  # a gate probe's common mistakes differ from its gates by 100 times ATOL somewhere
TRAINING_CURVE_RTOL = 1e-4  # relative, on every epoch's loss
# Every student starts from these weights (the notebook's INITIAL_WEIGHTS cell; a test compares them).
INITIAL_WEIGHTS = {
    "kernel": [[-0.346, 0.975, -0.363, 0.577]],
    "recurrent_kernel": [[0.74, -0.218, -0.124, -0.255]],
    "bias": [0.0, 1.0, 0.0, 0.0],
    "dense_kernel": [[-0.786]],
    "dense_bias": [0.0],
}


class CheckFailed(AssertionError):
    """A check's verdict: the message is one sentence for the student."""


def make_data():
    """The exercise's data: X[s, n] = 1 when (s - n) is a multiple of 5; Y[s] = next element."""
    X = np.array(
        [[[float((s - n) % PERIOD == 0)] for n in range(STEPS)] for s in range(SEQUENCES)],
        dtype=np.float32,
    )
    Y = np.array([[float((s - STEPS) % PERIOD == 0)] for s in range(SEQUENCES)], dtype=np.float32)
    return X, Y


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def lstm_trace(kernel, recurrent_kernel, bias, x, dtype=np.float64, *, order="ifco", recurrent=True, candidate=np.tanh, carry=True, squash_cell=True):
    """Every gate and state of a Keras LSTMCell (gate order i, f, c, o) at every step, float64.

    The keywords make the common mistakes, for the feedback: ``order`` the gate each column block
    is read as ("icfo" is TF1's i, j, f, o), ``recurrent`` False leaves U·h out, ``candidate`` the
    candidate's activation, ``carry`` False forgets the cell state, ``squash_cell`` False makes h = o·c.
    """
    kernel, recurrent_kernel, bias = (np.asarray(a, dtype) for a in (kernel, recurrent_kernel, bias))
    x = np.asarray(x, dtype)
    batch, steps, _ = x.shape
    units = recurrent_kernel.shape[0]
    h = np.zeros((batch, units), dtype)
    c = np.zeros((batch, units), dtype)
    trace = {name: np.zeros((batch, steps), dtype) for name in GATE_NAMES}
    for t in range(steps):
        z = x[:, t, :] @ kernel + (h @ recurrent_kernel if recurrent else 0) + bias
        block = {gate: z[:, k * units : (k + 1) * units] for k, gate in enumerate(order)}
        i, f, g, o = _sigmoid(block["i"]), _sigmoid(block["f"]), candidate(block["c"]), _sigmoid(block["o"])
        c = (f * c if carry else 0) + i * g
        h = o * (np.tanh(c) if squash_cell else c)
        for name, value in zip(GATE_NAMES, (i, f, g, o, c, h)):
            trace[name][:, t] = value[:, 0]
    return trace


def predict(weights, x, readout="hidden"):
    """The model's output: sigmoid(last hidden state * dense weight + dense bias). ``readout``
    "cell" reads the last cell state instead (a student's forward may, which Q2 scores)."""
    trace = lstm_trace(weights["kernel"], weights["recurrent_kernel"], weights["bias"], x)
    dense_kernel = np.asarray(weights["dense_kernel"], np.float64)
    dense_bias = np.asarray(weights["dense_bias"], np.float64)
    return _sigmoid(trace[readout][:, -1:] @ dense_kernel + dense_bias)


LEARNING_RATE = float(np.float32(0.01))  # the value Keras keeps, in a float32 variable
RMSPROP_RHO = 0.9  # Keras 3 RMSprop defaults
RMSPROP_EPSILON = 1e-7


# A loss: (kind, scale), ``scale`` times the mean over the errors e of ``kind``: e² or |e|, and its derivative.
MSE = ("squared", 1.0)
ERROR_TERMS = {"squared": (np.square, lambda e: 2 * e), "absolute": (np.abs, np.sign)}


def loss_and_gradients(weights, X, Y, dtype=np.float64, loss=MSE, readout="hidden"):
    """The loss (the MSE unless ``loss`` says otherwise) and its gradient for every weight, by
    backpropagation through time, for the model that ``predict`` computes with ``readout``."""
    w = {name: np.asarray(weights[name], dtype) for name in WEIGHT_NAMES}
    X, Y = np.asarray(X, dtype), np.asarray(Y, dtype)
    batch, steps, _ = X.shape
    trace = lstm_trace(w["kernel"], w["recurrent_kernel"], w["bias"], X, dtype)
    i, f, g, o, c, h = (trace[name] for name in ("input", "forget", "candidate", "output", "cell", "hidden"))
    c_before = np.hstack([np.zeros((batch, 1), dtype), c[:, :-1]])  # c_{t-1}, with c_0 = 0
    h_before = np.hstack([np.zeros((batch, 1), dtype), h[:, :-1]])
    state = trace[readout][:, -1:]  # what the output layer reads
    p = _sigmoid(state @ w["dense_kernel"] + w["dense_bias"])
    (term, derivative), scale = ERROR_TERMS[loss[0]], loss[1]
    value = scale * float(np.mean(term(p - Y)))

    dz_out = scale * derivative(p - Y) / Y.size * p * (1 - p)  # through the mean and the output sigmoid
    grads = {"dense_kernel": state.T @ dz_out, "dense_bias": dz_out.sum(axis=0)}
    grads.update({name: np.zeros_like(w[name]) for name in WEIGHT_NAMES[:3]})
    d_state = dz_out @ w["dense_kernel"].T  # (batch, 1)
    dh = d_state if readout == "hidden" else np.zeros((batch, 1), dtype)
    dc = d_state if readout == "cell" else np.zeros((batch, 1), dtype)
    for t in reversed(range(steps)):
        col = lambda a: a[:, t : t + 1]  # noqa: E731 - one step, as a column
        tanh_c = np.tanh(col(c))
        dc = dc + dh * col(o) * (1 - tanh_c**2)
        dz = np.hstack([  # pre-activations of the gates, in Keras' order i, f, c, o
            dc * col(g) * col(i) * (1 - col(i)),
            dc * col(c_before) * col(f) * (1 - col(f)),
            dc * col(i) * (1 - col(g) ** 2),
            dh * tanh_c * col(o) * (1 - col(o)),
        ])
        grads["kernel"] += X[:, t, :].T @ dz
        grads["recurrent_kernel"] += col(h_before).T @ dz
        grads["bias"] += dz.sum(axis=0)
        dh = dz @ w["recurrent_kernel"].T
        dc = dc * col(f)
    return value, grads


def rmsprop_losses(initial_weights, X, Y, epochs, dtype=np.float64, loss=MSE, readout="hidden"):
    """The loss before each of ``epochs`` Keras 3 RMSprop steps (rho 0.9, epsilon 1e-7, no momentum).

    Keras' update: velocity = rho * velocity + (1 - rho) * g**2, then
    w -= lr * g / sqrt(velocity + epsilon) (epsilon inside the root). The start is the float32
    model that the student's cell holds, so both curves leave from the same point. ``dtype``: the
    precision of the arithmetic (float32 shows whether a start is sensitive to rounding). ``loss``:
    the loss trained on (a student's ``mse_loss`` may be another, which Q2 scores); ``readout``: the
    state the output layer reads (see ``predict``).
    """
    w = {name: np.asarray(initial_weights[name], np.float32).astype(dtype) for name in WEIGHT_NAMES}
    velocity = {name: np.zeros_like(w[name]) for name in WEIGHT_NAMES}
    losses = np.zeros(epochs)
    for epoch in range(epochs):
        losses[epoch], grads = loss_and_gradients(w, X, Y, dtype, loss, readout)
        for name in WEIGHT_NAMES:
            velocity[name] = RMSPROP_RHO * velocity[name] + (1 - RMSPROP_RHO) * grads[name] ** 2
            w[name] = w[name] - LEARNING_RATE * grads[name] / np.sqrt(velocity[name] + RMSPROP_EPSILON)
    return losses


def training_curve_matches(student_losses, reference_losses, rtol=TRAINING_CURVE_RTOL):
    """None when the student's N probe losses follow the reference, else one sentence for the student.

    ``reference_losses`` is ``rmsprop_losses`` for N + 1 epochs. The solution records the loss
    computed before each update; a loop that records it after the update (the same training,
    one epoch later) is accepted too. Relative on every epoch: the loss falls by orders of
    magnitude as training goes on. The messages give no reference numbers.
    """
    got = np.asarray(student_losses, np.float64).ravel()
    expected = np.asarray(reference_losses, np.float64)
    epochs = expected.size - 1
    if got.size != epochs:
        return (f"train(X, Y, max_epochs) with max_epochs={epochs} returned {got.size} losses: "
                "it should run max_epochs epochs and return the loss of each one.")
    if not np.all(np.isfinite(got)):
        return "The losses that train returns contain NaN or infinite values."
    if any(_close(got, ref, 0.0, rtol) for ref in (expected[:-1], expected[1:])):
        return None
    if all(abs(got[0] - ref) > rtol * ref for ref in expected[:2]):
        return ("The first loss that train returns is not the mean squared error of the model: "
                "record the loss that you compute under the tape.")
    return ("The losses that train returns do not follow the expected training: each epoch should "
            "apply RMSprop (learning rate 0.01) once, with the gradients of the loss with respect "
            "to all the weights of cell and output_layer.")


def random_probe(rng):
    """Fresh weights and inputs the student's functions never saw, so a hard-coded table fails.

    Inputs have the exercise's 10 steps, as the notebook says. ``binary_*`` are a second cell, with
    weights as large as a trained cell's (its gates saturate), for ``lstm_gates`` on 0/1 sequences
    other than the exercise's (X is Q1's answer, so the grader never sends it). ``train_*`` are the
    start and the data of the training probe: 0/1 sequences and targets drawn here, so that its
    reference never depends on what the kernel holds; drawn again until RMSprop's reference curve
    moves, so that a curve that does not move cannot pass for it, and until float32 arithmetic
    follows it, with either readout a student's forward may have (``READOUTS``).
    """
    probe = {
        "kernel": rng.normal(0, 1, (1, 4)),
        "recurrent_kernel": rng.normal(0, 1, (1, 4)),
        "bias": rng.normal(0, 1, (4,)),
        "dense_kernel": rng.normal(0, 1, (1, 1)),
        "dense_bias": rng.normal(0, 1, (1,)),
        "x": rng.uniform(-1, 1, (3, STEPS, 1)),
        "binary_kernel": rng.normal(0, GATE_PROBE_SCALE, (1, 4)),
        "binary_recurrent_kernel": rng.normal(0, GATE_PROBE_SCALE, (1, 4)),
        "binary_bias": rng.normal(0, GATE_PROBE_SCALE, (4,)),
        "x_binary": rng.integers(0, 2, (SEQUENCES, STEPS, 1)).astype(float),
        "y_true": rng.uniform(0, 1, (SEQUENCES, 1)),  # the training data's shape: see student_loss
        "y_pred": rng.uniform(0, 1, (SEQUENCES, 1)),
        **{
            f"train_{name}": np.float32(np.asarray(weights) + rng.normal(0, TRAINING_START_SPREAD, np.shape(weights))).astype(float)
            for name, weights in INITIAL_WEIGHTS.items()
        },
    }
    # q2's forward probe tells a forward that reads the cell state from the right one by far more
    # than the tolerance: the later questions judge the student's model with the readout it shows.
    while not _readouts_differ(probe):
        probe.update({name: rng.normal(0, 1, np.shape(probe[name])) for name in WEIGHT_NAMES})
    # q5's own cell and inputs, drawn like forward's: q2's request must not carry them
    probe.update(gates_x=rng.uniform(-1, 1, (3, STEPS, 1)), **{f"gates_{name}": rng.normal(0, 1, np.shape(probe[name])) for name in CELL_INPUTS})
    while not _gates_discriminate({name: probe[f"gates_{name}"] for name in CELL_INPUTS}, probe["gates_x"]):
        probe.update({f"gates_{name}": rng.normal(0, 1, np.shape(probe[name])) for name in CELL_INPUTS})
    while not _gates_discriminate({name: probe[f"binary_{name}"] for name in CELL_INPUTS}, probe["x_binary"]):
        probe.update({f"binary_{name}": rng.normal(0, GATE_PROBE_SCALE, np.shape(probe[name])) for name in CELL_INPUTS})
    while True:
        probe["train_x"] = rng.integers(0, 2, (SEQUENCES, STEPS, 1)).astype(float)
        probe["train_y"] = rng.integers(0, 2, (SEQUENCES, 1)).astype(float)
        if all(_trains_stably(probe, readout) for readout in READOUTS):
            return probe


def training_start(probe):
    """The initial weights of the training probe, as a weights dict."""
    return {name: probe[f"train_{name}"] for name in WEIGHT_NAMES}


def training_reference(probe, loss=MSE, readout="hidden"):
    """RMSprop's losses for the training probe, one epoch more than it runs (a loss recorded after
    the update is accepted too), from the probe's own start and data."""
    return rmsprop_losses(training_start(probe), probe["train_x"], probe["train_y"], TRAINING_EPOCHS + 1, loss=loss, readout=readout)


READOUTS = ("hidden", "cell")  # what a student's forward may feed to the output layer (student_readout)


def _trains_stably(probe, readout):
    """Whether the training probe's reference with this readout moves, and stays within
    TRAINING_STABILITY_RTOL of itself computed in float32 (a student's model is float32)."""
    reference = training_reference(probe, readout=readout)
    in_float32 = rmsprop_losses(training_start(probe), probe["train_x"], probe["train_y"], TRAINING_EPOCHS + 1, np.float32, readout=readout)
    return _discriminates(reference) and _close(in_float32, reference, 0.0, TRAINING_STABILITY_RTOL)


def _readouts_differ(probe):
    """Whether the forward probe's outputs with the hidden state and with the cell state differ by
    far more than the check's tolerance (a dense weight near 0 makes them equal)."""
    hidden, cell = (predict(probe, probe["x"], readout) for readout in READOUTS)
    return bool(np.max(np.abs(hidden - cell)) > GATE_PROBE_MARGIN)


def _discriminates(reference):
    """Whether a training reference can tell a right curve from a wrong one: finite, and moving."""
    reference = np.asarray(reference, np.float64)
    return bool(np.all(np.isfinite(reference)) and np.all(reference > 0) and reference[-1] < (1 - MIN_TRAINING_DROP) * reference[0])


# The probe's entries each value is computed from: a request carries these and nothing else.
CELL_INPUTS = ("kernel", "recurrent_kernel", "bias")
VALUE_INPUTS = {
    "forward_probe": (*WEIGHT_NAMES, "x"),
    "loss_probe": ("y_true", "y_pred"),
    "training_curve": (*(f"train_{name}" for name in WEIGHT_NAMES), "train_x", "train_y"),
    "gates_probe": (*(f"gates_{name}" for name in CELL_INPUTS), "gates_x"),
    "gates_binary": (*(f"binary_{name}" for name in CELL_INPUTS), "x_binary"),
}


def request(check_names, probe):
    """What the grader sends into the kernel for these checks: the values to gather, and only the
    inputs those values are computed from (a kernel sees each random input at its own check only)."""
    values = sorted({value for name in check_names for value in CHECKS[name][1]})
    inputs = {key: np.asarray(probe[key]).tolist() for value in values for key in VALUE_INPUTS.get(value, ())}
    if "training_curve" in values:
        inputs["training_epochs"] = TRAINING_EPOCHS
    return {"values": values, "inputs": inputs}


# ---------------------------------------------------------------------------------------------
# Checks: each reads plain values only (``values``: name -> array, dict of arrays or text;
# ``errors``: name -> why the kernel could not give it).


def _need(values, errors, key, what):
    if key not in values:
        reason = _clean_error(errors.get(key, "it was not found"))
        if "ellipsis" in reason.lower():
            raise CheckFailed(f"{what.split('(')[0]} is still `...`: write your code in its place.")
        raise CheckFailed(f"{what} failed: {reason}." if "(" in what else f"Could not read {what}: {reason}.")
    return values[key]


ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
FUNCTION_NODE = re.compile(r"\{\{function_node [^}]*\}\}\s*|\[\[\{\{node [^}]*\}\}\]\]|\s*\[Op:\w+\].*$")
EXCEPTION_LINE = re.compile(r"^(\w+(?:Error|Exception|Warning|Exit)): (.*)$")
# Lines of TensorFlow's and Keras's wrappers around the message that says what went wrong.
WRAPPER_LINE = re.compile(r"^(in user code:|Graph execution error:|Exception encountered when calling|Detected at node|"
                          r"Arguments received by|Stack trace|•|Traceback|File \")")


def _clean_error(text):
    """An exception's type and the line of its message that says what went wrong: no terminal escape
    codes, no TensorFlow op traces or wrapper lines, short enough to read."""
    text = ANSI_ESCAPE.sub("", str(text))
    lines = [FUNCTION_NODE.sub("", line).strip() for line in text.splitlines()]
    kind, message_lines, after_file = "", [], False
    for line in filter(None, lines):
        match = EXCEPTION_LINE.match(line)
        if match:
            kind, line = match.group(1), match.group(2).strip()
        if after_file:  # the source line that a 'File "..."' line quotes
            after_file = False
            continue
        after_file = line.startswith('File "')
        if line and not WRAPPER_LINE.match(line):
            message_lines.append((kind, line))
    kind, message = message_lines[0] if message_lines else (kind, "")
    reason = f"{kind}: {message}" if kind and message else (kind or message or "an error with no message")
    reason = reason.rstrip(". ")
    return reason if len(reason) <= MAX_REASON else reason[: MAX_REASON - 3] + "..."


def _array(values, errors, key, what, shape):
    value = _need(values, errors, key, what)
    if isinstance(value, dict) or np.shape(value) != shape:
        raise CheckFailed(f"{what} should have shape {shape}, not {np.shape(value)}.")
    if not np.all(np.isfinite(value)):
        raise CheckFailed(f"{what} contains NaN or infinite values.")
    return value


def _close(got, expected, atol, rtol=0.0):
    """``np.allclose`` that fails closed: a value, a reference or a tolerance that is not finite,
    or shapes that differ, never match (``inf - inf`` is NaN, and ``x <= 1e-4 * inf`` always holds)."""
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        tolerance = atol + rtol * np.abs(expected)
    finite = np.all(np.isfinite(got)) and np.all(np.isfinite(expected)) and np.all(np.isfinite(tolerance))
    return bool(got.shape == expected.shape and finite and np.all(np.abs(got - expected) <= tolerance))


# What the running check compared, for the staff's evidence (``verdict_with_evidence``).
_EVIDENCE = contextvars.ContextVar("evidence", default=None)


def _note(what, **items):
    """Record, for staff, what a check compared: arrays as lists, numbers as numbers."""
    evidence = _EVIDENCE.get()
    if evidence is not None:
        evidence.append({"what": what, **{key: np.asarray(value).tolist() if not isinstance(value, str) else value for key, value in items.items()}})


def _compare(what, got, expected, atol, rtol=0.0):
    """``_close``, recorded as evidence."""
    _note(what, got=got, expected=expected, atol=atol, rtol=rtol)
    return _close(got, expected, atol, rtol)


def check_data_x(values, errors, probe):
    X = _array(values, errors, "X", "X", (SEQUENCES, STEPS, 1))
    _note("X, exactly", got=X, expected=make_data()[0])
    if not np.array_equal(X, make_data()[0]):
        raise CheckFailed("X is not the 5 shifted sequences in which every 5th element is 1.")


def check_data_y(values, errors, probe):
    Y = _array(values, errors, "Y", "Y", (SEQUENCES, 1))
    _note("Y, exactly", got=Y, expected=make_data()[1])
    if not np.array_equal(Y, make_data()[1]):
        raise CheckFailed("Y should say, for each sequence, whether its next element is 1.")


def check_forward(values, errors, probe):
    x = probe["x"]
    what = f"forward(cell, output_layer, X) with a new cell and output layer and X of {len(x)} sequences"
    got = _need(values, errors, "forward_probe", what)
    if np.shape(got) == () and not isinstance(got, (dict, str)) and not np.isfinite(got):
        raise CheckFailed("forward returns nothing (None): return output_layer(h), an array of shape (batch, 1).")
    got = _array(values, errors, "forward_probe", what, (len(x), 1))
    if not _compare("forward on the probe's cell, output layer and x", got, predict(probe, x), ATOL):
        raise CheckFailed(_forward_mistake(got, probe))


def _forward_mistake(got, probe):
    """One sentence naming what the student's forward computes instead, when it is a common mistake."""
    trace = lstm_trace(probe["kernel"], probe["recurrent_kernel"], probe["bias"], probe["x"])
    dense_kernel, dense_bias = (np.asarray(probe[name], np.float64) for name in ("dense_kernel", "dense_bias"))
    steps = trace["hidden"].shape[1]

    def dense(state, t, activation=_sigmoid):
        return activation(trace[state][:, [t]] @ dense_kernel + dense_bias)

    known = [
        (trace["hidden"][:, -1:], "forward returns the last hidden state itself: apply output_layer to it."),
        (dense("hidden", -1, lambda z: z), "forward applies output_layer's weights without its sigmoid: call output_layer(h), which includes it."),
        (dense("cell", -1), "forward applies output_layer to the last cell state c: apply it to the last hidden state h."),
        *((dense("hidden", t), f"forward applies output_layer to the hidden state after step {t + 1} of {steps}: use the state after the last step.") for t in range(steps - 1)),
    ]
    for expected, message in known:
        if _close(got, expected, ATOL):
            return message
    return ("forward does not return output_layer(h) for the hidden state h after the last step of each sequence: "
            "start every sequence from zero states, run the cell over all its steps, and apply output_layer to the last h.")


# Losses a student's mse_loss may compute instead of the MSE, and what the feedback says of each.
LOSS_MISTAKES = [
    (("squared", float(SEQUENCES)), "mse_loss returns the sum of the squared errors: divide by their number (take the mean)."),
    (("squared", 0.5), "mse_loss returns half the mean squared error: leave the factor 1/2 out."),
    (("absolute", 1.0), "mse_loss returns the mean absolute error: square the errors instead of taking their size."),
    (("absolute", float(SEQUENCES)), "mse_loss returns the sum of the absolute errors: square the errors and take their mean."),
]


def check_loss_function(values, errors, probe):
    y_true, y_pred = (np.asarray(probe[name], np.float64) for name in ("y_true", "y_pred"))
    got = _need(values, errors, "loss_probe", f"mse_loss(y_true, y_pred) on two arrays of shape {y_true.shape}")
    if np.size(got) != 1:
        raise CheckFailed(f"mse_loss returns {np.size(got)} numbers: reduce the squared errors to one number, their mean.")
    if not np.all(np.isfinite(got)):
        raise CheckFailed("mse_loss returns nothing (None) or a value that is not finite: return the mean of the squared errors.")
    got = float(np.ravel(got)[0])
    if _compare("mse_loss on the probe's y_true and y_pred", got, _loss_of(MSE, probe), 1e-7, 1e-4):
        return
    if _close(got, np.sqrt(_loss_of(MSE, probe)), 1e-7, 1e-4):
        raise CheckFailed("mse_loss returns the root of the mean squared error: leave the square root out.")
    raise CheckFailed(next((message for loss, message in LOSS_MISTAKES if _close(got, _loss_of(loss, probe), 1e-7, 1e-4)),
                           "mse_loss(y_true, y_pred) does not return the mean of the squared differences between y_true and y_pred."))


def _trained_weights(values, errors):
    weights = _need(values, errors, "weights", "the trained weights of cell and output_layer")
    shapes = {"kernel": (1, 4), "recurrent_kernel": (1, 4), "bias": (4,), "dense_kernel": (1, 1), "dense_bias": (1,)}
    if not isinstance(weights, dict) or any(np.shape(weights.get(n)) != s for n, s in shapes.items()):
        raise CheckFailed("cell must stay a one-unit LSTMCell and output_layer a one-unit Dense layer.")
    if not all(np.all(np.isfinite(weights[n])) for n in shapes):
        raise CheckFailed("The trained weights contain NaN or infinite values.")
    return weights


def check_training(values, errors, probe):
    """The student's own train, run by the grader from other initial weights on other data, follows
    RMSprop's steps; and the model it trained in the notebook has a loss below 1e-5 (pasted weights
    pass only that). Both references are the grader's own: the probe's data, and ``make_data()``."""
    curve = _need(values, errors, "training_curve", f"the losses of train(X, Y, {TRAINING_EPOCHS}) from other initial weights and data")
    loss_used, readout = student_loss(values, probe), student_readout(values, probe)
    reference = training_reference(probe, loss_used, readout)
    if not _discriminates(reference):
        raise CheckFailed("The grader could not draw a training probe for this check: ask your instructor to grade it again.")
    _note("train's losses from the probe's start and data, against RMSprop's (before or after each update)",
          got=curve, expected=reference, rtol=TRAINING_CURVE_RTOL, loss=str(loss_used), readout=readout)
    message = training_curve_matches(curve, reference)
    if message:
        raise CheckFailed(message)
    X, Y = make_data()
    loss = float(np.mean((predict(_trained_weights(values, errors), X, readout) - Y) ** 2))
    _note("the trained model's MSE on X, Y, below the threshold", got=loss, expected=LOSS_THRESHOLD, rtol=LOSS_TOLERANCE - 1)
    if not loss < LOSS_THRESHOLD * LOSS_TOLERANCE:
        hint = " Your mse_loss is not the mean squared error (see q2_model), which can keep the training from getting there." if loss_used != MSE else ""
        raise CheckFailed(f"The model trained in the notebook has a loss on X, Y of 1e-5 or more: train until it is below 1e-5.{hint}")


def student_loss(values, probe):
    """The loss the student's ``mse_loss`` computes, when Q2's probe (of the training data's shape)
    shows it is the MSE or one of its common mistakes (``LOSS_MISTAKES``); else the MSE. q3 compares
    the training with RMSprop on that loss, so that a wrong loss costs Q2's point only."""
    got = values.get("loss_probe")
    if got is None or isinstance(got, (dict, str)) or np.size(got) != 1:
        return MSE
    for loss, _ in LOSS_MISTAKES:
        if _close(np.ravel(got)[0], _loss_of(loss, probe), 1e-7, 1e-4):
            return loss
    return MSE


def student_readout(values, probe):
    """The state the student's ``forward`` feeds to the output layer, as Q2's probe shows it: "cell"
    when it reads the cell state (a mistake Q2 scores), else "hidden". The later questions judge the
    student's own model, so that this mistake costs Q2's points only."""
    got = values.get("forward_probe")
    if got is None or isinstance(got, (dict, str)) or np.shape(got) != (len(probe["x"]), 1):
        return "hidden"
    return "cell" if _close(got, predict(probe, probe["x"], "cell"), ATOL) else "hidden"


def _loss_of(loss, probe):
    (term, _), scale = ERROR_TERMS[loss[0]], loss[1]
    return scale * np.mean(term(np.asarray(probe["y_true"], np.float64) - np.asarray(probe["y_pred"], np.float64)))


def _solves_task(weights, readout="hidden"):
    """Whether the model predicts 1 for exactly the sequence whose next element is 1 (with margin)."""
    X, Y = make_data()
    model = predict(weights, X, readout)
    return bool(np.all(np.where(Y == 1, model > 1 - PREDICTION_MARGIN, model < PREDICTION_MARGIN)))


def check_prediction_pattern(values, errors, probe):
    X, _ = make_data()
    weights = _trained_weights(values, errors)
    got, readout = _array(values, errors, "predictions", "predictions", (SEQUENCES, 1)), student_readout(values, probe)
    if not _compare("predictions, against the trained weights' outputs for X", got, predict(weights, X, readout), 1e-3):
        if _close(got, predict(INITIAL_WEIGHTS, X, readout), 1e-3):
            raise CheckFailed("predictions are the outputs of the untrained model (INITIAL_WEIGHTS): compute them after training, with the trained cell and output_layer.")
        raise CheckFailed("predictions are not the outputs of the trained cell and output_layer for X: compute them with forward(cell, output_layer, X) after training.")
    if not _solves_task(weights, readout):
        raise CheckFailed("The model does not predict 1 for exactly the sequence whose next element is 1.")


GATE_SYMBOLS = {"input": "i", "forget": "f", "candidate": "c̃", "output": "o", "cell": "c", "hidden": "h"}
GATE_FORMULAS = {
    "input": "i = sigmoid(x·W_i + h_prev·U_i + b_i)",
    "forget": "f = sigmoid(x·W_f + h_prev·U_f + b_f)",
    "candidate": "c̃ = tanh(x·W_c + h_prev·U_c + b_c)",
    "output": "o = sigmoid(x·W_o + h_prev·U_o + b_o)",
    "cell": "c = f·c_prev + i·c̃",
    "hidden": "h = o·tanh(c)",
}


def _check_gates(values, errors, key, weights, x, where):
    gates = _need(values, errors, key, f"lstm_gates(cell, X) {where}")
    expected = lstm_trace(weights["kernel"], weights["recurrent_kernel"], weights["bias"], x)
    if not isinstance(gates, dict):
        raise CheckFailed("lstm_gates must return a dict with the keys 'input', 'forget', 'candidate', 'output', 'cell' and 'hidden'.")
    for name in GATE_NAMES:
        got, shape = gates.get(name), expected[name].shape
        if got is None:
            raise CheckFailed(f"lstm_gates returns no '{name}': the dict needs the keys 'input', 'forget', 'candidate', 'output', 'cell' and 'hidden'.")
        if np.shape(got) == shape[::-1] and shape[0] != shape[1]:
            raise CheckFailed(f"lstm_gates returns '{name}' as (steps, batch): each value should have shape (batch, steps), one row per sequence.")
        if np.shape(got) != shape:
            raise CheckFailed(f"lstm_gates must return '{name}' with shape (batch, steps) = {shape} {where}, not {np.shape(got)}.")
    if not all([_compare(f"lstm_gates '{name}' {where}", gates[name], expected[name], ATOL) for name in GATE_NAMES]):
        raise CheckFailed(_gates_mistake(gates, weights, x, expected, where))


def _gates_mistake(gates, weights, x, expected, where):
    """One sentence naming the student's mistake in lstm_gates: a common one recognised by computing
    it, else the first value that differs, in the order the cell computes them."""
    for trace, mistake in gate_mistakes(weights, x):
        if all(_close(gates[name], trace[name], ATOL) for name in GATE_NAMES):
            return f"lstm_gates {mistake}."
    steps = expected["hidden"].shape[1]
    for t in range(steps):
        for name in GATE_NAMES:
            if not _close(np.asarray(gates[name])[:, t], expected[name][:, t], ATOL):
                earlier = "every value of the steps before it matches, so " if t else ""
                return (f"The first value from lstm_gates that differs from the cell's ({where}) is {GATE_SYMBOLS[name]} ('{name}') "
                        f"at step {t + 1} of {steps}: {earlier}check {GATE_FORMULAS[name]}.")
    return f"The values from lstm_gates do not match the cell's ({where})."


def _gates_discriminate(weights, x):
    """Whether a gate probe tells every common mistake from the right gates, by far more than the
    check's tolerance (random weights can close a gate so that, say, h = o·c equals o·tanh(c))."""
    expected = lstm_trace(*(weights[name] for name in CELL_INPUTS), x)
    return all(max(np.max(np.abs(trace[name] - expected[name])) for name in GATE_NAMES) > GATE_PROBE_MARGIN
               for trace, _ in gate_mistakes(weights, x))


def gate_mistakes(weights, x):
    """(gates, what the mistake is) of each common mistake in lstm_gates, for the cell ``weights``."""
    kernel, recurrent_kernel, bias = (np.asarray(weights[name], np.float64) for name in CELL_INPUTS)

    def variant(**mistake):
        return lstm_trace(kernel, recurrent_kernel, bias, x, **mistake)

    forget_bias_left_out = bias * np.array([1, 0, 1, 1])
    known = [
        (lstm_trace(kernel, recurrent_kernel, forget_bias_left_out, x), "leaves the forget gate's bias b_f out"),
        (variant(recurrent=False), "leaves the recurrent term h_prev·U out of the gates"),
        (variant(squash_cell=False), "computes h = o·c: the hidden state is o·tanh(c)"),
        (variant(candidate=_sigmoid), "computes the candidate c̃ with a sigmoid: it is tanh"),
        (variant(carry=False), "does not carry the cell state from step to step: c = f·c_prev + i·c̃"),
        (lstm_trace(np.zeros_like(kernel), recurrent_kernel, bias, x), "leaves the input term x·W out of the gates"),
        (lstm_trace(kernel, recurrent_kernel, np.zeros_like(bias), x), "leaves the bias b out of the gates"),
        (lstm_trace(*(INITIAL_WEIGHTS[name] for name in CELL_INPUTS), x),
         "computes the gates from INITIAL_WEIGHTS, not from the cell it is given: read cell.kernel, cell.recurrent_kernel and cell.bias"),
    ]
    for order in sorted(set(map("".join, itertools.permutations("ifco"))) - {"ifco"}):
        symbols = ", ".join(dict(zip("ifco", ("i", "f", "c̃", "o")))[gate] for gate in order)
        known.append((variant(order=order), f"reads the columns of W, U and b in the order {symbols}: Keras keeps them as i, f, c̃, o"
                      + (" (TF1's LSTMCell used i, j, f, o)" if order == "icfo" else "")))
    return known


def check_gates_binary(values, errors, probe):
    weights = {name: probe[f"binary_{name}"] for name in CELL_INPUTS}
    _check_gates(values, errors, "gates_binary", weights, probe["x_binary"], "on a trained-size cell and 0/1 inputs")


def check_gates_random(values, errors, probe):
    weights = {name: probe[f"gates_{name}"] for name in CELL_INPUTS}
    _check_gates(values, errors, "gates_probe", weights, probe["gates_x"], "on new weights and inputs")


def derive_answers(weights):
    """The option each question's answer must be, read off the student's own trained cell."""
    X, _ = make_data()
    trace = lstm_trace(weights["kernel"], weights["recurrent_kernel"], weights["bias"], X)
    ones = X[:, :, 0] == 1
    later = np.zeros_like(ones)
    later[:, 1:] = True  # at step 0 there is no state yet to forget

    def level(values):  # "A" ~ 0, "B" ~ 0.5, "C" ~ 1
        return "ABC"[int(np.argmin(np.abs(np.mean(values) - np.array([0.0, 0.5, 1.0]))))]

    hidden, cell = trace["hidden"], trace["cell"]
    if np.max(np.abs(hidden - np.tanh(cell))) < 0.1:
        hidden_state = "A"
    elif np.max(np.abs(hidden)) < 0.1:
        hidden_state = "B"
    else:
        hidden_state = "C"

    at_one, at_zero = np.mean(trace["candidate"][ones]), np.mean(trace["candidate"][~ones])
    if abs(at_zero) < 0.1:
        candidate = "C"
    elif np.sign(at_one) != np.sign(at_zero) and abs(at_one) > abs(at_zero):
        candidate = "A"
    else:
        candidate = "B"

    # the cell state over the four 0s that follow a 1, in every sequence where they all fit
    runs = [cell[s, t : t + PERIOD] for s, t in zip(*np.nonzero(ones)) if t + PERIOD <= STEPS]
    steps = np.concatenate([np.diff(run) for run in runs])
    if np.all(steps < 0) or np.all(steps > 0):
        counting = "A"
    elif np.max(np.abs(steps)) < 0.05:
        counting = "B"
    else:
        counting = "C"

    return {
        "answer_forget_gate": level(trace["forget"][ones & later]),
        "answer_input_gate": level(trace["input"][later]),
        "answer_output_gate": level(trace["output"][later]),
        "answer_hidden_state": hidden_state,
        "answer_cell_candidate": candidate,
        "answer_counting": counting,
    }


def _answer_check(name):
    def check(values, errors, probe):
        answer = _need(values, errors, name, name).strip().strip("'\"").upper()
        if answer not in ("A", "B", "C"):
            raise CheckFailed(f"{name} should be one of 'A', 'B' or 'C'.")
        weights = _trained_weights(values, errors)
        if not _solves_task(weights, student_readout(values, probe)):
            raise CheckFailed(f"{name} can only be checked against a trained cell that predicts the sequence (see q3_training and q4_predictions).")
        own = derive_answers(weights)[name]
        _note(f"{name}: the student's letter, the letter their trained cell shows, the exercise's", got=answer, expected=own, exercise=EXPECTED_ANSWERS[name])
        if answer != own:
            raise CheckFailed(f"{name} does not describe what your own trained cell shows.")
        if answer != EXPECTED_ANSWERS[name]:
            raise CheckFailed(f"{name} describes a mechanism other than the one this exercise is about.")

    return check


# Taken once, at the first question whose check cell asks for them: every later question is scored
# with those, so that no cell can swap other weights in for one check.
TAKEN_ONCE = ("weights",)
# Values another question's check reads, as the question that asked for them got them.
SHARED = {
    "training": ("loss_probe", "forward_probe"),
    "prediction_pattern": ("forward_probe",),
    **{name: ("forward_probe",) for name in ANSWER_NAMES},
}
# check name -> (check, values it needs)
CHECKS = {
    "data_x": (check_data_x, ["X"]),
    "data_y": (check_data_y, ["Y"]),
    "forward": (check_forward, ["forward_probe"]),
    "loss_function": (check_loss_function, ["loss_probe"]),
    "training": (check_training, ["weights", "training_curve"]),
    "prediction_pattern": (check_prediction_pattern, ["weights", "predictions"]),
    "gates_binary": (check_gates_binary, ["gates_binary"]),
    "gates_random": (check_gates_random, ["gates_probe"]),
    **{name: (_answer_check(name), ["weights", name]) for name in ANSWER_NAMES},
}


def verdict_with_evidence(name, values, errors, probe):
    """``verdict``, and what the check compared (values, references, tolerances) for staff."""
    evidence = []
    token = _EVIDENCE.set(evidence)
    try:
        return verdict(name, values, errors, probe), evidence
    finally:
        _EVIDENCE.reset(token)


def verdict(name, values, errors, probe):
    """None when check ``name`` passes, else its one-sentence message."""
    check, _ = CHECKS[name]
    try:
        check(values, errors, probe)
    except CheckFailed as failure:
        return str(failure)
    except Exception as error:  # malformed values is a failed check, never a crashed grader
        return f"The check could not read your results ({type(error).__name__}: {error})."
    return None


def run_check(name, namespace):
    """Entry point of the hidden tests run by Otter alone: gather in the kernel, check, assert."""
    from lstm_values import gather

    probe = random_probe(np.random.default_rng(KERNEL_PROBE_SEED))
    values, errors = gather(request([name], probe), namespace)
    message = verdict(name, values, errors, probe)
    if message:
        raise CheckFailed(message)
