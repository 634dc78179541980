"""How well the grader's q3 training probe tells right `train`s from wrong ones, and what it costs.

Each variant is the master notebook's own code cells (imports, X and Y, INITIAL_WEIGHTS, forward
and mse_loss, the training cell with its call cut to a 3-epoch warm-up) with a few exact source
edits, run in a fresh namespace as a kernel runs them. For each probe start,
``random_probe(np.random.default_rng(seed))`` for seed 0..K-1 (its start and its 0/1 data), the student's curve is gathered as
the grader gathers it, ``lstm_values.gather(lstm_checks.request(["training"], probe), ns)`` with
its epochs raised to the largest N, and compared with the float64 reference ``rmsprop_losses``.

Prints, for each variant, the largest relative difference from the reference over the first N
epochs, N in 40..120, taken as ``training_curve_matches`` takes it (the better of the curve and the
curve shifted by one epoch), and worst over the starts: the largest for a variant the grader must
pass, the smallest for one it must fail; then on how many starts ``training_curve_matches`` accepts
the curve at the kit's TRAINING_EPOCHS, and the seconds of one warm probe call (median of 3).
Then a verdict (worst right variant against best wrong one, and TRAINING_CURVE_RTOL) and the
seconds of the NumPy reference.

    .venv/bin/python benchmarks/training_probe.py [--starts K] [--eager]

--eager adds the solution's loop without tf.function (run eagerly, epoch by epoch: slow).
"""

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import nbformat  # noqa: E402
import numpy as np  # noqa: E402

from exercise_kit.paths import ASSIGNMENT_DIR, MASTER_NOTEBOOK, ROOT  # noqa: E402

sys.path[:0] = [str(ASSIGNMENT_DIR), str(ROOT / "tests")]
from corpus.variants import WHILE_LOOP_TRAINING  # noqa: E402
import lstm_checks  # noqa: E402
import lstm_values  # noqa: E402

PROBE_EPOCHS = (40, 60, 80, 100, 120)
CELLS = ("import keras", "X = np.array(", "INITIAL_WEIGHTS = {", "def forward(", "def train(")
WARM_UP = ("tf.constant(MAX_EPOCHS))", "tf.constant(3))")  # the notebook's training call, cut short
TRAIN = "@tf.function\ndef train(X, Y, max_epochs):"
RMSPROP = "RMSprop(learning_rate=0.01)"
MSE = "return tf.reduce_mean(tf.square(y_true - y_pred))"
APPLY = "        optimizer.apply_gradients(zip(gradients, variables))\n"
LOOP = """\
    while loss >= 1e-5 and epoch < max_epochs:
        with tf.GradientTape() as tape:
            loss = mse_loss(Y, forward(cell, output_layer, X))
        gradients = tape.gradient(loss, variables)
""" + APPLY + """\
        losses = losses.write(epoch, loss)
        epoch += 1
"""
WHILE_LOOP = [(edit.old, edit.new) for edit in WHILE_LOOP_TRAINING]  # the corpus's correct-while-loop-training
FORWARD = """\
    h = tf.zeros((tf.shape(X)[0], 1))
    c = tf.zeros_like(h)
    for t in range(X.shape[1]):
        h, (h, c) = cell(X[:, t, :], [h, c])
    return output_layer(h)
"""
# name -> (what the grader must do with it, source edits)
VARIANTS = {
    "solution": ("pass", []),
    "tf.while_loop": ("pass", WHILE_LOOP),
    "keras.layers.RNN forward": ("pass", [(FORWARD, "    return output_layer(keras.layers.RNN(cell)(X))\n")]),
    "while loss > 1e-5": ("pass", [("while loss >= 1e-5 and", "while loss > 1e-5 and")]),
    "learning rate 0.001": ("fail", [(RMSPROP, "RMSprop(learning_rate=0.001)")]),
    "learning rate 0.011": ("fail", [(RMSPROP, "RMSprop(learning_rate=0.011)")]),
    "Adam(0.01)": ("fail", [(RMSPROP, "Adam(learning_rate=0.01)")]),
    "SGD(0.01)": ("fail", [(RMSPROP, "SGD(learning_rate=0.01)")]),
    "gradients not applied": ("fail", [(APPLY, "")]),
    "only the cell trained": ("fail", [("cell.trainable_weights + output_layer.trainable_weights", "cell.trainable_weights")]),
    "mean absolute error": ("fail", [(MSE, "return tf.reduce_mean(tf.abs(y_true - y_pred))")]),
    "loss recorded after the update": ("pass", [(APPLY, APPLY + "        loss = mse_loss(Y, forward(cell, output_layer, X))\n")]),
}
EAGER = {"eager Python loop": ("pass", [(TRAIN, TRAIN.replace("@tf.function\n", ""))])}


def notebook_namespace(edits, folder):
    """The master notebook's model and training cells, edited, run in a fresh namespace (prints muted)."""
    nb = nbformat.read(MASTER_NOTEBOOK, as_version=4)
    cells = [c.source for c in nb.cells if c.cell_type == "code" and any(m in c.source for m in CELLS)]
    for old, new in [WARM_UP, *edits]:
        if sum(source.count(old) for source in cells) != 1:
            raise ValueError(f"{old!r} is not in the master notebook's cells exactly once")
        cells = [source.replace(old, new) for source in cells]
    ns = {"__name__": "__main__"}
    with contextlib.redirect_stdout(io.StringIO()):
        for source in cells:
            handle, path = tempfile.mkstemp(".py", dir=folder)  # autograph reads the source from a file
            with os.fdopen(handle, "w") as f:
                f.write(source)
            exec(compile(source, path, "exec"), ns)
    return ns


