"""Q7 is graded by hand: a PDF of each student's answer, a scoring sheet, and one PDF for Gradescope.

Submissions come as students make them (a notebook, the export zip, a folder as Gradescope exports
it), found as the grader finds them; one that cannot be read is named with the reason, and
everyone else still gets their PDF.
"""

import codecs

import nbformat
import pytest
from pypdf import PdfReader

from corpus.variants import zip_of
from exercise_kit.reporting.free_response import write_pdfs
from exercise_kit.reporting.manual import manual_questions
from exercise_kit.paths import NOTEBOOK_NAME, STUDENT_DIR
from exercise_kit.grading.unpack import folder_as_zip

ANSWERS = {
    "alice.ipynb": "The forget gate is about 0 where the input is 1, so the count restarts.",
    "bob.zip": "Between two 1s the cell candidate is negative and the cell state walks down.",
    "dave.ipynb": None,  # not a notebook
    "submission_123": "The output gate stays near 1, so the hidden state shows the count.",
    "erin.zip": None,  # two notebooks
    "carol.ipynb": "The input gate opens at every step and the cell state counts the steps.",
}
STUDENTS = {"alice.ipynb": "Alice Smith", "submission_123": "Sam Jones"}
READABLE = [name for name, answer in ANSWERS.items() if answer]


def student_notebook(free_response: str) -> bytes:
    """The template with the free-response blank (the last answer cell) filled in."""
    nb = nbformat.read(STUDENT_DIR / NOTEBOOK_NAME, as_version=4)
    blanks = [cell for cell in nb.cells if "otter_answer_cell" in cell.metadata.get("tags", [])]
    blanks[-1].source = free_response
    return nbformat.writes(nb).encode()


def text_of(pages) -> str:
    return " ".join(" ".join(page.extract_text() for page in pages).split())


@pytest.fixture(scope="module")
def written(browser_tools, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("free-response")
    folder = tmp / "submission_123"  # a submission's folder in Gradescope's export
    (folder / ".ipynb_checkpoints").mkdir(parents=True)
    (folder / NOTEBOOK_NAME).write_bytes(student_notebook(ANSWERS["submission_123"]))
    (folder / ".ipynb_checkpoints" / "exercise-6-3-lstm-checkpoint.ipynb").write_bytes(student_notebook("an old draft"))
    submissions = {
        "alice.ipynb": student_notebook(ANSWERS["alice.ipynb"]),
        "bob.zip": zip_of({NOTEBOOK_NAME: student_notebook(ANSWERS["bob.zip"]), ".OTTER_LOG": b"a pickle"}),  # the export cell's zip
        "dave.ipynb": b"my answers are in the zip",
        "submission_123": folder_as_zip(folder),
        "erin.zip": zip_of({NOTEBOOK_NAME: student_notebook("mine"), "copy.ipynb": student_notebook("a friend's")}),
        "carol.ipynb": codecs.BOM_UTF8 + student_notebook(ANSWERS["carol.ipynb"]),
    }
    return write_pdfs(submissions.items(), tmp / "free_response", students=STUDENTS)


@pytest.mark.browser
@pytest.mark.slow
def test_each_readable_submission_gets_a_pdf_of_its_free_response_answer_alone(written):
    assert [pdf.name for pdf in written.pdfs] == ["alice.pdf", "bob.pdf", "submission_123.pdf", "carol.pdf"]
    for pdf, name in zip(written.pdfs, READABLE):
        text = text_of(PdfReader(pdf).pages)
        assert name in text and "Q7: in your own words" in text and ANSWERS[name] in text
        assert "Q1: the data" not in text and "_Type your answer here" not in text and "an old draft" not in text


@pytest.mark.browser
@pytest.mark.slow
def test_an_unreadable_submission_gets_one_line_saying_why_and_stops_no_other(written):
    assert written.unreadable == [
        "dave.ipynb: the notebook cannot be read (NotJSONError: Notebook does not appear to be JSON: 'my answers are in the zip')",
        "erin.zip: the zip holds 2 notebooks, not one",
    ]


@pytest.mark.browser
@pytest.mark.slow
def test_the_scoring_sheet_gives_the_points_then_a_row_to_fill_per_submission(written):
    assert written.sheet == written.pdfs[0].parent / "q7_scores.csv"
    assert written.sheet.read_text().splitlines() == [
        "file,student,q7_explanation,comment",
        "points-per-question,,3,",
        "alice.ipynb,Alice Smith,,",
        "bob.zip,,,",
        "dave.ipynb,,,",
        "submission_123,Sam Jones,,",
        "erin.zip,,,",
        "carol.ipynb,,,",
    ]


def test_the_manual_questions_and_their_points_come_from_the_master_notebook():
    assert manual_questions() == {"q7_explanation": 3}


@pytest.mark.browser
@pytest.mark.slow
def test_the_combined_pdf_has_one_student_per_page_in_the_sheets_order(written):
    pages = PdfReader(written.combined).pages
    assert written.pages_per_student == 1 and len(pages) == len(READABLE)
    for page, name in zip(pages, READABLE):
        text = text_of([page])
        assert text.startswith(f"{name} — {STUDENTS[name]}" if name in STUDENTS else name)
        assert ANSWERS[name] in text


@pytest.mark.browser
def test_in_the_combined_pdf_every_students_section_has_the_length_of_the_longest(browser_tools, tmp_path):
    long_answer = "\n\n".join(f"Step {step}: the cell state goes down by about the same amount." for step in range(120))
    submissions = [("long.ipynb", student_notebook(long_answer)), ("short.ipynb", student_notebook(ANSWERS["alice.ipynb"]))]

    written = write_pdfs(submissions, tmp_path)

    pages = PdfReader(written.combined).pages
    length = written.pages_per_student
    assert length == len(PdfReader(tmp_path / "long.pdf").pages) > 1 and len(pages) == 2 * length
    assert text_of([pages[0]]).startswith("long.ipynb") and text_of([pages[length]]).startswith("short.ipynb")
    assert [text_of([page]) for page in pages[length + 1 :]] == [""] * (length - 1)
