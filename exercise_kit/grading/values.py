"""Values per check: run the notebook in its kernel cell by cell, and take each question's values
right after its ``grader.check`` cell has run.

This runs in the grading child, which never executes student code: the student's code runs in
the (sandboxed) kernel, and all that comes back from it is one display message of plain values per
question, sent by the assignment's ``lstm_values.py``, which the grader sends into the kernel with
the question's request only at that moment. So later cells cannot change a question's score, and
a question whose check cell never ran (deleted, or never reached) is taken at the end of the
notebook if the kernel still lives. Each question's values are written to ``out/<question>.json``
as soon as they are taken, so a submission that later hangs or crashes keeps what it had shown.

What the grader takes from the kernel is bounded before it is held: ZeroMQ refuses any one message
past ``MAX_MESSAGE_BYTES`` as it arrives, the client keeps at most ``MAX_CELL_OUTPUT_BYTES`` of a
cell's output and ``MAX_KEPT_OUTPUT_BYTES`` of the notebook's, and grading stops
(``OutputLimitExceeded``) past ``MAX_OUTPUT_BYTES`` received in all or at a refused message. An
answer's error messages are cut to a few kilobytes each before they are written.
"""

import ast
import asyncio
import json
import math
import time
from contextlib import ExitStack, suppress
from itertools import islice
from pathlib import Path
from queue import Empty
from typing import Any

import jsonschema
import nbformat
import zmq
from IPython.core.inputtransformer2 import TransformerManager
from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import ensure_async, run_sync
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbformat.validator import NotebookValidationError
from traitlets import Type

from ..assignment import is_export_cell
from ..files import write_atomic
from .stopwatch import Stopwatch

PUBLIC_OUTPUT_CHARS = 2_000  # of what a check cell printed, kept for the student's feedback
END = "end"  # ``taken_at`` of a question whose check cell never ran
GRADER_CELL = -1  # the index at which the grader's own cells (values requests) are executed
NO_ANSWER = "The notebook's kernel did not answer the grader's request for its values."
MAX_MESSAGE_BYTES = 16 * 2**20  # any one message from the kernel (a figure is far smaller)
MAX_CELL_OUTPUT_BYTES = 4 * 2**20  # kept of one cell's output (a values answer is under 1 MB)
MAX_KEPT_OUTPUT_BYTES = 16 * 2**20  # kept of the notebook's cells' output together
MAX_OUTPUT_BYTES = 50 * 2**20  # received from the kernel in all; past it, grading stops
TRUNCATED = "\n[output truncated]\n"
MAX_ERRORS, MAX_ERROR_NAME_CHARS, MAX_ERROR_CHARS = 20, 100, 2_000  # of an answer (a request names a few values)
MAX_TAKEN_BYTES = 8 * 2**20  # what one question's values file may hold (a few values of those sizes)
MAX_VALUE_CHARS, MAX_FIELDS = 400_000, 10  # a value's hex (50,000 float64) or text; a dict value's fields (six gates)
# What the grader does with the kernel's messages: nothing else is stored (widgets' comms, display updates).
OUTPUT_MESSAGES = {"status", "execute_input", "stream", "display_data", "execute_result", "error", "clear_output"}


# What nbclient raises on a message whose content is not an output's shape (``data`` not a dict, say).
MALFORMED = (NotebookValidationError, jsonschema.ValidationError, KeyError, TypeError, ValueError, AttributeError)


class OutputLimitExceeded(Exception):
    """The kernel sent more than ``MAX_OUTPUT_BYTES``, or a message past ``MAX_MESSAGE_BYTES``: grading stopped."""


def checked_questions(source: str) -> list[str]:
    """The questions whose ``grader.check("...")`` a cell calls, in order, once each.

    Only real calls count, found in the cell's syntax tree (IPython's magics turned into Python
    first): a call in a comment or a string takes nothing. A cell that does not parse calls nothing.
    """
    try:
        tree = ast.parse(TransformerManager().transform_cell(source))
    except (SyntaxError, ValueError):
        return []
    calls = sorted(
        (node.lineno, node.col_offset, question)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and (question := _checked(node)) is not None
    )
    return list(dict.fromkeys(question for _, _, question in calls))


