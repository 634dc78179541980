"""Seconds spent in each stage of grading one submission, for ``benchmarks/grading_profile.py``.

The grading child times its stages (each cell of the notebook among them) and reports them in its
``ChildReport``; the worker adds its own. Timing costs microseconds a stage, so it is always on.
"""

import time
from contextlib import contextmanager

MAX_LAPS = 1_000  # a notebook of more cells than that is timed for its first ones: the report stays small


class Stopwatch:
    """Named laps, in the order they ended (a lap inside another ends first)."""

    def __init__(self):
        self.laps: list[tuple[str, float]] = []

    @contextmanager
    def lap(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            if len(self.laps) < MAX_LAPS:
                self.laps.append((name, time.perf_counter() - start))
