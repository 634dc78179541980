"""Grading time and peak memory of one submission run as Gradescope runs it, against its defaults.

The autograder zip's own entry point (``run_autograder``: the kit's sandboxed grader) grades the
submission in a Gradescope-shaped folder (``exercise_kit.lms.gradescope``), as root. Memory is that of the grader and its kernel together, polled over
the whole process tree, both as summed RSS (each shared library counted in every process) and as
summed PSS (each counted once, as a container's memory limit charges it). Gradescope's default container has half a CPU: the
run gets that through a CPU quota (a cgroup with ``--cpus`` of CPU time, the way a container's CPU
limit works) when this machine lets us make one, or else is pinned to one core (``taskset``), and
the output says which.

    .venv/bin/python benchmarks/gradescope_one_submission.py [SUBMISSION] [--cpus 0.5]
"""

import argparse
import json
import os
import tempfile
import time
from contextlib import suppress
from pathlib import Path

import psutil

from exercise_kit.grading.watch import memory_mb, process_tree
from exercise_kit.lms import gradescope
from exercise_kit.paths import NOTEBOOK_NAME, SOLUTION_DIR

GRADESCOPE_DEFAULTS = {"memory_mb": 768, "cpus": 0.5, "timeout_s": 600}
TARGETS = {"pss_mb": 600, "seconds": 20}  # room under the defaults for a student's heavier notebook
CGROUP_PERIOD_US = 100_000
POLL_SECONDS = 0.1


def cpu_quota_group(cpus: float) -> Path | None:
    """A new cgroup limited to ``cpus`` of CPU time (cgroup v1 or v2), or None if we may not make one."""
    quota = int(cpus * CGROUP_PERIOD_US)
    name = f"exercise-kit-benchmark-{os.getpid()}"
    v1, v2 = Path("/sys/fs/cgroup/cpu"), Path("/sys/fs/cgroup")
    try:
        if (v1 / "cpu.cfs_quota_us").exists():
            group = v1 / name
            group.mkdir()
            (group / "cpu.cfs_quota_us").write_text(str(quota))
        elif "cpu" in (v2 / "cgroup.subtree_control").read_text().split():
            group = v2 / name
            group.mkdir()
            (group / "cpu.max").write_text(f"{quota} {CGROUP_PERIOD_US}")
        else:
            return None
        return group
    except OSError:
        return None


def measure(submission: Path, cpus: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="gradescope-") as tmp:
        gradescope.lay_out(Path(tmp), submission)
        group = cpu_quota_group(cpus)
        start = time.monotonic()
        process = gradescope.start(Path(tmp))
        if group:  # the kernel, started seconds later by this process, joins the group too
            (group / "cgroup.procs").write_text(str(process.pid))
            limit = f"{cpus:g} CPU (cgroup CPU quota)"
        else:
            os.sched_setaffinity(process.pid, {0})
            limit = "1 core (taskset; no cgroup could be made here)"
        peak_mb, peak_pss_mb, cpu_seconds = 0.0, 0.0, {}
        try:
            while process.poll() is None:
                tree = process_tree(process.pid)
                peak_mb, peak_pss_mb = max(peak_mb, memory_mb(tree, "rss")), max(peak_pss_mb, memory_mb(tree, "pss"))
                for member in tree:  # the CPU time each process has used so far (not its children's)
                    with suppress(psutil.Error):
                        times = member.cpu_times()
                        cpu_seconds[member.pid] = times.user + times.system
                time.sleep(POLL_SECONDS)
            seconds = time.monotonic() - start
        finally:  # also on Ctrl-C: no grader, kernel or cgroup left behind
            gradescope.kill_tree(process.pid)
            process.wait()
            if group:
                with suppress(OSError):
                    group.rmdir()
        results = json.loads((Path(tmp) / "autograder" / "results" / "results.json").read_text())
    scored = [test for test in results["tests"] if "max_score" in test]
    return {
        "limit": limit,
        "exit_code": process.returncode,
        "seconds": seconds,
        "cpu_seconds": sum(cpu_seconds.values()),  # as last seen, polled: a little low
        "peak_mb": peak_mb,
        "peak_pss_mb": peak_pss_mb,
        "score": f"{sum(t['score'] for t in scored):g} / {sum(t['max_score'] for t in scored):g}",
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("submission", type=Path, nargs="?", default=SOLUTION_DIR / NOTEBOOK_NAME)
    parser.add_argument("--cpus", type=float, default=GRADESCOPE_DEFAULTS["cpus"], help="CPU quota (default: Gradescope's %(default)s)")
    args = parser.parse_args(argv)

    figures = measure(args.submission, args.cpus)
    print(f"submission: {args.submission.name}, score {figures['score']}, exit code {figures['exit_code']}")
    print(f"run with: {figures['limit']}")
    print(f"{'':24}{'measured':>12}{'kit target':>12}{'Gradescope default':>22}")
    print(f"{'grading time (s)':24}{figures['seconds']:12.1f}{TARGETS['seconds']:12}{GRADESCOPE_DEFAULTS['timeout_s']:22}")
    print(f"{'CPU time (s)':24}{figures['cpu_seconds']:12.1f}")
    print(f"{'peak, summed RSS (MB)':24}{figures['peak_mb']:12.0f}{'':12}{GRADESCOPE_DEFAULTS['memory_mb']:22}")
    print(f"{'peak, summed PSS (MB)':24}{figures['peak_pss_mb']:12.0f}{TARGETS['pss_mb']:12}{GRADESCOPE_DEFAULTS['memory_mb']:22}")
    # A container's limit charges each page once, however many processes map it: the PSS sum is
    # the estimate (the RSS sum counts the libraries the grader and its kernel share once each).
    fits = figures["peak_pss_mb"] <= GRADESCOPE_DEFAULTS["memory_mb"] and figures["seconds"] <= GRADESCOPE_DEFAULTS["timeout_s"]
    on_target = figures["peak_pss_mb"] <= TARGETS["pss_mb"] and figures["seconds"] <= TARGETS["seconds"]
    print(("fits Gradescope's defaults" if fits else "does NOT fit Gradescope's defaults: see docs/gradescope.md") + (", within the kit's targets" if on_target else ", NOT within the kit's targets"))

if __name__ == "__main__":
    main()
