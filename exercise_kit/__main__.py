"""Command line of the kit: ``exercise-kit JOB ...`` (or ``python -m exercise_kit JOB ...``), one module per job."""

import argparse
import sys
import warnings
from pathlib import Path

from .paths import AUTOGRADER_ZIP

EXAMPLES = {
    "build": "exercise-kit build",
    "grade": "exercise-kit grade submissions.zip --out graded      # Canvas's Download Submissions, as it comes\n"
    "  exercise-kit grade submissions/ --out graded        # a folder of notebooks, export zips or Gradescope's export folders\n"
    "  exercise-kit grade submissions.zip --out graded --release   # then: each student's reasons in feedback.md",
    "run-autograder": "exercise-kit run-autograder /autograder   # what the Gradescope zip's run_autograder runs, as root",
    "free-response": "exercise-kit free-response submissions.zip --out free_response\n"
    "  # then fill free_response/q7_scores.csv, or upload free_response/q7_all_students.pdf to Gradescope",
    "canvas": "exercise-kit canvas graded/final_grades.csv gradebook.csv --manual free_response/q7_scores.csv --out canvas_grades.csv\n"
    "  # gradebook.csv: Canvas's Grades > Export > Export Entire Gradebook, unchanged\n"
    "  exercise-kit canvas graded/final_grades.csv gradebook.csv --manual free_response/q7_scores.csv --post \\\n"
    "      --canvas-url https://canvas.example.edu --course 1234 [--yes]\n"
    "  # each student's grade and feedback as a comment, through the API: a dry run without --yes; the token in CANVAS_API_TOKEN",
}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="exercise-kit", description=__doc__)
    jobs = parser.add_subparsers(dest="job", required=True)

    def job(name, help):
        return jobs.add_parser(name, help=help, description=help, epilog=f"example:\n  {EXAMPLES[name]}", formatter_class=argparse.RawDescriptionHelpFormatter)

    job("build", "rebuild student_template/, solution/, autograder/ and otter_config.json from assignment/")

    grade = job("grade", "grade every submission of a class (no Docker): a folder, or an LMS's download zip")
    grade.add_argument("submissions", type=Path, help="Canvas's download zip, or a folder of .ipynb files, export zips and submission folders")
    grade.add_argument("--out", type=Path, default=Path("graded"), help="output folder (default: graded/)")
    grade.add_argument("--manual", type=Path, help="the filled Q7 scoring sheet (from free-response): final_grades.csv gets its column")
    grade.add_argument("--autograder", type=Path, default=AUTOGRADER_ZIP, help="autograder zip (default: %(default)s)")
    grade.add_argument("--workers", type=int, help="parallel submissions (default: the number of cores)")
    grade.add_argument("--timeout", type=float, help="seconds per submission (default: from the kit's config)")
    grade.add_argument("--memory-mb", type=int, help="memory cap per submission, grader and kernel together")
    grade.add_argument("--scheduler", help="address of a Dask scheduler to send the work to")
    grade.add_argument("--grade-from-log", action="store_true", help="keep the students' .OTTER_LOG files in their folders")
    grade.add_argument("--release", action="store_true", help="give each student the reasons of the hidden checks they failed, in feedback.md (when grades are released; graded submissions are not graded again)")
    grade.add_argument("--no-sandbox", action="store_true", help="run kernels unconfined, as the grading user (every row's status says so)")

    autograder = job("run-autograder", "grade the one submission of a Gradescope container (the zip's run_autograder runs this as root)")
    autograder.add_argument("root", type=Path, nargs="?", default=Path("/autograder"), help="Gradescope's folder (default: %(default)s)")
    autograder.add_argument("--timeout", type=float, help="seconds for the notebook (default: 480, under Gradescope's 10 minutes)")

    pdfs = job("free-response", "one PDF per submission with its Q7 answer, a scoring sheet, and one PDF of all for Gradescope")
    pdfs.add_argument("submissions", type=Path, help="the same submissions as for grade")
    pdfs.add_argument("--out", type=Path, default=Path("free_response"), help="folder for the PDFs and the sheet (default: %(default)s)")

    canvas = job("canvas", "write a Canvas gradebook import file from the grades and Canvas's gradebook export")
    canvas.add_argument("grades", type=Path, help="final_grades.csv written by grade, or Gradescope's Download Grades CSV")
    canvas.add_argument("roster", type=Path, help="Canvas's gradebook export (Grades > Export > Export Entire Gradebook), unchanged; or a roster with a submission column")
    canvas.add_argument("--manual", type=Path, help="the filled Q7 scoring sheet: totals and points possible then count Q7")
    canvas.add_argument("--out", type=Path, default=Path("canvas_grades.csv"))
    canvas.add_argument("--assignment", default="Exercise 6-3 (LSTM)", help="the assignment's column name in Canvas")
    canvas.add_argument("--post", action="store_true", help="instead of the import file, post each student's grade and feedback (a comment) through Canvas's API; a dry run unless --yes; the token is read from CANVAS_API_TOKEN")
    canvas.add_argument("--canvas-url", help="with --post: the Canvas address, e.g. https://canvas.example.edu")
    canvas.add_argument("--course", type=int, help="with --post: the course id (the number after /courses/ in its address)")
    canvas.add_argument("--assignment-id", type=int, help="with --post: the assignment id (default: from the gradebook's column \"<assignment> (<id>)\")")
    canvas.add_argument("--yes", action="store_true", help="with --post: post for real")

    args = parser.parse_args(argv)
    if args.job == "build":
        from . import build

        build.build()
    elif args.job == "grade":
        from . import sandbox

        if not args.scheduler:  # a Dask worker checks its own machine
            try:
                sandbox.check_sandbox(sandbox.Limits(sandbox=not args.no_sandbox))
            except sandbox.SandboxUnavailable as reason:
                parser.exit(2, f"Nothing was graded: {reason}\n")
            from . import fork_server

            fork_server.start(log=args.out / "grader.log")  # its imports overlap this process's own

        from . import grade

        try:
            grades = grade.grade_folder(
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
                manual=args.manual,
            )
        except sandbox.SandboxUnavailable as reason:
            parser.exit(2, f"Nothing was graded: {reason}\n")
        except ValueError as error:  # a download or a sheet the kit cannot read
            parser.exit(2, f"error: {error}\n")
        print(grade.command_summary(grades, args.out))
    elif args.job == "run-autograder":
        from . import fork_server

        fork_server.start()  # TensorFlow's import overlaps the grader's own
        from . import gradescope

        gradescope.grade(args.root, timeout=args.timeout or gradescope.TIMEOUT_SECONDS)
    elif args.job == "free-response":
        from . import downloads, free_response

        collected = downloads.collect(args.submissions)
        written = free_response.write_pdfs([(u.name, u.data) for u in collected.uploads], args.out, students={u.name: u.student for u in collected.uploads})
        print(f"{len(written.pdfs)} PDF{'s' * (len(written.pdfs) != 1)} in {args.out}; scoring sheet: {written.sheet}")
        if written.combined:
            print(f"all in one, for Gradescope: {written.combined} ({written.pages_per_student} page{'s' * (written.pages_per_student != 1)} per student)")
        for line in written.unreadable:
            print(f"unreadable: {line}")
    elif args.job == "canvas":
        from . import canvas, canvas_post

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                if args.post:
                    students = canvas_post.students(args.grades, args.roster, assignment=args.assignment, manual=args.manual)
                else:
                    canvas.export(args.grades, args.roster, args.out, assignment=args.assignment, manual=args.manual)
            except ValueError as error:
                parser.exit(2, f"error: {error}\n")
        for warning in caught:
            print(f"warning: {warning.message}", file=sys.stderr)
        if not args.post:
            print(f"Canvas import file: {args.out}")
            return
        assignment_id = args.assignment_id or canvas.assignment_id(args.roster, args.assignment)
        try:
            outcome = canvas_post.post(students, url=args.canvas_url, course_id=args.course, assignment_id=assignment_id, token=canvas_post.token(), send=args.yes)
        except ValueError as error:
            parser.exit(2, f"error: {error} (nothing was posted)\n")
        print(", ".join(f"{len(names)} {kind}" for kind, names in outcome.items() if names) + ".")
        if outcome["would post"] and args.yes:
            print(f"Nothing was posted: set {canvas_post.TOKEN_VARIABLE} to post (docs/canvas.md says how to make a token).")
        elif outcome["would post"]:
            print("Dry run: nothing was posted. Run the same command with --yes to post.")
        if outcome["failed"]:
            print("Run the same command again to post what failed: what Canvas already holds is left out.")


if __name__ == "__main__":
    main()
