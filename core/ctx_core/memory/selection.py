"""Choosing among candidate memories: chunk clarity, extraction completeness, rank fusion.

* **Chunk clarity** - how sure an evaluator is that adjacent chunks are about different
  topics: the probability of "yes" (against "no") as the first token of the reply to a
  boundary question, averaged over a memory's adjacent chunk pairs.
* **Extraction completeness** - how well each core content predicts its chunk: the
  chunk's log-likelihood as the reply to "write the passage this key information comes
  from", per token (summed over a memory's chunks, divided by their tokens).
* The two rankings are combined by reciprocal rank fusion, ``sum 1 / (k + rank)`` with
  ``k = 60``; the best fused score wins, ties going to the earlier candidate.

Without log-probabilities (an LLM behind an API), [`EmbeddingJudge`][ctx_core.memory.selection.EmbeddingJudge] stands in:
clarity is the embedding dissimilarity of adjacent chunks, completeness the cosine
similarity of each core content with its chunk.

Examples:
    >>> from ctx_core.memory.selection import reciprocal_rank_fusion
    >>> reciprocal_rank_fusion([[0.9, 0.5, 0.1], [0.2, 0.8, 0.1]], k=60)  # doctest: +ELLIPSIS
    [0.0325..., 0.0325..., 0.0317...]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from ctx_core.embeddings import Embedder
from ctx_core.llm.base import ScoringLLM, supports
from ctx_core.memory.prompts import (
    BOUNDARY_NO,
    BOUNDARY_YES,
    boundary_prompt,
    completeness_prompt,
)

__all__ = [
    "EmbeddingJudge",
    "Judge",
    "LogprobJudge",
    "competition_ranks",
    "reciprocal_rank_fusion",
]


def competition_ranks(values: Sequence[float | None]) -> list[int]:
    """1-based ranks, higher values first; equal values share a rank; ``None`` ranks last."""
    ranks = []
    for value in values:
        if value is None:
            ranks.append(len(values))
        else:
            ranks.append(1 + sum(1 for v in values if v is not None and v > value))
    return ranks


def reciprocal_rank_fusion(scores: Sequence[Sequence[float | None]], k: int = 60) -> list[float]:
    """Fuse several score lists (one value per candidate, higher is better) by RRF.

    Args:
        scores: One list per criterion, each with one value (or ``None``) per candidate.
        k: The RRF constant (60 in the literature and here).
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    if not scores:
        return []
    n = len(scores[0])
    if any(len(s) != n for s in scores):
        raise ValueError("every score list must have one value per candidate")
    fused = [0.0] * n
    for values in scores:
        for i, rank in enumerate(competition_ranks(values)):
            fused[i] += 1.0 / (k + rank)
    return fused


class Judge(Protocol):
    """Scores boundaries between chunks and core contents against their chunks."""

    #: ``"logprobs"`` or ``"embeddings"`` (recorded in the memory's info).
    method: str

    def separations(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """For each (chunk, next chunk) pair, how clearly they are separate topics, in [0, 1]."""
        ...

    def completeness(self, items: Sequence[tuple[str, str]]) -> list[tuple[float, float]]:
        """For each (core content, chunk) pair, ``(value, weight)``; averaged with the weights."""
        ...


class LogprobJudge:
    """Clarity and completeness from an LLM's token probabilities.

    Args:
        llm: A [`ScoringLLM`][ctx_core.llm.base.ScoringLLM] (e.g. ``TransformersLLM``).
        context_chars: Characters of each chunk shown in a boundary question (the end of
            the first chunk, the start of the second).
        chunk_chars: Longest chunk text scored for completeness (its start is kept).
    """

    method = "logprobs"

    def __init__(self, llm: ScoringLLM, *, context_chars: int = 800, chunk_chars: int = 2000):
        if not isinstance(llm, ScoringLLM):
            raise TypeError(
                f"llm must implement next_token_logprobs/continuation_logprobs, got {type(llm).__name__}"
            )
        if not supports(llm, "continuation"):
            # Completeness scores a chunk as a continuation: a chat API that reports only
            # generated tokens' probabilities cannot do that (say so now, not mid-extraction).
            raise TypeError(
                f"llm {llm!r} scores next tokens only; the completeness judge needs continuation "
                "log-probabilities (OpenAICompatibleLLM with chat_template=..., or TransformersLLM)"
            )
        self.llm = llm
        self.context_chars = context_chars
        self.chunk_chars = chunk_chars

    def separations(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """P("yes") / (P("yes") + P("no")) for "are these different topics?"."""
        if not pairs:
            return []
        prompts = [
            boundary_prompt(a.strip()[-self.context_chars :], b.strip()[: self.context_chars])
            for a, b in pairs
        ]
        tokens = [*BOUNDARY_YES, *BOUNDARY_NO]
        rows = self.llm.next_token_logprobs(prompts, tokens)
        result = []
        for row in rows:
            yes = _logsumexp(row[: len(BOUNDARY_YES)])
            no = _logsumexp(row[len(BOUNDARY_YES) :])
            result.append(1.0 / (1.0 + math.exp(no - yes)))
        return result

    def completeness(self, items: Sequence[tuple[str, str]]) -> list[tuple[float, float]]:
        """Per-token log-likelihood of each chunk given its core content, weighted by tokens."""
        if not items:
            return []
        prompts = [completeness_prompt(core) for core, _ in items]
        chunks = [chunk.strip()[: self.chunk_chars] or chunk for _, chunk in items]
        scores = self.llm.continuation_logprobs(prompts, chunks)
        return [(s.mean_logprob, float(s.num_tokens)) for s in scores]


class EmbeddingJudge:
    """Clarity and completeness from embeddings, for LLMs without log-probabilities.

    Args:
        embedder: The embedder to use.
    """

    method = "embeddings"

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def separations(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """``(1 - cos(chunk, next chunk)) / 2``."""
        if not pairs:
            return []
        left = self.embedder.embed([a for a, _ in pairs])
        right = self.embedder.embed([b for _, b in pairs])
        return [float((1.0 - x) / 2.0) for x in np.sum(left * right, axis=1)]

    def completeness(self, items: Sequence[tuple[str, str]]) -> list[tuple[float, float]]:
        """``cos(core content, chunk)``, weighted by the chunk's length."""
        if not items:
            return []
        cores = self.embedder.embed([c for c, _ in items])
        chunks = self.embedder.embed([t for _, t in items])
        sims = np.sum(cores * chunks, axis=1)
        return [(float(s), float(max(len(t), 1))) for s, (_, t) in zip(sims, items, strict=True)]


def _logsumexp(values: Sequence[float]) -> float:
    top = max(values)
    if top == -math.inf:
        return top
    return top + math.log(sum(math.exp(v - top) for v in values))
