"""Students on Google Colab (issue 18): the student notebook runs its public checks there and gives
what students submit, and the grader gives that submission full marks; the public checks warn
before submission about what the hidden probes rely on.

Otter decides that it runs on Colab when ``str(get_ipython())`` contains "google.colab"
(``otter.check.utils.IPythonInterpreter.COLAB``), and the notebook's setup cell asks the same. Here
a real IPython kernel looks like Colab's: an IPython startup file gives its shell the class
``google.colab._shell.Shell`` (the name of Colab's own shell), from a stand-in package on the
kernel's path. As on Colab, the kernel's folder (Colab's /content) starts empty: students open the
notebook in the browser (File → Upload notebook), so the kernel cannot read it. ``pip`` is a
stand-in that records what the setup cell asks it to install: the pins are installed here already,
and the test stays offline.
"""

import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from corpus import mistakes, platform, variants
from exercise_kit.grading.batch import grade_folder
from exercise_kit.paths import NOTEBOOK_NAME, ROOT, STUDENT_REQUIREMENTS

sys.path.insert(0, str(ROOT / "scripts"))
from make_example_class import filled_template  # noqa: E402  (the template with the solution's answers typed in)

pytestmark = pytest.mark.slow  # every test runs notebooks in kernels

COLAB_SHELL = '''\
from ipykernel.zmqshell import ZMQInteractiveShell


class Shell(ZMQInteractiveShell):
    """Named as Colab's shell is: Otter and the setup cell know Colab by this module's name."""
'''
PIP = '#!/bin/sh\necho "$@" >> "$(dirname "$0")/../pip-args"\n'


def colab_kernel(folder: Path, monkeypatch) -> None:
    """Make the kernels started from here on look like Colab's (see the module's docstring)."""
    package = folder / "shim" / "google" / "colab"  # no google/__init__.py: protobuf's google stays importable
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "_shell.py").write_text(COLAB_SHELL)
    startup = folder / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-colab.py").write_text("from google.colab._shell import Shell\n\nget_ipython().__class__ = Shell\n")
    pip = folder / "bin" / "pip"
    pip.parent.mkdir()
    pip.write_text(PIP)
    pip.chmod(0o755)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(folder / "shim"), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("IPYTHONDIR", str(folder / "ipython"))
    monkeypatch.setenv("PATH", f"{pip.parent}:{Path(sys.executable).parent}:/usr/bin:/bin")


def outputs(cell) -> str:
    return "".join(output.get("text", "") + output.get("data", {}).get("text/plain", "") for output in cell.outputs)


@pytest.fixture(scope="module")
def colab_run(tmp_path_factory):
    """The student's notebook run from the top on "Colab", what the setup cell asked pip for, the
    kernel's folder, and the grader's row for the notebook downloaded from there."""
    folder = tmp_path_factory.mktemp("colab")
    content = folder / "content"
    content.mkdir()
    nb = filled_template()
    nb.cells.append(nbformat.v4.new_code_cell("print(grader.interpreter)"))  # what Otter took the kernel for
    with pytest.MonkeyPatch.context() as monkeypatch:
        colab_kernel(folder, monkeypatch)
        NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(content)}}).execute()
    assert outputs(nb.cells.pop()) == "IPythonInterpreter.COLAB\n"
    # File → Download → Download .ipynb: the notebook as the browser holds it, outputs included
    (folder / "submissions").mkdir()
    nbformat.write(nb, folder / "submissions" / NOTEBOOK_NAME)
    grades = grade_folder(folder / "submissions", folder / "graded", workers=1).set_index("file")
    pip_args = (folder / "pip-args").read_text().split() if (folder / "pip-args").exists() else []
    return nb, pip_args, content, grades.loc[NOTEBOOK_NAME]


def test_on_colab_the_setup_cell_installs_the_student_pins(colab_run):
    _, pip_args, _, _ = colab_run
    pins = [line for line in STUDENT_REQUIREMENTS.read_text().splitlines() if line and not line.startswith("#")]
    assert pip_args == ["install", *pins, "--quiet"]


def test_on_colab_every_public_check_runs_and_passes_from_the_checks_files(colab_run):
    nb, _, content, _ = colab_run
    checks = [cell for cell in nb.cells if cell.cell_type == "code" and "grader.check(" in cell.source]
    assert len(checks) == len(variants.POINTS)
    for cell in checks:
        assert "passed" in outputs(cell) and not any(output.output_type == "error" for output in cell.outputs), outputs(cell)
    assert sorted(path.stem for path in (content / "tests").glob("*.py")) == sorted(variants.POINTS)
    assert not list(content.glob("*.ipynb")) and not list(content.glob("*.zip"))


def test_on_colab_the_export_cell_says_to_download_the_notebook(colab_run):
    nb, _, _, _ = colab_run
    export = next(cell for cell in nb.cells if cell.cell_type == "code" and "grader.export(" in cell.source)
    assert "File > Download > Download .ipynb" in outputs(export)


def test_the_notebook_downloaded_from_colab_gets_full_marks(colab_run):
    _, _, _, row = colab_run
    assert row["grading_status"].startswith("Completed")
    assert {question: row[question] for question in variants.POINTS} == variants.POINTS


WARNED = [submission for submission in [*platform.CASES, *mistakes.MISTAKES] if submission.name in platform.PUBLIC_WARNINGS]


@pytest.mark.parametrize("submission", WARNED, ids=lambda submission: submission.name)
def test_the_public_checks_warn_before_submission(submission, tmp_path):
    """The notebook run as a student runs it, on a laptop: its check cell shows the warning."""
    submission.write(tmp_path / NOTEBOOK_NAME)
    nb = nbformat.read(tmp_path / NOTEBOOK_NAME, as_version=4)
    nb.cells = [cell for cell in nb.cells if not (cell.cell_type == "code" and "grader.export(" in cell.source)]
    NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True, resources={"metadata": {"path": str(tmp_path)}}).execute()
    shown = "".join(outputs(cell) for cell in nb.cells if cell.cell_type == "code" and "grader.check(" in cell.source)
    assert platform.PUBLIC_WARNINGS[submission.name] in shown
