"""Relevance signals: the named per-passage columns a calibrator turns into probabilities.

A single scorer gives one column ([`ScorerSignals`][ctx_core.udcg.signals.ScorerSignals]). [`HybridSignals`][ctx_core.udcg.signals.HybridSignals], the
default of the distraction-aware reranker, gives several cheap ones computed from one
set of embeddings:

========================  =====================================================================
column                    meaning
========================  =====================================================================
``dense``                 cosine of query and passage (bi-encoder, default packaged MiniLM)
``feedback``              cosine of the passage with the query *plus the best passage*: a
                          second hop for questions whose answer needs two linked passages
``bm25``                  BM25 of the query over the candidate list (lexical evidence)
``title_in_query``        share of the passage title's content words found in the query
``title_in_best``         1 when the passage title is named in the best passage (a link from
                          the best evidence to this passage), else 0
``coverage``              share of the query's content words found in the passage (lexical
                          evidence that the list is about the query at all, see
                          [`ListGate`][ctx_core.udcg.list_gate.ListGate])
========================  =====================================================================

Titles come from ``metadata["title"]``; without titles the two title columns are 0.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ctx_core._registry import Configurable, config_value
from ctx_core.embeddings import Embedder, embedder_config
from ctx_core.scoring.base import Scorer
from ctx_core.scoring.bm25 import ENGLISH_STOPWORDS, BM25Scorer, word_tokens
from ctx_core.types import Passage, ensure_passages, validate_query

__all__ = [
    "HYBRID_FEATURES",
    "HybridSignals",
    "RelevanceSignals",
    "ScorerSignals",
    "query_coverage",
]

#: Calibrator features of the reranker's default (``HybridSignals()``): chosen by
#: leave-one-data-set-out over five data sets (``benchmarks/udcg_lodo.py``).
HYBRID_FEATURES: tuple[str, ...] = (
    "dense",
    "gap_to_best:dense",
    "feedback",
    "gap_to_best:feedback",
    "max_norm:bm25",
    "title_in_query",
    "title_in_best",
)

_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "the",
        "to",
        "was",
        "were",
        "with",
    ]
)


@runtime_checkable
class RelevanceSignals(Protocol):
    """Computes named relevance columns (one value per passage) for one query."""

    #: Names of the columns [`signals`][ctx_core.udcg.signals.RelevanceSignals.signals] returns.
    columns: tuple[str, ...]
    #: The column reported as ``relevance_score``.
    primary: str

    def signals(self, query: str, passages: Sequence[Passage]) -> dict[str, list[float]]:
        """One list per column, each aligned with ``passages``."""
        ...

    async def asignals(self, query: str, passages: Sequence[Passage]) -> dict[str, list[float]]:
        """Async twin of [`signals`][ctx_core.udcg.signals.RelevanceSignals.signals]."""
        ...


class ScorerSignals(Configurable):
    """Any core scorer as a one-column signal set (column ``"score"``).

    Examples:
        >>> from ctx_core.scoring.bm25 import BM25Scorer
        >>> ScorerSignals(BM25Scorer()).signals("cats", [Passage("cats purr", id="a")])["score"][0] > 0
        True
    """

    primary = "score"
    columns: tuple[str, ...] = ("score",)

    def __init__(self, scorer: Scorer) -> None:
        if not isinstance(scorer, Scorer):
            raise TypeError(f"scorer must implement score()/ascore(), got {type(scorer).__name__}")
        self.scorer = scorer
        self.name = str(getattr(scorer, "name", type(scorer).__name__))
        self.model_name = getattr(scorer, "model_name", None)

    def config(self) -> dict[str, Any]:
        """The scorer's config (``ConfigError`` when it has none)."""
        return {"type": "ScorerSignals", "scorer": config_value(self.scorer, "scorer")}

    def signals(self, query: str, passages: Sequence[Passage]) -> dict[str, list[float]]:
        """``{"score": scorer.score(query, passages)}``."""
        return {"score": self.scorer.score(query, passages)}

    async def asignals(self, query: str, passages: Sequence[Passage]) -> dict[str, list[float]]:
        """Async twin of [`signals`][ctx_core.udcg.signals.ScorerSignals.signals]."""
        return {"score": await self.scorer.ascore(query, passages)}


