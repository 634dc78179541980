"""How long the solution notebook takes, top to bottom in a fresh kernel, and its training cell.

Goals on this 2-core machine: the whole notebook under 20 s, its training under 4 s. For scale it
also times the same training step written eagerly (a Python loop with no tf.function), which is
what the student template steers students away from.
Usage: .venv/bin/python benchmarks/solution_notebook.py
"""

import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from exercise_kit.assignment import is_export_cell
from exercise_kit.paths import NOTEBOOK_NAME, SOLUTION_DIR

EAGER_STEPS = 200
EAGER_SCRIPT = f"""
import time, numpy as np, tensorflow as tf, keras
X = np.array([[[float((s - n) % 5 == 0)] for n in range(10)] for s in range(5)], np.float32)
Y = np.array([[float((s - 10) % 5 == 0)] for s in range(5)], np.float32)
cell, out = keras.layers.LSTMCell(1), keras.layers.Dense(1, activation="sigmoid")
cell.build((None, 1)); out.build((None, 1))
variables, optimizer = cell.trainable_weights + out.trainable_weights, keras.optimizers.RMSprop(0.01)
def step():
    with tf.GradientTape() as tape:
        h = c = tf.zeros((5, 1))
        for t in range(10):
            h, (h, c) = cell(X[:, t, :], [h, c])
        loss = tf.reduce_mean(tf.square(Y - out(h)))
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
step()
start = time.perf_counter()
for _ in range({EAGER_STEPS}):
    step()
print((time.perf_counter() - start) / {EAGER_STEPS})
"""


def seconds_between(cell, first, last):
    timing = cell.metadata["execution"]
    return (datetime.fromisoformat(timing[last].replace("Z", "+00:00")) - datetime.fromisoformat(timing[first].replace("Z", "+00:00"))).total_seconds()


def main():
    nb = nbformat.read(SOLUTION_DIR / NOTEBOOK_NAME, as_version=4)
    nb.cells = [cell for cell in nb.cells if not is_export_cell(cell)]
    with tempfile.TemporaryDirectory() as tmp:
        for support in SOLUTION_DIR.iterdir():  # the notebook reads itself; its tests import lstm_checks
            shutil.copyfile(support, Path(tmp) / support.name)
        start = time.perf_counter()
        NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": tmp}}).execute()
        total = time.perf_counter() - start
    training_cell = next(cell for cell in nb.cells if cell.cell_type == "code" and "train(tf.constant(X)" in cell.source)
    training = seconds_between(training_cell, "iopub.execute_input", "shell.execute_reply")
    epochs = "".join(output.get("text", "") for output in training_cell.outputs).strip()
    print(f"solution notebook, fresh kernel, top to bottom: {total:5.1f} s  (goal: under 20 s)")
    print(f"training cell ({epochs}):        {training:5.1f} s  (goal: under 4 s)")

    per_step = float(subprocess.run([sys.executable, "-c", EAGER_SCRIPT], capture_output=True, text=True, check=True).stdout.split()[-1])
    steps = int(epochs.split()[0])
    print(f"the same training written eagerly: {per_step * 1000:.0f} ms a step, about {per_step * steps / 60:.1f} min for {steps} steps")


if __name__ == "__main__":
    main()
