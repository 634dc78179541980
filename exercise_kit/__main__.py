"""Command line of the kit: ``python -m exercise_kit JOB ...`` (one module per job)."""

import argparse
import sys
import warnings
from pathlib import Path

from .paths import AUTOGRADER_ZIP


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m exercise_kit", description=__doc__)
    jobs = parser.add_subparsers(dest="job", required=True)

    jobs.add_parser("build", help="rebuild student_template/, solution/, autograder/ and otter_config.json from assignment/")

    grade = jobs.add_parser("grade", help="grade every submission in a folder (no Docker)")
    grade.add_argument("submissions", type=Path, help="folder of .ipynb files and export zips")
    grade.add_argument("--out", type=Path, default=Path("graded"), help="output folder (default: graded/)")
    grade.add_argument("--autograder", type=Path, default=AUTOGRADER_ZIP, help="autograder zip (default: %(default)s)")
    grade.add_argument("--workers", type=int, help="parallel submissions (default: the number of cores)")
    grade.add_argument("--timeout", type=float, help="seconds per submission (default: from the kit's config)")
    grade.add_argument("--memory-mb", type=int, help="memory cap per submission, grader and kernel together")
    grade.add_argument("--scheduler", help="address of a Dask scheduler to send the work to")
    grade.add_argument("--grade-from-log", action="store_true", help="keep the students' .OTTER_LOG files in their folders")
    grade.add_argument("--release", action="store_true", help="give each student the reasons of the hidden checks they failed, in feedback.md (when grades are released; graded submissions are not graded again)")
    grade.add_argument("--no-sandbox", action="store_true", help="run kernels unconfined, as the grading user (every row's status says so)")

    autograder = jobs.add_parser("run-autograder", help="grade the one submission of a Gradescope container (the zip's run_autograder runs this as root)")
    autograder.add_argument("root", type=Path, nargs="?", default=Path("/autograder"), help="Gradescope's folder (default: %(default)s)")
    autograder.add_argument("--timeout", type=float, help="seconds for the notebook (default: 480, under Gradescope's 10 minutes)")

    canvas = jobs.add_parser("canvas", help="write a Canvas gradebook CSV from final_grades.csv and a roster")
    canvas.add_argument("grades", type=Path, help="final_grades.csv written by the grade job")
    canvas.add_argument("roster", type=Path, help="CSV with Student, ID, SIS User ID, SIS Login ID, Section, submission")
    canvas.add_argument("--out", type=Path, default=Path("canvas_grades.csv"))
    canvas.add_argument("--assignment", default="Exercise 6-3 (LSTM)", help="the assignment's column name in Canvas")

    pdfs = jobs.add_parser("free-response", help="one PDF per submission with its Q7 answer, for grading by hand")
    pdfs.add_argument("submissions", type=Path, help="folder of .ipynb files, export zips, or folders with one notebook each")
    pdfs.add_argument("--out", type=Path, default=Path("free_response"), help="folder for the PDFs (default: %(default)s)")

    args = parser.parse_args(argv)
    if args.job == "build":
        from . import build

        build.build()
    elif args.job == "grade":
        if not args.scheduler:
            from . import fork_server

            fork_server.start()  # its imports overlap this process's own

        from . import grade, sandbox

        try:
            grade.grade_folder(
                args.submissions,
                args.out,
                autograder=args.autograder,
                workers=args.workers,
                timeout=args.timeout,
                memory_mb=args.memory_mb,
                scheduler=args.scheduler,
                grade_from_log=args.grade_from_log,
                sandboxed=not args.no_sandbox,
                release=args.release,
            )
        except sandbox.SandboxUnavailable as reason:
            parser.exit(2, f"Nothing was graded: {reason}\n")
    elif args.job == "run-autograder":
        from . import fork_server

        fork_server.start()  # TensorFlow's import overlaps the grader's own
        from . import gradescope

        gradescope.grade(args.root, timeout=args.timeout or gradescope.TIMEOUT_SECONDS)
    elif args.job == "canvas":
        from . import canvas

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            canvas.export(args.grades, args.roster, args.out, assignment=args.assignment)
        for warning in caught:
            print(f"warning: {warning.message}", file=sys.stderr)
    elif args.job == "free-response":
        from . import free_response

        submissions = sorted(p for p in args.submissions.iterdir() if p.is_dir() or p.suffix in (".ipynb", ".zip"))
        for pdf in free_response.write_pdfs(submissions, args.out):
            print(pdf)


if __name__ == "__main__":
    main()
