"""Build job: compile the master notebook with ``otter assign`` into the files users get.

Outputs (all rebuilt by ``python -m exercise_kit build``, byte for byte the same every time):
``student_template/``, ``solution/`` (executed, with figures), ``autograder/`` (the Gradescope
zip under a stable name, with what Otter puts beside it) and the top-level ``otter_config.json``.

The Gradescope zip keeps what Otter made of the master notebook (hidden tests, the assignment's
support files, the config) and replaces Otter's entry point with the kit's: its own ``setup.sh``
and ``run_autograder`` (``exercise_kit/lms/gradescope_zip/``), the pinned grading environment
(``requirements.txt``) and the kit itself (``kit/``), so that Gradescope grades with the kit's
sandboxed grader (see ``gradescope``).
"""

import base64
import json
import re
import shutil
import tempfile
import zipfile
import zlib
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from .assignment import is_export_cell
from .paths import AUTOGRADER_ZIP, GRADING_REQUIREMENTS, MASTER_NOTEBOOK, NOTEBOOK_NAME, ROOT, STUDENT_REQUIREMENTS

ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip can hold: no build time in the file
PACKAGE = Path(__file__).resolve().parent
# What Otter puts in its zip for its own entry point and environment: replaced by the kit's.
OTTER_ENTRY_POINT = {
    "setup.sh",
    "run_autograder",
    "run_otter.py",
    "environment.yml",
    "requirements.txt",
    "requirements.r",
}
EXECUTABLE = {"setup.sh", "run_autograder"}


def build(destination: Path = ROOT) -> None:
    """Run ``otter assign`` on the master notebook and write the normalised outputs."""
    from otter.assign import main as otter_assign

    destination = Path(destination)
    with tempfile.TemporaryDirectory() as tmp:
        dist = Path(tmp) / "dist"
        otter_assign(str(MASTER_NOTEBOOK), str(dist), no_pdfs=True)
        blanks = setup_blanks(nbformat.read(dist / "student" / NOTEBOOK_NAME, as_version=4))
        for path in (dist / "student" / NOTEBOOK_NAME, dist / "autograder" / NOTEBOOK_NAME):
            nbformat.write(fill_setup_cell(nbformat.read(path, as_version=4), blanks), path)
        replace_dir(destination / "student_template")
        write_notebook(
            nbformat.read(dist / "student" / NOTEBOOK_NAME, as_version=4),
            destination / "student_template" / NOTEBOOK_NAME,
        )
        shutil.copyfile(STUDENT_REQUIREMENTS, destination / "student_template" / "requirements.txt")
        copy_autograder(dist / "autograder", destination / "autograder")
        shutil.copyfile(dist / "autograder" / "otter_config.json", destination / "otter_config.json")
        replace_dir(destination / "solution")
        for support in sorted((dist / "autograder").glob("*.py")):  # the hidden tests import them
            shutil.copyfile(support, destination / "solution" / support.name)
        solution = execute(nbformat.read(dist / "autograder" / NOTEBOOK_NAME, as_version=4), cwd=dist / "autograder")
        figures = model_answer_figures(solution)
        write_notebook(fill_model_answer(solution, figures), destination / "solution" / NOTEBOOK_NAME)
        autograder_notebook = destination / "autograder" / NOTEBOOK_NAME
        write_notebook(
            fill_model_answer(nbformat.read(autograder_notebook, as_version=4), figures), autograder_notebook
        )


def setup_blanks(student: nbformat.NotebookNode) -> dict[str, str]:
    """What the setup cell needs on Colab, where Otter cannot read the notebook: the public checks
    (compressed, so that no check's text appears in a code cell) and the student pins to install."""
    tests = json.dumps(student.metadata["otter"]["tests"], sort_keys=True).encode()
    pins = [line for line in STUDENT_REQUIREMENTS.read_text().splitlines() if line and not line.startswith("#")]
    return {"{public_checks}": base64.b64encode(zlib.compress(tests, 9)).decode(), "{student_pins}": " ".join(pins)}


def fill_setup_cell(nb: nbformat.NotebookNode, blanks: dict[str, str]) -> nbformat.NotebookNode:
    for cell in nb.cells:
        if cell.cell_type == "code":
            for blank, text in blanks.items():
                cell.source = cell.source.replace(blank, text)
    return nb