def gathered_curve(ns, probe, epochs):
    """The student's losses from the probe's start, as the grader gathers them, or the error's text."""
    request = lstm_checks.request(["training"], probe)
    request["inputs"]["training_epochs"] = epochs
    values, errors = lstm_values.gather(request, ns)
    return values["training_curve"] if "training_curve" in values else errors.get("training_curve", "no curve")


def relative(curve, reference, n):
    """The largest relative difference over the first n epochs, in the better of the two alignments."""
    got = np.asarray(curve, np.float64).ravel()[:n]
    if got.size < n:
        return np.inf
    differences = [np.abs(got - reference[shift : shift + n]) / reference[shift : shift + n] for shift in (0, 1)]
    return min(float(np.max(d)) if np.all(np.isfinite(d)) else np.inf for d in differences)


def median_seconds(function, repeats):
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - start)
    return float(np.median(seconds))


def measure(name, expected, edits, probes, references, folder):
    """One table row: worst relative difference per N, starts accepted, seconds of a warm probe call."""
    epochs = lstm_checks.TRAINING_EPOCHS
    ns = notebook_namespace(edits, folder)
    curves = [gathered_curve(ns, probe, max(PROBE_EPOCHS)) for probe in probes]
    worst = max if expected == "pass" else min
    errors = [curve for curve in curves if isinstance(curve, str)]
    rel = {n: worst(relative(c, r, n) if not isinstance(c, str) else np.inf for c, r in zip(curves, references))
           for n in PROBE_EPOCHS}
    accepted = sum(not isinstance(c, str) and lstm_checks.training_curve_matches(np.asarray(c)[:epochs], r[: epochs + 1]) is None
                   for c, r in zip(curves, references))
    repeats = 1 if name in EAGER else 3
    seconds = median_seconds(lambda: lstm_values.gather(lstm_checks.request(["training"], probes[0]), ns), repeats)
    return {"name": name, "expected": expected, "rel": rel, "accepted": accepted, "seconds": seconds, "errors": errors}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--starts", type=int, default=10, help="probe starts, seeds 0..K-1 (default 10)")
    parser.add_argument("--eager", action="store_true", help="also the solution's loop without tf.function (slow)")
    args = parser.parse_args()
    epochs, rtol = lstm_checks.TRAINING_EPOCHS, lstm_checks.TRAINING_CURVE_RTOL
    probes = [lstm_checks.random_probe(np.random.default_rng(seed)) for seed in range(args.starts)]
    references = [lstm_checks.rmsprop_losses(lstm_checks.training_start(p), p["train_x"], p["train_y"], max(PROBE_EPOCHS) + 1) for p in probes]

    variants = {**VARIANTS, **(EAGER if args.eager else {})}
    print(f"relative difference from the float64 reference over the first N epochs, {args.starts} probe starts "
          f"(grader must pass: largest over the starts; must fail: smallest); tolerance {rtol:g}\n")
    head = "".join(f"{f'N={n}':>10}" for n in PROBE_EPOCHS)
    print(f"{'variant':<32}{'grader':>7}{head}  accepted at N={epochs}  probe call")
    rows = []
    with tempfile.TemporaryDirectory(prefix="training_probe_") as folder:
        for name, (expected, edits) in variants.items():
            row = measure(name, expected, edits, probes, references, folder)
            rows.append(row)
            cells = "".join(f"{row['rel'][n]:>10.1e}" for n in PROBE_EPOCHS)
            print(f"{name:<32}{expected:>7}{cells}  {row['accepted']:>5}/{args.starts:<14}{row['seconds']:7.3f} s", flush=True)
            for error in sorted(set(row["errors"])):
                print(f"    raised: {error}")

    right = max((r for r in rows if r["expected"] == "pass"), key=lambda r: r["rel"][epochs])
    wrong = min((r for r in rows if r["expected"] == "fail"), key=lambda r: r["rel"][epochs])
    as_expected = all(r["accepted"] == (args.starts if r["expected"] == "pass" else 0) for r in rows)
    separated = right["rel"][epochs] <= rtol < wrong["rel"][epochs]
    print(f"\nverdict at TRAINING_EPOCHS={epochs}: worst right {right['rel'][epochs]:.1e} ({right['name']}), "
          f"best wrong {wrong['rel'][epochs]:.1e} ({wrong['name']}), TRAINING_CURVE_RTOL {rtol:g}: "
          f"{'separated' if separated else 'NOT separated'}, margins {rtol / max(right['rel'][epochs], 1e-300):.0f}x below "
          f"and {wrong['rel'][epochs] / rtol:.0f}x above; every verdict as expected: {as_expected}")

    reference_seconds = median_seconds(lambda: lstm_checks.training_reference(probes[0]), 3)
    print(f"\nseconds, warm, median of 3: the probe call (gather, the solution's train for {epochs} epochs) "
          f"{rows[0]['seconds']:.3f}; the reference (rmsprop_losses, {epochs + 1} epochs) {reference_seconds:.3f}")


if __name__ == "__main__":
    main()
