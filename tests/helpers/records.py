"""Records built by hand as the grader makes them (no grading, no TensorFlow), for the report's and Canvas's tests."""

from corpus.variants import POINTS as QUESTIONS
from exercise_kit.grading.record import Record, Status  # the auto-graded questions, in Otter's order, with their points


def record(file: str, status: str = "Completed", scores: dict | None = None, visibility: str = "hidden") -> Record:
    """A record as the grader makes it: full marks except for the questions in ``scores``."""
    scores = {question: scores.get(question, points) for question, points in QUESTIONS.items()} if scores is not None else dict(QUESTIONS)
    tests = [{"name": "Public Tests", "visibility": "visible", "status": "passed", "output": "q1_data results: All test cases passed!"}]
    for question, points in QUESTIONS.items():
        passed = scores[question] == points
        tests.append(
            {
                "name": question,
                "score": scores[question],
                "max_score": points,
                "visibility": visibility,
                "status": "passed" if passed else "failed",
                "output": f"{question} results: All test cases passed!" if passed else f"{question} results:\n    hidden message of {question}",
            }
        )
    return Record(file, Status.parse(status), {"score": sum(scores.values()), "tests": tests}, seconds=11.3, peak_memory_mb=790.2, key=f"key of {file}")
