"""The scorer protocol: ``score(query, passages) -> list[float]``, higher is more relevant."""

from __future__ import annotations

import asyncio
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from ctx_core.errors import ScoreError
from ctx_core.progress import progress
from ctx_core.types import Passage, ensure_passages, validate_query

__all__ = ["BaseScorer", "Scorer", "finite_scores"]


def finite_scores(scores: Sequence[float], scorer: object) -> list[float]:
    """``scores`` as floats, or [`ScoreError`][ctx_core.errors.ScoreError] naming ``scorer`` if one is NaN/inf.

    Non-finite scores are refused rather than sorted: a NaN compares false with
    everything, so the order of the other passages would depend on the input order.
    """
    values = [float(s) for s in scores]
    bad = [i for i, v in enumerate(values) if not math.isfinite(v)]
    if bad:
        name = getattr(scorer, "name", None)
        label = type(scorer).__name__ + (f" ({name!r})" if isinstance(name, str) else "")
        raise ScoreError(
            f"scorer {label} returned a non-finite score {values[bad[0]]!r} for passage "
            f"{bad[0]} ({len(bad)} of {len(values)} non-finite); scores must be finite numbers"
        )
    return values


@runtime_checkable
class Scorer(Protocol):
    """Anything that scores passages for a query (one float per passage, in input order)."""

    def score(self, query: str, passages: Sequence[Passage | str]) -> list[float]:
        """Score each passage for ``query``."""
        ...

    async def ascore(self, query: str, passages: Sequence[Passage | str]) -> list[float]:
        """Async twin of [`score`][ctx_core.scoring.base.Scorer.score]."""
        ...


class BaseScorer(ABC):
    """Base class for scorers: validation, empty input, async and multi-query batching.

    Subclasses implement `_score` (and `_ascore` when they have native async).
    Empty input returns ``[]`` without touching any model.
    """

    #: Short name used in logs, result files and the CLI.
    name: str = "scorer"

    def score(self, query: str, passages: Sequence[Passage | str]) -> list[float]:
        """Score each passage for ``query``; returns one float per passage, in input order.

        Raises:
            TypeError / ValueError: ``query`` is not a non-empty string, or ``passages``
                holds something other than passages or strings, or duplicate ids.
        """
        query = validate_query(query)
        items = ensure_passages(passages)
        if not items:
            return []
        return self._checked(self._score(query, items), items, self)

    async def ascore(self, query: str, passages: Sequence[Passage | str]) -> list[float]:
        """Async twin of [`score`][ctx_core.scoring.base.BaseScorer.score]."""
        query = validate_query(query)
        items = ensure_passages(passages)
        if not items:
            return []
        return self._checked(await self._ascore(query, items), items, self)

    def score_many(
        self,
        queries: Sequence[str],
        passage_lists: Sequence[Sequence[Passage | str]],
        *,
        show_progress: bool | None = None,
    ) -> list[list[float]]:
        """Score several (query, passages) pairs, with a progress bar for long jobs."""
        if len(queries) != len(passage_lists):
            raise ValueError(
                f"queries and passage_lists differ in length ({len(queries)} vs {len(passage_lists)})"
            )
        pairs = list(zip(queries, passage_lists, strict=True))
        return [
            self.score(q, ps)
            for q, ps in progress(
                pairs, desc=f"scoring ({self.name})", show=show_progress, unit="query"
            )
        ]

    @abstractmethod
    def _score(self, query: str, passages: list[Passage]) -> list[float]:
        """Score validated, non-empty input."""

    async def _ascore(self, query: str, passages: list[Passage]) -> list[float]:
        return await asyncio.to_thread(self._score, query, passages)

    @staticmethod
    def _checked(
        scores: Sequence[float], passages: Sequence[Passage], scorer: object = None
    ) -> list[float]:
        if len(scores) != len(passages):
            raise RuntimeError(f"scorer returned {len(scores)} scores for {len(passages)} passages")
        return finite_scores(scores, scorer)
