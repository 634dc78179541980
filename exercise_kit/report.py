"""Report of a grading batch: what the instructor imports, what each student reads, what the class did.

``write_report(records, out)`` writes, in ``out``:

- ``final_grades.csv``: Otter's format (as ``otter grade`` writes it with ``merge_scores_to_df``);
- ``submissions/<file>/results.json``: the submission's results in Gradescope's schema. This is the
  instructor's copy: it holds the hidden tests' output whatever the config says;
- ``submissions/<file>/feedback.md``: what the student may read; hidden tests' messages only when
  ``show_hidden`` is on (``show_hidden`` in ``otter_config.json``);
- ``submissions/<file>/record.json``: the record itself, which ``load_records`` reads back so that a
  resumed run knows what was graded (the record's ``key``) without grading it again;
- ``summary/``: ``summary.md``, ``pass_rates.csv`` and ``score_histogram.png`` for the instructor.

A record is one submission's outcome, as the grader makes it::

    {"file": "alice.ipynb", "key": "<sha256>", "grading_status": "Completed",
     "results": {"tests": [...]}, "seconds": 11.3, "peak_memory_mb": 790.2}

The grader calls ``write_report`` again after each finished submission, naming it in ``changed`` so
that only its own files and the batch's are written (a class of hundreds is not rewritten each
time). Every file is replaced in one step (``os.replace``), per-submission files first and
``final_grades.csv`` last, so a run killed at any moment leaves complete files that agree with each
other; files whose content did not change are left alone. The same records give the same bytes.
"""

import io
import json
import os
import statistics
from collections import Counter
from pathlib import Path
from textwrap import indent

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from otter.grade.utils import (
    POINTS_POSSIBLE_LABEL,
    SCORES_DICT_FILE_KEY,
    SCORES_DICT_GRADING_STATUS_KEY,
    SCORES_DICT_PERCENT_CORRECT_KEY,
    SCORES_DICT_TOTAL_POINTS_KEY,
)

from . import csv_cells

COMPLETED = "Completed"


def write_report(records: list[dict], out: Path, *, show_hidden: bool = False, changed=None) -> pd.DataFrame:
    """Write the outputs of the batch for ``records`` into ``out``; return the final grades table.

    ``changed``: the files whose per-submission outputs are to be written (default: every file).
    """
    out = Path(out)
    records = sorted(records, key=lambda record: record["file"])
    max_scores = question_max_scores(records)
    for record in records if changed is None else [record for record in records if record["file"] in changed]:
        folder = out / "submissions" / submission_folder_name(record["file"])
        write_atomic(folder / "record.json", json_bytes(record))
        write_atomic(folder / "results.json", json_bytes(record["results"]))
        write_atomic(folder / "feedback.md", feedback(record, show_hidden=show_hidden).encode())
    grades = final_grades(records, max_scores)
    pass_rates = question_pass_rates(grades, max_scores)
    write_atomic(out / "summary" / "score_histogram.png", score_histogram(grades))
    write_atomic(out / "summary" / "pass_rates.csv", csv_cells.to_csv(pass_rates).encode())
    write_atomic(out / "summary" / "summary.md", summary(records, grades, pass_rates).encode())
    write_atomic(out / "final_grades.csv", csv_cells.to_csv(grades).encode())
    return grades


