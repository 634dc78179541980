"""Reference maths and grading checks for Exercise 6-3 (ships in the autograder only).

The same checks run in two places:

* inside the grading kernel, called by the notebook's hidden tests (``run_check``);
* in the kit's clean verifier, a process that runs none of the student's code, on the
  evidence that ``gather_evidence`` took out of the kernel as plain arrays and strings.

Every check therefore reads only ``Evidence`` (numbers and strings), recomputes what it needs
with the float64 NumPy reference below, and raises ``CheckFailed`` with one sentence saying
what is wrong. Nothing a student's code printed or stored as a result is trusted as a result.
"""

import json

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
LOSS_THRESHOLD = 1e-5
# float32 training vs this float64 recomputation differ by far less than this
LOSS_TOLERANCE = 1.01
PREDICTION_MARGIN = 0.1  # "next is 1" above 0.9, the others below 0.1
ATOL = 1e-4  # float32 model vs float64 reference
KERNEL_PROBE_SEED = 20240603


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


def lstm_trace(kernel, recurrent_kernel, bias, x):
    """Every gate and state of a Keras LSTMCell (gate order i, f, c, o) at every step, float64."""
    kernel, recurrent_kernel, bias = (np.asarray(a, np.float64) for a in (kernel, recurrent_kernel, bias))
    x = np.asarray(x, np.float64)
    batch, steps, _ = x.shape
    units = recurrent_kernel.shape[0]
    h = np.zeros((batch, units))
    c = np.zeros((batch, units))
    trace = {name: np.zeros((batch, steps)) for name in GATE_NAMES}
    for t in range(steps):
        z = x[:, t, :] @ kernel + h @ recurrent_kernel + bias
        i, f, g, o = (z[:, k * units : (k + 1) * units] for k in range(4))
        i, f, g, o = _sigmoid(i), _sigmoid(f), np.tanh(g), _sigmoid(o)
        c = f * c + i * g
        h = o * np.tanh(c)
        for name, value in zip(GATE_NAMES, (i, f, g, o, c, h)):
            trace[name][:, t] = value[:, 0]
    return trace


def predict(weights, x):
    """The model's output: sigmoid(last hidden state * dense weight + dense bias)."""
    trace = lstm_trace(weights["kernel"], weights["recurrent_kernel"], weights["bias"], x)
    dense_kernel = np.asarray(weights["dense_kernel"], np.float64)
    dense_bias = np.asarray(weights["dense_bias"], np.float64)
    return _sigmoid(trace["hidden"][:, -1:] @ dense_kernel + dense_bias)


def random_probe(rng):
    """Fresh weights and inputs the student's functions never saw, so a hard-coded table fails."""
    return {
        "kernel": rng.normal(0, 1, (1, 4)),
        "recurrent_kernel": rng.normal(0, 1, (1, 4)),
        "bias": rng.normal(0, 1, (4,)),
        "dense_kernel": rng.normal(0, 1, (1, 1)),
        "dense_bias": rng.normal(0, 1, (1,)),
        "x": rng.uniform(-1, 1, (3, 7, 1)),
        "y_true": rng.uniform(0, 1, (4, 1)),
        "y_pred": rng.uniform(0, 1, (4, 1)),
    }


# ---------------------------------------------------------------------------------------------
# Evidence: what is taken out of the student's kernel. Each gatherer calls the student's code;
# a failure is kept as a message, so one broken function costs only the checks that need it.


def _keras_model(weights):
    import keras

    cell = keras.layers.LSTMCell(1)
    cell.build((None, 1))
    cell.set_weights([np.asarray(weights[n], np.float32) for n in WEIGHT_NAMES[:3]])
    output_layer = keras.layers.Dense(1, activation="sigmoid")
    output_layer.build((None, 1))
    output_layer.set_weights([np.asarray(weights[n], np.float32) for n in WEIGHT_NAMES[3:]])
    return cell, output_layer


class _Namespace(dict):
    """The notebook's globals, with a student-readable error for a missing name."""

    def __missing__(self, name):
        raise NameError(f"'{name}' is not defined in the notebook")


def _gates(ns, cell, x):
    gates = ns["lstm_gates"](cell, np.asarray(x, np.float32))
    return {name: np.asarray(gates[name], np.float64) for name in GATE_NAMES}


def _weights(ns):
    cell, output_layer = ns["cell"], ns["output_layer"]
    values = [np.asarray(w, np.float64) for w in cell.get_weights() + output_layer.get_weights()]
    return dict(zip(WEIGHT_NAMES, values))


def _forward_probe(ns, probe):
    cell, output_layer = _keras_model(probe)
    return np.asarray(ns["forward"](cell, output_layer, np.asarray(probe["x"], np.float32)), np.float64)


def _loss_probe(ns, probe):
    return np.asarray(ns["mse_loss"](np.float32(probe["y_true"]), np.float32(probe["y_pred"])), np.float64)