def model_answer_figures(executed: nbformat.NotebookNode) -> dict[str, str]:
    """The numbers Q7's model answer quotes, read off the executed solution's table of gates.

    The table shows each sequence's last step; ordered by the steps since its last 1, its cell
    states are the count from a reset to the fourth 0, and its candidates those at the 0s.
    """
    table = next(
        "".join(output.get("text", "") for output in cell.outputs)
        for cell in executed.cells
        if cell.cell_type == "code" and cell.source.startswith("for s in reversed(range(len(X))):")
    )
    rows = []
    for block in table.strip().split("\n\n"):
        found = re.search(r"input: \[([01 ]+)\]", block)
        assert found is not None, f"a block of the model answer's table without its input: {block!r}"
        inputs = found.group(1).split()
        values = dict(re.findall(r"^  (\S.*?)\s+(-?\d+\.\d+)$", block, re.MULTILINE))
        rows.append((inputs[::-1].index("1"), float(values["cell candidate"]), float(values["cell state"])))
    rows.sort()
    candidates = ", ".join(f"{candidate:.2f}" for _, candidate, _ in rows[1:])
    cells = [f"{cell:.2f}" for _, _, cell in rows]
    return {"{candidates}": candidates, "{cell_states}": ", ".join(cells[:-1]) + f", then {cells[-1]}"}


def fill_model_answer(nb: nbformat.NotebookNode, figures: dict[str, str]) -> nbformat.NotebookNode:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for placeholder, text in figures.items():
                cell.source = cell.source.replace(placeholder, text)
    return nb


def replace_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)


def copy_autograder(source: Path, target: Path) -> None:
    """Copy Otter's autograder folder, its timestamped zip made into the kit's Gradescope zip."""
    replace_dir(target)
    for item in sorted(source.iterdir()):
        if item.suffix == ".zip":
            gradescope_zip(item, target / AUTOGRADER_ZIP.name)
        elif item.suffix == ".ipynb":
            write_notebook(nbformat.read(item, as_version=4), target / item.name)
        else:
            shutil.copyfile(item, target / item.name)


def gradescope_zip(otter_zip: Path, target: Path) -> None:
    """Write the Gradescope zip: Otter's tests and files, the kit's entry point, environment and
    source; members sorted, with a fixed date and fixed permissions."""
    members = {}
    with zipfile.ZipFile(otter_zip) as original:
        for name in original.namelist():
            if name not in OTTER_ENTRY_POINT:
                members[name] = original.read(name)
    for path in sorted((PACKAGE / "lms" / "gradescope_zip").iterdir()):
        members[path.name] = path.read_bytes()
    members["requirements.txt"] = flattened_requirements(GRADING_REQUIREMENTS).encode()
    members["kit/pyproject.toml"] = (ROOT / "pyproject.toml").read_bytes()
    for path in sorted([*PACKAGE.rglob("*.py"), *PACKAGE.glob("schemas/*.json")]):  # every sub-package
        members[f"kit/{path.relative_to(PACKAGE.parent).as_posix()}"] = path.read_bytes()
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o755 if name in EXECUTABLE else 0o644) << 16
            archive.writestr(info, members[name])


def flattened_requirements(path: Path) -> str:
    """A requirements file with the files it includes (``-r``) written in place: the zip holds one."""
    lines = []
    for line in path.read_text().splitlines():
        if line.startswith("-r "):
            lines.append(flattened_requirements(path.parent / line[3:].strip()).rstrip("\n"))
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


def write_notebook(nb: nbformat.NotebookNode, path: Path) -> None:
    """Write with stable cell ids and no run-specific metadata, so rebuilds are identical."""
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{index:03d}"
        cell.metadata.pop("execution", None)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def execute(nb: nbformat.NotebookNode, cwd: Path) -> nbformat.NotebookNode:
    """Run every cell in a fresh kernel, except the export cell (it would re-run everything).

    TensorFlow's log lines on stderr (timestamps, CPU features) are dropped: they would make
    every build differ and tell an instructor nothing.
    """
    runnable = nbformat.from_dict(nb)
    # Otter celebrates a passed check with a random emoji: a seed makes rebuilds identical.
    seed_random = nbformat.v4.new_code_cell("import random\nrandom.seed(0)")
    runnable.cells = [seed_random] + [cell for cell in nb.cells if not is_export_cell(cell)]
    NotebookClient(
        runnable, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}, record_timing=False
    ).execute()
    for cell in runnable.cells:
        if cell.cell_type == "code":
            cell.outputs = [output for output in cell.outputs if output.get("name") != "stderr"]
    executed = iter(runnable.cells[1:])
    nb.cells = [cell if is_export_cell(cell) else next(executed) for cell in nb.cells]
    return nb


def main(args) -> None:
    """The build job."""
    build()