def _checked(node: ast.Call) -> str | None:
    """The question of a ``grader.check("...")`` call, or None for any other call."""
    if (
        isinstance(node.func, ast.Attribute)
        and node.func.attr == "check"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "grader"
        and len(node.args) == 1
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        return node.args[0].value
    return None


def run_notebook(
    client: NotebookClient,
    requests: dict[str, dict],
    gatherer: str,
    mime_type: str,
    out: Path,
    taken_once=(),
    stopwatch: Stopwatch | None = None,
) -> None:
    """Execute ``client``'s notebook; write each question's values (``requests``: question -> request).

    ``gatherer`` is the source of the assignment's ``lstm_values.py``, which answers in ``mime_type``.
    Each question is taken at its first check cell. A value named in ``taken_once`` is asked for at
    the first question that needs it only (the verdicts score every later question with that one).
    ``stopwatch`` times the kernel's start, each cell and each request.
    """
    requests, taken, stopwatch = dict(requests), set(), stopwatch or Stopwatch()

    def take_once(question, taken_at, public):
        with stopwatch.lap(f"values of {question}"):
            take(client, question, requests[question], gatherer, mime_type, out, taken_at=taken_at, public=public)
        taken.add(question)
        for pinned in set(taken_once) & set(requests[question]["values"]):
            for other in requests.keys() - taken:
                requests[other] = {**requests[other], "values": [v for v in requests[other]["values"] if v != pinned]}

    with ExitStack() as kernel:
        with stopwatch.lap("kernel start"):
            kernel.enter_context(client.setup_kernel())
        for index, cell in enumerate(client.nb.cells):
            if cell.cell_type != "code" or is_export_cell(cell):
                continue
            with stopwatch.lap(f"cell {index}: {cell.source.strip().partition(chr(10))[0][:50]}"):
                client.execute_cell(cell, index)
            for question in checked_questions(cell.source):
                if question in requests and question not in taken:
                    take_once(question, index, text_of(cell.outputs))
        for question in sorted(requests.keys() - taken):
            take_once(question, END, "")
        # Its values are taken: the kernel is killed, and the grading child waits for it to go
        # (``shutdown_kernel`` would look for that every 100 ms, and then linger on its sockets).
        # jupyter_client declares a provisioner's ``process`` as None, not as the Popen it holds.
        client.km.provisioner.process.kill()  # type: ignore[union-attr]


def take(
    client: NotebookClient,
    question: str,
    request: dict,
    gatherer: str,
    mime_type: str,
    out: Path,
    *,
    taken_at,
    public: str,
) -> None:
    """Ask the kernel for ``question``'s values and write what it answered, as data, to ``out``."""
    call = f"{gatherer}\nimport json\nreport(json.loads({json.dumps(request)!r}), USER_NS)\n"
    cell = nbformat.v4.new_code_cell(f"exec({call!r}, {{'__name__': 'exercise_kit_values', 'USER_NS': globals()}})")
    client.execute_cell(cell, GRADER_CELL, store_history=False)
    answer: dict[str, Any] = {"values": {}, "errors": {"*": NO_ANSWER}}
    for output in cell.outputs:
        data = output.get("data", {}) if output.get("output_type") == "display_data" else {}
        if isinstance(data.get(mime_type), dict):
            answer = data[mime_type]
    values: dict[str, Any] = answer["values"] if isinstance(answer.get("values"), dict) else {}
    errors: dict[str, str] = answer["errors"] if isinstance(answer.get("errors"), dict) else {}
    wanted = set(request["values"])
    plain = {name: value for name, value in values.items() if name in wanted and is_plain_value(value)}
    errors = {
        **{name: "the kernel's answer for it is not a plain value" for name in wanted & values.keys() - plain.keys()},
        **errors,
    }
    errors = {name: text for name, text in errors.items() if name in wanted or name == "*"}
    write_atomic(
        out / f"{question}.json",
        json.dumps(
            {
                "values": plain,
                "errors": bounded_errors(errors),
                "taken_at": taken_at,
                "public": printable(public[:PUBLIC_OUTPUT_CHARS]),
            }
        ),
    )


def bounded_errors(errors: dict) -> dict[str, str]:
    """The kernel's error messages as the record may hold them: a few, each cut to a few kilobytes."""
    return {
        printable(str(name)[:MAX_ERROR_NAME_CHARS]): printable(str(text)[:MAX_ERROR_CHARS])
        for name, text in islice(errors.items(), MAX_ERRORS)
    }


def printable(text: str) -> str:
    """``text`` as UTF-8 can hold it: a lone surrogate (which JSON lets a kernel send) as its escape."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def is_plain_value(value, depth: int = 0) -> bool:
    """Whether a value from the kernel has the plain shape of the assignment's encoding (text, or
    float64 bytes in hex with a shape, or a few named fields of those), within the sizes of this
    exercise: what the grade command reads back is then small whatever the kernel sent."""
    if not isinstance(value, dict) or len(value) > 2:
        return False
    if set(value) == {"text"}:
        return (
            isinstance(value["text"], str)
            and len(value["text"]) <= MAX_VALUE_CHARS
            and value["text"] == printable(value["text"])
        )
    if set(value) == {"shape", "float64"}:
        shape, data = value["shape"], value["float64"]
        return (
            isinstance(shape, list)
            and len(shape) <= 4
            and all(type(n) is int and 0 <= n <= MAX_VALUE_CHARS for n in shape)
            and isinstance(data, str)
            and len(data) <= MAX_VALUE_CHARS
        )
    if set(value) == {"fields"} and depth == 0:
        fields = value["fields"]
        return (
            isinstance(fields, dict)
            and len(fields) <= MAX_FIELDS
            and all(
                isinstance(name, str) and len(name) <= MAX_ERROR_NAME_CHARS and is_plain_value(field, 1)
                for name, field in fields.items()
            )
        )
    return False


class ReadyKernelClient(AsyncKernelClient):
    """jupyter_client's kernel client, ready as soon as the kernel has answered ``kernel_info`` and
    published on IOPub. jupyter_client then waits until IOPub has been quiet for 0.2 s, which
    nbclient does not need: it reads a cell's messages by their parent and ignores the rest."""

    async def _async_wait_for_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (math.inf if timeout is None else timeout)
        while True:
            self.kernel_info()
            with suppress(Empty):
                reply = await self.shell_channel.get_msg(timeout=1)
                if reply["msg_type"] == "kernel_info_reply":
                    await self.iopub_channel.get_msg(timeout=0.2)  # IOPub connected: the kernel's status came
                    self._handle_kernel_info_reply(reply)
                    return
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout} seconds")

    wait_for_ready = _async_wait_for_ready


