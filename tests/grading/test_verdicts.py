"""How a question is scored from the values its kernel gave at its check cell (verdicts stage).

The checks themselves are exercised on real notebooks by the corpus (test_corpus.py); here the
values are made by hand, as the kernel would send them, and scored with the assignment's own
lstm_checks.py and lstm_values.py.
"""

import numpy as np
import pytest
from corpus.attacks import CLASSMATE_WEIGHTS

from exercise_kit.assignment import load_module
from exercise_kit.grading import verdicts
from exercise_kit.paths import ASSIGNMENT_DIR

QUESTIONS = {"q1_data": [("data_x", 1.0), ("data_y", 1.0)]}


@pytest.fixture(scope="module")
def assignment():
    checks = load_module(ASSIGNMENT_DIR / "lstm_checks.py", "lstm_checks_under_test")
    values = load_module(ASSIGNMENT_DIR / "lstm_values.py", "lstm_values_under_test")
    return checks, values, checks.random_probe(np.random.default_rng(0))


def taken(values_module, taken_at=6, **values):
    return {"values": {name: values_module.encode(value) for name, value in values.items()}, "errors": {}, "taken_at": taken_at, "public": "q1_data results: All test cases passed!"}


def score(assignment, answer):
    checks, values_module, probe = assignment
    results = verdicts.results({"q1_data": answer} if answer else {}, QUESTIONS, checks, values_module, probe)
    return next(test for test in results["tests"] if test["name"] == "q1_data"), results


def test_right_values_earn_every_point(assignment):
    checks, values_module, _ = assignment
    X, Y = checks.make_data()
    question, results = score(assignment, taken(values_module, X=X, Y=Y))
    assert (question["score"], question["max_score"], question["output"]) == (2.0, 2.0, "")
    assert results["score"] == 2.0


def test_each_failed_check_loses_its_points_and_says_why_in_one_sentence(assignment):
    checks, values_module, _ = assignment
    X, Y = checks.make_data()
    question, _ = score(assignment, taken(values_module, X=X, Y=1 - Y))
    assert question["score"] == 1.0
    assert question["output"] == "Y should say, for each sequence, whether its next element is 1."


def test_a_question_whose_check_cell_never_ran_says_it_was_graded_at_the_end(assignment):
    checks, values_module, _ = assignment
    question, _ = score(assignment, taken(values_module, taken_at="end", X=checks.make_data()[0]))
    assert question["score"] == 1.0
    assert question["output"].endswith(verdicts.TAKEN_AT_END)


def test_a_question_never_reached_scores_zero_and_says_so(assignment):
    question, _ = score(assignment, None)
    assert question["score"] == 0.0 and question["output"] == verdicts.NOT_TAKEN


def test_malformed_values_fail_their_checks_not_the_grader(assignment):
    _, values_module, _ = assignment
    answer = taken(values_module)
    answer["values"] = {"X": {"shape": [5, 10, 1], "float64": "00ff"}, "Y": {"fields": {"a": {"text": "x"}}}, "Z": "not a value"}
    question, _ = score(assignment, answer)
    assert question["score"] == 0.0
    assert "Could not read X: unreadable value (ValueError)." in question["output"]


def test_what_the_public_checks_printed_is_shown_as_public_tests(assignment):
    checks, values_module, _ = assignment
    _, results = score(assignment, taken(values_module, X=checks.make_data()[0]))
    assert results["tests"][0] == {"name": verdicts.PUBLIC_TESTS, "visibility": "visible", "output": "q1_data results: All test cases passed!"}


def test_each_request_carries_only_the_inputs_of_its_own_values(assignment):
    checks, _, probe = assignment
    assert checks.request(["data_x", "data_y"], probe) == {"values": ["X", "Y"], "inputs": {}}
    training = checks.request(["training"], probe)
    assert training["values"] == ["training_curve", "weights"]
    assert set(training["inputs"]) == {f"train_{name}" for name in checks.WEIGHT_NAMES} | {"train_x", "train_y", "training_epochs"}
    assert set(checks.request(["gates_binary"], probe)["inputs"]) == {"binary_kernel", "binary_recurrent_kernel", "binary_bias", "x_binary"}
    assert not set(checks.request(["forward"], probe)["inputs"]) & set(checks.request(["gates_random"], probe)["inputs"])


