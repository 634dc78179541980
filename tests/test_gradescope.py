"""The Gradescope path: the autograder zip as Gradescope runs it, and the hand-graded answers' PDFs.

The zip's own entry point (``run_otter.py``) grades in a folder laid out like Gradescope's
``/autograder`` (see ``exercise_kit.gradescope`` for how it is pointed there), and the
``results.json`` it writes must be Gradescope's documented format.
"""

import copy
import importlib.metadata
import json
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor

import jsonschema
import nbformat
import pytest
import yaml
from pypdf import PdfReader

from exercise_kit import gradescope
from exercise_kit.free_response import write_pdfs
from exercise_kit.paths import AUTOGRADER_ZIP, NOTEBOOK_NAME, ROOT, SOLUTION_DIR, STUDENT_DIR

SCHEMA = json.loads((ROOT / "exercise_kit" / "schemas" / "gradescope_results.schema.json").read_text())
POINTS = {"q1_data": 2, "q2_model": 3, "q3_training": 3, "q4_predictions": 2, "q5_gates": 4, "q6_forget_gate": 1,
          "q6_input_gate": 1, "q6_output_gate": 1, "q6_hidden_state": 1, "q6_cell_candidate": 1, "q6_counting": 1}  # fmt: skip


def autograder_file(name: str) -> bytes:
    with zipfile.ZipFile(AUTOGRADER_ZIP) as archive:
        return archive.read(name)


def test_the_autograder_zip_pins_the_python_and_libraries_that_the_kit_is_tested_with():
    dependencies = yaml.safe_load(autograder_file("environment.yml"))["dependencies"]
    pip = next(item["pip"] for item in dependencies if isinstance(item, dict))
    pins = dict(line.split("==") for line in pip)
    pins = {name.split("[")[0]: version for name, version in pins.items()}  # otter-grader[grading,plugins]

    assert f"python={sys.version_info.major}.{sys.version_info.minor}" in dependencies
    assert {"tensorflow-cpu", "otter-grader", "numpy", "keras"} <= set(pins)
    assert pins == {name: importlib.metadata.version(name) for name in pins}


@pytest.fixture(scope="module")
def gradescope_results(tmp_path_factory):
    """results.json of the solution and of the blank template, graded side by side."""
    submissions = {"solution": SOLUTION_DIR / NOTEBOOK_NAME, "template": STUDENT_DIR / NOTEBOOK_NAME}
    with ThreadPoolExecutor(2) as pool:
        futures = {name: pool.submit(gradescope.run, path, tmp_path_factory.mktemp(name)) for name, path in submissions.items()}
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("submission", ["solution", "template"])
def test_results_json_is_in_gradescopes_format(gradescope_results, submission):
    jsonschema.validate(gradescope_results[submission], SCHEMA)


def question_scores(results: dict) -> dict:
    return {test["name"]: (test["score"], test["max_score"]) for test in results["tests"] if "max_score" in test}


def test_the_solution_gets_every_point_and_the_blank_template_none(gradescope_results):
    assert question_scores(gradescope_results["solution"]) == {name: (points, points) for name, points in POINTS.items()}
    assert question_scores(gradescope_results["template"]) == {name: (0, points) for name, points in POINTS.items()}


def test_students_see_the_public_checks_at_once_and_the_hidden_tests_as_the_config_says(gradescope_results):
    show_hidden = json.loads(autograder_file("otter_config.json"))["show_hidden"]
    for results in gradescope_results.values():
        public, *questions = results["tests"]
        assert (public["name"], public["visibility"]) == ("Public Tests", "visible")
        assert {test["visibility"] for test in questions} == {"after_published" if show_hidden else "hidden"}
    assert gradescope_results["template"]["tests"][0]["status"] == "failed"


@pytest.mark.parametrize(
    "break_results",
    [
        lambda results: results["tests"][1].update(visibility="students"),
        lambda results: results["tests"][1].update(score="2"),
        lambda results: results["tests"][0].update(status="ok"),
        lambda results: results["tests"][1].pop("score"),
        lambda results: results["tests"][1].pop("name"),
        lambda results: results.update(points=20),
        lambda results: results.pop("tests"),
    ],
    ids=["unknown visibility", "score as text", "unknown status", "max_score without score", "test without a name", "unknown key", "no score at all"],
)
def test_the_schema_rejects_what_gradescope_would_not_read(gradescope_results, break_results):
    results = copy.deepcopy(gradescope_results["solution"])
    break_results(results)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(results, SCHEMA)


def student_notebook(free_response: str) -> nbformat.NotebookNode:
    """The template with the free-response blank (the last answer cell) filled in."""
    nb = nbformat.read(STUDENT_DIR / NOTEBOOK_NAME, as_version=4)
    blanks = [cell for cell in nb.cells if "otter_answer_cell" in cell.metadata.get("tags", [])]
    blanks[-1].source = free_response
    return nb


def test_each_student_gets_a_pdf_of_their_free_response_answer_alone(browser_tools, tmp_path):
    answers = {
        "alice.ipynb": "The forget gate is about 0 where the input is 1, so the count restarts.",
        "bob.zip": "Between two 1s the cell candidate is negative and the cell state walks down.",
        "submission_123": "The output gate stays near 1, so the hidden state shows the count.",
    }
    nbformat.write(student_notebook(answers["alice.ipynb"]), tmp_path / "alice.ipynb")
    with zipfile.ZipFile(tmp_path / "bob.zip", "w") as archive:  # as the export cell makes it
        archive.writestr(NOTEBOOK_NAME, nbformat.writes(student_notebook(answers["bob.zip"])))
    (tmp_path / "submission_123").mkdir()  # a submission's folder in Gradescope's export
    nbformat.write(student_notebook(answers["submission_123"]), tmp_path / "submission_123" / NOTEBOOK_NAME)

    pdfs = write_pdfs([tmp_path / name for name in answers], tmp_path / "pdfs")

    assert [pdf.name for pdf in pdfs] == ["alice.pdf", "bob.pdf", "submission_123.pdf"]
    for pdf, (name, answer) in zip(pdfs, answers.items()):
        text = " ".join(" ".join(page.extract_text() for page in PdfReader(pdf).pages).split())
        assert name in text and "Q7: in your own words" in text and answer in text
        assert "Q1: the data" not in text and "_Type your answer here" not in text