GATHERERS = {
    "X": lambda ns, probe: np.asarray(ns["X"], np.float64),
    "Y": lambda ns, probe: np.asarray(ns["Y"], np.float64),
    "weights": lambda ns, probe: _weights(ns),
    "predictions": lambda ns, probe: np.asarray(ns["predictions"], np.float64),
    "forward_probe": _forward_probe,
    "loss_probe": _loss_probe,
    "gates_trained": lambda ns, probe: _gates(ns, ns["cell"], make_data()[0]),
    "gates_probe": lambda ns, probe: _gates(ns, _keras_model(probe)[0], probe["x"]),
    **{name: (lambda ns, probe, name=name: str(ns[name])) for name in ANSWER_NAMES},
}


def gather_evidence(namespace, probe, keys=None):
    """Call the student's code in ``namespace``; return {key: value or error message}."""
    namespace, evidence, errors = _Namespace(namespace), {}, {}
    for key in keys or GATHERERS:
        try:
            evidence[key] = GATHERERS[key](namespace, probe)
        except Exception as error:  # a student's function may raise anything
            errors[key] = f"{type(error).__name__}: {error}"
    return evidence, errors


def save_evidence(namespace, probe_path, evidence_path):
    """Run in the kernel by the kit's grader: write the evidence as plain .npz arrays and JSON."""
    with np.load(probe_path, allow_pickle=False) as probe_file:
        probe = {key: probe_file[key] for key in probe_file.files}
    evidence, errors = gather_evidence(namespace, probe)
    arrays, strings = {}, {}
    for key, value in evidence.items():
        if isinstance(value, str):
            strings[key] = value
            continue
        fields = value if isinstance(value, dict) else {"": value}
        try:  # plain numbers only: the grader loads the evidence without pickle
            floats = {f"{key}.{name}" if name else key: np.asarray(array, np.float64) for name, array in fields.items()}
        except (TypeError, ValueError) as error:
            errors[key] = f"{type(error).__name__}: {error}"
            continue
        arrays.update(floats)
    np.savez(evidence_path, **arrays)
    with open(f"{evidence_path}.json", "w") as f:
        json.dump({"strings": strings, "errors": errors}, f)


def load_evidence(evidence_path):
    """Read what ``save_evidence`` wrote, as data only (no pickle), back into evidence form."""
    with open(f"{evidence_path}.json") as f:
        meta = json.load(f)
    evidence = {key: str(value) for key, value in meta["strings"].items()}
    with np.load(evidence_path, allow_pickle=False) as arrays:
        for name in arrays.files:
            key, _, field = name.partition(".")
            value = np.asarray(arrays[name], np.float64)
            if field:
                evidence.setdefault(key, {})[field] = value
            else:
                evidence[key] = value
    return evidence, {key: str(value) for key, value in meta["errors"].items()}


# ---------------------------------------------------------------------------------------------
# Checks: each reads evidence only.


def _need(evidence, errors, key, what):
    if key not in evidence:
        reason = errors.get(key, "it was not found")
        raise CheckFailed(f"Could not get {what}: {reason}.")
    return evidence[key]


def _array(evidence, errors, key, what, shape):
    value = _need(evidence, errors, key, what)
    if isinstance(value, dict) or np.shape(value) != shape:
        raise CheckFailed(f"{what} should have shape {shape}, not {np.shape(value)}.")
    if not np.all(np.isfinite(value)):
        raise CheckFailed(f"{what} contains NaN or infinite values.")
    return value


def check_data_x(evidence, errors, probe):
    X = _array(evidence, errors, "X", "X", (SEQUENCES, STEPS, 1))
    if not np.array_equal(X, make_data()[0]):
        raise CheckFailed("X is not the 5 shifted sequences in which every 5th element is 1.")


def check_data_y(evidence, errors, probe):
    Y = _array(evidence, errors, "Y", "Y", (SEQUENCES, 1))
    if not np.array_equal(Y, make_data()[1]):
        raise CheckFailed("Y should say, for each sequence, whether its next element is 1.")


def check_forward(evidence, errors, probe):
    got = _array(evidence, errors, "forward_probe", "forward(...) on new weights and inputs", (3, 1))
    if not np.allclose(got, predict(probe, probe["x"]), atol=ATOL):
        raise CheckFailed("forward does not compute sigmoid(dense(last hidden state of the LSTM)).")


def check_loss_function(evidence, errors, probe):
    got = _need(evidence, errors, "loss_probe", "mse_loss(...)")
    expected = np.mean((probe["y_true"] - probe["y_pred"]) ** 2)
    if np.size(got) != 1 or not np.isclose(float(np.ravel(got)[0]), expected, rtol=1e-4, atol=1e-7):
        raise CheckFailed("mse_loss does not return the mean of the squared errors as one number.")


