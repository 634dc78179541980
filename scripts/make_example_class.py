"""Write examples/submissions.zip: the example class as Canvas's "Download Submissions" gives it.

Every notebook is written as a student makes it: from student_template/, with the answers typed in
the template's own cells and every cell run in a real kernel (the public checks' output included),
all but the export cell. The answers are the solution's code, with the changes each student makes:

- lovelaceada: everything right;
- turingalan: the same, late, uploaded as the zip that the export cell makes;
- hoppergrace: a first upload of the blank template, then a second one with the forget and input
  gates swapped in lstm_gates and a wrong answer about the output gate;
- dijkstraedsger: the blank template, run as it is;
- liskovbarbara: a text file, not a notebook.

The notebooks' outputs come from running them, so the zip is data, not a build output: run this
again (a minute or two) when the student template changes.

    .venv/bin/python scripts/make_example_class.py
"""

import io
import re
import tempfile
import zipfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from exercise_kit.paths import NOTEBOOK_NAME, ROOT, SOLUTION_DIR, STUDENT_DIR

OUT = ROOT / "examples" / "submissions.zip"
CANVAS_TIME = (2026, 11, 20, 23, 59, 0)  # when Canvas's download says each file was uploaded
SOLUTION_MARKERS = re.compile(r"^\s*# (BEGIN|END) SOLUTION\n|  # SOLUTION$", re.MULTILINE)
GATES_SWAPPED = ("i, f, g, o = sigmoid(z[:, 0:1]), sigmoid(z[:, 1:2])", "f, i, g, o = sigmoid(z[:, 0:1]), sigmoid(z[:, 1:2])")
OUTPUT_GATE_WRONG = ('answer_output_gate = "C"', 'answer_output_gate = "B"')
ANSWERS_TXT = b"I could not get Jupyter to start, so here are my answers: A, C, C, A, A, A\n"


def filled_template(*edits) -> nbformat.NotebookNode:
    """The student template with the solution's code in each code cell and its Q7 answer in the
    answer cell, then ``edits`` (old, new) applied: a student's notebook, before it is run."""
    template = nbformat.read(STUDENT_DIR / NOTEBOOK_NAME, as_version=4)
    solution = nbformat.read(SOLUTION_DIR / NOTEBOOK_NAME, as_version=4)
    code = [SOLUTION_MARKERS.sub("", cell.source) for cell in solution.cells if cell.cell_type == "code"]
    answer = next(cell.source for cell in solution.cells if cell.cell_type == "markdown" and cell.source.startswith("When the input is 1"))
    template_code = [cell for cell in template.cells if cell.cell_type == "code"]
    assert len(code) == len(template_code), "the template and the solution have different code cells"
    for cell, source in zip(template_code, code):
        cell.source = source
    next(cell for cell in template.cells if cell.cell_type == "markdown" and "otter_answer_cell" in cell.metadata.get("tags", [])).source = answer
    for old, new in edits:
        (cell,) = [cell for cell in template.cells if old in cell.source]
        cell.source = cell.source.replace(old, new)
    return template


def blank_template() -> nbformat.NotebookNode:
    return nbformat.read(STUDENT_DIR / NOTEBOOK_NAME, as_version=4)


def run(nb: nbformat.NotebookNode) -> bytes:
    """The notebook after "Run All" in a real kernel, as the student saves it (export cell not run)."""
    index = next(i for i, cell in enumerate(nb.cells) if cell.cell_type == "code" and "grader.export(" in cell.source)
    export = nb.cells.pop(index)
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / NOTEBOOK_NAME).write_text(nbformat.writes(nb))  # the Otter init cell opens it
        NotebookClient(nb, allow_errors=True, timeout=600, resources={"metadata": {"path": folder}}).execute()
    nb.cells.insert(index, export)
    return nbformat.writes(nb).encode()


def export_zip(notebook: bytes) -> bytes:
    """What the export cell makes: a zip holding the notebook."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(zipfile.ZipInfo(NOTEBOOK_NAME, (1980, 1, 1, 0, 0, 0)), notebook)
    return buffer.getvalue()


def main() -> None:
    correct = run(filled_template())
    files = {
        "dijkstraedsger_1004_50004_exercise-6-3-lstm.ipynb": run(blank_template()),
        "hoppergrace_1003_50003_exercise-6-3-lstm.ipynb": run(blank_template()),
        "hoppergrace_1003_50013_exercise-6-3-lstm-1.ipynb": run(filled_template(GATES_SWAPPED, OUTPUT_GATE_WRONG)),
        "liskovbarbara_1005_50005_answers.txt": ANSWERS_TXT,
        "lovelaceada_1001_50001_exercise-6-3-lstm.ipynb": correct,
        "turingalan_LATE_1002_50002_exercise-6-3-lstm.zip": export_zip(correct),
    }
    with zipfile.ZipFile(OUT, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(zipfile.ZipInfo(name, CANVAS_TIME), data)
    print(f"wrote {OUT.relative_to(ROOT)}: {', '.join(files)}")


if __name__ == "__main__":
    main()
