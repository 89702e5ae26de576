"""Paired bootstrap intervals for comparisons over the same queries.

Two methods run on the same queries give one value each per query (nDCG@10, recall@1, a
latency). The question a table answers is "how much better is A than B, and is that more
than noise": [`paired_bootstrap`][ctx_core.eval.bootstrap.paired_bootstrap] resamples the queries with replacement, keeping each
query's two values together, and returns the mean difference ``a - b`` with the central
95% of the resampled means. Same inputs and seed: same interval.

Below `MIN_PAIRS` queries a percentile interval says little (with 3 queries there
are only 10 distinct resamples), so [`compare`][ctx_core.eval.bootstrap.compare] answers "n too small" instead of an
interval; [`format_interval`][ctx_core.eval.bootstrap.format_interval] writes either as one table cell.

Examples:
    >>> mean_diff, low, high = paired_bootstrap([0.5, 0.7, 0.9, 0.6], [0.4, 0.6, 0.7, 0.6])
    >>> round(mean_diff, 3), low > 0, high >= mean_diff
    (0.1, True, True)
    >>> format_interval(compare([0.5, 0.7, 0.9, 0.6], [0.4, 0.6, 0.7, 0.6]))
    'n too small (4 < 10)'
    >>> format_interval(compare([1.0] * 12, [0.5] * 12))
    '+0.500 [+0.500, +0.500]'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

__all__ = [
    "DEFAULT_RESAMPLES",
    "DEFAULT_SEED",
    "MIN_PAIRS",
    "Comparison",
    "Interval",
    "compare",
    "format_interval",
    "paired_bootstrap",
]

#: Resamples drawn by default (the interval's ends move by about 0.001 between seeds).
DEFAULT_RESAMPLES = 10_000
#: Seed of the resampling by default.
DEFAULT_SEED = 0
#: Fewer paired queries than this: no interval, "n too small".
MIN_PAIRS = 10


class Interval(NamedTuple):
    """A mean difference and its bootstrap interval; unpacks as ``(mean_diff, low, high)``."""

    mean_diff: float
    low: float
    high: float


class Comparison(NamedTuple):
    """What a table cell needs: the interval (``None`` when n is too small) and how it was had."""

    interval: Interval | None
    pairs: int
    resamples: int
    seed: int
    confidence: float
    min_pairs: int = MIN_PAIRS


def _check(a: Sequence[float], b: Sequence[float]) -> None:
    if isinstance(a, (str, bytes)) or isinstance(b, (str, bytes)):
        raise TypeError("a and b must be sequences of numbers, not strings")
    if len(a) != len(b):
        raise ValueError(
            f"a and b must hold one value per query each, in the same order; got {len(a)} "
            f"and {len(b)}"
        )
    if not a:
        raise ValueError("a must not be empty")


def paired_bootstrap(
    a: Sequence[float],
    b: Sequence[float],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = 0.95,
) -> Interval:
    """Mean of ``a[i] - b[i]`` with a percentile bootstrap interval over the pairs.

    Args:
        a: One value per query for the method compared.
        b: The other method's values for the same queries, in the same order.
        resamples: Bootstrap resamples (>= 1).
        seed: Seed of the resampling.
        confidence: Width of the interval, between 0 and 1 (default 95%).

    Returns:
        ``Interval(mean_diff, low, high)``; an interval that holds 0 means the data do not
        show a difference.

    Raises:
        ValueError: ``a`` and ``b`` differ in length or are empty; ``resamples`` < 1;
            ``confidence`` outside (0, 1).

    Examples:
        >>> [round(x, 6) for x in paired_bootstrap([0.3, 0.3], [0.1, 0.1])]
        [0.2, 0.2, 0.2]
    """
    import numpy as np

    _check(a, b)
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    differences = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    picks = np.random.default_rng(seed).integers(0, len(differences), (resamples, len(differences)))
    means = differences[picks].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return Interval(float(differences.mean()), float(low), float(high))


def compare(
    a: Sequence[float],
    b: Sequence[float],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = 0.95,
    min_pairs: int = MIN_PAIRS,
) -> Comparison:
    """[`paired_bootstrap`][ctx_core.eval.bootstrap.paired_bootstrap], or no interval when there are fewer than ``min_pairs`` pairs.

    Examples:
        >>> compare([1.0, 0.0], [0.0, 0.0]).interval is None
        True
    """
    _check(a, b)
    interval = (
        paired_bootstrap(a, b, resamples=resamples, seed=seed, confidence=confidence)
        if len(a) >= min_pairs
        else None
    )
    return Comparison(interval, len(a), resamples, seed, confidence, min_pairs)


def format_interval(comparison: Comparison, digits: int = 3) -> str:
    """One table cell: ``+0.123 [+0.045, +0.201]``, or ``n too small (4 < 10)``."""
    if comparison.interval is None:
        return f"n too small ({comparison.pairs} < {comparison.min_pairs})"
    diff, low, high = comparison.interval
    return f"{diff:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]"
