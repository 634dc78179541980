"""What Otter's runner finds in a submission's folder, whatever the student called their file.

The notebook's Otter init cell, ``grader = otter.Notebook("exercise-6-3-lstm.ipynb")``, opens that
file even while grading. A notebook graded under another name loses that cell and every
``grader.check`` cell after it (each raises ``NameError``), so the kit grades every notebook under
the assignment's notebook name.
"""

import io
import json
import zipfile

import nbformat
import pytest

from exercise_kit import submission
from exercise_kit.paths import AUTOGRADER_ZIP, NOTEBOOK_NAME, SOLUTION_DIR

SOLUTION = (SOLUTION_DIR / NOTEBOOK_NAME).read_bytes()


@pytest.fixture(scope="module")
def assignment_name():
    with zipfile.ZipFile(AUTOGRADER_ZIP) as zf:
        return json.loads(zf.read("otter_config.json"))["assignment_name"]


def test_the_init_cell_opens_the_notebook_named_after_the_assignment(assignment_name):
    assert NOTEBOOK_NAME == f"{assignment_name}.ipynb"
    sources = [cell.source for cell in nbformat.reads(SOLUTION.decode(), as_version=4).cells]
    assert any(f'otter.Notebook("{NOTEBOOK_NAME}")' in source for source in sources)


@pytest.mark.parametrize("file", ["alice.ipynb", "Alice Smith - exercise-6-3-lstm (2).ipynb", NOTEBOOK_NAME])
def test_a_notebook_is_graded_under_the_assignments_notebook_name(tmp_path, assignment_name, file):
    notebook = submission.unpack_submission(file, SOLUTION, tmp_path, assignment_name)
    assert notebook == tmp_path / NOTEBOOK_NAME
    assert [path.name for path in tmp_path.iterdir()] == [NOTEBOOK_NAME]
    assert notebook.read_bytes() == SOLUTION


def test_an_export_zip_keeps_its_files_and_its_notebook_gets_the_assignments_name(tmp_path, assignment_name):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("renamed by the student.ipynb", SOLUTION)
        zf.writestr("data.csv", "x,y\n")
    notebook = submission.unpack_submission("bob.zip", archive.getvalue(), tmp_path, assignment_name)
    assert notebook == tmp_path / NOTEBOOK_NAME
    assert sorted(path.name for path in tmp_path.iterdir()) == ["data.csv", NOTEBOOK_NAME]