def load_records(out: Path) -> list[dict]:
    """The records that ``write_report`` stored in ``out``, sorted by file (none if ``out`` is new)."""
    paths = (Path(out) / "submissions").glob("*/record.json")
    return sorted((json.loads(path.read_text()) for path in paths), key=lambda record: record["file"])


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` in one step: a killed run leaves the old file or the new one."""
    if path.exists() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_bytes(data)
    os.replace(partial, path)


def json_bytes(data) -> bytes:
    """JSON as the grader writes its records (indent 1, sorted keys), so neither rewrites the other's file."""
    return json.dumps(data, indent=1, sort_keys=True).encode()


def submission_folder_name(file: str) -> str:
    """The submission's file name, refused if it could lead out of ``submissions/``."""
    if file in {"", ".", ".."} or Path(file).name != file:
        raise ValueError(f"a submission's file must be a plain file name, not {file!r}")
    return file


def is_question(test: dict) -> bool:
    """Gradescope test entries with a ``max_score`` are questions; "Public Tests" has none."""
    return test.get("max_score") is not None


def question_scores(record: dict) -> dict[str, float]:
    return {test["name"]: test.get("score") or 0 for test in record["results"]["tests"] if is_question(test)}


def question_max_scores(records: list[dict]) -> dict[str, float]:
    """Each question's max score, by question name; records that disagree come from two autograders."""
    max_scores = {}
    for record in records:
        for test in filter(is_question, record["results"]["tests"]):
            known = max_scores.setdefault(test["name"], test["max_score"])
            if known != test["max_score"]:
                raise ValueError(
                    f"{record['file']}: {test['name']} is worth {test['max_score']} points, "
                    f"other submissions were graded with {known}: were they graded with another autograder?"
                )
    return dict(sorted(max_scores.items()))


def final_grades(records: list[dict], max_scores: dict[str, float]) -> pd.DataFrame:
    """Otter's ``final_grades.csv`` table: the points-per-question row, then one row per submission.

    Columns as in ``otter.grade.utils.merge_scores_to_df``: file, the questions sorted by name,
    total, percent (a fraction rounded to 4 digits) and grading status. A question missing from a
    record (a submission that could not be graded at all) scores 0, as in Otter.
    """
    possible = sum(max_scores.values())
    rows = [
        {
            SCORES_DICT_FILE_KEY: POINTS_POSSIBLE_LABEL,
            **max_scores,
            SCORES_DICT_TOTAL_POINTS_KEY: possible,
            SCORES_DICT_PERCENT_CORRECT_KEY: 1,
            SCORES_DICT_GRADING_STATUS_KEY: "--",
        }
    ]
    for record in records:
        scores = question_scores(record)
        total = round(sum(scores.get(question, 0) for question in max_scores), 5)
        rows.append(
            {
                SCORES_DICT_FILE_KEY: record["file"],
                **{question: scores.get(question, 0) for question in max_scores},
                SCORES_DICT_TOTAL_POINTS_KEY: total,
                SCORES_DICT_PERCENT_CORRECT_KEY: round(total / possible, 4) if possible else 0,
                SCORES_DICT_GRADING_STATUS_KEY: record["grading_status"],
            }
        )
    columns = [
        SCORES_DICT_FILE_KEY,
        *max_scores,
        SCORES_DICT_TOTAL_POINTS_KEY,
        SCORES_DICT_PERCENT_CORRECT_KEY,
        SCORES_DICT_GRADING_STATUS_KEY,
    ]
    return pd.DataFrame(rows, columns=columns)


def submission_rows(grades: pd.DataFrame) -> pd.DataFrame:
    return grades[grades[SCORES_DICT_FILE_KEY] != POINTS_POSSIBLE_LABEL]


def points(value: float) -> str:
    """2.0 -> "2", 1.5 -> "1.5": scores as people write them."""
    return f"{value:g}"


def shown_to_student(test: dict, show_hidden: bool) -> bool:
    return show_hidden or test.get("visibility", "visible") == "visible"


def feedback(record: dict, *, show_hidden: bool) -> str:
    """The Markdown a student reads: total, points per question, and why each failed question failed."""
    tests = record["results"]["tests"]
    questions = [test for test in tests if is_question(test)]
    total = sum(test.get("score") or 0 for test in questions)
    possible = sum(test["max_score"] for test in questions)
    percent = f" ({total / possible:.0%})" if possible else ""
    lines = [f"# Feedback on {record['file']}", "", f"**{points(total)} / {points(possible)}** auto-graded points{percent}.", ""]
    if record["grading_status"] != COMPLETED:
        lines += [f"Grading status: {record['grading_status']}", ""]
    if questions:
        table = pd.DataFrame(
            [[test["name"], points(test.get("score") or 0), points(test["max_score"])] for test in questions],
            columns=["question", "points", "max"],
        )
        lines += [markdown_table(table), ""]
    for test in tests:
        if not is_question(test) and shown_to_student(test, show_hidden):
            lines += [f"## {test['name']}", "", code_block(test.get("output", "")), ""]
    failed = [test for test in questions if (test.get("score") or 0) < test["max_score"]]
    lines += ["## What failed", ""]
    if not failed:
        lines += ["Nothing: every auto-graded question earned full marks.", ""]
    for test in failed:
        lines += [f"### {test['name']}: {points(test.get('score') or 0)} / {points(test['max_score'])}", ""]
        if shown_to_student(test, show_hidden):
            lines += [code_block(test.get("output", "")), ""]
        else:
            lines += ["Tests of this question failed. Hidden tests' messages are not shown; the public tests above are the ones you can run in your notebook.", ""]
    return "\n".join(lines)


def code_block(text: str) -> str:
    """Indented, so that nothing in a test's output (backticks, #) is read as Markdown."""
    return indent(text.strip() or "(no output)", "    ", lambda line: True)


def markdown_table(table: pd.DataFrame) -> str:
    def row(cells) -> str:
        return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"

    return "\n".join([row(table.columns), row(["---"] * len(table.columns)), *(row(cells) for cells in table.itertuples(index=False))])


def question_pass_rates(grades: pd.DataFrame, max_scores: dict[str, float]) -> pd.DataFrame:
    """Per question: max score, mean score and the share of submissions with full marks."""
    submissions = submission_rows(grades)
    return pd.DataFrame(
        {
            "question": list(max_scores),
            "max_score": list(max_scores.values()),
            "mean_score": [round(submissions[question].mean(), 4) for question in max_scores],
            "full_marks": [round((submissions[question] >= full).mean(), 4) for question, full in max_scores.items()],
        }
    )


def score_histogram(grades: pd.DataFrame) -> bytes:
    """PNG of the totals, one bar per point; no version or date in it, so the same grades give the same bytes."""
    possible = grades[SCORES_DICT_TOTAL_POINTS_KEY].iloc[0]
    totals = submission_rows(grades)[SCORES_DICT_TOTAL_POINTS_KEY]
    figure = Figure(figsize=(6.4, 3.6), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    edges = [edge - 0.5 for edge in range(int(possible) + 2)]
    axes.hist(totals, bins=edges, color="tab:blue", edgecolor="white")
    axes.set(xlim=(edges[0], edges[-1]), xlabel=f"total points (of {points(possible)})", ylabel="submissions")
    axes.set_title(f"Scores of {len(totals)} submissions")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    png = io.BytesIO()
    figure.savefig(png, format="png", metadata={"Software": None})
    return png.getvalue()


def summary(records: list[dict], grades: pd.DataFrame, pass_rates: pd.DataFrame) -> str:
    """The instructor's page: statuses, totals, pass rates, histogram, and the submissions to look at."""
    submissions = submission_rows(grades)
    totals = submissions[SCORES_DICT_TOTAL_POINTS_KEY]
    possible = grades[SCORES_DICT_TOTAL_POINTS_KEY].iloc[0]
    lines = ["# Grading summary", "", f"{len(records)} submissions graded."]
    if records:
        lines += [
            f"Total points (of {points(possible)}): mean {totals.mean():.2f}, median {totals.median():g}.",
            f"Grading time per submission: mean {statistics.mean(r['seconds'] for r in records):.1f} s, "
            f"max {max(r['seconds'] for r in records):.1f} s; peak memory (grader and kernel): "
            f"max {max(r['peak_memory_mb'] for r in records):.0f} MB.",
        ]
    statuses = Counter(submissions[SCORES_DICT_GRADING_STATUS_KEY])
    status_table = pd.DataFrame(sorted(statuses.items(), key=lambda item: (-item[1], item[0])), columns=["grading status", "submissions"])
    lines += ["", "## Grading status", "", markdown_table(status_table), ""]
    lines += ["## Pass rates by question", "", "Full marks: the share of submissions with every point of the question (`pass_rates.csv`).", ""]
    lines += [markdown_table(pass_rates.rename(columns=lambda column: column.replace("_", " "))), ""]
    lines += ["## Score histogram", "", "![Histogram of total points](score_histogram.png)", ""]
    to_check = submissions[submissions[SCORES_DICT_GRADING_STATUS_KEY] != COMPLETED]
    lines += ["## Submissions to look at", "", "Every submission whose grading status is not plain \"Completed\".", ""]
    if len(to_check):
        columns = [SCORES_DICT_FILE_KEY, SCORES_DICT_TOTAL_POINTS_KEY, SCORES_DICT_GRADING_STATUS_KEY]
        lines += [markdown_table(to_check[columns].rename(columns=lambda column: column.replace("_", " "))), ""]
    else:
        lines += ["None.", ""]
    return "\n".join(lines)
