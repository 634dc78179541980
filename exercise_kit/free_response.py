"""Free-response answers, one PDF per student, for staff to grade by hand (on Gradescope or not).

The PDFs are made here, on the instructor's side, with the machine's Chromium: Otter's own PDF
export would need LaTeX and pandoc, or a browser downloaded by ``playwright install``, on every
student's machine. Each PDF holds the manually graded questions only: the cells between Otter's
``<!-- BEGIN QUESTION -->`` and ``<!-- END QUESTION -->`` markers, which ``otter assign`` keeps
in the student notebook around every question without tests.
"""

import shutil
import zipfile
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter

BEGIN_MARKER = "<!-- BEGIN QUESTION -->"
END_MARKER = "<!-- END QUESTION -->"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def read_submission(path: Path) -> nbformat.NotebookNode:
    """The notebook of a submission: an ``.ipynb`` file, the zip made by the export cell, or a
    folder holding one notebook (as in Gradescope's export of submissions).

    Only the notebook is read from a zip: its ``.OTTER_LOG`` is a pickle, never opened here.
    """
    path = Path(path)
    if path.suffix == ".ipynb":
        return nbformat.read(path, as_version=4)
    if path.is_dir():
        sources = {str(p): p.read_text(encoding="utf-8") for p in path.rglob("*.ipynb")}
    else:
        with zipfile.ZipFile(path) as archive:
            names = [name for name in archive.namelist() if name.endswith(".ipynb") and not name.startswith("__MACOSX/")]
            sources = {name: archive.read(name).decode("utf-8") for name in names}
    if len(sources) != 1:
        raise ValueError(f"{path.name}: expected one notebook, found {sorted(sources)}")
    return nbformat.reads(next(iter(sources.values())), as_version=4)


def free_response_notebook(nb: nbformat.NotebookNode, title: str) -> nbformat.NotebookNode:
    """A notebook with a title cell and the cells of every manually graded question in ``nb``."""
    cells, inside = [nbformat.v4.new_markdown_cell(f"# {title}")], False
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith(BEGIN_MARKER):
            inside = True
        elif cell.cell_type == "markdown" and cell.source.lstrip().startswith(END_MARKER):
            inside = False
        if inside:
            cells.append(cell)
    if len(cells) == 1:
        raise ValueError(f"{title}: no {BEGIN_MARKER} ... {END_MARKER} cells in the notebook")
    return nbformat.v4.new_notebook(cells=cells, metadata=nb.metadata)


def find_chromium() -> str:
    for name in CHROMIUM_NAMES:
        if path := shutil.which(name):
            return path
    raise FileNotFoundError(f"No Chromium found (looked for {', '.join(CHROMIUM_NAMES)}): apt-get install chromium")


def write_pdfs(submissions: list[Path], out_dir: Path, chromium: str | None = None) -> list[Path]:
    """Write ``out_dir/<submission name>.pdf`` for every submission; returns the PDFs' paths.

    The page is printed offline and without JavaScript: every request it would make (MathJax,
    images a student linked) is refused, and no script a student wrote in Markdown runs.
    """
    from playwright.sync_api import sync_playwright

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    exporter = HTMLExporter(template_name="lab")
    pdfs = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium or find_chromium())
        page = browser.new_page(java_script_enabled=False)
        page.route("**/*", lambda route: route.abort())
        for submission in map(Path, submissions):
            html, _ = exporter.from_notebook_node(free_response_notebook(read_submission(submission), submission.name))
            page.set_content(html)
            pdf = out_dir / f"{submission.stem}.pdf"
            page.pdf(path=str(pdf), format="A4", margin={side: "15mm" for side in ("top", "right", "bottom", "left")})
            pdfs.append(pdf)
        browser.close()
    return pdfs

