"""Seconds spent in each stage of grading one submission, for ``benchmarks/grading_profile.py``.

The grading child times its stages and writes them to its folder (``STAGES``); the worker adds its
own when asked for a profile. Timing costs microseconds a stage, so it is always on.
"""

import json
import time
from contextlib import contextmanager, suppress
from pathlib import Path

STAGES = "stages.json"  # in the grading folder: the child's stages, in order


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
            self.laps.append((name, time.perf_counter() - start))

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.laps))

    def read(self, path: Path) -> None:
        """Add the laps written to ``path`` (none if it is missing or unreadable)."""
        with suppress(OSError, ValueError, TypeError):
            self.laps += [(str(name), float(seconds)) for name, seconds in json.loads(path.read_text())]
