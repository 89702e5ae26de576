"""The generic reranker: score, sort, cut.

Examples:
    >>> from ctx_core import Passage, Reranker
    >>> from ctx_core.scoring import EmbeddingScorer
    >>> reranker = Reranker(EmbeddingScorer(), top_n=1)
    >>> passages = [Passage("Bananas are yellow.", id="b"), Passage("Paris is in France.", id="p")]
    >>> [p.id for p in reranker.rerank("Where is Paris?", passages)]
    ['p']
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from ctx_core._registry import Configurable, config_value
from ctx_core.scoring.base import Scorer, finite_scores
from ctx_core.types import Passage, ensure_passages, validate_query, validate_top_n

__all__ = ["PassageReranker", "Reranker", "apply_scores"]


@runtime_checkable
class PassageReranker(Protocol):
    """What the framework adapters need of a reranker: sync and async ``rerank``."""

    def rerank(
        self, query: str, passages: Sequence[Passage | str], top_n: int | None = None
    ) -> list[Passage]:
        """Return the passages worth reading, best first."""
        ...

    async def arerank(
        self, query: str, passages: Sequence[Passage | str], top_n: int | None = None
    ) -> list[Passage]:
        """Async twin of [`rerank`][ctx_core.rerank.PassageReranker.rerank]."""
        ...


def apply_scores(passages: Sequence[Passage], scores: Sequence[float]) -> list[Passage]:
    """Copies of ``passages`` carrying their new score.

    The score goes to ``Passage.score`` and ``metadata["relevance_score"]``; a
    previous score (e.g. from retrieval) is kept as ``metadata["retrieval_score"]``.
    """
    result = []
    for passage, score in zip(passages, scores, strict=True):
        extra: dict[str, float] = {"relevance_score": float(score)}
        if passage.score is not None:
            extra["retrieval_score"] = passage.score
        result.append(passage.with_metadata(**extra).with_score(score))
    return result


class Reranker(Configurable):
    """Sort passages by a scorer's relevance, then keep the best.

    Args:
        scorer: Any [`Scorer`][ctx_core.scoring.base.Scorer] (default: the packaged MiniLM
            [`EmbeddingScorer`][ctx_core.scoring.embedding.EmbeddingScorer]). Its config is nested in the
            reranker's, so it must have one for [`config`][ctx_core.rerank.Reranker.config] to work.
        top_n: Keep at most this many passages: an ``int`` >= 1, or ``None`` for all.
        score_threshold: Drop passages scoring below this finite value (``None``: keep all).

    Raises:
        ScoreError: the scorer returned a NaN or infinite score (see
            [`finite_scores`][ctx_core.scoring.base.finite_scores]).

    Ties keep the input order. Returned passages are copies; ids, text and the
    caller's metadata are unchanged.
    """

    def __init__(
        self,
        scorer: Scorer | None = None,
        top_n: int | None = None,
        score_threshold: float | None = None,
    ) -> None:
        validate_top_n(top_n)
        if score_threshold is not None:
            if isinstance(score_threshold, bool) or not isinstance(score_threshold, (int, float)):
                raise TypeError(
                    f"score_threshold must be a number or None, got {score_threshold!r}"
                )
            if not math.isfinite(score_threshold):
                raise ValueError(f"score_threshold must be finite, got {score_threshold!r}")
        if scorer is None:
            from ctx_core.scoring import EmbeddingScorer

            scorer = EmbeddingScorer()
        if not isinstance(scorer, Scorer):
            raise TypeError(f"scorer must implement score()/ascore(), got {type(scorer).__name__}")
        self.scorer = scorer
        self.top_n = top_n
        self.score_threshold = score_threshold

    def config(self) -> dict[str, Any]:
        """The scorer's config, ``top_n`` and ``score_threshold``.

        Raises:
            ConfigError: the scorer has no ``config()``.

        Examples:
            >>> from ctx_core._registry import from_config
            >>> from ctx_core.scoring import BM25Scorer
            >>> Reranker(BM25Scorer(), top_n=3).config()
            {'type': 'Reranker', 'scorer': {'type': 'BM25Scorer', 'k1': 0.9, 'b': 0.4}, 'top_n': 3, 'score_threshold': None}
            >>> from_config(Reranker(BM25Scorer(), top_n=3).config()).top_n
            3
        """
        return {
            "type": "Reranker",
            "scorer": config_value(self.scorer, "scorer"),
            "top_n": self.top_n,
            "score_threshold": self.score_threshold,
        }

    def rerank(
        self, query: str, passages: Sequence[Passage | str], top_n: int | None = None
    ) -> list[Passage]:
        """Score ``passages`` for ``query`` and return the best, best first.

        Args:
            query: The question or search query.
            passages: Candidates (``str`` items are wrapped in [`Passage`][ctx_core.types.Passage]).
            top_n: Overrides the reranker's ``top_n`` for this call.
        """
        query = validate_query(query)
        items = ensure_passages(passages)
        if not items:
            return []
        return self._select(items, self.scorer.score(query, items), top_n)

    async def arerank(
        self, query: str, passages: Sequence[Passage | str], top_n: int | None = None
    ) -> list[Passage]:
        """Async twin of [`rerank`][ctx_core.rerank.Reranker.rerank]."""
        query = validate_query(query)
        items = ensure_passages(passages)
        if not items:
            return []
        return self._select(items, await self.scorer.ascore(query, items), top_n)

    def _select(
        self, passages: list[Passage], scores: Sequence[float], top_n: int | None
    ) -> list[Passage]:
        validate_top_n(top_n)
        limit = top_n if top_n is not None else self.top_n
        scores = finite_scores(scores, self.scorer)
        if len(scores) != len(passages):
            raise RuntimeError(f"scorer returned {len(scores)} scores for {len(passages)} passages")
        scored = apply_scores(passages, scores)
        order = sorted(range(len(scored)), key=lambda i: -scores[i])
        kept = [
            scored[i]
            for i in order
            if self.score_threshold is None or scores[i] >= self.score_threshold
        ]
        return kept[:limit] if limit is not None else kept
