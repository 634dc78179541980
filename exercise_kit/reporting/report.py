"""Report of a grading batch: what the instructor imports, what each student reads, what the class did.

``write_report(records, out)`` writes, in ``out``:

- ``final_grades.csv``: Otter's format (as ``otter grade`` writes it with ``merge_scores_to_df``);
- ``submissions/<file>/results.json``: the submission's results in Gradescope's schema. This is the
  instructor's copy: it holds the hidden tests' output whatever the config says;
- ``submissions/<file>/feedback.md``: what the student may read; hidden tests' messages only when
  ``show_hidden`` is on (``show_hidden`` in ``otter_config.json``);
- ``submissions/<file>/evidence.json``: for staff answering a regrade request, what each check
  compared: per question, the probe's inputs its request carried, and per check its verdict, the
  student's values, the reference's and the tolerance. Never shown to the student;
- ``submissions/<file>/record.json``: the record itself (its evidence in ``evidence.json``), which
  ``load_records`` reads back so that a resumed run knows what was graded (the record's ``key``)
  without grading it again;
- ``summary/``: for the instructor, ``summary.md``, with ``questions.csv`` (each question's item
  statistics), ``reasons.csv`` (why points were lost, every submission named), ``item_statistics.png``
  and ``score_histogram.png``.

A record is one submission's outcome, as the grader makes it (``grading.record.Record``).

The grader calls ``write_report`` again after each finished submission, naming it in ``changed`` so
that only its own files and the batch's are written (a class of hundreds is not rewritten each
time). Every file is replaced in one step (``os.replace``), per-submission files first and
``final_grades.csv`` last, so a run killed at any moment leaves complete files that agree with each
other; files whose content did not change are left alone. The same records give the same bytes. The
summary's two figures are the exception: while the batch runs they are redrawn at most every
``FIGURE_SECONDS`` (they cost more than all the rest), and always by the last call, without ``changed``.
"""

import io
import json
import math
import re
import statistics
import time
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

from ..files import write_atomic
from ..grading.record import COMPLETED, Record
from . import csv_cells

MIN_FOR_DISCRIMINATION = 3  # with 2 submissions, any correlation is -1 or 1
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(])")
NO_REASON = "(no reason recorded)"
FIGURE_SECONDS = 30  # the figures cost more than the rest of the report: redrawn at most this often while grading
figures_drawn: dict[Path, float] = {}  # out folder: time.monotonic() when its figures were last drawn
REASONS_SHOWN = 10  # per question in summary.md; reasons.csv has them all
FILES_SHOWN = 5  # per reason in summary.md; reasons.csv names them all
ITEM_STATISTICS = """\
- **facility**: mean / max points, Moodle's facility index: 100% when every submission earned every point.
- **discrimination**: Pearson's r, over the submissions, between the question's points and those of the rest
  of the test (the total without this question), Moodle's discrimination index (which shows it times 100).
  From -1 to 1: high when the submissions that did well on the rest did well here; near 0 or below, read the
  question and its checks. Noisy below a few dozen submissions; n/a says why it was not computed.
- **full marks**: the share of submissions that passed every check of the question (its pass rate: the
  records hold one result per question, not one per check).

Every row of `final_grades.csv` counts, those not graded to the end too. The same in `questions.csv`."""
LOST_POINTS = """\
Each sentence of the question's failed checks (its `output` in `results.json`), how many submissions got it
and the first of them; a submission can get several. `reasons.csv` names every submission."""


def write_report(records: list[Record], out: Path, *, show_hidden: bool = False, changed=None) -> pd.DataFrame:
    """Write the outputs of the batch for ``records`` into ``out``; return the final grades table.

    ``changed``: the files whose per-submission outputs are to be written (default: every file).
    """
    out = Path(out)
    records = sorted(records, key=lambda record: record.file)
    max_scores = question_max_scores(records)
    for record in records if changed is None else [record for record in records if record.file in changed]:
        folder = out / "submissions" / submission_folder_name(record.file)
        if record.evidence is not None:
            write_atomic(folder / "evidence.json", json_bytes(record.evidence))
        write_atomic(folder / "record.json", json_bytes(record.as_json()))
        write_atomic(folder / "results.json", json_bytes(record.results))
        write_atomic(folder / "feedback.md", feedback(record, show_hidden=show_hidden))
    grades = final_grades(records, max_scores)
    questions = question_statistics(grades, max_scores)
    reasons = lost_point_reasons(records, max_scores)
    if changed is None or time.monotonic() - figures_drawn.get(out, -math.inf) >= FIGURE_SECONDS:
        figures_drawn[out] = time.monotonic()
        write_atomic(out / "summary" / "score_histogram.png", score_histogram(grades))
        write_atomic(out / "summary" / "item_statistics.png", item_statistics_figure(questions, len(records)))
    write_atomic(out / "summary" / "questions.csv", csv_cells.to_csv(questions))
    write_atomic(out / "summary" / "reasons.csv", csv_cells.to_csv(reasons_csv(reasons)))
    write_atomic(out / "summary" / "summary.md", summary(records, grades, questions, reasons))
    write_atomic(out / "final_grades.csv", csv_cells.to_csv(grades))
    return grades


