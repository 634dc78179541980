"""The Gradescope path: the autograder zip as Gradescope runs it.

The zip's own ``run_autograder`` grades, as root, in a folder laid out like Gradescope's
``/autograder`` (``exercise_kit.lms.gradescope.run``), inside what a Docker container refuses a root
process (``helpers.container.seccomp_filter``: no namespaces; Landlock as the host has it). The
``results.json`` it writes must be Gradescope's documented format, and say what students see when.
(tests/test_corpus.py grades the whole corpus that way and compares with the batch grader.)
"""

import copy
import importlib.metadata
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor

import jsonschema
import pytest

from corpus import attacks, variants
from exercise_kit.grading.record import Record, Status
from exercise_kit.lms import gradescope
from exercise_kit.build import flattened_requirements
from exercise_kit.paths import AUTOGRADER_ZIP, GRADING_REQUIREMENTS, NOTEBOOK_NAME, ROOT, SOLUTION_DIR, STUDENT_DIR
from helpers.container import seccomp_filter

SCHEMA = json.loads((ROOT / "exercise_kit" / "schemas" / "gradescope_results.schema.json").read_text())
PACKAGE = ROOT / "exercise_kit"


def autograder_file(name: str) -> bytes:
    with zipfile.ZipFile(AUTOGRADER_ZIP) as archive:
        return archive.read(name)


def test_the_zip_installs_the_pinned_grading_environment_that_the_kit_is_tested_with():
    requirements = autograder_file("requirements.txt").decode()
    pins = dict(line.split("==") for line in requirements.splitlines() if line and not line.startswith("#"))

    assert requirements == flattened_requirements(GRADING_REQUIREMENTS)
    assert {"tensorflow-cpu", "otter-grader", "numpy", "keras", "nbclient", "ipykernel"} <= set(pins)
    assert pins == {name: importlib.metadata.version(name) for name in pins}
    assert "python=3.11" in autograder_file("setup.sh").decode() and sys.version_info[:2] == (3, 11)


def test_the_zip_ships_the_kit_itself_and_runs_its_grader_as_root():
    with zipfile.ZipFile(AUTOGRADER_ZIP) as archive:
        shipped = {name.removeprefix("kit/exercise_kit/") for name in archive.namelist() if name.startswith("kit/exercise_kit/")}
        for name in shipped:
            assert archive.read(f"kit/exercise_kit/{name}") == (PACKAGE / name).read_bytes(), name
    assert shipped == {path.relative_to(PACKAGE).as_posix() for path in [*PACKAGE.rglob("*.py"), *PACKAGE.glob("schemas/*.json")]}  # every sub-package
    assert "-m exercise_kit run-autograder" in autograder_file("run_autograder").decode()
    assert "run_otter.py" not in autograder_file("run_autograder").decode()


CONTAINED = {"landlock": seccomp_filter(landlock=True), "uid alone": seccomp_filter(landlock=False)}

# What the kernel's uid must not do on Gradescope: read the hidden tests and checks, list them,
# write the results file. A canary (corpus/attacks.py): anything that gets through costs it q6_forget_gate.
BREAK_IN = """
def attack():
    got = []
    for path in ("{root}/source/files/lstm_checks.py", "{root}/source/tests/q3_training.py", "{root}/source/otter_config.json"):
        try:
            got.append(open(path).read(10))
        except OSError:
            pass
    try:
        got.append(os.listdir("{root}/source"))
    except OSError:
        pass
    try:
        with open("{root}/results/results.json", "w") as results:
            results.write('{{"score": 100}}')
        got.append("results.json")
    except OSError:
        pass
    return got
"""


@pytest.fixture(scope="module")
def gradescope_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("gradescope")


@pytest.fixture(scope="module")
def gradescope_results(gradescope_folder):
    """results.json of the solution and the blank template in a container with Landlock, and of
    the solution breaking in from a container with the uid alone, graded side by side."""
    tmp = gradescope_folder
    attacks._canary("breaks-into-autograder", BREAK_IN.format(root=tmp / "break-in" / "autograder"))(tmp / "break-in.ipynb")
    runs = {
        "solution": (SOLUTION_DIR / NOTEBOOK_NAME, "landlock"),
        "template": (STUDENT_DIR / NOTEBOOK_NAME, "landlock"),
        "break-in": (tmp / "break-in.ipynb", "uid alone"),
    }
    with ThreadPoolExecutor(len(runs)) as pool:
        futures = {name: pool.submit(gradescope.run, notebook, tmp / name, preexec_fn=CONTAINED[kind]) for name, (notebook, kind) in runs.items()}
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.slow
@pytest.mark.root
def test_the_container_refuses_the_namespaces_and_with_the_uid_alone_landlock_too(gradescope_results, gradescope_folder):
    """What the grader reports of the kernel's isolation (results/stdout, for instructors): the
    emulated container really took those layers away, so these runs test what Gradescope gets."""
    isolation = {name: (gradescope_folder / name / "autograder" / "results" / "stdout").read_text() for name in gradescope_results}
    layers = {name: next(line for line in text.splitlines() if line.startswith("Kernel isolation here:")) for name, text in isolation.items()}
    assert layers["solution"] == layers["template"]
    assert re.fullmatch(r"Kernel isolation here: Landlock ABI \d+ \([^)]*\), Unix sockets only, no memfd, one session \(seccomp\), a uid of its own per kernel, process cap 128", layers["solution"])
    assert layers["break-in"] == "Kernel isolation here: Unix sockets only, no memfd, one session (seccomp), a uid of its own per kernel, process cap 128"


