"""Verdicts stage: score each question from the values its kernel gave, outside the kernel.

Runs in the grading worker, which never executes or unpickles anything from a submission. It reads
the values that ``values`` wrote (JSON with float64 bytes), decodes them with the assignment's
values module, and calls the hidden checks of its checks module (``exercise_kit.assignment``: the
instructor's copies from the autograder zip) on them. The checks and their points come from the
autograder's test files; Otter's in-kernel scores play no part.
"""

import ast
import re
from pathlib import Path

CHECK_CALL = re.compile(r"run_check\(['\"](\w+)['\"]")
PUBLIC_TESTS = "Public Tests"
NOT_TAKEN = "The notebook stopped before this question's check cell ran, so its work could not be graded."
TAKEN_AT_END = "(Its grader.check cell did not run: graded at the end of the notebook.)"


def question_checks(source_dir: Path) -> dict[str, list[tuple[str, float]]]:
    """Each question's hidden checks and their points, read from the autograder's test files.

    The files are Otter's OK format (``test = {...}``), read as data: importing Otter's own reader
    would cost the grading worker 80 MB and half a second, which count on Gradescope. Public test
    cases carry no points in this assignment; a test case with points that calls no check, or a
    check without points of its own, would be a master notebook the grader cannot score, so both
    are errors.
    """
    questions = {}
    for path in sorted((source_dir / "tests").glob("*.py")):
        spec = ok_test_spec(path)
        checks = []
        for case in (case for suite in spec["suites"] for case in suite["cases"]):
            match = CHECK_CALL.search(case["code"])
            if match and case.get("points") is None:
                raise ValueError(f"{path.name}: the check {match.group(1)} has no points of its own")
            if match:
                checks.append((match.group(1), float(case["points"])))
            elif case.get("points"):
                raise ValueError(f"{path.name}: a test case worth {case['points']} points calls no run_check")
        questions[spec["name"]] = checks
    return questions


def ok_test_spec(path: Path) -> dict:
    """The ``test`` dictionary that an OK-format test file assigns, without running the file."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "test" for target in node.targets
        ):
            return ast.literal_eval(node.value)
    raise ValueError(f"{path.name} assigns no OK-format test")


def question_verdicts(
    taken: dict | None,
    check_names,
    checks,
    values_module,
    probe,
    pinned: dict | None = None,
    evidence: dict | None = None,
) -> dict[str, str | None]:
    """{check: None if it passes, else its one-sentence message} for one question's answer.

    Only the values this question's request named are read from its answer. ``pinned``: values as
    the first question that asked for them got them, {name: (value or None, error or None)}: those
    taken once for the whole notebook (``checks.TAKEN_ONCE``) replace whatever this answer holds;
    those a check reads from another question (``checks.SHARED``) are added. ``evidence``: filled,
    for staff, with what each check compared (check -> its verdict and comparisons).
    """
    if taken is None:
        return dict.fromkeys(check_names, NOT_TAKEN)
    wanted = checks.request(check_names, probe)["values"]
    raw, errors = _requested(taken, wanted)
    shared = {name for check in check_names for name in checks.SHARED.get(check, ())}
    for name, (value, error) in (pinned or {}).items():
        if name in shared and name not in wanted and value is not None:
            raw[name] = value
        elif name in wanted and name in checks.TAKEN_ONCE:
            raw.pop(name, None)
            errors.pop(name, None)
            if value is None:
                errors[name] = error
            else:
                raw[name] = value
    values = {}
    for name, encoded in raw.items():
        try:
            values[name] = values_module.decode(encoded)
        except Exception as error:  # malformed values fail their checks, never the grader
            errors[name] = f"unreadable value ({type(error).__name__})"
    verdicts = {}
    for name in check_names:
        verdicts[name], compared = checks.verdict_with_evidence(name, values, errors, probe)
        if evidence is not None:
            evidence[name] = {
                "verdict": verdicts[name],
                "compared": compared,
                "errors": {key: errors[key] for key in sorted(errors)},
            }
    return verdicts


def _requested(taken: dict, wanted) -> tuple[dict, dict]:
    """The encoded values and the errors of an answer, for the names in ``wanted`` only."""
    raw = {str(name): encoded for name, encoded in dict(taken.get("values") or {}).items() if str(name) in wanted}
    errors = {str(name): str(error) for name, error in dict(taken.get("errors") or {}).items()}
    if "*" in errors:  # the kernel did not answer at all
        return {}, {name: errors["*"] for name in wanted}
    return raw, {name: error for name, error in errors.items() if name in wanted}


def pinned_values(taken: dict[str, dict], questions: dict, checks, probe) -> dict:
    """The values taken once (``checks.TAKEN_ONCE``) or read by other questions (``checks.SHARED``),
    from the first question, in the order they were taken, whose answer holds them (or an error for
    them): {name: (encoded value or None, error or None)}. The grading child asks for a value taken
    once at one question only, and keeps in an answer only what its request named."""
    pinned: dict[str, tuple[str | None, str | None]] = {}
    for question, answer in sorted(taken.items(), key=lambda item: _taken_order(item[1])):
        if question not in questions:
            continue
        wanted = checks.request([name for name, _ in questions[question]], probe)["values"]
        raw, errors = _requested(answer, wanted)
        kept = {*checks.TAKEN_ONCE, *(name for names in checks.SHARED.values() for name in names)}
        for name in kept & set(wanted) - pinned.keys():
            if name in raw or name in errors:  # asked for here: two checks in one cell are taken in call order
                pinned[name] = (raw.get(name), None if name in raw else errors[name])
    return pinned


def _taken_order(answer: dict) -> tuple[int, int]:
    """Check cells in the notebook's order, then the questions taken at the end (by name)."""
    taken_at = answer.get("taken_at")
    return (0, taken_at) if isinstance(taken_at, int) else (1, 0)


def results(
    taken: dict[str, dict], questions: dict, checks, values_module, probe, evidence: dict | None = None
) -> dict:
    """Gradescope-format results: one test per question, and what the public checks printed.

    ``evidence``: filled, for staff answering a regrade request, with each question's evidence:
    where it was taken, the probe's inputs its request carried, and what each check compared.
    """
    tests = []
    pinned = pinned_values(taken, questions, checks, probe)
    for question, checks_of_question in questions.items():
        answer, names = taken.get(question), [name for name, _ in checks_of_question]
        compared: dict[str, dict] = {}
        verdicts = question_verdicts(answer, names, checks, values_module, probe, pinned, compared)
        if evidence is not None:
            inputs = checks.request(names, probe)["inputs"]
            evidence[question] = {"taken_at": (answer or {}).get("taken_at"), "inputs": inputs, "checks": compared}
        possible = sum(points for _, points in checks_of_question)
        score = sum(points for name, points in checks_of_question if verdicts[name] is None)
        messages = list(dict.fromkeys(message for message in verdicts.values() if message))
        if messages and answer and not isinstance(answer.get("taken_at"), int):
            messages.append(TAKEN_AT_END)
        tests.append(
            {
                "name": question,
                "score": score,
                "max_score": possible,
                "visibility": "hidden",
                "status": "passed" if score == possible else "failed",
                "output": " ".join(messages),
            }
        )
    public = "\n".join(answer["public"].strip() for answer in taken.values() if str(answer.get("public", "")).strip())
    tests.insert(0, {"name": PUBLIC_TESTS, "visibility": "visible", "output": public})
    return {"score": sum(test["score"] for test in tests if "score" in test), "tests": tests}
