"""Progress feedback for long work: tqdm bars and a spinner, on a terminal only.

With ``show=None`` (the default everywhere) feedback appears only when standard error is a
terminal and only once the work has run for `AUTO_PROGRESS_DELAY` seconds: quick
steps print nothing, and nothing at all goes into a pipe or a log file. ``show=True``
forces a bar at once; ``show=False`` silences it.

Examples:
    >>> list(progress(range(3), show=False))
    [0, 1, 2]
    >>> with spinner("loading the model", show=False):
    ...     pass
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterable, Iterator
from typing import TextIO, TypeVar

__all__ = [
    "AUTO_PROGRESS_DELAY",
    "AUTO_PROGRESS_THRESHOLD",
    "Spinner",
    "progress",
    "spinner",
    "stderr_is_tty",
]

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
            the work has run `AUTO_PROGRESS_DELAY` seconds.
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


class Spinner:
    """A spinner on standard error that runs while work is silent; see `spinner`."""

    def __init__(self, desc: str, *, delay: float, enabled: bool) -> None:
        self.desc = desc
        self.delay = delay
        self.enabled = enabled
        self._stream = sys.stderr
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._last = time.monotonic()
        self._start = self._last
        self._drawn = False
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Spinner:
        if self.enabled:
            self._thread = threading.Thread(target=self._spin, name="ctx-spinner", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()
        self.touch()

    def touch(self) -> None:
        """Something else was printed (or is about to be): clear the spinner, restart its wait."""
        with self._lock:
            self._last = time.monotonic()
            if self._drawn:
                self._stream.write("\r\033[K")  # clear the spinner's line
                self._stream.flush()
                self._drawn = False

    def wrap(self, stream: TextIO) -> TextIO:
        """``stream`` with every write clearing the spinner first (for output while it runs)."""
        return _TouchingStream(stream, self)  # type: ignore[return-value]

    def _spin(self) -> None:
        frame = 0
        while not self._done.wait(0.1):
            with self._lock:
                now = time.monotonic()
                if now - self._last < self.delay:
                    continue
                self._stream.write(
                    f"\r{_FRAMES[frame % len(_FRAMES)]} {self.desc} ({now - self._start:.0f} s)"
                )
                self._stream.flush()
                self._drawn = True
                frame += 1


class _TouchingStream:
    def __init__(self, stream: TextIO, spinner: Spinner) -> None:
        self._stream = stream
        self._spinner = spinner

    def write(self, text: str) -> int:
        self._spinner.touch()
        return self._stream.write(text)

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


def spinner(desc: str, *, show: bool | None = None, delay: float | None = None) -> Spinner:
    """A spinner on standard error while a step with no item count runs.

    It appears once nothing has been printed for ``delay`` seconds and is cleared when
    the step ends; output written through `Spinner.wrap` clears it first, so the
    two never mix on one line.

    Args:
        desc: What is being done (``"loading the model"``).
        show: ``True``: always; ``False``: never; ``None``: on a terminal only.
        delay: Seconds of silence before it appears (default: 0 when ``show``, else
            `AUTO_PROGRESS_DELAY`): steps quicker than that draw nothing.

    Examples:
        >>> with spinner("loading the model", show=False) as spin:
        ...     print("done", file=spin.wrap(sys.stdout))
        done
    """
    enabled = show if show is not None else stderr_is_tty()
    wait = delay if delay is not None else (0.0 if show else AUTO_PROGRESS_DELAY)
    return Spinner(desc, delay=wait, enabled=bool(enabled))
