"""Command line of the kit: ``python -m exercise_kit JOB ...`` (one module per job)."""

import argparse

from . import build


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m exercise_kit", description=__doc__)
    jobs = parser.add_subparsers(dest="job", required=True)
    jobs.add_parser("build", help="rebuild student_template/, solution/, autograder/ and otter_config.json from assignment/")
    args = parser.parse_args(argv)
    if args.job == "build":
        build.build()


if __name__ == "__main__":
    main()
