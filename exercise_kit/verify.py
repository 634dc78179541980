"""The clean check: re-score a submission from the evidence taken out of its kernel.

Otter runs its tests in the same kernel as the student's code, so a submission can patch Otter and
report any score. This module runs in the grading worker, which never executes or unpickles
anything from a submission: it reads the evidence (``.npz`` arrays and JSON, no pickle) and
``results.json`` as data, and re-runs every hidden check of the autograder's own ``lstm_checks.py``.

The clean check is a ceiling on Otter's score, never a floor. Otter grades each question in the
kernel where its ``grader.check`` cell runs, as Gradescope does; the evidence is taken at the end of
the notebook. A question scores the lower of the two, so a submission that fooled Otter loses what
the evidence does not show, and a question that was still blank at its check cell is not rescued by
code written after it. Where Otter gave no score, the clean check alone scores the question.
"""

import importlib.util
import re
from pathlib import Path

from otter.test_files.ok_test import OKTestFile

CHECK_CALL = re.compile(r"run_check\(['\"](\w+)['\"]")


def load_checks(source_dir: Path):
    """Import ``lstm_checks.py`` from the autograder's files (the instructor's copy, not the student's)."""
    spec = importlib.util.spec_from_file_location("autograder_lstm_checks", source_dir / "files" / "lstm_checks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def question_checks(source_dir: Path) -> dict[str, list[tuple[str, float]]]:
    """Each question's hidden checks and their points, read from the autograder's test files.

    Public test cases carry no points in this assignment; a test case with points that calls no
    check would be a master notebook the clean check cannot cover, so it is an error.
    """
    questions = {}
    for path in sorted((source_dir / "tests").glob("*.py")):
        test_file = OKTestFile.from_file(str(path))
        checks = []
        for case in test_file.test_cases:
            match = CHECK_CALL.search(case.body)
            if match:
                checks.append((match.group(1), float(case.points or 0)))
            elif case.points:
                raise ValueError(f"{path.name}: a test case worth {case.points} points calls no run_check")
        questions[test_file.name] = checks
    return questions


def clean_verdicts(checks, evidence_path: Path, probe: dict, names) -> dict[str, str | None]:
    """{check name: None if it passes, else its message}, from the evidence files alone."""
    try:
        evidence, errors = checks.load_evidence(str(evidence_path))
    except (OSError, ValueError, KeyError) as error:
        message = f"The notebook did not run to the end, so its results could not be read ({type(error).__name__})."
        return {name: message for name in names}
    return {name: checks.verdict(name, evidence, errors, probe) for name in names}


def rescore(results: dict, questions: dict, verdicts: dict) -> tuple[dict, list[str]]:
    """Cap each question's score in Otter's results by the clean one; list the questions capped."""
    otter_scores = {test["name"]: test.get("score") for test in results.get("tests", [])}
    notes, tests = [], [test for test in results.get("tests", []) if test.get("name") not in questions]
    for question, checks in questions.items():
        possible = sum(points for _, points in checks)
        clean = sum(points for name, points in checks if verdicts[name] is None)
        failures = [verdicts[name] for name, _ in checks if verdicts[name] is not None]
        otter_test = next((t for t in results.get("tests", []) if t.get("name") == question), {})
        output = otter_test.get("output", "")
        otter_score = otter_scores.get(question)
        score = clean if otter_score is None else min(clean, float(otter_score))
        if otter_score is not None and float(otter_score) > clean:
            notes.append(f"{question} (Otter {otter_score:g}, clean {clean:g})")
            output = f"{output}\n\nThe kit's clean check gives {clean:g} / {possible:g}: " + " ".join(failures)
        elif otter_score is None and failures:
            output = (output + "\n\n" if output else "") + " ".join(failures)
        tests.append(
            {
                "name": question,
                "score": score,
                "max_score": possible,
                "visibility": otter_test.get("visibility", "hidden"),
                "status": "passed" if score == possible else "failed",
                "output": output.strip(),
            }
        )
    return {**results, "score": sum(t["score"] for t in tests if t.get("max_score") is not None), "tests": tests}, notes
