"""Reading and writing files for the ``ctx`` commands: clear errors, no partial output.

* Input errors name the file and, for text that is not UTF-8 or not JSON, the line.
* Output goes to a temporary file in the target's folder, renamed over the target once
  complete: a failure or a Ctrl-C never leaves a half-written file behind, and an
  earlier output file stays as it was.
* JSON output is strict JSON: a NaN or infinite float is written as ``null`` (Python's
  ``json`` would write a bare ``NaN``, which other JSON readers reject).
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ctx_core.types import Passage

__all__ = [
    "decode_utf8",
    "json_line",
    "print_passages_table",
    "read_text",
    "stdout_is_tty",
    "strict_json_value",
    "write_output",
]


def decode_utf8(data: bytes, name: str) -> str:
    """``data`` decoded as UTF-8; an error names ``name`` and the line of the bad byte.

    Raises:
        ValueError: ``data`` is not UTF-8.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise ValueError(
            f"{name} line {line}: not UTF-8 text (byte {data[err.start]:#04x} at offset {err.start})"
        ) from err


def read_text(source: str, option: str) -> tuple[str, str]:
    """The text of file ``source`` (``-``: standard input) and the name to use in errors.

    Args:
        source: A path, or ``-`` for standard input.
        option: The option or argument that named it (for the error message).

    Raises:
        FileNotFoundError: ``source`` is not a file.
        ValueError: the file is not UTF-8 (the file and line are named).
    """
    if source == "-":
        buffer = getattr(sys.stdin, "buffer", None)  # absent on a StringIO standing in for stdin
        if buffer is None:
            return sys.stdin.read(), "<stdin>"
        return decode_utf8(buffer.read(), "<stdin>"), "<stdin>"
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"{option} {source!r}: no such file")
    return decode_utf8(path.read_bytes(), source), source


def strict_json_value(value: Any) -> Any:
    """``value`` with every NaN or infinite float (at any depth) replaced by ``None``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: strict_json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json_value(v) for v in value]
    return value


def json_line(value: Any) -> str:
    """One line of strict JSON (NaN and infinities as ``null``), newline included."""
    return json.dumps(strict_json_value(value), ensure_ascii=False, allow_nan=False) + "\n"


def write_output(target: str, text: str) -> None:
    """Write ``text`` to ``target`` (``-``: standard output) atomically.

    The text goes to a temporary file next to ``target`` that is renamed over it once
    written, so ``target`` holds either its old content or all of ``text``.

    Raises:
        IsADirectoryError: ``target`` is a folder.
        OSError: the folder cannot be written (the error names the path).
    """
    if target == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    path = Path(target)
    if path.is_dir():
        raise IsADirectoryError(21, "is a folder, not a file", str(path))
    try:
        handle, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
        )
    except OSError as err:
        # Name the file the user asked for, not the temporary one.
        raise type(err)(err.errno, err.strerror, str(path)) from err
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        # mkstemp makes the file private (0600); give it the mode a plain open would.
        os.chmod(temporary, _mode_for(path))
        os.replace(temporary, path)
    except BaseException:
        # Ctrl-C included: the half-written temporary file must not stay behind.
        Path(temporary).unlink(missing_ok=True)
        raise


def _mode_for(path: Path) -> int:
    """The mode an existing ``path`` has, else the one ``open`` would give a new file."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def stdout_is_tty() -> bool:
    """Whether standard output is a terminal (a person reads it, not a program)."""
    return bool(sys.stdout is not None and hasattr(sys.stdout, "isatty") and sys.stdout.isatty())


def print_passages_table(
    passages: Sequence[Passage], *, title: str | None = None, extra: str | None = None
) -> None:
    """Print ranked passages as a table (rank, id, score, text) on standard output.

    Uses rich where it is installed, else plain aligned text; meant for a terminal
    (programs read the JSON lines instead).

    Args:
        passages: Best first.
        title: A heading above the table.
        extra: A metadata key to show as one more column (e.g. ``"memory_layers"``).
    """
    rows = []
    for rank, passage in enumerate(passages, start=1):
        score = "" if passage.score is None else f"{passage.score:.3f}"
        text = textwrap.shorten(" ".join(passage.text.split()), 160, placeholder=" ...")
        value = passage.metadata.get(extra, "") if extra else ""
        shown = "+".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
        rows.append((str(rank), passage.id, score, *((shown,) if extra else ()), text))
    headers = ("#", "id", "score", *((extra,) if extra else ()), "text")
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        if title:
            print(title)
        for row in rows:
            print("  ".join(row))
        return
    table = Table(title=title, show_lines=False)
    for header in headers:
        table.add_column(
            header,
            justify="right" if header in ("#", "score") else "left",
            overflow="fold",
            ratio=4 if header == "text" else None,
            no_wrap=header != "text",
        )
    for row in rows:
        table.add_row(*row)
    Console().print(table)
