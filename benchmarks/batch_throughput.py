"""Throughput of the kit's batch grader against serial `otter run`, in one run on this machine.

Grades N copies of the solution notebook (default 6) three ways, each as the command an instructor
runs: the kit (sandboxed kernels, its default), the kit with --no-sandbox, and serial `otter run`.
Prints the wall times, the ratios of throughputs, and each submission's peak memory (grader and
kernel together) as the kit measured it. With --rounds R, the three take turns R times and the
ratios are those of the summed times, which evens out a shared machine's noise.

It also projects the kit's time for a class of 300 on this machine: the kit grades one solution
alone (the command's start, the fork server's imports and one submission), and each further
submission costs what the N took beyond that one, divided by N - 1. Beside it, the floor that the
notebook's own computation sets on this machine as it runs now (its cells, timed in a grading of
the solution alone, times 300, over the cores): what no grader can go below.
With --kit-only, only the kit's times and the projection (to compare settings of the kit quickly).
Usage: .venv/bin/python benchmarks/batch_throughput.py [N] [--workers W] [--rounds R] [--kit-only]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from grading_profile import notebook_seconds, profile

from exercise_kit.grading.watch import Limits
from exercise_kit.paths import AUTOGRADER_ZIP, NOTEBOOK_NAME, SOLUTION_DIR
from exercise_kit.reporting.report import load_records

GRADESCOPE_MEMORY_MB = 768
CLASS_SIZE = 300


def grade_with_kit(submissions: Path, out: Path, workers: int | None, sandbox: bool = True) -> float:
    """Seconds for the kit's grade command, interpreter start and imports included."""
    start = time.perf_counter()
    command = [sys.executable, "-m", "exercise_kit", "grade", str(submissions), "--out", str(out)]
    command += (["--workers", str(workers)] if workers else []) + ([] if sandbox else ["--no-sandbox"])
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def grade_with_otter_run(submissions: Path, out: Path) -> float:
    """Seconds for `otter run` on each submission in turn."""
    start = time.perf_counter()
    for notebook in sorted(submissions.iterdir()):
        # Each copy under the assignment's notebook name, as a student uploads it: under another
        # name Otter's init cell fails in the kernel, which cost `otter run` 2.5 s more a notebook.
        folder = out / notebook.stem
        folder.mkdir(parents=True)
        shutil.copyfile(notebook, folder / NOTEBOOK_NAME)
        command = [sys.executable, "-m", "otter", "run", "-a", str(AUTOGRADER_ZIP), "-o", str(folder), str(folder / NOTEBOOK_NAME)]
        subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("copies", type=int, nargs="?", default=6)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--kit-only", action="store_true")
    args = parser.parse_args()

    kit_times, unsandboxed_times, otter_times, one_times, full, peaks = [], [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        submissions = Path(tmp) / "submissions"
        submissions.mkdir()
        for i in range(args.copies):
            shutil.copyfile(SOLUTION_DIR / NOTEBOOK_NAME, submissions / f"student{i:02d}.ipynb")
        alone = Path(tmp) / "alone"
        alone.mkdir()
        shutil.copyfile(SOLUTION_DIR / NOTEBOOK_NAME, alone / "student.ipynb")
        for round_ in range(args.rounds):
            kit_out = Path(tmp) / f"kit-{round_}"
            kit_times.append(grade_with_kit(submissions, kit_out, args.workers))
            one_times.append(grade_with_kit(alone, Path(tmp) / f"alone-{round_}", args.workers))
            if not args.kit_only:
                unsandboxed_times.append(grade_with_kit(submissions, Path(tmp) / f"unsandboxed-{round_}", args.workers, sandbox=False))
                otter_times.append(grade_with_otter_run(submissions, Path(tmp) / f"otter-{round_}"))
            grades = pd.read_csv(kit_out / "final_grades.csv")
            full.append(int((grades["percent_correct"].iloc[1:] == 1).sum()))
            peaks += [record.peak_memory_mb for record in load_records(kit_out)]
            if not args.kit_only:
                print(f"round {round_ + 1}: kit {kit_times[-1]:.1f} s, unsandboxed {unsandboxed_times[-1]:.1f} s, "
                      f"otter run {otter_times[-1]:.1f} s, ratio {otter_times[-1] / kit_times[-1]:.2f}x")

    kit_seconds, one_seconds = sum(kit_times) / args.rounds, sum(one_times) / args.rounds
    each_further = (kit_seconds - one_seconds) / (args.copies - 1)
    class_seconds = one_seconds + each_further * (CLASS_SIZE - 1)
    print(f"submissions: {args.copies} copies of the solution (graded 20/20 by the kit: {full})")
    print(f"kit batch grader:  {kit_seconds:7.1f} s  ({kit_seconds / args.copies:5.1f} s per submission)")
    if not args.kit_only:
        otter_seconds, unsandboxed_seconds = sum(otter_times) / args.rounds, sum(unsandboxed_times) / args.rounds
        print(f"kit, --no-sandbox: {unsandboxed_seconds:7.1f} s  ({unsandboxed_seconds / args.copies:5.1f} s per submission)")
        print(f"serial otter run:  {otter_seconds:7.1f} s  ({otter_seconds / args.copies:5.1f} s per submission)")
        print(f"throughput ratio:  {otter_seconds / kit_seconds:7.2f}x  (goal: at least 6x on 24 solutions)")
        print(f"sandbox's cost:    {kit_seconds / unsandboxed_seconds - 1:7.1%}  of the unsandboxed time (goal: at most 10%)")
    print(f"a class of {CLASS_SIZE}:   {class_seconds / 60:7.1f} min  (projected: one solution alone {one_seconds:.1f} s, "
          f"each further one {each_further:.2f} s; goal: at most 6 min)")
    cells = notebook_seconds(profile(3, Limits())[0])
    cores = os.cpu_count() or 1
    print(f"the notebook's floor: {CLASS_SIZE * cells / cores / 60:5.1f} min  (its own cells take {cells:.2f} s a solution "
          f"graded alone; {CLASS_SIZE} of them on {cores} cores)")
    print(f"peak memory per submission (grader + kernel): max {max(peaks):.0f} MB, "
          f"median {sorted(peaks)[len(peaks) // 2]:.0f} MB (Gradescope default {GRADESCOPE_MEMORY_MB} MB)")

if __name__ == "__main__":
    main()
