"""Progress bars for long work (tqdm), shown on demand or automatically for big jobs."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

__all__ = ["AUTO_PROGRESS_THRESHOLD", "progress"]

T = TypeVar("T")

#: With ``show_progress=None``, a bar appears once a job has at least this many items.
AUTO_PROGRESS_THRESHOLD = 512


def progress(
    items: Iterable[T],
    *,
    total: int | None = None,
    desc: str | None = None,
    show: bool | None = None,
    unit: str = "it",
) -> Iterator[T]:
    """Iterate over ``items`` with a tqdm bar when ``show`` (or, if ``None``, when the job is big)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    enabled = show if show is not None else (total or 0) >= AUTO_PROGRESS_THRESHOLD
    if not enabled:
        yield from items
        return
    from tqdm.auto import tqdm

    yield from tqdm(items, total=total, desc=desc, unit=unit, leave=False)