@pytest.mark.slow
@pytest.mark.root
@pytest.mark.parametrize("submission", ["solution", "template", "break-in"])
def test_results_json_is_in_gradescopes_format(gradescope_results, submission):
    jsonschema.validate(gradescope_results[submission], SCHEMA)


def question_scores(results: dict) -> dict:
    return {test["name"]: test["score"] for test in results["tests"] if "max_score" in test}


@pytest.mark.slow
@pytest.mark.root
def test_the_solution_gets_every_point_and_the_blank_template_none(gradescope_results):
    assert question_scores(gradescope_results["solution"]) == variants.POINTS
    assert question_scores(gradescope_results["template"]) == variants.ZERO


@pytest.mark.slow
@pytest.mark.root
def test_with_the_uid_alone_the_kernel_reads_no_autograder_file_and_writes_no_result(gradescope_results):
    results = gradescope_results["break-in"]
    assert question_scores(results) == variants.POINTS, "something got through: the canary lost q6_forget_gate"
    assert results["extra_data"]["grading_status"] == "Completed"


@pytest.mark.slow
@pytest.mark.root
def test_students_see_the_public_checks_at_once_and_each_questions_verdict_when_grades_are_published(gradescope_results):
    assert json.loads(autograder_file("otter_config.json"))["show_hidden"] is True
    for results in gradescope_results.values():
        public, *questions = results["tests"]
        assert (public["name"], public["visibility"]) == ("Public Tests", "visible")
        assert {test["visibility"] for test in questions} == {"after_published"}
        assert results["stdout_visibility"] == "hidden"
    template = gradescope_results["template"]
    assert "Test case failed" in template["tests"][0]["output"]
    for test in template["tests"][1:]:  # one sentence or two of the checks' own words, no grader internals
        assert test["output"] and len(test["output"]) < 600, test
        assert not any(word in test["output"] for word in ("Traceback", "exercise_kit", "lstm_checks", "/autograder", "File \""))


def test_a_grading_that_did_not_complete_tells_the_student_why_at_once():
    results = {"score": 2.0, "tests": [{"name": "q1_data", "score": 2.0, "max_score": 2.0, "visibility": "hidden", "output": ""}]}
    record = Record("submission.ipynb", Status("Timeout", "grading took longer than 480 s"), results, seconds=480.0, peak_memory_mb=300.0)
    results = gradescope.gradescope_results(record, show_hidden=False)
    assert results["output"] == "Grading did not complete. Timeout: grading took longer than 480 s."
    assert results["tests"][0]["visibility"] == "hidden" and "visibility" not in results
    jsonschema.validate(results, SCHEMA)


@pytest.mark.slow
@pytest.mark.root
@pytest.mark.parametrize(
    "break_results",
    [
        lambda results: results["tests"][1].update(visibility="students"),
        lambda results: results["tests"][1].update(score="2"),
        lambda results: results["tests"][0].update(status="ok"),
        lambda results: results["tests"][1].pop("score"),
        lambda results: results["tests"][1].pop("name"),
        lambda results: results.update(points=20),
        lambda results: [results.pop("tests"), results.pop("score")],
    ],
    ids=["unknown visibility", "score as text", "unknown status", "max_score without score", "test without a name", "unknown key", "no score at all"],
)
def test_the_schema_rejects_what_gradescope_would_not_read(gradescope_results, break_results):
    results = copy.deepcopy(gradescope_results["solution"])
    break_results(results)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(results, SCHEMA)


@pytest.mark.slow
@pytest.mark.root
def test_what_the_zips_setup_installs_is_all_its_run_autograder_needs(tmp_path):
    """setup.sh's own steps after Python 3.11 (Miniforge's download needs GitHub, out of reach
    here): the zip's requirements.txt and its kit/ into a fresh environment, which then grades."""
    with zipfile.ZipFile(AUTOGRADER_ZIP) as archive:
        archive.extractall(tmp_path / "zip")
    python = tmp_path / "env" / "bin" / "python"
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "env")], check=True)
    for install in (["-r", "requirements.txt"], ["--no-deps", "./kit"]):
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *install], cwd=tmp_path / "zip", check=True, capture_output=True)

    root = gradescope.lay_out(tmp_path / "gradescope", SOLUTION_DIR / NOTEBOOK_NAME)
    environment = {**os.environ, "EXERCISE_KIT_AUTOGRADER_ROOT": str(root), "EXERCISE_KIT_PYTHON": str(python)}
    subprocess.run([str(root / "source" / "run_autograder")], cwd=root, env=environment, check=True, capture_output=True, timeout=600)

    assert question_scores(json.loads((root / "results" / "results.json").read_text())) == variants.POINTS


def test_links_in_an_unpacked_upload_never_bring_the_autograders_files_along(tmp_path):
    """Gradescope unpacks an uploaded zip, symbolic links included; the grader, root, follows none."""
    root = gradescope.lay_out(tmp_path, SOLUTION_DIR / NOTEBOOK_NAME)
    upload = root / "submission"
    (upload / "work").mkdir()
    (upload / NOTEBOOK_NAME).rename(upload / "work" / NOTEBOOK_NAME)
    (upload / "work" / "lstm_checks.py").symlink_to(root / "source" / "files" / "lstm_checks.py")
    (upload / "work" / "files").symlink_to(root / "source" / "files")
    (upload / "tests").symlink_to(root / "source" / "tests")

    name, data = gradescope.submitted_file(upload)

    assert zipfile.ZipFile(io.BytesIO(data)).namelist() == [f"work/{NOTEBOOK_NAME}"]
