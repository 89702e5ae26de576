"""Is a candidate list about its query at all? A list-level decision for the empty context.

A calibrator gives each passage a probability of relevance *relative to its list*: its
listwise features (gap to the best, in-list BM25) look alike at the top of every list,
so the best passage of a list retrieved for another question can still get a fair
probability. Whether the list as a whole is about the query is a separate question, and
it is answered better from a few list-level features: the best absolute cosine
(``max:dense``) and how many of the query's content words the best passage names
(``at_best:coverage``, see [`query_coverage`][ctx_core.udcg.signals.query_coverage]).

[`ListGate`][ctx_core.udcg.list_gate.ListGate] is a logistic regression on such features,
fitted on lists retrieved for their query (related) against lists retrieved for another
query (unrelated); ``threshold`` is the 1% quantile of the score of related training lists,
so about 1 in 100 related lists is emptied. It is stored with the calibrator
(``LogisticCalibrator.list_gate``) and used by the reranker in place of the calibrator's
``empty_below``.

A list feature is ``"summary:column"``; summaries are listed in `LIST_SUMMARIES`:
``max`` (the largest value), ``median_gap`` (largest minus median) and ``at_best`` (the
value at the passage that is best by ``best_column``).

Examples:
    >>> related = [{"dense": [0.7, 0.2], "coverage": [1.0, 0.0]},
    ...            {"dense": [0.6, 0.3], "coverage": [0.5, 0.5]}]
    >>> unrelated = [{"dense": [0.1, 0.2], "coverage": [0.0, 0.0]},
    ...              {"dense": [0.3, 0.1], "coverage": [0.0, 0.5]}]
    >>> gate = ListGate.fit(related + unrelated, [True, True, False, False])
    >>> gate.unrelated({"dense": [0.65, 0.1], "coverage": [1.0, 0.0]})
    False
    >>> gate.unrelated({"dense": [0.15, 0.1], "coverage": [0.0, 0.0]})
    True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ctx_core.udcg._logistic import fit_logistic

__all__ = ["DEFAULT_GATE_FEATURES", "LIST_SUMMARIES", "ListGate"]

#: The default relevance signals' gate features (chosen by leave-one-data-set-out).
DEFAULT_GATE_FEATURES: tuple[str, ...] = ("max:dense", "at_best:coverage")

#: Share of related training lists the fitted threshold empties.
GATE_QUANTILE = 0.01


def _at_best(values: np.ndarray, best: int) -> float:
    return float(values[best])


#: List summaries: ``f(values, index of the best passage) -> float``.
LIST_SUMMARIES: dict[str, Callable[[np.ndarray, int], float]] = {
    "max": lambda v, best: float(v.max()),
    "median_gap": lambda v, best: float(v.max() - np.median(v)),
    "at_best": _at_best,
}


def _parse(feature: str) -> tuple[Callable[[np.ndarray, int], float], str]:
    summary, sep, column = feature.partition(":")
    if not sep or summary not in LIST_SUMMARIES or not column:
        raise ValueError(
            f"list feature {feature!r} must be 'summary:column' with summary one of "
            f"{sorted(LIST_SUMMARIES)}"
        )
    return LIST_SUMMARIES[summary], column


class ListGate:
    """A logistic decision whether one query's candidate list is related to the query.

    Args:
        weights: One weight per feature.
        bias: Intercept.
        features: ``"summary:column"`` specs (default `DEFAULT_GATE_FEATURES`).
        threshold: Probability of "related" below which the list counts as unrelated
            (the reranker then keeps nothing).
        best_column: The column whose largest value marks the best passage (for ``at_best``).
        info: Free-form provenance, saved with the gate.
    """

    def __init__(
        self,
        weights: Sequence[float],
        bias: float,
        features: Sequence[str] = DEFAULT_GATE_FEATURES,
        threshold: float = 0.5,
        best_column: str = "dense",
        info: Mapping[str, Any] | None = None,
    ) -> None:
        for feature in features:
            _parse(feature)
        if len(weights) != len(features):
            raise ValueError(f"{len(weights)} weights for {len(features)} list features")
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        self.weights = [float(w) for w in weights]
        self.bias = float(bias)
        self.features = tuple(features)
        self.threshold = float(threshold)
        self.best_column = best_column
        self.info = dict(info or {})

    def __repr__(self) -> str:
        terms = " + ".join(f"{w:.3f}*{f}" for w, f in zip(self.weights, self.features, strict=True))
        return f"ListGate(sigmoid({terms} + {self.bias:.3f}) < {self.threshold:.3f})"

    @property
    def columns(self) -> set[str]:
        """The signal columns the gate reads."""
        return {_parse(f)[1] for f in self.features} | {self.best_column}

    def design(self, signals: Mapping[str, Sequence[float]]) -> np.ndarray:
        """The list's feature vector."""
        missing = sorted(self.columns - set(signals))
        if missing:
            raise ValueError(f"signals lack columns {missing} (have {sorted(signals)})")
        best_values = np.asarray(signals[self.best_column], dtype=np.float64)
        if len(best_values) == 0:
            raise ValueError("a list gate needs at least one candidate")
        best = int(np.argmax(best_values))
        row = []
        for feature in self.features:
            summary, column = _parse(feature)
            values = np.asarray(signals[column], dtype=np.float64)
            if not np.all(np.isfinite(values)):
                raise ValueError(f"signal column {column!r} has non-finite values")
            row.append(summary(values, best))
        return np.asarray(row)

    def probability(self, signals: Mapping[str, Sequence[float]]) -> float:
        """Probability that the list is about its query."""
        z = float(self.design(signals) @ np.asarray(self.weights) + self.bias)
        return float(1.0 / (1.0 + np.exp(-z)))

    def unrelated(self, signals: Mapping[str, Sequence[float]]) -> bool:
        """Whether the list looks unrelated to its query (probability below ``threshold``)."""
        return self.probability(signals) < self.threshold

    @classmethod
    def fit(
        cls,
        signal_lists: Sequence[Mapping[str, Sequence[float]]],
        related: Sequence[bool],
        *,
        features: Sequence[str] = DEFAULT_GATE_FEATURES,
        best_column: str = "dense",
        l2: float = 1e-2,
        threshold_lists: Sequence[Sequence[Mapping[str, Sequence[float]]]] | None = None,
        info: Mapping[str, Any] | None = None,
    ) -> ListGate:
        """Fit on lists labelled related (retrieved for their query) or not.

        Args:
            signal_lists: One signal mapping per list.
            related: Whether each list is related to its query.
            features: List features.
            best_column: The column that marks the best passage.
            l2: L2 penalty on the weights.
            threshold_lists: Groups of related lists (e.g. one per data set); the threshold
                is the smallest of their 1% quantiles of the gate's probability. Default: one
                group, the related lists of ``signal_lists``.
            info: Provenance saved with the gate.

        Raises:
            ValueError: Mismatched lengths, or only one kind of list.
        """
        if len(signal_lists) != len(related) or not signal_lists:
            raise ValueError("signal_lists and related must be non-empty and of equal length")
        probe = cls([0.0] * len(features), 0.0, features, best_column=best_column)
        x = np.stack([probe.design(s) for s in signal_lists])
        y = np.asarray([1.0 if r else 0.0 for r in related])
        if y.sum() == 0 or y.sum() == len(y):
            raise ValueError("need both related and unrelated lists to fit a list gate")
        weights, bias = fit_logistic(x, y, l2)
        gate = cls(
            weights,
            bias,
            features,
            best_column=best_column,
            info={
                **(info or {}),
                "related_lists": int(y.sum()),
                "unrelated_lists": int(len(y) - y.sum()),
            },
        )
        groups = threshold_lists or [[s for s, r in zip(signal_lists, related, strict=True) if r]]
        gate.threshold = min(
            float(np.quantile([gate.probability(s) for s in group], GATE_QUANTILE))
            for group in groups
            if group
        )
        return gate

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "features": list(self.features),
            "weights": self.weights,
            "bias": self.bias,
            "threshold": self.threshold,
            "best_column": self.best_column,
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ListGate:
        """Inverse of [`to_dict`][ctx_core.udcg.list_gate.ListGate.to_dict]."""
        return cls(
            data["weights"],
            data["bias"],
            data["features"],
            data["threshold"],
            data.get("best_column", "dense"),
            data.get("info"),
        )
