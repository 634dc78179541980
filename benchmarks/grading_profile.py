"""Where one submission's grading time goes, stage by stage, as the batch grader grades it.

Grades the solution notebook R times (default 3) with the kit's own per-submission grader
(sandboxed unless --no-sandbox), after one warm-up submission that starts the fork server, and
prints the median seconds of each stage: the worker's (unpack, fork the grading child, kill what is
left, verdicts), the grading child's (fork the zygote, draw the probe, start the kernel, each cell
of the notebook, each question's request for values, shut the kernel down) and the report's (one
submission's files, and the batch's summary rewritten for a class of 300). The stages of the child
are part of "grading child, start to end"; the rest of it is the child's start and exit.
Usage: .venv/bin/python benchmarks/grading_profile.py [--rounds R] [--no-sandbox]
"""

import argparse
import statistics
import tempfile
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from exercise_kit.grading.child import CHILD_TOTAL
from exercise_kit.grading.record import Record
from exercise_kit.grading.submission import grade_submission
from exercise_kit.grading.watch import Limits
from exercise_kit.reporting import report
from exercise_kit.paths import AUTOGRADER_ZIP, NOTEBOOK_NAME, SOLUTION_DIR
from exercise_kit.grading.stopwatch import Stopwatch

CLASS_SIZE = 300
CHILD = "grading child, start to end"  # the worker's lap; the child's own laps follow it


def profile(rounds: int, limits: Limits) -> tuple[dict[str, list[float]], Record]:
    """Each stage's seconds over ``rounds`` gradings of the solution, and the last record."""
    data, autograder = (SOLUTION_DIR / NOTEBOOK_NAME).read_bytes(), AUTOGRADER_ZIP.read_bytes()
    grade_submission(NOTEBOOK_NAME, data, autograder, limits)  # starts the fork server
    stages = defaultdict(list)
    for _ in range(rounds):
        stopwatch = Stopwatch()
        start = time.perf_counter()
        record = grade_submission(NOTEBOOK_NAME, data, autograder, limits, stopwatch)
        stopwatch.laps.append(("whole submission", time.perf_counter() - start))
        assert record.status.completed and record.results["score"] == 20, (record.status, record.results)
        for name, seconds in stopwatch.laps:
            stages[name].append(seconds)
    return stages, record


def notebook_seconds(stages: dict[str, list[float]]) -> float:
    """The median seconds of the notebook's own cells (the student's computation) in a grading."""
    rounds = len(stages["whole submission"])
    return statistics.median(sum(stages[name][i] for name in stages if name.startswith("cell ")) for i in range(rounds))


def report_seconds(record: Record) -> float:
    """Seconds to write one submission's files and the summary, in a class of ``CLASS_SIZE``."""
    records = [replace(record, file=f"student{i:03d}.ipynb") for i in range(CLASS_SIZE)]
    with tempfile.TemporaryDirectory() as out:
        report.write_report(records, Path(out))  # every file once, figures drawn
        start = time.perf_counter()
        report.write_report(records, Path(out), changed={records[0].file})
        return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-sandbox", action="store_true")
    args = parser.parse_args()
    stages, record = profile(args.rounds, Limits(sandbox=not args.no_sandbox))
    names = list(stages)
    timed = names[names.index(CHILD) + 1 : names.index(CHILD_TOTAL)]
    stages["the child, untimed in it"] = [
        total - sum(stages[name][i] for name in timed) for i, total in enumerate(stages[CHILD_TOTAL])
    ]
    stages["the child process's start and exit"] = [
        total - stages[CHILD_TOTAL][i] for i, total in enumerate(stages[CHILD])
    ]
    width = max(map(len, stages))
    print(f"median seconds of {args.rounds} gradings of the solution ({'un' if args.no_sandbox else ''}sandboxed):")
    for name, seconds in stages.items():
        print(f"  {name:<{width}}  {statistics.median(seconds):6.3f}")
    per_submission = report_seconds(record)
    own_cells = "the notebook's own cells, together"
    print(f"  {own_cells:<{width}}  {notebook_seconds(stages):6.3f}")
    print(f"  {'report, after each submission (class of ' + str(CLASS_SIZE) + ')':<{width}}  {per_submission:6.3f}")


if __name__ == "__main__":
    main()
