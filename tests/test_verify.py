"""How the clean check's verdicts combine with Otter's scores: a ceiling, never a floor.

The hidden checks themselves are exercised on real submissions by the corpus (test_corpus.py).
"""

from exercise_kit.verify import rescore

QUESTIONS = {"q3_training": [("loss_below_threshold", 2.0), ("trained_from_initial_weights", 1.0)]}
PASS = {"loss_below_threshold": None, "trained_from_initial_weights": None}
FAIL = {"loss_below_threshold": "The loss is 0.2, not below 1e-5.", "trained_from_initial_weights": None}


def otter_results(score):
    return {"tests": [{"name": "Public Tests", "status": "passed"}, {"name": "q3_training", "score": score, "max_score": 3.0, "output": "Otter's output"}]}


def question(results):
    return next(test for test in results["tests"] if test["name"] == "q3_training")


def test_where_otter_gave_more_than_the_evidence_shows_the_clean_score_counts_and_says_so():
    results, notes = rescore(otter_results(3.0), QUESTIONS, FAIL)
    assert question(results)["score"] == 1.0 and results["score"] == 1.0
    assert notes == ["q3_training (Otter 3, clean 1)"]
    assert "The kit's clean check gives 1 / 3: The loss is 0.2, not below 1e-5." in question(results)["output"]


def test_where_otter_gave_less_its_score_stands():
    """Otter grades the question at its check cell; work written after that cell does not count."""
    results, notes = rescore(otter_results(0.0), QUESTIONS, PASS)
    assert question(results)["score"] == 0.0 and question(results)["status"] == "failed"
    assert notes == []


def test_agreement_keeps_the_score_and_otters_output():
    results, notes = rescore(otter_results(3.0), QUESTIONS, PASS)
    assert question(results) == {
        "name": "q3_training",
        "score": 3.0,
        "max_score": 3.0,
        "visibility": "hidden",
        "status": "passed",
        "output": "Otter's output",
    }
    assert notes == []


def test_without_a_score_from_otter_the_clean_check_alone_scores_the_question():
    results, notes = rescore({"tests": []}, QUESTIONS, FAIL)
    assert question(results)["score"] == 1.0
    assert question(results)["output"] == "The loss is 0.2, not below 1e-5."
    assert notes == []


def test_tests_that_are_not_questions_are_kept():
    results, _ = rescore(otter_results(3.0), QUESTIONS, PASS)
    assert {"name": "Public Tests", "status": "passed"} in results["tests"]
