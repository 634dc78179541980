"""Values per check: run the notebook in its kernel cell by cell, and take each question's values
right after its ``grader.check`` cell has run.

This runs in the grading child, which never executes student code: the student's code runs in
the (sandboxed) kernel, and all that comes back from it is one display message of plain values per
question, sent by the assignment's ``lstm_values.py``, which the grader sends into the kernel with
the question's request only at that moment. So later cells cannot change a question's score, and
a question whose check cell never ran (deleted, or never reached) is taken at the end of the
notebook if the kernel still lives. Each question's values are written to ``out/<question>.json``
as soon as they are taken, so a submission that later hangs or crashes keeps what it had shown.
"""

import ast
import json
import os
from pathlib import Path

import nbformat
from IPython.core.inputtransformer2 import TransformerManager
from jupyter_core.utils import run_sync
from nbclient import NotebookClient

PUBLIC_OUTPUT_CHARS = 2_000  # of what a check cell printed, kept for the student's feedback
END = "end"  # ``taken_at`` of a question whose check cell never ran


def is_export_cell(cell) -> bool:
    """The export cell re-runs the whole notebook and writes a zip: never run while grading."""
    return cell.cell_type == "code" and "grader.export(" in cell.source


def checked_questions(source: str) -> list[str]:
    """The questions whose ``grader.check("...")`` a cell calls, in order, once each.

    Only real calls count, found in the cell's syntax tree (IPython's magics turned into Python
    first): a call in a comment or a string takes nothing. A cell that does not parse calls nothing.
    """
    try:
        tree = ast.parse(TransformerManager().transform_cell(source))
    except (SyntaxError, ValueError):
        return []
    calls = sorted((node for node in ast.walk(tree) if _is_check_call(node)), key=lambda node: (node.lineno, node.col_offset))
    return list(dict.fromkeys(call.args[0].value for call in calls))


def _is_check_call(node) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "check"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "grader"
        and len(node.args) == 1
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    )


def run_notebook(client: NotebookClient, requests: dict[str, dict], gatherer: str, mime_type: str, out: Path, taken_once=()) -> None:
    """Execute ``client``'s notebook; write each question's values (``requests``: question -> request).

    ``gatherer`` is the source of the assignment's ``lstm_values.py``, which answers in ``mime_type``.
    Each question is taken at its first check cell. A value named in ``taken_once`` is asked for at
    the first question that needs it only (the verdicts score every later question with that one).
    """
    requests, taken = dict(requests), set()

    def take_once(question, taken_at, public):
        take(client, question, requests[question], gatherer, mime_type, out, taken_at=taken_at, public=public)
        taken.add(question)
        for pinned in set(taken_once) & set(requests[question]["values"]):
            for other in requests.keys() - taken:
                requests[other] = {**requests[other], "values": [v for v in requests[other]["values"] if v != pinned]}

    with client.setup_kernel():
        for index, cell in enumerate(client.nb.cells):
            if cell.cell_type != "code" or is_export_cell(cell):
                continue
            client.execute_cell(cell, index)
            for question in checked_questions(cell.source):
                if question in requests and question not in taken:
                    take_once(question, index, text_of(cell.outputs))
        for question in sorted(requests.keys() - taken):
            take_once(question, END, "")
        run_sync(client.km.shutdown_kernel)(now=True)  # its values are taken: no need to wait for it


def take(client: NotebookClient, question: str, request: dict, gatherer: str, mime_type: str, out: Path, *, taken_at, public: str) -> None:
    """Ask the kernel for ``question``'s values and write what it answered, as data, to ``out``."""
    call = f"{gatherer}\nimport json\nreport(json.loads({json.dumps(request)!r}), USER_NS)\n"
    cell = nbformat.v4.new_code_cell(f"exec({call!r}, {{'__name__': 'exercise_kit_values', 'USER_NS': globals()}})")
    client.execute_cell(cell, -1, store_history=False)
    answer = {"values": {}, "errors": {"*": "The notebook's kernel did not answer the grader's request for its values."}}
    for output in cell.outputs:
        data = output.get("data", {}) if output.get("output_type") == "display_data" else {}
        if isinstance(data.get(mime_type), dict):
            answer = data[mime_type]
    write_json(out / f"{question}.json", {**answer, "taken_at": taken_at, "public": public[:PUBLIC_OUTPUT_CHARS]})


def text_of(outputs) -> str:
    """What a cell showed as text: its streams and the plain-text form of its results."""
    parts = []
    for output in outputs:
        if output.get("output_type") == "stream":
            parts.append(output.get("text", ""))
        elif "text/plain" in output.get("data", {}):
            parts.append(output["data"]["text/plain"])
    return "".join(parts)


def write_json(path: Path, data) -> None:
    partial = path.with_name(f".{path.name}.tmp")
    partial.write_text(json.dumps(data))
    os.replace(partial, path)


def read_taken(out: Path) -> dict[str, dict]:
    """The answers written by ``run_notebook`` so far: question -> {values, errors, taken_at, public}."""
    return {path.stem: json.loads(path.read_text()) for path in sorted(Path(out).glob("*.json"))}
