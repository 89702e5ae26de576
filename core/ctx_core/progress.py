"""Progress feedback for long work: tqdm bars and a spinner, on a terminal only.

With ``show=None`` (the default everywhere) feedback appears only when standard error is a
terminal and only once the work has run for :data:`AUTO_PROGRESS_DELAY` seconds: quick
steps print nothing, and nothing at all goes into a pipe or a log file. ``show=True``
forces a bar at once; ``show=False`` silences it.

Examples:
    >>> list(progress(range(3), show=False))
    [0, 1, 2]
    >>> with spinner("loading the model", show=False):
    ...     pass
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

__all__ = ["AUTO_PROGRESS_DELAY", "AUTO_PROGRESS_THRESHOLD", "progress", "spinner", "stderr_is_tty"]

T = TypeVar("T")

#: Kept for older callers that sized jobs by item count; no longer decides anything.
AUTO_PROGRESS_THRESHOLD = 512
#: With ``show=None``, a bar or spinner appears once the work has run this many seconds.
AUTO_PROGRESS_DELAY = 2.0

_FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def stderr_is_tty() -> bool:
    """Whether standard error is a terminal (where bars and spinners are drawn)."""
    stream = sys.stderr
    return bool(stream is not None and hasattr(stream, "isatty") and stream.isatty())


def progress(
    items: Iterable[T],
    *,
    total: int | None = None,
    desc: str | None = None,
    show: bool | None = None,
    unit: str = "it",
) -> Iterator[T]:
    """Iterate over ``items`` with a tqdm bar.

    Args:
        items: What to iterate over.
        total: How many items (default: ``len(items)`` where it has one).
        desc: The bar's label.
        show: ``True``: a bar at once; ``False``: none; ``None``: on a terminal, once
            the work has run :data:`AUTO_PROGRESS_DELAY` seconds.
        unit: What one item is called.
    """
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    if show is False or (show is None and not stderr_is_tty()):
        yield from items
        return
    from tqdm.auto import tqdm

    delay = 0.0 if show else AUTO_PROGRESS_DELAY
    yield from tqdm(items, total=total, desc=desc, unit=unit, leave=False, delay=delay)


@contextlib.contextmanager
def spinner(desc: str, *, show: bool | None = None, delay: float | None = None) -> Iterator[None]:
    """A spinner on standard error while the ``with`` block runs (a step with no item count).

    Args:
        desc: What is being done (``"loading the model"``).
        show: ``True``: always; ``False``: never; ``None``: on a terminal only.
        delay: Seconds before it appears (default: 0 when ``show``, else
            :data:`AUTO_PROGRESS_DELAY`): steps quicker than that draw nothing.
    """
    if show is False or (show is None and not stderr_is_tty()):
        yield
        return
    wait = delay if delay is not None else (0.0 if show else AUTO_PROGRESS_DELAY)
    done = threading.Event()
    stream = sys.stderr
    drawn = False

    def spin() -> None:
        nonlocal drawn
        if done.wait(wait):
            return
        start = time.monotonic() - wait
        frame = 0
        while not done.is_set():
            elapsed = time.monotonic() - start
            stream.write(f"\r{_FRAMES[frame % len(_FRAMES)]} {desc} ({elapsed:.0f} s)")
            stream.flush()
            drawn = True
            frame += 1
            done.wait(0.1)

    thread = threading.Thread(target=spin, name="ctx-spinner", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        if drawn:
            stream.write("\r\033[K")  # clear the spinner's line
            stream.flush()
