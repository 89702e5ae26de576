"""Retries for remote calls: one loop, sync and async, and the ``Retry-After`` header.

A client decides per failure whether to retry and how long to wait (``decide`` returns
the wait in seconds, or raises the error to give up with); this module only runs the
loop, so every remote client retries the same way.

Examples:
    >>> calls = []
    >>> def flaky():
    ...     calls.append(1)
    ...     if len(calls) < 3:
    ...         raise ConnectionError("down")
    ...     return "ok"
    >>> retry_call(flaky, lambda err, attempt: 0.0, max_retries=3)
    'ok'
    >>> retry_after({"Retry-After": "2"})
    2.0
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

__all__ = ["aretry_call", "backoff", "deadline_from", "retry_after", "retry_call"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: ``decide(err, attempt)``: seconds to wait before attempt ``attempt + 1``, or raise.
Decide = Callable[[Exception, int], float]


def retry_call(call: Callable[[], T], decide: Decide, max_retries: int) -> T:
    """Call ``call`` until it returns, sleeping ``decide(err, attempt)`` after each failure.

    ``decide`` raises (the error to give up with) when no attempt is left or the
    failure is not worth retrying; it is also called after the last attempt, so the
    error raised there is the one the caller sees.
    """
    for attempt in range(max_retries + 1):
        try:
            return call()
        except Exception as err:
            time.sleep(decide(err, attempt))
    raise AssertionError("unreachable: decide() must raise after the last attempt")


async def aretry_call(call: Callable[[], Awaitable[T]], decide: Decide, max_retries: int) -> T:
    """Async twin of `retry_call` (waits with ``asyncio.sleep``)."""
    for attempt in range(max_retries + 1):
        try:
            return await call()
        except Exception as err:
            await asyncio.sleep(decide(err, attempt))
    raise AssertionError("unreachable: decide() must raise after the last attempt")


def backoff(first: float, attempt: int, asked: float | None = None) -> float:
    """The wait before the next attempt: what the server asked for, else ``first * 2**attempt``."""
    return asked if asked is not None else first * 2**attempt


def deadline_from(seconds: float | None) -> float:
    """The ``time.monotonic()`` instant a call of ``seconds`` must end by (``inf`` for ``None``)."""
    return math.inf if seconds is None else time.monotonic() + seconds


def retry_after(headers: Any) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (delta-seconds or an HTTP date), if any."""
    if not headers:
        return None
    value = next((v for k, v in dict(headers).items() if str(k).lower() == "retry-after"), None)
    if value is None:
        return None
    value = str(value).strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            logger.warning("ignoring unreadable Retry-After header %r", value)
            return None
        seconds = when.timestamp() - time.time()
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)