def load_records(out: Path) -> list[Record]:
    """The records that ``write_report`` stored in ``out``, with their evidence, sorted by file (none
    if ``out`` is new)."""
    records = []
    for path in (Path(out) / "submissions").glob("*/record.json"):
        evidence = path.with_name("evidence.json")
        records.append(
            Record.from_json(
                json.loads(path.read_text()), json.loads(evidence.read_text()) if evidence.exists() else None
            )
        )
    return sorted(records, key=lambda record: record.file)


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


def question_scores(record: Record) -> dict[str, float]:
    return {test["name"]: test.get("score") or 0 for test in record.results["tests"] if is_question(test)}


def question_max_scores(records: list[Record]) -> dict[str, float]:
    """Each question's max score, by question name; records that disagree come from two autograders."""
    max_scores: dict[str, float] = {}
    for record in records:
        for test in filter(is_question, record.results["tests"]):
            known = max_scores.setdefault(test["name"], test["max_score"])
            if known != test["max_score"]:
                raise ValueError(
                    f"{record.file}: {test['name']} is worth {test['max_score']} points, "
                    f"other submissions were graded with {known}: were they graded with another autograder?"
                )
    return dict(sorted(max_scores.items()))


def final_grades(records: list[Record], max_scores: dict[str, float]) -> pd.DataFrame:
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
                SCORES_DICT_FILE_KEY: record.file,
                **{question: scores.get(question, 0) for question in max_scores},
                SCORES_DICT_TOTAL_POINTS_KEY: total,
                SCORES_DICT_PERCENT_CORRECT_KEY: round(total / possible, 4) if possible else 0,
                SCORES_DICT_GRADING_STATUS_KEY: str(record.status),
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


def feedback(record: Record, *, show_hidden: bool) -> str:
    """The Markdown a student reads: total, points per question, and why each failed question failed."""
    tests = record.results["tests"]
    questions = [test for test in tests if is_question(test)]
    total = sum(test.get("score") or 0 for test in questions)
    possible = sum(test["max_score"] for test in questions)
    percent = f" ({total / possible:.0%})" if possible else ""
    lines = [
        f"# Feedback on {record.file}",
        "",
        f"**{points(total)} / {points(possible)}** auto-graded points{percent}.",
        "",
    ]
    if str(record.status) != COMPLETED:
        lines += [f"Grading status: {record.status}", ""]
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
            lines += [
                "Tests of this question failed. Hidden tests' messages are not shown; "
                "the public tests above are the ones you can run in your notebook.",
                "",
            ]
    return "\n".join(lines)


def code_block(text: str) -> str:
    """Indented, so that nothing in a test's output (backticks, #) is read as Markdown."""
    return indent(text.strip() or "(no output)", "    ", lambda line: True)


def markdown_cell(cell) -> str:
    """A table cell's text as Markdown shows it, whatever a notebook put in it (a file name, an error
    message): one line, no column break, no HTML (an unclosed comment would hide the rest)."""
    return " ".join(str(cell).split()).replace("|", "\\|").replace("<", "&lt;")


def markdown_table(table: pd.DataFrame) -> str:
    def row(cells) -> str:
        return "| " + " | ".join(markdown_cell(cell) for cell in cells) + " |"

    return "\n".join(
        [
            row(table.columns),
            row(["---"] * len(table.columns)),
            *(row(cells) for cells in table.itertuples(index=False)),
        ]
    )


def question_statistics(grades: pd.DataFrame, max_scores: dict[str, float]) -> pd.DataFrame:
    """Per question, the item statistics of Moodle's quiz report (Canvas's item analysis is alike), from the scores.

    facility: mean score / max score. discrimination: Pearson's correlation of the question's scores
    with the rest of the test's (the total without this question, so that a question is not
    correlated with itself), as Moodle computes it; empty where it means nothing, and
    ``discrimination_note`` says why. full_marks: the share of submissions that passed every check
    of the question (the records keep one result per question, not one per check).
    """
    scores = submission_rows(grades)[list(max_scores)].astype(float)
    rows = []
    for question, full in max_scores.items():
        item = scores[question]
        rest = scores.drop(columns=question).sum(axis=1).round(6)  # equal rests compare equal
        index, note = discrimination(item, rest)
        rows.append(
            {
                "question": question,
                "max_score": full,
                "mean_score": round(item.mean(), 4),
                "facility": round(item.mean() / full, 4),
                "discrimination": index,
                "discrimination_note": note,
                "full_marks": round((item >= full).mean(), 4),
            }
        )
    columns = ["question", "max_score", "mean_score", "facility", "discrimination", "discrimination_note", "full_marks"]
    return pd.DataFrame(rows, columns=columns)


