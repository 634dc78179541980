"""Throughput of the kit's batch grader against serial `otter run`, in one run on this machine.

Grades N copies of the solution notebook (default 6) both ways, each as the command an instructor
runs, and prints both wall times, the ratio of throughputs, and each submission's peak memory
(grader and kernel together) as the kit measured it. Usage: .venv/bin/python benchmarks/batch_throughput.py [N] [--workers W]
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from exercise_kit.paths import AUTOGRADER_ZIP, NOTEBOOK_NAME, SOLUTION_DIR
from exercise_kit.report import load_records

GRADESCOPE_MEMORY_MB = 768


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("copies", type=int, nargs="?", default=6)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        submissions = Path(tmp) / "submissions"
        submissions.mkdir()
        for i in range(args.copies):
            shutil.copyfile(SOLUTION_DIR / NOTEBOOK_NAME, submissions / f"student{i:02d}.ipynb")

        # Both as an instructor runs them: one command each, interpreter start and imports included.
        kit_out = Path(tmp) / "kit"
        workers = ["--workers", str(args.workers)] if args.workers else []
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "exercise_kit", "grade", str(submissions), "--out", str(kit_out), *workers], check=True, capture_output=True)
        kit_seconds = time.perf_counter() - start
        grades, records = pd.read_csv(kit_out / "final_grades.csv"), load_records(kit_out)

        start = time.perf_counter()
        for notebook in sorted(submissions.iterdir()):
            # Each copy under the assignment's notebook name, as a student uploads it: under another
            # name Otter's init cell fails in the kernel, which cost `otter run` 2.5 s more a notebook.
            out = Path(tmp) / "otter" / notebook.stem
            out.mkdir(parents=True)
            shutil.copyfile(notebook, out / NOTEBOOK_NAME)
            subprocess.run(
                [sys.executable, "-m", "otter", "run", "-a", str(AUTOGRADER_ZIP), "-o", str(out), str(out / NOTEBOOK_NAME)],
                check=True,
                capture_output=True,
            )
        otter_seconds = time.perf_counter() - start

    full = (grades["percent_correct"].iloc[1:] == 1).sum()
    print(f"submissions: {args.copies} copies of the solution ({full} graded 20/20 by the kit)")
    print(f"kit batch grader:  {kit_seconds:7.1f} s  ({kit_seconds / args.copies:5.1f} s per submission)")
    print(f"serial otter run:  {otter_seconds:7.1f} s  ({otter_seconds / args.copies:5.1f} s per submission)")
    print(f"throughput ratio:  {otter_seconds / kit_seconds:7.2f}x  (goal: at least 4x)")
    peaks = [r["peak_memory_mb"] for r in records]
    print(f"peak memory per submission (grader + kernel): max {max(peaks):.0f} MB, "
          f"median {sorted(peaks)[len(peaks) // 2]:.0f} MB (Gradescope default {GRADESCOPE_MEMORY_MB} MB)")


if __name__ == "__main__":
    main()
