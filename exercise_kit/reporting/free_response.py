"""Free-response answers, one PDF per student, for staff to grade by hand (on Gradescope or not).

The PDFs are made here, on the instructor's side, with the machine's Chromium: Otter's own PDF
export would need LaTeX and pandoc, or a browser downloaded by ``playwright install``, on every
student's machine. Each PDF holds the manually graded questions only: the cells between Otter's
``<!-- BEGIN QUESTION -->`` and ``<!-- END QUESTION -->`` markers, which ``otter assign`` keeps
in the student notebook around every question without tests. Beside the PDFs go a scoring sheet
for the scores (``manual`` merges it into the grades) and every answer in one PDF, for Gradescope.
"""

import html
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter

from ..grading import unpack
from . import manual

BEGIN_MARKER = "<!-- BEGIN QUESTION -->"
END_MARKER = "<!-- END QUESTION -->"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
SHEET = "q7_scores.csv"
COMBINED_PDF = "q7_all_students.pdf"


@dataclass(frozen=True)
class Written:
    pdfs: list[Path]  # one per readable submission, in the submissions' order
    sheet: Path  # the scoring sheet, a row per submission (``manual`` reads it)
    combined: Path | None  # every readable submission's answers in one PDF; None when none is readable
    pages_per_student: int  # the length of each student's section of ``combined``
    unreadable: list[str]  # "<name>: <why>", one line per submission without a PDF


def free_response_notebook(nb: nbformat.NotebookNode, title: str) -> nbformat.NotebookNode:
    """A notebook with a title cell and the cells of every manually graded question in ``nb``."""
    cells, inside = [nbformat.v4.new_markdown_cell(f"# {html.escape(title)}")], False
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith(BEGIN_MARKER):
            inside = True
        elif cell.cell_type == "markdown" and cell.source.lstrip().startswith(END_MARKER):
            inside = False
        if inside:
            cells.append(cell)
    if len(cells) == 1:
        raise ValueError(f"the notebook has no free-response question (no {BEGIN_MARKER} cell)")
    return nbformat.v4.new_notebook(cells=cells, metadata=nb.metadata)


def find_chromium() -> str:
    for name in CHROMIUM_NAMES:
        if path := shutil.which(name):
            return path
    raise FileNotFoundError(f"No Chromium found (looked for {', '.join(CHROMIUM_NAMES)}): apt-get install chromium")


def write_pdfs(
    submissions: Iterable[tuple[str, bytes]],
    out_dir: Path,
    students: dict[str, str] | None = None,
    chromium: str | None = None,
) -> Written:
    """Print each submission's free-response answers to ``out_dir/<name without suffix>.pdf``,
    and write the scoring sheet and the combined PDF beside them.

    ``submissions`` are (name, bytes of a notebook or a zip) pairs, a folder given as
    ``unpack.folder_as_zip``; the notebook is found as the grader finds it. ``students`` gives
    a submission's student by its name, shown beside the name at the top of its PDF. A submission
    that cannot be read gets a line in ``unreadable`` and a row in the sheet; the others their PDF.

    The combined PDF is for grading on Gradescope as an *Exam / Quiz*, an instructor-uploaded
    assignment: staff upload it on the *Manage Scans* page, where it becomes one submission per
    student, each matched to the roster (by the name region of the outline, or by hand). Each
    student's section starts on a new page with the submission's name and student, in the sheet's
    order, and every section has the same number of pages, ``pages_per_student`` (blank pages
    follow a shorter answer), so that the file is cut into submissions every N pages, as scans of
    an exam whose template has N pages are.

    The pages are printed offline and without JavaScript: every request a page would make
    (MathJax, images a student linked) is refused, and no script a student wrote in Markdown runs.
    """
    from playwright.sync_api import sync_playwright

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    students = students or {}
    exporter = HTMLExporter(template_name="lab")
    names, pdfs, unreadable = [], {}, []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium or find_chromium())
        page = browser.new_page(java_script_enabled=False)
        page.route("**/*", lambda route: route.abort())
        for name, data in submissions:
            names.append(name)
            title = f"{name} — {students[name]}" if students.get(name) else name
            try:
                nb = free_response_notebook(unpack.read_notebook(name, data), title)
            except (unpack.InvalidSubmission, ValueError) as reason:
                unreadable.append(f"{name}: {reason}")
                continue
            page.set_content(exporter.from_notebook_node(nb)[0])
            pdf = out_dir / f"{Path(name).stem}.pdf"
            page.pdf(
                path=str(pdf), format="A4", margin={"top": "15mm", "right": "15mm", "bottom": "15mm", "left": "15mm"}
            )
            pdfs[name] = pdf
        browser.close()
    sheet = out_dir / SHEET
    rows = manual.write_sheet(sheet, {name: students.get(name, "") for name in names}, manual.manual_questions())[
        manual.FILE_COLUMN
    ]
    combined = out_dir / COMBINED_PDF if pdfs else None
    pages = combine([pdfs[name] for name in rows if name in pdfs], combined) if combined is not None else 0
    return Written(list(pdfs.values()), sheet, combined, pages, unreadable)


def combine(pdfs: list[Path], out: Path) -> int:
    """Write ``pdfs`` one after the other into ``out``, each padded with blank pages to the length
    of the longest; return that length."""
    from pypdf import PdfReader, PdfWriter

    readers = [PdfReader(pdf) for pdf in pdfs]
    pages = max(len(reader.pages) for reader in readers)
    writer = PdfWriter()
    for reader in readers:
        writer.append(reader)
        for _ in range(pages - len(reader.pages)):
            writer.add_blank_page()
    writer.write(out)
    return pages


def main(args) -> None:
    """The free-response job: the PDFs and the scoring sheet, from the same submissions as grade's."""
    from ..lms import downloads

    collected = downloads.collect(args.submissions)
    written = write_pdfs(
        [(u.name, u.data) for u in collected.uploads], args.out, students={u.name: u.student for u in collected.uploads}
    )
    print(f"{len(written.pdfs)} PDF{'s' * (len(written.pdfs) != 1)} in {args.out}; scoring sheet: {written.sheet}")
    if written.combined:
        print(
            f"all in one, for Gradescope: {written.combined} "
            f"({written.pages_per_student} page{'s' * (written.pages_per_student != 1)} per student)"
        )
    for line in written.unreadable:
        print(f"unreadable: {line}")