def test_the_training_reference_is_the_graders_own_data_and_moves(assignment):
    checks, _, probe = assignment
    X, _ = checks.make_data()
    reference = checks.training_reference(probe)
    assert not np.array_equal(probe["train_x"], X)
    assert np.all(np.isfinite(reference)) and reference[-1] < (1 - checks.MIN_TRAINING_DROP) * reference[0]


def test_a_value_or_reference_that_is_not_finite_never_matches(assignment):
    checks, _, _ = assignment
    assert checks._close([1.0], [1.0], 1e-4)
    assert not checks._close([1.0], [np.inf], 0.0, 1e-4)  # |1 - inf| <= 1e-4 * inf would hold
    assert not checks._close([np.inf], [np.inf], 1e-4)
    assert not checks._close([1.0], [1.0], np.inf)
    assert not checks._close([1.0, 1.0], [1.0], 1e-4)


TRAINED = {"q3_training": [("training", 3.0)], "q4_predictions": [("prediction_pattern", 2.0)]}


def test_later_questions_are_scored_with_the_weights_taken_at_the_first_check_that_needs_them(assignment):
    checks, values_module, probe = assignment
    X, _ = checks.make_data()
    trained = {name: np.asarray(value, np.float64) for name, value in CLASSMATE_WEIGHTS.items()}
    zeros = {name: np.zeros_like(value) for name, value in trained.items()}
    q3 = taken(values_module, taken_at=14, weights=trained)
    # q4's request names no weights; a kernel that sends some anyway (zeros, with their predictions) is not heard
    q4 = taken(values_module, taken_at=17, weights=zeros, predictions=checks.predict(zeros, X))
    results = verdicts.results({"q3_training": q3, "q4_predictions": q4}, TRAINED, checks, values_module, probe)
    q4_test = next(test for test in results["tests"] if test["name"] == "q4_predictions")
    assert q4_test["score"] == 0.0 and q4_test["output"].startswith("predictions are not the outputs of the trained cell and output_layer for X")
    q4["values"]["predictions"] = values_module.encode(checks.predict(trained, X))
    results = verdicts.results({"q3_training": q3, "q4_predictions": q4}, TRAINED, checks, values_module, probe)
    assert next(test for test in results["tests"] if test["name"] == "q4_predictions")["score"] == 2.0


def test_the_gate_probes_tell_every_common_mistake_from_the_right_gates(assignment):
    """Random weights can close a gate so that a mistake gives the right gates (before: one drawn
    binary probe in three let some mistake pass); every probe is drawn until none does."""
    checks, _, _ = assignment
    for seed in range(20):
        probe = checks.random_probe(np.random.default_rng(seed))
        cells = {prefix: {name: probe[f"{prefix}_{name}"] for name in checks.CELL_INPUTS} for prefix in ("gates", "binary")}
        assert checks._gates_discriminate(cells["gates"], probe["gates_x"]) and checks._gates_discriminate(cells["binary"], probe["x_binary"])


def test_weights_taken_by_a_later_named_question_of_the_same_cell_are_the_ones_used(assignment):
    """``grader.check("q4_predictions"); grader.check("q3_training")`` in one cell: q4 is taken
    first, with the weights; q3's request then names none, and q3 is scored with q4's."""
    checks, values_module, probe = assignment
    X, _ = checks.make_data()
    trained = {name: np.asarray(value, np.float64) for name, value in CLASSMATE_WEIGHTS.items()}
    q4 = taken(values_module, taken_at=14, weights=trained, predictions=checks.predict(trained, X))
    q3 = taken(values_module, taken_at=14)
    results = verdicts.results({"q3_training": q3, "q4_predictions": q4}, TRAINED, checks, values_module, probe)
    q4_test = next(test for test in results["tests"] if test["name"] == "q4_predictions")
    assert q4_test["score"] == 2.0
    q3_test = next(test for test in results["tests"] if test["name"] == "q3_training")
    assert "the trained weights of cell and output_layer" not in q3_test["output"]  # q3 fails on its missing curve only