def _trained_weights(evidence, errors):
    weights = _need(evidence, errors, "weights", "the trained weights of cell and output_layer")
    shapes = {"kernel": (1, 4), "recurrent_kernel": (1, 4), "bias": (4,), "dense_kernel": (1, 1), "dense_bias": (1,)}
    if not isinstance(weights, dict) or any(np.shape(weights.get(n)) != s for n, s in shapes.items()):
        raise CheckFailed("cell must stay a one-unit LSTMCell and output_layer a one-unit Dense layer.")
    if not all(np.all(np.isfinite(weights[n])) for n in shapes):
        raise CheckFailed("The trained weights contain NaN or infinite values.")
    return weights


def check_training_loss(evidence, errors, probe):
    X, Y = make_data()
    loss = float(np.mean((predict(_trained_weights(evidence, errors), X) - Y) ** 2))
    if not loss < LOSS_THRESHOLD * LOSS_TOLERANCE:
        raise CheckFailed(f"The trained model's loss on X, Y is {loss:.2e}; train until it is below 1e-5.")


def _solves_task(weights):
    """Whether the model predicts 1 for exactly the sequence whose next element is 1 (with margin)."""
    X, Y = make_data()
    model = predict(weights, X)
    return bool(np.all(np.where(Y == 1, model > 1 - PREDICTION_MARGIN, model < PREDICTION_MARGIN)))


def check_prediction_pattern(evidence, errors, probe):
    X, _ = make_data()
    weights = _trained_weights(evidence, errors)
    got = _array(evidence, errors, "predictions", "predictions", (SEQUENCES, 1))
    if not np.allclose(got, predict(weights, X), atol=1e-3):
        raise CheckFailed("predictions are not the trained model's outputs for X.")
    if not _solves_task(weights):
        raise CheckFailed("The model does not predict 1 for exactly the sequence whose next element is 1.")


def _check_gates(evidence, errors, key, weights, x, where):
    gates = _need(evidence, errors, key, f"lstm_gates(...) {where}")
    expected = lstm_trace(weights["kernel"], weights["recurrent_kernel"], weights["bias"], x)
    for name in GATE_NAMES:
        got = gates.get(name) if isinstance(gates, dict) else None
        if got is None or np.shape(got) != expected[name].shape:
            raise CheckFailed(f"lstm_gates must return '{name}' with shape {expected[name].shape} {where}.")
        if not np.allclose(got, expected[name], atol=ATOL):
            raise CheckFailed(f"The '{name}' values from lstm_gates do not match the cell {where}.")


def check_gates_trained(evidence, errors, probe):
    _check_gates(evidence, errors, "gates_trained", _trained_weights(evidence, errors), make_data()[0], "on the trained weights")


def check_gates_random(evidence, errors, probe):
    _check_gates(evidence, errors, "gates_probe", probe, probe["x"], "on new weights and inputs")


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
    def check(evidence, errors, probe):
        answer = _need(evidence, errors, name, name).strip().strip("'\"").upper()
        if answer not in ("A", "B", "C"):
            raise CheckFailed(f"{name} should be one of 'A', 'B' or 'C'.")
        weights = _trained_weights(evidence, errors)
        if not _solves_task(weights):
            raise CheckFailed(f"{name} can only be checked against a trained cell that predicts the sequence.")
        own = derive_answers(weights)[name]
        if answer != own:
            raise CheckFailed(f"{name} does not describe what your own trained cell shows.")
        if answer != EXPECTED_ANSWERS[name]:
            raise CheckFailed(f"{name} describes a mechanism other than the one this exercise is about.")

    return check


# check name -> (check, evidence it needs)
CHECKS = {
    "data_x": (check_data_x, ["X"]),
    "data_y": (check_data_y, ["Y"]),
    "forward": (check_forward, ["forward_probe"]),
    "loss_function": (check_loss_function, ["loss_probe"]),
    "training_loss": (check_training_loss, ["weights"]),
    "prediction_pattern": (check_prediction_pattern, ["weights", "predictions"]),
    "gates_trained": (check_gates_trained, ["weights", "gates_trained"]),
    "gates_random": (check_gates_random, ["gates_probe"]),
    **{name: (_answer_check(name), ["weights", name]) for name in ANSWER_NAMES},
}


def verdict(name, evidence, errors, probe):
    """None when check ``name`` passes, else its one-sentence message."""
    check, _ = CHECKS[name]
    try:
        check(evidence, errors, probe)
    except CheckFailed as failure:
        return str(failure)
    except Exception as error:  # malformed evidence is a failed check, never a crashed grader
        return f"The check could not read your results ({type(error).__name__}: {error})."
    return None


def run_check(name, namespace):
    """Entry point of the hidden tests: gather what check ``name`` needs and assert it passes."""
    probe = random_probe(np.random.default_rng(KERNEL_PROBE_SEED))
    evidence, errors = gather_evidence(namespace, probe, CHECKS[name][1])
    message = verdict(name, evidence, errors, probe)
    if message:
        raise CheckFailed(message)
