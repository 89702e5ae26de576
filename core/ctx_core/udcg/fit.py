"""Fitting a relevance calibrator for a scorer on labelled queries."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ctx_core.progress import progress
from ctx_core.scoring.base import Scorer
from ctx_core.types import Passage
from ctx_core.udcg.calibration import LogisticCalibrator
from ctx_core.udcg.signals import RelevanceSignals, ScorerSignals

__all__ = ["LabelledQuery", "fit_calibrator"]

#: ``(query, candidates, labels by passage id)``; graded labels count as relevant at ``>= min_grade``.
LabelledQuery = tuple[str, Sequence[Passage], Mapping[str, int | bool]]


def _as_triple(item: Any) -> LabelledQuery:
    if isinstance(item, tuple):
        return item
    # ctx_core.eval.datasets.RankingQuery and look-alikes
    return item.query, item.candidates, item.qrels


def fit_calibrator(
    scorer: Scorer | RelevanceSignals,
    labelled_queries: Iterable[LabelledQuery | Any],
    *,
    features: Sequence[str] = ("score",),
    min_grade: int = 1,
    unrelated_lists: bool = True,
    show_progress: bool | None = None,
    info: Mapping[str, Any] | None = None,
) -> LogisticCalibrator:
    """Score labelled queries and fit a [`LogisticCalibrator`][ctx_core.udcg.calibration.LogisticCalibrator] to the labels.

    Args:
        scorer: The relevance scorer (its column is ``"score"``) or signal set the
            calibrator is for.
        labelled_queries: ``(query, candidates, labels)`` triples, or objects with
            ``query``, ``candidates`` and ``qrels`` attributes (e.g. ``RankingQuery``).
            Candidates missing from ``labels`` count as not relevant.
        features: Calibrator features (``("score",)`` with a scorer is Platt scaling).
        min_grade: Smallest graded label that counts as relevant.
        unrelated_lists: Also fit on each query paired with the next query's candidates
            (labelled by this query's labels, so usually all 0): the calibrator then
            learns that the best of an unrelated list is still not relevant, which is what
            lets the reranker return an empty context. Needs two queries or more.
        show_progress: Progress bar over queries.
        info: Extra provenance saved with the calibrator.

    Examples:
        >>> from ctx_core.scoring import EmbeddingScorer
        >>> data = [("capital of France", [Passage("Paris is the capital of France.", id="a"),
        ...                                 Passage("Bananas are yellow.", id="b")], {"a": 1}),
        ...         ("largest planet", [Passage("Jupiter is the largest planet.", id="c"),
        ...                              Passage("Rome is old.", id="d")], {"c": 1})]
        >>> calibrator = fit_calibrator(EmbeddingScorer(), data)
        >>> calibrator.info["queries"]
        2
    """
    signals = scorer if isinstance(scorer, RelevanceSignals) else ScorerSignals(scorer)
    triples = [_as_triple(item) for item in labelled_queries]
    pairs = [(query, candidates, labels) for query, candidates, labels in triples]
    if unrelated_lists and len(triples) > 1:
        pairs += [
            (query, triples[(i + 1) % len(triples)][1], labels)
            for i, (query, _, labels) in enumerate(triples)
        ]
    signal_lists, label_lists = [], []
    for query, candidates, labels in progress(pairs, desc="fitting calibrator", show=show_progress):
        signal_lists.append(signals.signals(query, candidates))
        label_lists.append([int(labels.get(p.id, 0)) >= min_grade for p in candidates])
    provenance = {
        "signals": getattr(signals, "name", type(signals).__name__),
        "model": getattr(signals, "model_name", None),
        "queries": len(triples),
        "min_grade": min_grade,
        "unrelated_lists": unrelated_lists and len(triples) > 1,
        **(info or {}),
    }
    return LogisticCalibrator.fit(signal_lists, label_lists, features=features, info=provenance)
