"""Which cells take a question's values: a real ``grader.check`` call, nothing else (values stage);
and what the grader holds of what a kernel sends: bounded, whatever the kernel sends."""

import nbformat
import pytest
from jupyter_core.utils import run_sync
from nbclient.exceptions import DeadKernelError

from exercise_kit.grading import values
from exercise_kit.grading.values import checked_questions


def test_a_real_call_takes_its_question():
    assert checked_questions('grader.check("q1_data")') == ["q1_data"]
    assert checked_questions("x = 1\ngrader.check('q3_training')\ngrader.check('q1_data')\ngrader.check('q3_training')") == ["q3_training", "q1_data"]


def test_a_call_in_a_comment_or_a_string_takes_nothing():
    assert checked_questions('answer = "C"  # grader.check("q6_forget_gate")') == []
    assert checked_questions("note = 'grader.check(\"q6_forget_gate\")'\n'''grader.check(\"q1_data\")'''") == []


def test_a_cell_with_magics_is_read_as_ipython_reads_it():
    assert checked_questions('%matplotlib inline\n!ls\ngrader.check("q2_model")') == ["q2_model"]


def test_a_cell_that_does_not_parse_calls_nothing():
    assert checked_questions('grader.check("q1_data"') == []


def test_an_answers_errors_are_cut_to_a_few_kilobytes():
    errors = values.bounded_errors({f"name {i}" * 100: "E" * 10**6 for i in range(1000)})
    assert len(errors) == values.MAX_ERRORS
    assert all(len(name) <= values.MAX_ERROR_NAME_CHARS and len(text) == values.MAX_ERROR_CHARS for name, text in errors.items())


def run_cells(*sources):
    """The cells, each run by the grader's client in a real (unconfined) kernel."""
    cells = [nbformat.v4.new_code_cell(source) for source in sources]
    client = values.BoundedNotebookClient(nbformat.v4.new_notebook(cells=cells), km=values.BoundedKernelManager(kernel_name="python3"), allow_errors=True, timeout=60)
    with client.setup_kernel():
        try:
            for index, cell in enumerate(cells):
                client.execute_cell(cell, index)
        finally:
            if run_sync(client.km.is_alive)():
                run_sync(client.km.shutdown_kernel)(now=True)
    return cells


@pytest.mark.slow
def test_a_cell_keeps_a_bounded_part_of_its_output_with_a_note():
    cells = run_cells("for _ in range(6 * 1024):\n    print('x' * 1023)", "print('next')")
    kept = values.text_of(cells[0].outputs)
    assert kept.endswith(values.TRUNCATED) and len(kept) <= values.MAX_CELL_OUTPUT_BYTES
    assert values.text_of(cells[1].outputs) == "next\n"


@pytest.mark.slow
@pytest.mark.parametrize("source", [
    "for _ in range(60 * 1024):\n    print('x' * 1023)",  # 60 MB in all
    "from IPython.display import publish_display_data\npublish_display_data({'text/plain': 'x' * (20 * 2**20)})",  # 20 MB at once
])
def test_past_the_output_limit_grading_stops(source):
    with pytest.raises(values.OutputLimitExceeded):
        run_cells("print('before')", source, "print('never')")


@pytest.mark.slow
def test_a_kernel_that_dies_is_not_an_output_limit():
    with pytest.raises(DeadKernelError):
        run_cells("import os\nos._exit(0)", "print('never')")
