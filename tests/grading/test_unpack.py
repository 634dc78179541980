"""What Otter's runner finds in a submission's folder, whatever the student called their file.

The notebook's Otter init cell, ``grader = otter.Notebook("exercise-6-3-lstm.ipynb")``, opens that
file even while grading. A notebook graded under another name loses that cell and every
``grader.check`` cell after it (each raises ``NameError``), so the kit grades every notebook under
the assignment's notebook name.

Students submit the export cell's zip, or what they can make: the notebook (some editors save it
with a byte-order mark), a zip of its folder (with Jupyter's checkpoint copies, and a Mac's
``__MACOSX``), a folder. What cannot be graded says why in one sentence, and no zip writes outside
the grading folder, makes a symlink, or unpacks to more than the limit.
"""

import codecs
import io
import json
import stat
import zipfile

import nbformat
import pytest

from corpus.variants import zip_of
from exercise_kit.grading import unpack
from exercise_kit.paths import AUTOGRADER_ZIP, NOTEBOOK_NAME, ROOT, SOLUTION_DIR, STUDENT_DIR

SOLUTION = (SOLUTION_DIR / NOTEBOOK_NAME).read_bytes()
TEMPLATE = (STUDENT_DIR / NOTEBOOK_NAME).read_bytes()


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
    notebook = unpack.unpack_submission(file, SOLUTION, tmp_path, assignment_name)
    assert notebook == tmp_path / NOTEBOOK_NAME
    assert [path.name for path in tmp_path.iterdir()] == [NOTEBOOK_NAME]
    assert notebook.read_bytes() == SOLUTION


def test_an_export_zip_keeps_its_files_and_its_notebook_gets_the_assignments_name(tmp_path, assignment_name):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("renamed by the student.ipynb", SOLUTION)
        zf.writestr("data.csv", "x,y\n")
    notebook = unpack.unpack_submission("bob.zip", archive.getvalue(), tmp_path, assignment_name)
    assert notebook == tmp_path / NOTEBOOK_NAME
    assert sorted(path.name for path in tmp_path.iterdir()) == ["data.csv", NOTEBOOK_NAME]


APPLE_DOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        "  # what a Mac puts in __MACOSX/


def files_in(folder):
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if not path.is_dir())


def test_a_zipped_folder_is_graded_from_its_one_notebook_with_the_files_beside_it(tmp_path, assignment_name):
    compressed = zip_of({  # the notebook's folder compressed on a Mac, after working in Jupyter
        "Exercise 6-3/": b"",
        "Exercise 6-3/my lstm.ipynb": SOLUTION,
        "Exercise 6-3/.ipynb_checkpoints/my lstm-checkpoint.ipynb": TEMPLATE,
        "Exercise 6-3/data/extra.csv": b"x,y\n",
        "__MACOSX/Exercise 6-3/._my lstm.ipynb": APPLE_DOUBLE,
    })  # fmt: skip
    notebook = unpack.unpack_submission("Exercise 6-3.zip", compressed, tmp_path, assignment_name)
    assert notebook == tmp_path / NOTEBOOK_NAME and notebook.read_bytes() == SOLUTION
    assert files_in(tmp_path) == ["data/extra.csv", NOTEBOOK_NAME]


@pytest.mark.parametrize("shape", ["notebook", "zip"])
def test_a_notebook_saved_with_a_byte_order_mark_is_graded_without_it(tmp_path, assignment_name, shape):
    saved = codecs.BOM_UTF8 + SOLUTION
    name, data = ("alice.ipynb", saved) if shape == "notebook" else ("alice.zip", zip_of({NOTEBOOK_NAME: saved}))
    assert unpack.unpack_submission(name, data, tmp_path, assignment_name).read_bytes() == SOLUTION


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("lstm.zip", zip_of({"lstm/exercise-6-3-lstm.ipynb": SOLUTION, "lstm/copy.ipynb": TEMPLATE}), "the zip holds 2 notebooks, not one"),
        ("lstm.zip", zip_of({"lstm/.ipynb_checkpoints/exercise-6-3-lstm-checkpoint.ipynb": SOLUTION}), "the zip holds no notebook (.ipynb)"),
        ("empty.zip", zip_of({}), "the zip is empty"),
        ("half.zip", zip_of({NOTEBOOK_NAME: SOLUTION})[:1000], "the zip is corrupt (File is not a zip file)"),
        ("alice.ipynb", b"my answers", "the notebook cannot be read (NotJSONError: Notebook does not appear to be JSON: 'my answers')"),
        ("alice.pdf", b"%PDF-1.7", "not a notebook (.ipynb) or the zip that the notebook's export cell makes"),
    ],
    ids=["two notebooks in a folder", "a checkpoint alone", "empty zip", "corrupt zip", "not JSON", "not a notebook"],
)
def test_what_cannot_be_graded_says_why_in_one_sentence_and_unpacks_nothing(tmp_path, assignment_name, name, data, reason):
    with pytest.raises(unpack.InvalidSubmission) as raised:
        unpack.unpack_submission(name, data, tmp_path, assignment_name)
    assert str(raised.value) == reason
    assert files_in(tmp_path) == []


