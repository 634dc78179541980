"""Batch grading job: every submission in a folder, in parallel, without Docker, nothing lost.

The folder holds what students uploaded (files, or folders as Gradescope exports them) or is an
LMS's download zip (``downloads``). Each input gets a record (``out/submissions/<file>/record.json``)
as soon as it is graded, and the report (``final_grades.csv``, feedback, summary) is rewritten after
each one, so an interrupted run leaves complete, valid output for what was finished. A record carries a key made
of the submission's content, the autograder and the limits: re-running the command grades only
what is new or changed.
"""

import hashlib
import json
import os
import zipfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
from otter.grade.utils import POINTS_POSSIBLE_LABEL
from tqdm import tqdm

from ..isolation import fork_server
from ..isolation.confine import SandboxUnavailable
from ..lms import downloads
from ..paths import AUTOGRADER_ZIP, GRADING_CONFIG
from ..reporting import csv_cells, report
from . import submission
from .record import Status
from .submission import check_sandbox, failed_record
from .watch import STOP, Limits


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

    Raises ``confine.SandboxUnavailable`` before grading anything when kernels are to be
    sandboxed (the default) and this machine cannot. With ``release`` (grades are published), each
    student's feedback gives the one-sentence reason of every hidden check that failed, as
    Gradescope shows them on publishing when the autograder's ``show_hidden`` is on; without it,
    only the public checks and the total. With ``manual`` (the filled Q7 scoring sheet),
    ``final_grades.csv`` also has the hand-graded questions, and totals out of all the points.
    """
    if manual is not None:
        from ..reporting import manual as manual_scores

        manual_scores.read_sheet(manual)  # a sheet it cannot read stops the command before grading
    config = json.loads(GRADING_CONFIG.read_text())
    limits = Limits(
        timeout=timeout or config["timeout_seconds"],
        memory_mb=memory_mb or config["memory_mb"],
        grade_from_log=grade_from_log,
        sandbox=sandboxed,
    )
    if not scheduler:  # a Dask worker checks its own machine, per submission
        check_sandbox(limits)
    # One more than the cores: while a submission waits (its child's and kernel's start, each values
    # request), another one computes. Measured on 2 cores: 3 workers grade 7% more an hour than 2.
    workers = workers or config["workers"] or (os.cpu_count() or 1) + 1
    autograder_bytes = Path(autograder).read_bytes()
    with zipfile.ZipFile(autograder) as zf:
        show_hidden = release and json.loads(zf.read("otter_config.json")).get("show_hidden", False)

    finished = {record.file: record for record in report.load_records(out)}
    collected = downloads.collect(submissions)
    records, todo = {}, []
    key: str | None  # None: not graded, grade it again next run
    for upload in collected.uploads:
        key = hashlib.sha256(upload.data + autograder_bytes + repr(limits).encode()).hexdigest()
        previous = finished.get(upload.name)
        if previous and previous.key == key:
            records[upload.name] = previous
        else:
            todo.append((upload, key))

    try:
        with executor(workers, scheduler) as (submit, completed):
            futures = {
                submit(submission.grade_submission, upload.name, upload.data, autograder_bytes, limits): (upload, key)
                for upload, key in todo
            }
            for future in tqdm(completed(futures), total=len(futures), desc="grading", unit="submission"):
                upload, key = futures[future]
                try:
                    record = future.result()
                except Exception as error:  # the grader itself failed: record it, carry on, grade it again next run
                    record, key = (
                        failed_record(
                            upload.name, Status("Grader error", f"{type(error).__name__}: {error}"), autograder_bytes
                        ),
                        None,
                    )
                records[upload.name] = record.with_student(upload.student, upload.canvas_user_id, key, upload.late)
                report.write_report(list(records.values()), out, show_hidden=show_hidden, changed={upload.name})
    finally:  # also on Ctrl-C: the report covers exactly what finished
        grades = report.write_report(list(records.values()), out, show_hidden=show_hidden)
    if manual is not None:
        grades, problems = manual_scores.merge(grades, manual)
        report.write_atomic(Path(out) / "final_grades.csv", csv_cells.to_csv(grades))
        grades.attrs["manual_problems"] = problems
    grades.attrs["superseded"] = collected.superseded  # for the command's summary
    return grades


@contextmanager
def executor(workers: int | None, scheduler: str | None):
    """(submit, as_completed) of local threads (each driving one child process) or of Dask."""
    if scheduler:
        from distributed import Client
        from distributed import as_completed as dask_completed

        with Client(scheduler) as client:  # closing it releases (cancels) what is unfinished
            yield (lambda fn, *args: client.submit(fn, *args, pure=False)), dask_completed
        return
    fork_server.start()  # if the command line has not already
    with ThreadPoolExecutor(workers) as pool:
        try:
            yield pool.submit, as_completed
        except BaseException:  # Ctrl-C: stop the children now, keep what is finished
            STOP.set()
            pool.shutdown(wait=True, cancel_futures=True)
            STOP.clear()
            raise


def command_summary(grades: pd.DataFrame, out: Path) -> str:
    """What the grade command prints when it ends: how many, how they ended, where the files are."""
    statuses = [Status.parse(text) for text in grades.loc[grades["file"] != POINTS_POSSIBLE_LABEL, "grading_status"]]
    kinds = Counter(status.kind for status in statuses).most_common()
    late = sum(status.late for status in statuses)
    lines = [
        f"{len(statuses)} submission{'s' * (len(statuses) != 1)} graded: "
        + ", ".join(f"{count} {kind}" for kind, count in kinds)
        + (f" ({late} late)" if late else ""),
        f"grades: {Path(out) / 'final_grades.csv'}   feedback: {Path(out) / 'submissions'}/*/feedback.md   "
        f"summary: {Path(out) / 'summary' / 'summary.md'}",
    ]
    for name in grades.attrs.get("superseded", []):
        lines.append(f"not graded: {name} (the same student's newer file was)")
    for problem in grades.attrs.get("manual_problems", []):
        lines.append(f"manual score: {problem}")
    return "\n".join(lines)


def main(args) -> None:
    """The grade job: grade the folder or download, print what happened and where the files are."""
    from ..cli import JobError

    try:
        grades = grade_folder(
            args.submissions,
            args.out,
            autograder=args.autograder,
            workers=args.workers,
            timeout=args.timeout,
            memory_mb=args.memory_mb,
            scheduler=args.scheduler,
            grade_from_log=args.grade_from_log,
            sandboxed=not args.no_sandbox,
            release=args.release,
            manual=args.manual,
        )
    except SandboxUnavailable as reason:
        raise JobError(f"Nothing was graded: {reason}") from None
    except ValueError as error:  # a download or a sheet the kit cannot read
        raise JobError(f"error: {error}") from None
    print(command_summary(grades, args.out))
