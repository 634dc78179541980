"""A student's path in a real JupyterLab, driven through headless Chromium.

The student opens the template, pastes the answers into the blanks, saves, runs every cell, reads
the public checks' messages in the page, downloads the zip that the export cell makes, and the
kit's grader gives that zip full marks. A screenshot of the worked notebook is kept in
``artifacts/``.
"""

import shutil
import zipfile

import nbformat
import pytest

from exercise_kit.grading.batch import grade_folder
from exercise_kit.paths import NOTEBOOK_NAME, ROOT, SOLUTION_DIR, STUDENT_DIR
from helpers.lab import CHROMIUM, CHROMIUM_FLAGS, NotebookPage, jupyter_lab

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(900)]

ARTIFACTS = ROOT / "artifacts"
TEMPLATE = nbformat.read(STUDENT_DIR / NOTEBOOK_NAME, as_version=4)
SOLUTION = nbformat.read(SOLUTION_DIR / NOTEBOOK_NAME, as_version=4)
PUBLIC_CHECKS = ["q1_data", "q2_model", "q3_training", "q4_predictions", "q5_gates", "q6_forget_gate",
                 "q6_input_gate", "q6_output_gate", "q6_hidden_state", "q6_cell_candidate", "q6_counting"]  # fmt: skip
Q7_ANSWER = "At a step whose input is 1 the forget gate drops to about 0 and resets the count."


def tagged(nb, tag: str) -> list[int]:
    return [index for index, cell in enumerate(nb.cells) if tag in cell.metadata.get("tags", [])]


def answers() -> dict[int, str]:
    """Template cell index -> what the student pastes there: the solution's cells, a Q7 of their own."""
    sources = [SOLUTION.cells[index].source for index in tagged(SOLUTION, "otter_assign_solution_cell")]
    blanks = tagged(TEMPLATE, "otter_answer_cell")
    assert len(blanks) == len(sources) == 12
    pasted = dict(zip(blanks, sources))
    pasted[blanks[-1]] = Q7_ANSWER  # the free-response answer is the last blank
    return pasted


@pytest.fixture(scope="module")
def lab(browser_tools, tmp_path_factory):
    """A JupyterLab server whose root holds one folder per student."""
    root, home = tmp_path_factory.mktemp("lab-root"), tmp_path_factory.mktemp("lab-home")
    with jupyter_lab(root, home) as (base_url, token):
        yield root, base_url, token


@pytest.fixture(scope="module")
def browser(browser_tools):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


def work_through(lab, browser, student: str, pasted: dict[int, str]) -> NotebookPage:
    """A fresh copy of the template in ``student/``: open it, paste, save, run every cell."""
    root, base_url, token = lab
    (root / student).mkdir()
    shutil.copyfile(STUDENT_DIR / NOTEBOOK_NAME, root / student / NOTEBOOK_NAME)
    notebook = NotebookPage(browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True))
    notebook.open(base_url, token, f"{student}/{NOTEBOOK_NAME}", cell_count=len(TEMPLATE.cells))
    for index, source in pasted.items():
        notebook.replace_source(index, source)
    notebook.save()  # the export cell zips the saved file
    notebook.run_all()
    return notebook


def test_a_student_who_fills_in_every_blank_passes_every_check_and_exports_a_full_marks_zip(lab, browser, tmp_path):
    notebook = work_through(lab, browser, "complete", answers())

    page_text = notebook.text()
    for check in PUBLIC_CHECKS:
        assert f"{check} passed!" in page_text
    assert "Traceback" not in page_text
    with notebook.page.expect_download() as download:
        notebook.page.get_by_role("link", name="here").click()
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    submission = submissions / download.value.suggested_filename
    download.value.save_as(submission)
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "student-notebook-graded.png"
    notebook.screenshot(screenshot)
    print(f"screenshot of the worked notebook: {screenshot}")

    with zipfile.ZipFile(submission) as archive:
        exported = nbformat.reads(archive.read(NOTEBOOK_NAME).decode(), as_version=4)
    assert {index: exported.cells[index].source for index in answers()} == answers()

    grades = grade_folder(submissions, tmp_path / "graded", workers=1).set_index("file")
    assert grades.loc[submission.name, "total_points_earned"] == 20


def test_a_blank_left_empty_fails_its_check_with_its_message_in_the_page(lab, browser):
    pasted = answers()
    blank_left = tagged(TEMPLATE, "otter_answer_cell")[-2]
    assert TEMPLATE.cells[blank_left].source == "answer_counting = ..."
    del pasted[blank_left]

    page_text = work_through(lab, browser, "one-blank-left", pasted).text()

    assert "q6_counting results:" in page_text
    assert 'answer_counting must be one of the strings "A", "B" or "C".' in page_text
    assert "q6_counting passed!" not in page_text
    for check in PUBLIC_CHECKS[:-1]:
        assert f"{check} passed!" in page_text
