"""What the grader asks a student's kernel for: plain values, computed by the student's own code.

The grader sends this file's source into the kernel when a question's ``grader.check`` cell has
run, with a request naming the values that question needs and, only then, the random weights and
inputs those values are computed from (nothing that another question uses). ``report`` answers with one display message of plain
arrays (float64 bytes, hex) and strings. This file holds no reference maths and no expected
answer: whatever student code patches in its kernel, it can only change the values its own code
returns, and every value is checked outside the kernel (``lstm_checks.py``).
"""

import numpy as np

MIME_TYPE = "application/vnd.exercise-kit.values+json"
WEIGHT_NAMES = ("kernel", "recurrent_kernel", "bias", "dense_kernel", "dense_bias")
GATE_NAMES = ("input", "forget", "candidate", "output", "cell", "hidden")
MAX_ELEMENTS = 10_000  # no value of this exercise is bigger: a bigger one is not the student's answer
MAX_TEXT = 1_000


class _Namespace(dict):
    """The notebook's globals, with a student-readable error for a missing name."""

    def __missing__(self, name):
        raise NameError(f"'{name}' is not defined in the notebook")


def _keras_model(weights):
    """A one-unit Keras LSTMCell and Dense output layer with the probe's weights."""
    import keras

    cell = keras.layers.LSTMCell(1)
    cell.build((None, 1))
    cell.set_weights([np.asarray(weights[name], np.float32) for name in WEIGHT_NAMES[:3]])
    output_layer = keras.layers.Dense(1, activation="sigmoid")
    output_layer.build((None, 1))
    output_layer.set_weights([np.asarray(weights[name], np.float32) for name in WEIGHT_NAMES[3:]])
    return cell, output_layer


def _weights(ns, inputs):
    values = [np.asarray(w, np.float64) for w in ns["cell"].get_weights() + ns["output_layer"].get_weights()]
    return dict(zip(WEIGHT_NAMES, values))


class CellWeights:
    """The cell the grader gives ``lstm_gates``: a one-unit LSTM cell's weights, nothing it can run.

    Q5 asks for the gates computed from ``cell.kernel``, ``cell.recurrent_kernel`` and
    ``cell.bias``; a Keras cell would also let a function record the gates as Keras itself computes
    them (by wrapping its activations), which writes none of the equations.
    """

    units = 1

    def __init__(self, weights, prefix=""):
        import tensorflow as tf

        self.kernel, self.recurrent_kernel, self.bias = (
            tf.Variable(np.asarray(weights[prefix + name], np.float32), trainable=False, name=name) for name in WEIGHT_NAMES[:3]
        )
        self.weights = self.trainable_weights = [self.kernel, self.recurrent_kernel, self.bias]

    def get_weights(self):
        return [variable.numpy() for variable in self.weights]

    def __getattr__(self, name):
        raise AttributeError(f"the grader's cell gives lstm_gates only kernel, recurrent_kernel and bias (and get_weights()), not {name!r}: "
                             "compute the gates from those")


def _gates(ns, cell, x):
    gates = ns["lstm_gates"](cell, np.asarray(x, np.float32))
    if not isinstance(gates, dict):
        raise TypeError(f"lstm_gates returned {type(gates).__name__}, not a dict of six arrays")
    return {name: np.asarray(gates[name], np.float64) for name in GATE_NAMES}


def _forward_probe(ns, inputs):
    cell, output_layer = _keras_model(inputs)
    return np.asarray(ns["forward"](cell, output_layer, np.asarray(inputs["x"], np.float32)), np.float64)


def _loss_probe(ns, inputs):
    return np.asarray(ns["mse_loss"](np.float32(inputs["y_true"]), np.float32(inputs["y_pred"])), np.float64)


