"""Fixtures shared by several test modules (each section says which)."""

import subprocess

import pytest

from exercise_kit.paths import ROOT


# Browser tests (test_browser.py, reporting/test_free_response.py, test_round_trip.py) --------


@pytest.fixture(scope="session")
def browser_tools():
    """Debian's Chromium and JupyterLab's .venv-lab, installed on first use (quick when done)."""
    subprocess.run(["bash", str(ROOT / "scripts" / "install-browser.sh")], check=True)


# The build (test_assignment.py; any test of the build outputs) ---------------------------------


@pytest.fixture(scope="session")
def built_kit(tmp_path_factory):
    """A folder with everything `python -m exercise_kit build` makes, built once from assignment/."""
    from exercise_kit.build import build

    folder = tmp_path_factory.mktemp("build")
    build(folder)
    return folder


# Tiers (the markers in pyproject.toml; `bash scripts/test.sh --fast` runs the unmarked tests) -----

# A test that uses one of these fixtures is in their tier, decorated or not (a forgotten marker
# would put a 25 s build or Chromium into the fast tier).
IMPLIED_MARKERS = {"built_kit": "slow", "browser_tools": "browser"}


def pytest_collection_modifyitems(items):
    for item in items:
        for fixture, marker in IMPLIED_MARKERS.items():
            if fixture in item.fixturenames and item.get_closest_marker(marker) is None:
                item.add_marker(marker)
