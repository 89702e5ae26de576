"""Fitting a relevance calibrator for a scorer on labelled queries."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ctx_core.progress import progress
from ctx_core.scoring.base import Scorer
from ctx_core.types import Passage
from ctx_core.udcg.calibration import LogisticCalibrator
from ctx_core.udcg.list_gate import ListGate
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
    list_gate: Sequence[str] | None = None,
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
        list_gate: List features of a [`ListGate`][ctx_core.udcg.list_gate.ListGate]
            to fit as well (e.g. ``("max:dense", "at_best:coverage")`` for
            ``HybridSignals``, ``("max:score",)`` for one scorer): the lists of queries
            holding a relevant passage against the unrelated lists with nothing relevant;
            its threshold empties about 1 in 100 of the queries' own lists.
            Needs ``unrelated_lists``; ``None``: no gate (the calibrator's ``empty_below``
            decides).
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
    if list_gate is not None and not (unrelated_lists and len(triples) > 1):
        raise ValueError("list_gate needs unrelated_lists=True and two labelled queries or more")
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
    calibrator = LogisticCalibrator.fit(
        signal_lists, label_lists, features=features, info=provenance
    )
    if list_gate is not None:
        # Own lists (the first len(triples)) with a relevant passage are related; the
        # unrelated lists that hold nothing relevant for the query are not.
        own = len(triples)
        chosen = [
            (s, i < own)
            for i, (s, labels) in enumerate(zip(signal_lists, label_lists, strict=True))
            if (i < own) == any(labels)
        ]
        calibrator.list_gate = ListGate.fit(
            [s for s, _ in chosen],
            [related for _, related in chosen],
            features=list_gate,
            best_column=signals.primary,
            threshold_lists=[signal_lists[:own]],  # every own list counts for the 1% emptied
        )
    return calibrator