def _training_curve(ns, inputs):
    """The student's ``train`` run from the request's initial weights on its data for a few epochs,
    its losses.

    The weights of ``cell`` and ``output_layer`` and the optimizer's state are put back as they
    were afterwards, so the notebook's later cells see the model the student trained.
    """
    import tensorflow as tf

    cell, output_layer, optimizer = ns["cell"], ns["output_layer"], ns["optimizer"]
    saved = (cell.get_weights(), output_layer.get_weights(), [v.numpy() for v in optimizer.variables])
    try:
        _set_model(cell, output_layer, {name: inputs[f"train_{name}"] for name in WEIGHT_NAMES})
        for variable in optimizer.variables:  # the step count and the RMS of the gradients
            if variable is not optimizer.learning_rate:
                variable.assign(np.zeros(variable.shape, variable.dtype))
        epochs = inputs["training_epochs"]
        X, Y = (tf.constant(np.asarray(inputs[name], np.float32)) for name in ("train_x", "train_y"))
        _, losses = ns["train"](X, Y, tf.constant(epochs))
        return np.asarray(losses, np.float64)[:epochs]
    finally:
        cell.set_weights(saved[0])
        output_layer.set_weights(saved[1])
        for variable, value in zip(optimizer.variables, saved[2]):
            variable.assign(value)


def _set_model(cell, output_layer, weights):
    cell.set_weights([np.asarray(weights[name], np.float32) for name in WEIGHT_NAMES[:3]])
    output_layer.set_weights([np.asarray(weights[name], np.float32) for name in WEIGHT_NAMES[3:]])


# value -> how the student's code computes it, from the notebook's globals and the request's inputs
GATHERERS = {
    "X": lambda ns, inputs: np.asarray(ns["X"], np.float64),
    "Y": lambda ns, inputs: np.asarray(ns["Y"], np.float64),
    "weights": _weights,
    "predictions": lambda ns, inputs: np.asarray(ns["predictions"], np.float64),
    "forward_probe": _forward_probe,
    "loss_probe": _loss_probe,
    "training_curve": _training_curve,
    "gates_probe": lambda ns, inputs: _gates(ns, CellWeights(inputs, "gates_"), inputs["gates_x"]),
    "gates_binary": lambda ns, inputs: _gates(ns, CellWeights(inputs, "binary_"), inputs["x_binary"]),
}
ANSWER_PREFIX = "answer_"  # answers are read as text: answer_forget_gate, ...


def gather(request, namespace):
    """Call the student's code for each value requested: ({name: value}, {name: error message})."""
    namespace, values, errors = _Namespace(namespace), {}, {}
    for name in request["values"]:
        try:
            if name.startswith(ANSWER_PREFIX):
                values[name] = str(namespace[name])[:MAX_TEXT]
            else:
                values[name] = GATHERERS[name](namespace, request["inputs"])
        except Exception as error:  # a student's function may raise anything
            errors[name] = f"{type(error).__name__}: {error}"[:MAX_TEXT]
    return values, errors


def encode(value):
    """A value as plain JSON: text, or float64 bytes in hex with their shape (exact, NaN included)."""
    if isinstance(value, str):
        return {"text": value}
    if isinstance(value, dict):
        return {"fields": {name: encode(field) for name, field in value.items()}}
    array = np.asarray(value, np.float64)
    if array.size > MAX_ELEMENTS:
        raise ValueError(f"{array.size} numbers, far more than this exercise's values hold")
    return {"shape": list(array.shape), "float64": array.astype("<f8").tobytes().hex()}


def decode(encoded):
    """The inverse of ``encode``, run by the grader: checks the shape against the bytes, no pickle."""
    if "text" in encoded:
        return str(encoded["text"])[:MAX_TEXT]
    if "fields" in encoded:
        return {str(name): decode(field) for name, field in encoded["fields"].items()}
    shape = tuple(int(n) for n in encoded["shape"])
    data = bytes.fromhex(encoded["float64"])
    if len(data) != 8 * int(np.prod(shape)) or len(data) > 8 * MAX_ELEMENTS:
        raise ValueError("the value's bytes do not match its shape")
    return np.frombuffer(data, "<f8").reshape(shape).astype(np.float64)


def report(request, namespace):
    """Run in the kernel by the grader: gather the values and send them as one display message."""
    from IPython.display import publish_display_data

    values, errors = gather(request, namespace)
    encoded = {}
    for name, value in values.items():
        try:
            encoded[name] = encode(value)
        except Exception as error:
            errors[name] = f"{type(error).__name__}: {error}"[:MAX_TEXT]
    publish_display_data({MIME_TYPE: {"values": encoded, "errors": errors}})
