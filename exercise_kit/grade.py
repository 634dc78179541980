"""Batch grading job: every submission in a folder, in parallel, without Docker, nothing lost.

Each input file gets a record (``out/submissions/<file>/record.json``) as soon as it is graded,
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

from . import fork_server, report, sandbox
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
) -> pd.DataFrame:
    """Grade every file in ``submissions`` into ``out``; return the final grades table.

    Raises ``sandbox.SandboxUnavailable`` before grading anything when kernels are to be
    sandboxed (the default) and this machine cannot. With ``release`` (grades are published), each
    student's feedback gives the one-sentence reason of every hidden check that failed, as
    Gradescope shows them on publishing when the autograder's ``show_hidden`` is on; without it,
    only the public checks and the total.
    """
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
    records, todo = {}, []
    for path in sorted(p for p in Path(submissions).iterdir() if p.is_file() and not p.name.startswith(".")):
        data = path.read_bytes()
        key = hashlib.sha256(data + autograder_bytes + repr(limits).encode()).hexdigest()
        previous = finished.get(path.name)
        if previous and previous.get("key") == key:
            records[path.name] = previous
        else:
            todo.append((path.name, data, key))

    try:
        with executor(workers, scheduler) as (submit, completed):
            futures = {submit(sandbox.grade_submission, name, data, autograder_bytes, limits): (name, key) for name, data, key in todo}
            for future in tqdm(completed(futures), total=len(futures), desc="grading", unit="submission"):
                name, key = futures[future]
                try:
                    record = future.result()
                except Exception as error:  # the grader itself failed: record it, carry on
                    record = sandbox.failed_record(name, f"Grader error: {type(error).__name__}: {error}", autograder_bytes)
                records[name] = {**record, "key": key}
                report.write_report(list(records.values()), out, show_hidden=show_hidden, changed={name})
    finally:  # also on Ctrl-C: the report covers exactly what finished
        grades = report.write_report(list(records.values()), out, show_hidden=show_hidden)
    return grades


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