def test_an_otter_log_is_removed_wherever_it_sits_unless_grading_from_it(tmp_path, assignment_name):
    export = zip_of({"lstm/exercise-6-3-lstm.ipynb": SOLUTION, "lstm/.OTTER_LOG": b"pickle", "lstm/old/.OTTER_LOG": b"pickle"})
    (tmp_path / "graded").mkdir()
    (tmp_path / "from log").mkdir()
    unpack.unpack_submission("lstm.zip", export, tmp_path / "graded", assignment_name)
    unpack.unpack_submission("lstm.zip", export, tmp_path / "from log", assignment_name, grade_from_log=True)
    assert files_in(tmp_path / "graded") == [NOTEBOOK_NAME]
    assert files_in(tmp_path / "from log") == [".OTTER_LOG", NOTEBOOK_NAME, "old/.OTTER_LOG"]


def test_a_zip_puts_nothing_outside_the_folder_and_makes_no_symlink(tmp_path, assignment_name):
    link = zipfile.ZipInfo("lstm/passwords")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16  # as `zip --symlinks` stores a link
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("lstm/exercise-6-3-lstm.ipynb", SOLUTION)
        zf.writestr("lstm/../../../escaped.txt", "out")
        zf.writestr("lstm//rooted.txt", "out")
        zf.writestr(link, "/etc/passwd")
    (tmp_path / "work").mkdir()
    unpack.unpack_submission("lstm.zip", buffer.getvalue(), tmp_path / "work", assignment_name)
    assert files_in(tmp_path) == ["work/escaped.txt", f"work/{NOTEBOOK_NAME}", "work/passwords", "work/rooted.txt"]
    assert not (tmp_path / "work" / "passwords").is_symlink()
    assert (tmp_path / "work" / "passwords").read_text() == "/etc/passwd"


def test_a_zip_that_unpacks_to_more_than_the_limit_is_refused_before_unpacking(tmp_path, assignment_name):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(NOTEBOOK_NAME, SOLUTION)
        with zf.open("zeros.bin", "w", force_zip64=True) as zeros:  # compresses to 200 kB
            for _ in range(unpack.MAX_UNPACKED_BYTES // 2**20):
                zeros.write(bytes(2**20))
    with pytest.raises(unpack.InvalidSubmission, match="^the zip unpacks to more than 200 MB$"):
        unpack.unpack_submission("bomb.zip", buffer.getvalue(), tmp_path, assignment_name)
    assert files_in(tmp_path) == []


def test_a_folder_is_graded_as_the_zip_of_its_files_without_its_symlinks(tmp_path, assignment_name):
    folder = tmp_path / "submission_123"  # a submission's folder in Gradescope's export
    (folder / "data").mkdir(parents=True)
    (folder / "lstm.ipynb").write_bytes(SOLUTION)
    (folder / "data" / "extra.csv").write_text("x,y\n")
    (folder / "secret").symlink_to(ROOT / "assignment" / "lstm_checks.py")
    (folder / "assignment").symlink_to(ROOT / "assignment", target_is_directory=True)

    zipped = unpack.folder_as_zip(folder)

    assert zipfile.ZipFile(io.BytesIO(zipped)).namelist() == ["data/extra.csv", "lstm.ipynb"]
    (tmp_path / "work").mkdir()
    unpack.unpack_submission(folder.name, zipped, tmp_path / "work", assignment_name)
    assert files_in(tmp_path / "work") == ["data/extra.csv", NOTEBOOK_NAME]
    assert (tmp_path / "work" / NOTEBOOK_NAME).read_bytes() == SOLUTION


def test_a_notebook_runs_the_instructors_public_tests_whatever_its_metadata_carries(tmp_path, assignment_name):
    source = unpack.unpack_autograder(AUTOGRADER_ZIP.read_bytes(), tmp_path / "source")
    tests = unpack.public_tests(source)
    template_tests = nbformat.reads(TEMPLATE.decode(), as_version=4).metadata.otter.tests
    assert tests == template_tests  # what a student's own check cells run
    edited = nbformat.reads(SOLUTION.decode(), as_version=4)  # made from the solution: hidden cases inside
    edited.metadata.otter.tests["q1_data"]["suites"][0]["cases"] = [{"code": ">>> print('all passed')", "hidden": False, "locked": False, "points": 0}]
    (tmp_path / "work").mkdir()
    notebook = unpack.unpack_submission("staff.ipynb", nbformat.writes(edited).encode(), tmp_path / "work", assignment_name, tests=tests)
    assert nbformat.read(notebook, as_version=4).metadata.otter.tests == template_tests
