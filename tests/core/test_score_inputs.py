"""Scores and limits that used to give silently wrong results now raise a named error.

NaN/inf scores, non-finite thresholds, and ``top_n`` values that are not a positive
``int`` (``0``, ``1.5``, ``True``) are errors; a per-call ``top_n`` is honoured exactly.
"""

from __future__ import annotations

import math

import pytest

from ctx_core import Passage, Reranker
from ctx_core.errors import ScoreError
from ctx_core.scoring import BM25Scorer
from ctx_core.scoring.base import BaseScorer
from ctx_core.udcg import LogisticCalibrator, UtilityDistractionReranker

PASSAGES = [
    Passage(t, id=i)
    for t, i in [
        ("red apples", "red"),
        ("blue sky", "blu"),
        ("green pears", "gre"),
        ("red red", "rr"),
    ]
]


class FixedScorer(BaseScorer):
    """A real scorer whose scores are given (e.g. what a broken model returns)."""

    name = "fixed"

    def __init__(self, scores: list[float]) -> None:
        self.scores = scores

    def _score(self, query, passages):
        return list(self.scores)


class PlainScorer:
    """A scorer that only follows the protocol (no BaseScorer checks of its own)."""

    def __init__(self, scores: list[float]) -> None:
        self.scores = scores

    def score(self, query, passages):
        return list(self.scores)

    async def ascore(self, query, passages):
        return list(self.scores)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_scores_are_an_error_naming_the_scorer(bad):
    scores = [0.5, bad, 0.9, 0.1]
    with pytest.raises(ScoreError, match=r"fixed.*passage 1"):
        FixedScorer(scores).score("q", PASSAGES)
    with pytest.raises(ScoreError, match="PlainScorer"):
        Reranker(PlainScorer(scores)).rerank("q", PASSAGES)


async def test_non_finite_scores_are_an_error_async():
    with pytest.raises(ScoreError, match="fixed"):
        await Reranker(FixedScorer([0.5, math.nan, 0.9, 0.1])).arerank("q", PASSAGES)
    with pytest.raises(ScoreError, match="PlainScorer"):
        await Reranker(PlainScorer([0.5, math.nan, 0.9, 0.1])).arerank("q", PASSAGES)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "0.5", True])
def test_score_threshold_must_be_a_finite_number(bad):
    with pytest.raises((ValueError, TypeError), match="score_threshold"):
        Reranker(BM25Scorer(), score_threshold=bad)


@pytest.mark.parametrize(
    ("bad", "kind"),
    [(0, ValueError), (-1, ValueError), (1.5, TypeError), (True, TypeError), ("2", TypeError)],
)
def test_top_n_must_be_a_positive_int(bad, kind):
    with pytest.raises(kind, match="top_n"):
        Reranker(BM25Scorer(), top_n=bad)
    with pytest.raises(kind, match="top_n"):
        Reranker(BM25Scorer(), top_n=3).rerank("red", PASSAGES, top_n=bad)
    calibrator = LogisticCalibrator([2.0], -3.0)
    with pytest.raises(kind, match="max_passages"):
        UtilityDistractionReranker(BM25Scorer(), calibrator=calibrator, max_passages=bad)
    with pytest.raises(kind, match="top_n"):
        UtilityDistractionReranker(BM25Scorer(), calibrator=calibrator).rerank(
            "red", PASSAGES, top_n=bad
        )


def test_per_call_top_n_is_honoured_exactly():
    reranker = Reranker(FixedScorer([0.5, 0.2, 0.9, 0.1]), top_n=1)
    assert [p.id for p in reranker.rerank("q", PASSAGES, top_n=3)] == ["gre", "red", "blu"]
    assert len(reranker.rerank("q", PASSAGES)) == 1


def test_udcg_non_finite_primary_score_is_an_error():
    reranker = UtilityDistractionReranker(
        PlainScorer([0.5, math.nan, 0.9, 0.1]), calibrator=LogisticCalibrator([2.0], -3.0)
    )
    with pytest.raises(ScoreError, match="PlainScorer"):
        reranker.rerank("q", PASSAGES)


def test_order_does_not_depend_on_input_order_for_finite_scores():
    scores = {"red": 0.5, "blu": 0.2, "gre": 0.9, "rr": 0.1}
    passages = [Passage(p.text, id=pid) for p, pid in zip(PASSAGES, scores, strict=True)]
    forward = Reranker(FixedScorer(list(scores.values()))).rerank("q", passages)
    backward = Reranker(FixedScorer(list(scores.values())[::-1])).rerank("q", passages[::-1])
    assert [p.id for p in forward] == [p.id for p in backward]