class HybridSignals(Configurable):
    """Dense, feedback, lexical and title-link signals from one embedding pass.

    Args:
        embedder: The bi-encoder (default: packaged MiniLM), or a model id / path.
        title_key: Metadata key holding a passage's title (``None``: titles are not used,
            and the two title columns are 0).
        bm25: The lexical scorer (default ``BM25Scorer()``).

    Examples:
        >>> signals = HybridSignals()
        >>> columns = signals.signals("Who wrote Hamlet?", [
        ...     Passage("Hamlet is a play by William Shakespeare.", id="a", metadata={"title": "Hamlet"}),
        ...     Passage("He was born in Stratford.", id="b", metadata={"title": "William Shakespeare"}),
        ... ])
        >>> columns["title_in_query"], columns["title_in_best"]
        ([1.0, 0.0], [0.0, 1.0])
    """

    primary = "dense"
    columns: tuple[str, ...] = (
        "dense",
        "feedback",
        "bm25",
        "title_in_query",
        "title_in_best",
        "coverage",
    )
    name = "hybrid"

    def __init__(
        self,
        embedder: Embedder | str | None = None,
        *,
        title_key: str | None = "title",
        bm25: BM25Scorer | None = None,
    ) -> None:
        self.embedder = embedder if isinstance(embedder, Embedder) else Embedder(embedder)
        self.model_name = self.embedder.model_name
        self.title_key = title_key
        self.bm25 = bm25 or BM25Scorer()

    def config(self) -> dict[str, Any]:
        """The embedder (by model name), the title key and the BM25 scorer's config."""
        return {
            "type": "HybridSignals",
            "embedder": embedder_config(self.embedder),
            "title_key": self.title_key,
            "bm25": self.bm25.config(),
        }

    def signals(self, query: str, passages: Sequence[Passage]) -> dict[str, list[float]]:
        """All columns for one query's candidates."""
        query = validate_query(query)
        items = ensure_passages(passages)
        if not items:
            return {c: [] for c in self.columns}
        vectors = self.embedder.embed(self._texts(items), ids=[p.id for p in items])
        q = self.embedder.embed_query(query)
        dense = vectors @ q
        best = int(np.argmax(dense))
        hop = self.embedder.embed_query(f"{query} {self._texts([items[best]])[0]}")
        titles = [self._title(p) for p in items]
        query_words = set(word_tokens(query))
        best_text = items[best].text
        scored = self._with_titles(items)
        return {
            "dense": dense.tolist(),
            "feedback": (vectors @ hop).tolist(),
            "bm25": self.bm25.score(query, scored),
            "title_in_query": [_title_overlap(t, query_words) for t in titles],
            "title_in_best": [
                0.0 if i == best else _names(t, best_text) for i, t in enumerate(titles)
            ],
            "coverage": query_coverage(query, [p.text for p in scored], self.bm25.stopwords),
        }

    async def asignals(self, query: str, passages: Sequence[Passage]) -> dict[str, list[float]]:
        """Async twin of [`signals`][ctx_core.udcg.signals.HybridSignals.signals] (runs in a worker thread)."""
        return await asyncio.to_thread(self.signals, query, passages)

    def _texts(self, passages: Sequence[Passage]) -> list[str]:
        return [p.text for p in self._with_titles(passages)]

    def _title(self, passage: Passage) -> str:
        return "" if self.title_key is None else str(passage.metadata.get(self.title_key) or "")

    def _with_titles(self, passages: Sequence[Passage]) -> list[Passage]:
        # Scoring sees "title: text" when there is a title; the passages returned are untouched.
        out = []
        for p in passages:
            title = self._title(p)
            out.append(Passage(f"{title}: {p.text}" if title else p.text, id=p.id))
        return out


def query_coverage(
    query: str, texts: Sequence[str], stopwords: frozenset[str] = ENGLISH_STOPWORDS
) -> list[float]:
    """Share of the query's content words (BM25's tokens, stopwords out) found in each text.

    A list retrieved for a query almost always holds a passage that names most of its
    content words; a list retrieved for another question rarely does, which is why
    [`ListGate`][ctx_core.udcg.list_gate.ListGate] reads this at the best passage.
    A query with no content word gives 0 for every text.

    Examples:
        >>> query_coverage("Who wrote Hamlet in 1600?", ["Hamlet was written in 1600.", "Rome"])
        [0.6666666666666666, 0.0]
    """
    words = set(word_tokens(query)) - stopwords
    if not words:
        return [0.0] * len(texts)
    return [len(words & set(word_tokens(text))) / len(words) for text in texts]


def _title_overlap(title: str, query_words: set[str]) -> float:
    words = set(word_tokens(title)) - _STOPWORDS
    return len(words & query_words) / len(words) if words else 0.0


def _names(title: str, text: str) -> float:
    # "Kiss and Tell (1945 film)" is named in text as "Kiss and Tell".
    name = re.sub(r"\s*\([^)]*\)\s*$", "", title).strip().lower()
    if not name:
        return 0.0
    pattern = r"(?<!\w)" + re.escape(name) + r"(?!\w)"
    return 1.0 if re.search(pattern, text.lower()) else 0.0