class BoundedKernelManager(AsyncKernelManager):
    """A kernel manager whose sockets, its clients' too, refuse any message past ``MAX_MESSAGE_BYTES``.

    ZeroMQ refuses such a message when its size arrives: it is never read into memory. Set on the
    context before any socket is made, it holds for every socket made from it. Its clients are
    ``ReadyKernelClient``s.
    """

    client_factory = Type(ReadyKernelClient, klass=AsyncKernelClient)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)

    def client(self, **kwargs):
        return super().client(context=self.context, **kwargs)


class BoundedNotebookClient(NotebookClient):
    """nbclient's client, holding a bounded part of what the kernel sends.

    Every message of a cell counts towards ``MAX_OUTPUT_BYTES``; past it the cell ends at once,
    the kernel is shut down and ``execute_cell`` raises ``OutputLimitExceeded``. ZeroMQ refuses a
    message past ``MAX_MESSAGE_BYTES`` by closing the connection it came on, which never comes
    back: while the kernel lives, that too is the output limit. Of a cell's outputs, those that
    fit in ``MAX_CELL_OUTPUT_BYTES`` (and, for the notebook's cells, in ``MAX_KEPT_OUTPUT_BYTES``
    with the others') are kept, the rest replaced by one note.
    """

    km: AsyncKernelManager  # nbclient's is None until ``setup_kernel``, before any of this runs

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.received = self.kept = self.kept_in_cell = self.size = 0
        self.truncated = self.refused = False
        self.watchers = []  # the loop holds its tasks weakly

    async def async_start_new_kernel_client(self):
        kc = await super().async_start_new_kernel_client()
        for channel in (kc.shell_channel, kc.iopub_channel):
            self.watchers.append(
                asyncio.ensure_future(self._watch(channel.socket.get_monitor_socket(zmq.EVENT_DISCONNECTED)))
            )
        return kc

    start_new_kernel_client = run_sync(async_start_new_kernel_client)

    async def _watch(self, monitor):
        """A connection lost while the kernel lives was closed by ZeroMQ on a message past the size cap."""
        await monitor.recv_multipart()
        await asyncio.sleep(1)  # a kernel that died (closing its connections) is gone by then
        if await ensure_async(self.km.is_alive()):
            self.refused = True
            if self.task_poll_for_reply is not None:
                self.task_poll_for_reply.cancel()

    def over_limit(self) -> bool:
        return self.refused or self.received > MAX_OUTPUT_BYTES

    async def async_execute_cell(self, cell, cell_index, *args, **kwargs):
        self.kept_in_cell, self.truncated = 0, False
        # nbclient stores each executed cell at its index: a grader's cell would replace the
        # notebook's last one, which then never ran (or ran the grader's request again).
        last_cell = self.nb.cells[-1] if cell_index == GRADER_CELL and self.nb.cells else None
        try:
            if not self.over_limit():
                cell = await super().async_execute_cell(cell, cell_index, *args, **kwargs)
        except DeadKernelError:  # what nbclient raises when the cell's wait is cancelled
            if not self.over_limit():
                raise
        finally:
            if last_cell is not None:
                self.nb.cells[-1] = last_cell
        if self.over_limit():
            await ensure_async(self.km.shutdown_kernel(now=True))
            raise OutputLimitExceeded()
        return cell

    execute_cell = run_sync(async_execute_cell)

    def process_message(self, msg, cell, cell_index):
        self.size = message_bytes(msg)
        self.received += self.size
        if self.over_limit():
            assert self.task_poll_for_reply is not None  # a message is read while a cell waits for its reply
            self.task_poll_for_reply.cancel()
            return None
        if msg["msg_type"] not in OUTPUT_MESSAGES or not isinstance(msg["content"], dict):
            return None
        msg["content"].pop("transient", None)  # no display ids: outputs are never updated in place
        try:
            return super().process_message(msg, cell, cell_index)
        except MALFORMED:  # an output nbformat cannot hold (the kernel sent it, not Jupyter): dropped
            return None

    def output(self, outs, msg, display_id, cell_index):
        room = MAX_CELL_OUTPUT_BYTES - self.kept_in_cell
        if cell_index != GRADER_CELL:  # the grader's own cells are not the notebook's
            room = min(room, MAX_KEPT_OUTPUT_BYTES - self.kept)
        if self.size > room:  # the size of ``msg``, from ``process_message``
            if not self.truncated:
                self.truncated = True
                outs.append(nbformat.v4.new_output("stream", name="stdout", text=TRUNCATED))
            return None
        self.kept_in_cell += self.size
        self.kept += self.size if cell_index != GRADER_CELL else 0
        return super().output(outs, msg, display_id, cell_index)


def message_bytes(msg) -> int:
    """About what a kernel message takes: its content as JSON and its binary buffers."""
    return len(json.dumps(msg["content"], default=str)) + sum(len(buffer) for buffer in msg.get("buffers") or [])


def text_of(outputs) -> str:
    """What a cell showed as text: its streams and the plain-text form of its results."""
    parts = []
    for output in outputs:
        if output.get("output_type") == "stream":
            parts.append(output.get("text", ""))
        elif "text/plain" in output.get("data", {}):
            parts.append(output["data"]["text/plain"])
    return "".join(parts)


def read_taken(out: Path) -> dict[str, dict]:
    """The answers written by ``run_notebook`` so far: question -> {values, errors, taken_at, public}."""
    return {
        path.stem: json.loads(path.read_text())
        for path in sorted(Path(out).glob("*.json"))
        if path.stat().st_size <= MAX_TAKEN_BYTES
    }
