"""Files written in one step, for every stage: a killed run leaves the old file or the new one."""

import os
from pathlib import Path


def write_atomic(path: Path, data: bytes | str, mode: int = 0o666) -> None:
    """Replace ``path`` by ``data`` in one step; unchanged content is not written again.

    Text is written as UTF-8, whatever it holds: a character UTF-8 cannot encode (a lone surrogate
    in a kernel's text) is written as its escape rather than stopping the batch. ``mode``: as for
    ``os.open`` (the umask applies); 0o600 for what is the grader's only.
    """
    path = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8", "backslashreplace")
    if path.exists() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "wb") as file:
        file.write(data)
    os.replace(partial, path)
