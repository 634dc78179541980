"""The contract between the kit and the assignment's own grading code, named here only.

An assignment gives the grader two modules, written by its instructors (``assignment/``) and
shipped in the autograder zip's ``files/``. The grader imports them from the unpacked zip of the
submission's autograder, never from the kit, so that a zip grades as it was built:

- ``lstm_checks.py`` (``Checks``): the grader's only. It draws each submission's random probe,
  says which values each check needs from the kernel, and judges them against its own references.
  The notebook's hidden tests call its ``run_check`` when Otter runs them; the kit does not.
- ``lstm_values.py`` (``Values``): sent into the student's kernel with one question's request at
  that question's check cell, where its ``report(request, namespace)`` displays the values in
  ``MIME_TYPE`` (plain data: text, float64 bytes in hex); the grader decodes them with ``decode``.
  It holds no reference and no answer.
"""

import functools
import types
from pathlib import Path
from typing import Any, Protocol

import numpy as np

CHECKS_FILE = "lstm_checks.py"
VALUES_FILE = "lstm_values.py"
FILES = (CHECKS_FILE, VALUES_FILE)


class Checks(Protocol):
    TAKEN_ONCE: tuple[str, ...]  # values taken at the first question that needs them, for every later one
    SHARED: dict[str, tuple[str, ...]]  # check -> values it reads from the question that took them

    def random_probe(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """This submission's random inputs and weights."""

    def request(self, check_names: list[str], probe: dict[str, np.ndarray]) -> dict[str, Any]:
        """What to ask the kernel for these checks: {"values": [names], "inputs": {name: the probe's inputs}}."""

    def verdict_with_evidence(
        self, check: str, values: dict[str, Any], errors: dict[str, str], probe: dict[str, np.ndarray]
    ) -> tuple[str | None, dict[str, Any]]:
        """None if the check passes, else its one-sentence message; and what it compared."""


class Values(Protocol):
    MIME_TYPE: str

    def decode(self, encoded: Any) -> Any:
        """A value as the kernel's answer encoded it (raises on a malformed one)."""


def is_export_cell(cell) -> bool:
    """The notebook's export cell re-runs the whole notebook and writes a zip: never run while grading."""
    return cell.cell_type == "code" and "grader.export(" in cell.source


def load_checks(source: Path) -> Checks:
    """``lstm_checks.py`` of the unpacked autograder zip ``source``."""
    return load_module(Path(source) / "files" / CHECKS_FILE, "autograder_lstm_checks")


def load_values(source: Path) -> Values:
    """``lstm_values.py`` of the unpacked autograder zip ``source``."""
    return load_module(Path(source) / "files" / VALUES_FILE, "autograder_lstm_values")


def values_source(source: Path) -> str:
    """The source of ``lstm_values.py``, as it is sent into the kernel."""
    return (Path(source) / "files" / VALUES_FILE).read_text()


def load_module(path: Path, name: str) -> Any:
    """The module made from the file ``path``, once per content (a batch grades with one autograder)."""
    return _load(Path(path).read_text(), name)


@functools.cache
def _load(source: str, name: str) -> Any:
    module = types.ModuleType(name)
    exec(compile(source, f"<autograder {name}>", "exec"), module.__dict__)
    return module
