"""The assignment (issue 2, "Done when"): graded by the real `otter run`, and built from its source.

Otter alone, without the kit's batch grader: the autograder zip must grade the way instructors
and Gradescope will use it.
"""

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import nbformat
import pytest

from corpus import variants
from exercise_kit import assignment
from exercise_kit.grading import verdicts
from exercise_kit.paths import AUTOGRADER_DIR, AUTOGRADER_ZIP, NOTEBOOK_NAME, OTTER_CONFIG, ROOT, SOLUTION_DIR, STUDENT_DIR

# One mistake each; each must lose the points of the check aimed at it, and no others.
ONE_MISTAKE = ["wrong-gate-order-if.ipynb", "wrong-predictions-hard-coded.ipynb", "wrong-stopped-at-1e-3.ipynb"]


def otter_run(notebook):
    """Grade ``notebook`` with the `otter run` command line; return (exit code, points per question)."""
    out = notebook.with_suffix("")
    out.mkdir()
    command = [sys.executable, "-m", "otter", "run", "--no-logo", "-a", str(AUTOGRADER_ZIP), "-o", str(out), str(notebook)]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=600)
    results = out / "results.json"
    if not results.exists():
        return completed.returncode, {}
    tests = json.loads(results.read_text())["tests"]
    return completed.returncode, {test["name"]: test["score"] for test in tests if "max_score" in test}


@pytest.fixture(scope="session")
def otter_runs(tmp_path_factory):
    """{name: (exit code, points per question)} for the solution, the template and ONE_MISTAKE, two at a time."""
    folder = tmp_path_factory.mktemp("otter-run")
    notebooks = {"solution.ipynb": (SOLUTION_DIR / NOTEBOOK_NAME).read_bytes(), "template.ipynb": (STUDENT_DIR / NOTEBOOK_NAME).read_bytes()}
    for name, data in notebooks.items():
        (folder / name).write_bytes(data)
    for name in ONE_MISTAKE:
        variants.by_name(name).write(folder / name)
    names = [*notebooks, *ONE_MISTAKE]
    with ThreadPoolExecutor(2) as pool:
        return dict(zip(names, pool.map(otter_run, [folder / name for name in names])))


@pytest.mark.slow
def test_solution_gets_full_points(otter_runs):
    assert otter_runs["solution.ipynb"] == (0, variants.POINTS)


@pytest.mark.slow
def test_template_gets_zero_on_every_question_and_grading_completes(otter_runs):
    assert otter_runs["template.ipynb"] == (0, variants.ZERO)


@pytest.mark.slow
@pytest.mark.parametrize("name", ONE_MISTAKE)
def test_one_mistake_loses_only_the_points_aimed_at_it(otter_runs, name):
    assert otter_runs[name] == (0, variants.by_name(name).expected)


# The committed build outputs ------------------------------------------------------------------


BUILT_FOLDERS = [STUDENT_DIR, SOLUTION_DIR, AUTOGRADER_DIR]


def committed_files():
    """Every committed build output compared byte for byte (the solution notebook is compared apart)."""
    files = [OTTER_CONFIG, *(path for folder in BUILT_FOLDERS for path in sorted(folder.iterdir()))]
    return [str(path.relative_to(ROOT)) for path in files if path != SOLUTION_DIR / NOTEBOOK_NAME]


@pytest.mark.slow
@pytest.mark.parametrize("folder", [str(folder.relative_to(ROOT)) for folder in BUILT_FOLDERS])
def test_committed_folder_holds_what_the_build_makes(built_kit, folder):
    assert sorted(p.name for p in (built_kit / folder).iterdir()) == sorted(p.name for p in (ROOT / folder).iterdir())


@pytest.mark.slow
@pytest.mark.parametrize("path", committed_files())
def test_committed_output_is_what_the_build_makes(built_kit, path):
    assert (built_kit / path).read_bytes() == (ROOT / path).read_bytes(), f"{path} is out of date: run python -m exercise_kit build"


def without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nbformat.writes(nb)


@pytest.mark.slow
def test_committed_solution_is_what_the_build_makes(built_kit):
    """Compared without outputs: they hold floats (losses, gates, figures) that depend on the CPU."""
    built, committed = built_kit / "solution" / NOTEBOOK_NAME, SOLUTION_DIR / NOTEBOOK_NAME
    assert without_outputs(built) == without_outputs(committed), "solution/ is out of date: run python -m exercise_kit build"


def test_the_cells_students_must_not_change_are_locked_in_the_student_notebook():
    """Otter's init cell, the checks, the initial weights and the export cell: not editable, not deletable."""
    cells = nbformat.read(STUDENT_DIR / NOTEBOOK_NAME, as_version=4).cells
    must_stay = [cell for cell in cells if cell.cell_type == "code" and any(text in cell.source for text in ("otter.Notebook(", "grader.check(", "INITIAL_WEIGHTS = {", "grader.export("))]
    assert len(must_stay) == 1 + 11 + 1 + 1
    assert all(cell.metadata.get("editable") is False and cell.metadata.get("deletable") is False for cell in must_stay)


def test_the_graders_initial_weights_are_the_notebooks():
    checks = assignment.load_module(ROOT / "assignment" / "lstm_checks.py", "lstm_checks_for_weights")
    cell = next(cell for cell in nbformat.read(STUDENT_DIR / NOTEBOOK_NAME, as_version=4).cells if "INITIAL_WEIGHTS = {" in cell.source)
    namespace = {}
    exec(cell.source.split("\n\n\ndef make_model")[0], namespace)
    assert namespace["INITIAL_WEIGHTS"] == checks.INITIAL_WEIGHTS


def test_the_model_answer_to_q7_quotes_the_solutions_own_table():
    from exercise_kit.build import model_answer_figures

    solution = nbformat.read(SOLUTION_DIR / NOTEBOOK_NAME, as_version=4)
    answer = next(cell.source for cell in solution.cells if cell.cell_type == "markdown" and "candidate is negative" in cell.source)
    figures = model_answer_figures(solution)
    assert all(text in answer for text in figures.values()) and "{" not in answer
    assert figures["{cell_states}"].startswith("0.99, 0.83")
