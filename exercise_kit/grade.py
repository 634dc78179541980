"""Batch grading job: every submission in a folder, in parallel, without Docker, nothing lost.

The folder holds what students uploaded (files, or folders as Gradescope exports them) or is an
LMS's download zip (``downloads``). Each input gets a record (``out/submissions/<file>/record.json``) as soon as it is graded,
and the report (``final_grades.csv``, feedback, summary) is rewritten after each one, so an
interrupted run leaves complete, valid output for what was finished. A record carries a key made
of the submission's content, the autograder and the limits: re-running the command grades only
what is new or changed.
"""

import hashlib
import json
import os
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from otter.grade.utils import POINTS_POSSIBLE_LABEL

from . import csv_cells, downloads, fork_server, report, sandbox
from .paths import AUTOGRADER_ZIP, GRADING_CONFIG


def grade_folder(
    submissions: Path,
    out: Path,
    *,
    autograder: Path = AUTOGRADER_ZIP,
    workers: int | None = None,
    timeout: float | None = None,
    memory_mb: int | None = None,
    scheduler: str | None = None,
    grade_from_log: bool = False,
    sandboxed: bool = True,
    release: bool = False,
    manual: Path | None = None,
) -> pd.DataFrame:
    """Grade every submission in ``submissions`` (a folder of files and folders, or an LMS's
    download zip: see ``downloads``) into ``out``; return the final grades table.

    Raises ``sandbox.SandboxUnavailable`` before grading anything when kernels are to be
    sandboxed (the default) and this machine cannot. With ``release`` (grades are published), each
    student's feedback gives the one-sentence reason of every hidden check that failed, as
    Gradescope shows them on publishing when the autograder's ``show_hidden`` is on; without it,
    only the public checks and the total. With ``manual`` (the filled Q7 scoring sheet),
    ``final_grades.csv`` also has the hand-graded questions, and totals out of all the points.
    """
    if manual is not None:
        from . import manual as manual_scores

        manual_scores.read_sheet(manual)  # a sheet it cannot read stops the command before grading
    config = json.loads(GRADING_CONFIG.read_text())
    limits = sandbox.Limits(
        timeout=timeout or config["timeout_seconds"],
        memory_mb=memory_mb or config["memory_mb"],
        grade_from_log=grade_from_log,
        sandbox=sandboxed,
    )
    if not scheduler:  # a Dask worker checks its own machine, per submission
        sandbox.check_sandbox(limits)
    workers = workers or config["workers"] or os.cpu_count()
    autograder_bytes = Path(autograder).read_bytes()
    with zipfile.ZipFile(autograder) as zf:
        show_hidden = release and json.loads(zf.read("otter_config.json")).get("show_hidden", False)

    finished = {record["file"]: record for record in report.load_records(out)}
    collected = downloads.collect(submissions)
    records, todo = {}, []
    for upload in collected.uploads:
        key = hashlib.sha256(upload.data + autograder_bytes + repr(limits).encode()).hexdigest()
        previous = finished.get(upload.name)
        if previous and previous.get("key") == key:
            records[upload.name] = previous
        else:
            todo.append((upload, key))

    try:
        with executor(workers, scheduler) as (submit, completed):
            futures = {submit(sandbox.grade_submission, upload.name, upload.data, autograder_bytes, limits): (upload, key) for upload, key in todo}
            for future in tqdm(completed(futures), total=len(futures), desc="grading", unit="submission"):
                upload, key = futures[future]
                try:
                    record = future.result()
                except Exception as error:  # the grader itself failed: record it, carry on, grade it again next run
                    record, key = sandbox.failed_record(upload.name, f"Grader error: {type(error).__name__}: {error}", autograder_bytes), None
                records[upload.name] = with_student(record, upload, key)
                report.write_report(list(records.values()), out, show_hidden=show_hidden, changed={upload.name})
    finally:  # also on Ctrl-C: the report covers exactly what finished
        grades = report.write_report(list(records.values()), out, show_hidden=show_hidden)
    if manual is not None:
        grades, problems = manual_scores.merge(grades, manual)
        report.write_atomic(Path(out) / "final_grades.csv", csv_cells.to_csv(grades))
        grades.attrs["manual_problems"] = problems
    grades.attrs["superseded"] = collected.superseded  # for the command's summary
    return grades


def with_student(record: dict, upload: downloads.Upload, key: str) -> dict:
    """The record, with what the download says of its student; a late submission says so in its status."""
    status = record["grading_status"] + ("; late" if upload.late else "")
    return {**record, "grading_status": status, "student": upload.student, "canvas_user_id": upload.canvas_user_id, "key": key}


@contextmanager
def executor(workers: int, scheduler: str | None):
    """(submit, as_completed) of local threads (each driving one child process) or of Dask."""
    if scheduler:
        from distributed import Client, as_completed as dask_completed

        with Client(scheduler) as client:  # closing it releases (cancels) what is unfinished
            yield (lambda fn, *args: client.submit(fn, *args, pure=False)), dask_completed
        return
    fork_server.start()  # if the command line has not already
    with ThreadPoolExecutor(workers) as pool:
        try:
            yield pool.submit, as_completed
        except BaseException:  # Ctrl-C: stop the children now, keep what is finished
            sandbox.STOP.set()
            pool.shutdown(wait=True, cancel_futures=True)
            sandbox.STOP.clear()
            raise




def command_summary(grades: pd.DataFrame, out: Path) -> str:
    """What the grade command prints when it ends: how many, how they ended, where the files are."""
    rows = grades[grades["file"] != POINTS_POSSIBLE_LABEL]
    kinds = rows["grading_status"].str.split(r"[:;]", regex=True).str[0].value_counts()
    late = rows["grading_status"].str.endswith("; late").sum()
    lines = [
        f"{len(rows)} submission{'s' * (len(rows) != 1)} graded: " + ", ".join(f"{count} {kind}" for kind, count in kinds.items()) + (f" ({late} late)" if late else ""),
        f"grades: {Path(out) / 'final_grades.csv'}   feedback: {Path(out) / 'submissions'}/*/feedback.md   summary: {Path(out) / 'summary' / 'summary.md'}",
    ]
    for name in grades.attrs.get("superseded", []):
        lines.append(f"not graded: {name} (the same student's newer file was)")
    for problem in grades.attrs.get("manual_problems", []):
        lines.append(f"manual score: {problem}")
    return "\n".join(lines)
