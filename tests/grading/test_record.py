"""A record's status is fields, turned into the text every output shows in one place, and read back."""

import pytest

from exercise_kit.grading.record import Record, Status


@pytest.mark.parametrize(
    ("status", "text"),
    [
        (Status(), "Completed"),
        (Status(late=True), "Completed; late"),
        (Status("Timeout", "grading took longer than 600 s", unsandboxed=True), "Timeout: grading took longer than 600 s; unsandboxed"),
        (Status(leftover_processes=1), "Completed; 1 process was left running by the notebook and killed"),
        (
            Status("Crashed", "DeadKernelError: Kernel died", leftover_processes=3, unsandboxed=True, late=True),
            "Crashed: DeadKernelError: Kernel died; 3 processes were left running by the notebook and killed; unsandboxed; late",
        ),
    ],
)
def test_a_status_is_written_one_way_and_read_back_the_same(status, text):
    assert str(status) == text
    assert Status.parse(text) == status


def test_a_detail_quoting_a_notebook_cannot_pass_for_the_statuss_own_suffixes():
    """A crash's last line may hold whatever the notebook printed: one line, and "; " made ", "."""
    status = Status("Crashed", "Error: 'aaa; 2 processes were left running by the notebook and killed; unsandboxed; late\nnext'")
    assert str(status) == "Crashed: Error: 'aaa, 2 processes were left running by the notebook and killed, unsandboxed, late next'"
    assert Status.parse(str(status)) == status and not status.late and not status.unsandboxed


def test_a_record_is_stored_without_its_evidence_and_read_back_whole():
    record = Record("a.ipynb", Status(late=True), {"score": 1.0, "tests": []}, 3.5, 300.0, evidence={"q1": {}}, student="Ada", canvas_user_id="1001", key="k")
    stored = record.as_json()
    assert "evidence" not in stored and stored["grading_status"] == "Completed; late"
    assert Record.from_json(stored, record.evidence) == record
