"""What an LMS downloads, made into one submission per student (``exercise_kit.lms.downloads``)."""

import io
import zipfile

from corpus.variants import zip_of
from exercise_kit.lms.downloads import canvas_file, collect
from exercise_kit.paths import EXAMPLE_SUBMISSIONS

GRADESCOPE_METADATA = """\
submission_101:
  :submitters:
  - :name: Ada Lovelace
    :sid: '1001'
    :email: ada@example.edu
  :created_at: 2026-11-20 23:59:00.000000000 -08:00
submission_102:
  :submitters:
  - :name: Alan Turing
    :sid: '1002'
    :email: alan@example.edu
  - :name: Grace Hopper
    :sid: '1003'
    :email: grace@example.edu
"""


def test_canvas_names_say_whose_file_it_is_whether_it_was_late_and_which_upload_it_is():
    name = canvas_file("turingalan_LATE_1002_50002_exercise-6-3-lstm-2.zip")
    assert (name.student, name.late, name.user_id, name.submission_id, name.file, name.upload) == ("turingalan", True, "1002", 50002, "exercise-6-3-lstm-2.zip", 2)
    assert canvas_file("lovelaceada_1001_50001_exercise-6-3-lstm.ipynb").late is False
    assert canvas_file("alice.ipynb") is None


def test_canvas_download_zip_and_its_unpacked_folder_give_each_students_newest_file(tmp_path):
    with zipfile.ZipFile(EXAMPLE_SUBMISSIONS) as archive:
        archive.extractall(tmp_path / "unpacked")
    for source in (EXAMPLE_SUBMISSIONS, tmp_path / "unpacked"):
        collected = collect(source)
        assert [upload.name for upload in collected.uploads] == [
            "dijkstraedsger_1004_50004_exercise-6-3-lstm.ipynb",
            "hoppergrace_1003_50013_exercise-6-3-lstm-1.ipynb",
            "liskovbarbara_1005_50005_answers.txt",
            "lovelaceada_1001_50001_exercise-6-3-lstm.ipynb",
            "turingalan_LATE_1002_50002_exercise-6-3-lstm.zip",
        ]
        assert collected.superseded == ["hoppergrace_1003_50003_exercise-6-3-lstm.ipynb"]
        alan = collected.uploads[-1]
        assert (alan.student, alan.late, alan.canvas_user_id) == ("turingalan", True, "1002")


def test_gradescope_export_folders_are_graded_as_zips_named_with_their_students(tmp_path):
    export = tmp_path / "assignment_export"
    for folder, notebook in (("submission_101", b'{"cells": []}'), ("submission_102", b'{"cells": [1]}')):
        (export / folder / "lstm").mkdir(parents=True)
        (export / folder / "lstm" / "exercise-6-3-lstm.ipynb").write_bytes(notebook)
    (export / "submission_metadata.yml").write_text(GRADESCOPE_METADATA)
    (export / ".DS_Store").write_bytes(b"")
    (export / "notes.txt").write_text("not a submission, but an input: it gets a row")

    uploads = collect(export).uploads

    assert [(upload.name, upload.student) for upload in uploads] == [
        ("notes.txt", ""),
        ("submission_101", "Ada Lovelace"),
        ("submission_102", "Alan Turing, Grace Hopper"),
    ]
    assert zipfile.ZipFile(io.BytesIO(uploads[1].data)).namelist() == ["lstm/exercise-6-3-lstm.ipynb"]


def test_a_zip_that_is_not_a_canvas_download_is_taken_file_by_file_as_named(tmp_path):
    (tmp_path / "class.zip").write_bytes(zip_of({"alice.ipynb": b"{}", "bob.zip": b"PK", "__MACOSX/._alice.ipynb": b""}))
    assert [(upload.name, upload.student, upload.late) for upload in collect(tmp_path / "class.zip").uploads] == [("alice.ipynb", "", False), ("bob.zip", "", False)]
