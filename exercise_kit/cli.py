"""Command line of the kit: ``exercise-kit JOB ...`` (or ``python -m exercise_kit JOB ...``).

Each job is one module's ``main(args)``, imported only when it runs. A job that grades starts the
fork server first (``isolation.fork_server``): TensorFlow's import then overlaps the job's own.
"""

import argparse
import importlib
from pathlib import Path

from .paths import AUTOGRADER_ZIP

JOBS = {
    "build": "exercise_kit.build",
    "grade": "exercise_kit.grading.batch",
    "run-autograder": "exercise_kit.lms.gradescope",
    "free-response": "exercise_kit.reporting.free_response",
    "canvas": "exercise_kit.lms.canvas",
}


class JobError(Exception):
    """What stops a job before it has done anything wrong: printed, and the command exits with 2."""


EXAMPLES = {
    "build": "exercise-kit build",
    "grade": (
        "exercise-kit grade submissions.zip --out graded      # Canvas's Download Submissions, as it comes\n"
        "  exercise-kit grade submissions/ --out graded        "
        "# a folder of notebooks, export zips or Gradescope's export folders\n"
        "  exercise-kit grade submissions.zip --out graded --release   # then: each student's reasons in feedback.md"
    ),
    "run-autograder": (
        "exercise-kit run-autograder /autograder   # what the Gradescope zip's run_autograder runs, as root"
    ),
    "free-response": "exercise-kit free-response submissions.zip --out free_response\n"
    "  # then fill free_response/q7_scores.csv, or upload free_response/q7_all_students.pdf to Gradescope",
    "canvas": (
        "exercise-kit canvas graded/final_grades.csv gradebook.csv --manual free_response/q7_scores.csv "
        "--out canvas_grades.csv\n"
        "  # gradebook.csv: Canvas's Grades > Export > Export Entire Gradebook, unchanged\n"
        "  exercise-kit canvas graded/final_grades.csv gradebook.csv --manual free_response/q7_scores.csv --post \\\n"
        "      --canvas-url https://canvas.example.edu --course 1234 [--yes]\n"
        "  # each student's grade and feedback as a comment, through the API: a dry run without --yes; "
        "the token in CANVAS_API_TOKEN"
    ),
}


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="exercise-kit", description=__doc__)
    jobs = parser.add_subparsers(dest="job", required=True)

    def job(name, help):
        return jobs.add_parser(
            name,
            help=help,
            description=help,
            epilog=f"example:\n  {EXAMPLES[name]}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    job("build", "rebuild student_template/, solution/, autograder/ and otter_config.json from assignment/")

    grade = job("grade", "grade every submission of a class (no Docker): a folder, or an LMS's download zip")
    grade.add_argument(
        "submissions",
        type=Path,
        help="Canvas's download zip, or a folder of .ipynb files, export zips and submission folders",
    )
    grade.add_argument("--out", type=Path, default=Path("graded"), help="output folder (default: graded/)")
    grade.add_argument(
        "--manual", type=Path, help="the filled Q7 scoring sheet (from free-response): final_grades.csv gets its column"
    )
    grade.add_argument("--autograder", type=Path, default=AUTOGRADER_ZIP, help="autograder zip (default: %(default)s)")
    grade.add_argument("--workers", type=int, help="parallel submissions (default: one more than the number of cores)")
    grade.add_argument("--timeout", type=float, help="seconds per submission (default: from the kit's config)")
    grade.add_argument("--memory-mb", type=int, help="memory cap per submission, grader and kernel together")
    grade.add_argument("--scheduler", help="address of a Dask scheduler to send the work to")
    grade.add_argument(
        "--grade-from-log", action="store_true", help="keep the students' .OTTER_LOG files in their folders"
    )
    grade.add_argument(
        "--release",
        action="store_true",
        help="give each student the reasons of the hidden checks they failed, in feedback.md "
        "(when grades are released; graded submissions are not graded again)",
    )
    grade.add_argument(
        "--no-sandbox",
        action="store_true",
        help="run kernels unconfined, as the grading user (every row's status says so)",
    )

    autograder = job(
        "run-autograder",
        "grade the one submission of a Gradescope container (the zip's run_autograder runs this as root)",
    )
    autograder.add_argument(
        "root", type=Path, nargs="?", default=Path("/autograder"), help="Gradescope's folder (default: %(default)s)"
    )
    autograder.add_argument(
        "--timeout", type=float, help="seconds for the notebook (default: 480, under Gradescope's 10 minutes)"
    )

    pdfs = job(
        "free-response", "one PDF per submission with its Q7 answer, a scoring sheet, and one PDF of all for Gradescope"
    )
    pdfs.add_argument("submissions", type=Path, help="the same submissions as for grade")
    pdfs.add_argument(
        "--out",
        type=Path,
        default=Path("free_response"),
        help="folder for the PDFs and the sheet (default: %(default)s)",
    )

    canvas = job("canvas", "write a Canvas gradebook import file from the grades and Canvas's gradebook export")
    canvas.add_argument(
        "grades", type=Path, help="final_grades.csv written by grade, or Gradescope's Download Grades CSV"
    )
    canvas.add_argument(
        "roster",
        type=Path,
        help="Canvas's gradebook export (Grades > Export > Export Entire Gradebook), unchanged; "
        "or a roster with a submission column",
    )
    canvas.add_argument(
        "--manual", type=Path, help="the filled Q7 scoring sheet: totals and points possible then count Q7"
    )
    canvas.add_argument("--out", type=Path, default=Path("canvas_grades.csv"))
    canvas.add_argument("--assignment", default="Exercise 6-3 (LSTM)", help="the assignment's column name in Canvas")
    canvas.add_argument(
        "--post",
        action="store_true",
        help="instead of the import file, post each student's grade and feedback (a comment) through Canvas's API; "
        "a dry run unless --yes; the token is read from CANVAS_API_TOKEN",
    )
    canvas.add_argument("--canvas-url", help="with --post: the Canvas address, e.g. https://canvas.example.edu")
    canvas.add_argument(
        "--course", type=int, help="with --post: the course id (the number after /courses/ in its address)"
    )
    canvas.add_argument(
        "--assignment-id",
        type=int,
        help='with --post: the assignment id (default: from the gradebook\'s column "<assignment> (<id>)")',
    )
    canvas.add_argument("--yes", action="store_true", help="with --post: post for real")

    return parser


def main(argv: list[str] | None = None) -> None:
    command = parser()
    args = command.parse_args(argv)
    try:
        if args.job == "grade" and not args.scheduler:  # a Dask worker checks its own machine
            from .isolation import confine, fork_server

            if not args.no_sandbox:
                try:
                    confine.require()
                except confine.SandboxUnavailable as reason:
                    raise JobError(f"Nothing was graded: {reason}") from None
            fork_server.start(log=args.out / "grader.log")
        elif args.job == "run-autograder":
            from .isolation import fork_server

            fork_server.start()
        importlib.import_module(JOBS[args.job]).main(args)
    except JobError as error:
        command.exit(2, f"{error}\n")