def discrimination(item: pd.Series, rest: pd.Series) -> tuple[float | None, str]:
    """Pearson's r of a question's scores with the rest of the test's, or None and why r would be noise."""
    if len(item) < MIN_FOR_DISCRIMINATION:
        return (
            None,
            f"{len(item)} submission{'s' * (len(item) != 1)}: a correlation needs {MIN_FOR_DISCRIMINATION} or more",
        )
    if item.nunique() == 1:
        return None, f"every submission scored {points(item.iloc[0])}"
    if rest.nunique() == 1:
        return None, f"every submission scored {points(rest.iloc[0])} on the rest of the test"
    return round(float(item.corr(rest)), 4), ""


def sentences(output: str) -> list[str]:
    """A question's output cut into sentences, so that each failed check's message is counted on its own."""
    text = " ".join(output.split())
    return list(dict.fromkeys(SENTENCE_END.split(text))) if text else []


def lost_point_reasons(records: list[Record], max_scores: dict[str, float]) -> pd.DataFrame:
    """Per question, each reason for lost points, how many submissions got it and which (in file order).

    A reason is a sentence of the question's ``output`` (the failed checks' messages, or why the
    submission could not be graded); a record without the question was not graded at all, and its
    grading status is the reason. Questions in order, then the most frequent reasons first.
    """
    files: dict[tuple[str, str], list[str]] = {}
    for record in records:
        tests = {test["name"]: test for test in record.results["tests"] if test["name"] in max_scores}
        for question, full in max_scores.items():
            test = tests.get(question, {"output": str(record.status)})
            if (test.get("score") or 0) < full:
                for reason in sentences(test.get("output", "")) or [NO_REASON]:
                    files.setdefault((question, reason), []).append(record.file)
    order = list(max_scores)
    rows = sorted(
        ((question, reason, len(names), names) for (question, reason), names in files.items()),
        key=lambda row: (order.index(row[0]), -row[2], row[1]),
    )
    return pd.DataFrame(rows, columns=["question", "reason", "submissions", "files"])


def reasons_csv(reasons: pd.DataFrame) -> pd.DataFrame:
    """The reasons with every submission named, in one cell per reason."""
    return reasons.assign(files=reasons["files"].str.join("; "))


def score_histogram(grades: pd.DataFrame) -> bytes:
    """PNG of the totals, one bar per point."""
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
    return png_bytes(figure)


def item_statistics_figure(questions: pd.DataFrame, submissions: int) -> bytes:
    """PNG of each question's facility and discrimination side by side, the first question on top."""
    shown = questions.iloc[::-1]
    rows = list(range(len(shown)))
    figure = Figure(figsize=(8, 1.3 + 0.3 * len(shown)), dpi=100, layout="constrained")
    facility_axes, discrimination_axes = figure.subplots(1, 2, sharey=True)
    bars = facility_axes.barh(rows, shown["facility"], color="tab:blue")
    facility_axes.bar_label(bars, labels=shown["facility"].map("{:.0%}".format), padding=3)
    facility_axes.set(
        xlim=(0, 1.15),
        xticks=[0, 0.25, 0.5, 0.75, 1],
        xlabel="facility: mean / max",
        yticks=rows,
        yticklabels=shown["question"],
    )
    values = shown["discrimination"].astype(float)
    bars = discrimination_axes.barh(rows, values.fillna(0), color="tab:orange")
    discrimination_axes.bar_label(
        bars, labels=["n/a" if pd.isna(value) else two_digits(value) for value in values], padding=3
    )
    discrimination_axes.axvline(0, color="black", linewidth=0.8)
    discrimination_axes.set(
        xlim=(-1.2, 1.2), xticks=[-1, -0.5, 0, 0.5, 1], xlabel="discrimination: r with the rest of the test"
    )
    figure.suptitle(f"Item statistics of {submissions} submission{'s' * (submissions != 1)}")
    return png_bytes(figure)


def png_bytes(figure: Figure) -> bytes:
    """The figure as PNG, without version or date, so that the same grades give the same bytes."""
    png = io.BytesIO()
    figure.savefig(png, format="png", metadata={"Software": None})
    return png.getvalue()


