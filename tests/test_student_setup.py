"""Students can set up on any laptop: the student pins resolve from the package index for each
platform the instructions name, and they are the grading environment's versions.

A broken pin fails here, not on a student's laptop. Resolving asks the package index for
metadata only (``pip install --dry-run``), a few seconds a platform.
"""

import json
import re
import subprocess
import sys

import pytest

from exercise_kit.build import flattened_requirements
from exercise_kit.paths import GRADING_REQUIREMENTS, ROOT, STUDENT_REQUIREMENTS

PLATFORMS = {  # what docs/students.md promises, and where: (pip's platform tags, Python version)
    "Windows": (["win_amd64"], "3.11"),
    "Linux": (["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"], "3.11"),
    "macOS on Apple silicon": (["macosx_12_0_arm64"], "3.11"),
    "a hosted Jupyter (Colab)": (["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"], "3.12"),
}


def pins(path):
    return dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", flattened_requirements(path), re.MULTILINE))


def test_student_pins_are_the_grading_versions_with_tensorflow_for_tensorflow_cpu():
    grading = pins(GRADING_REQUIREMENTS)
    student = pins(STUDENT_REQUIREMENTS)
    assert student["tensorflow"] == grading["tensorflow-cpu"]
    assert {name: version for name, version in student.items() if name != "tensorflow"} == {name: grading[name] for name in student if name != "tensorflow"}


def test_the_students_page_gives_the_student_pins():
    command = " ".join(f"{name}=={version}" for name, version in pins(STUDENT_REQUIREMENTS).items())
    page = (ROOT / "docs" / "students.md").read_text()
    assert f"pip install {command} jupyterlab" in page and f"!pip install {command}" in page


@pytest.mark.slow
@pytest.mark.parametrize("platform", PLATFORMS)
def test_student_pins_resolve_from_the_package_index(platform, tmp_path):
    tags, python = PLATFORMS[platform]
    report = tmp_path / "report.json"
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--only-binary", ":all:"]
    command += [f"--platform={tag}" for tag in tags] + ["--python-version", python, "--target", str(tmp_path / "never"), "--report", str(report)]
    result = subprocess.run(command + ["-r", str(STUDENT_REQUIREMENTS)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{platform}: {result.stderr[-1500:]}"
    installed = {item["metadata"]["name"].lower(): item["metadata"]["version"] for item in json.loads(report.read_text())["install"]}
    assert all(installed.get(name.lower()) == version for name, version in pins(STUDENT_REQUIREMENTS).items())