def summary(records: list[Record], grades: pd.DataFrame, questions: pd.DataFrame, reasons: pd.DataFrame) -> str:
    """The instructor's page: statuses, totals, each question's statistics and reasons for lost points, and the
    submissions to look at."""
    submissions = submission_rows(grades)
    totals = submissions[SCORES_DICT_TOTAL_POINTS_KEY]
    possible = grades[SCORES_DICT_TOTAL_POINTS_KEY].iloc[0]
    lines = ["# Grading summary", "", f"{len(records)} submissions graded."]
    if records:
        lines += [
            f"Total points (of {points(possible)}): mean {totals.mean():.2f}, median {totals.median():g}.",
            f"Grading time per submission: mean {statistics.mean(r.seconds for r in records):.1f} s, "
            f"max {max(r.seconds for r in records):.1f} s; peak memory (grader and kernel): "
            f"max {max(r.peak_memory_mb for r in records):.0f} MB.",
        ]
    statuses = Counter(submissions[SCORES_DICT_GRADING_STATUS_KEY])
    status_table = pd.DataFrame(
        sorted(statuses.items(), key=lambda item: (-item[1], item[0])), columns=["grading status", "submissions"]
    )
    lines += ["", "## Grading status", "", markdown_table(status_table), ""]
    lines += ["## Questions", "", ITEM_STATISTICS, "", markdown_table(readable_statistics(questions)), ""]
    lines += ["![Facility and discrimination of each question](item_statistics.png)", ""]
    lines += lost_points_section(questions, reasons, submissions)
    lines += ["## Score histogram", "", "![Histogram of total points](score_histogram.png)", ""]
    to_check = submissions[submissions[SCORES_DICT_GRADING_STATUS_KEY] != COMPLETED]
    lines += ["## Submissions to look at", "", 'Every submission whose grading status is not plain "Completed".', ""]
    if len(to_check):
        columns = [SCORES_DICT_FILE_KEY, SCORES_DICT_TOTAL_POINTS_KEY, SCORES_DICT_GRADING_STATUS_KEY]
        lines += [markdown_table(to_check[columns].rename(columns=lambda column: column.replace("_", " "))), ""]
    else:
        lines += ["None.", ""]
    return "\n".join(lines)


def readable_statistics(questions: pd.DataFrame) -> pd.DataFrame:
    """The item statistics as people read them: percentages, r to 2 digits, n/a with its reason."""
    return pd.DataFrame(
        {
            "question": questions["question"],
            "max": questions["max_score"].map(points),
            "mean": questions["mean_score"].map(lambda mean: points(round(mean, 2))),
            "facility": questions["facility"].map("{:.0%}".format),
            "discrimination": [
                f"n/a: {note}" if note else two_digits(index)
                for index, note in zip(questions["discrimination"], questions["discrimination_note"], strict=True)
            ],
            "full marks": questions["full_marks"].map("{:.0%}".format),
        }
    )


def two_digits(value: float) -> str:
    """0.1234 -> "0.12", and -0.001 -> "0.00", not "-0.00"."""
    return f"{round(value, 2) + 0:.2f}"


def lost_points_section(questions: pd.DataFrame, reasons: pd.DataFrame, submissions: pd.DataFrame) -> list[str]:
    """Per question, its most frequent reasons and the first submissions that got each; ``reasons.csv`` has them all."""
    lines = ["## Why points were lost", "", LOST_POINTS, ""]
    for question, full in zip(questions["question"], questions["max_score"], strict=True):
        of_question = reasons[reasons["question"] == question]
        if of_question.empty:
            continue
        lost = int((submissions[question] < full).sum())
        shown = of_question.head(REASONS_SHOWN)
        table = pd.DataFrame(
            {"reason": shown["reason"], "submissions": shown["submissions"], "which": shown["files"].map(shortened)}
        )
        lines += [
            f"### {question}: {lost} of {len(submissions)} submissions lost points",
            "",
            markdown_table(table),
            "",
        ]
        if len(of_question) > REASONS_SHOWN:
            lines += [f"And {len(of_question) - REASONS_SHOWN} other reasons: see `reasons.csv`.", ""]
    full_marks = questions.loc[questions["full_marks"] == 1, "question"]
    if len(full_marks):
        lines += ["Every submission earned full marks on " + ", ".join(full_marks) + ".", ""]
    return lines


def shortened(files: list[str]) -> str:
    """The first few files, and how many more: a reason shared by 200 submissions stays one line."""
    more = len(files) - FILES_SHOWN
    return ", ".join(files[:FILES_SHOWN]) + (f" and {more} more" if more > 0 else "")
