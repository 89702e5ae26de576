"""Turning raw relevance scores into probabilities of relevance.

:class:`LogisticCalibrator` is Platt scaling (``p = sigmoid(a * score + b)``) when
fitted on the raw score alone - the default. It can also read *listwise* features
that compare a passage with the rest of its candidate list (our extension): a
bi-encoder's absolute cosine says little across queries, while its gap to the best
candidate of the same query says a lot.

Examples:
    >>> calibrator = LogisticCalibrator.fit([[0.9, 0.2, 0.1], [0.8, 0.7, 0.1]], [[1, 0, 0], [1, 1, 0]])
    >>> p = calibrator.probabilities([0.85, 0.15])
    >>> p[0] > 0.5 > p[1]
    True
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["FEATURES", "Calibrator", "LogisticCalibrator", "load_calibrator"]


def _gap_to_best(scores: np.ndarray) -> np.ndarray:
    return scores - scores.max()


def _zscore(scores: np.ndarray) -> np.ndarray:
    spread = scores.std()
    return (scores - scores.mean()) / spread if spread > 1e-12 else np.zeros_like(scores)


def _reciprocal_rank(scores: np.ndarray) -> np.ndarray:
    order = np.argsort(-scores, kind="stable")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    return 1.0 / ranks


#: Features a calibrator can use, each computed from one query's list of scores.
FEATURES = {
    "score": lambda s: s,
    "gap_to_best": _gap_to_best,
    "zscore": _zscore,
    "reciprocal_rank": _reciprocal_rank,
}


@runtime_checkable
class Calibrator(Protocol):
    """Maps one query's raw scores to probabilities of relevance."""

    def probabilities(self, scores: Sequence[float]) -> list[float]:
        """One probability per score, for the scores of one query's candidates."""
        ...


class LogisticCalibrator:
    """Logistic regression on features of one query's scores (Platt scaling by default).

    Args:
        weights: One weight per feature.
        bias: Intercept.
        features: Names from :data:`FEATURES` (default ``("score",)``: Platt scaling).
        info: Free-form provenance (scorer, data set, sizes), saved with the calibrator.
    """

    def __init__(
        self,
        weights: Sequence[float],
        bias: float,
        features: Sequence[str] = ("score",),
        info: Mapping[str, Any] | None = None,
    ) -> None:
        unknown = [f for f in features if f not in FEATURES]
        if unknown:
            raise ValueError(f"unknown features {unknown}; choose from {sorted(FEATURES)}")
        if len(weights) != len(features):
            raise ValueError(f"{len(weights)} weights for {len(features)} features")
        self.weights = [float(w) for w in weights]
        self.bias = float(bias)
        self.features = tuple(features)
        self.info = dict(info or {})

    def __repr__(self) -> str:
        terms = " + ".join(f"{w:.3f}*{f}" for w, f in zip(self.weights, self.features, strict=True))
        return f"LogisticCalibrator(sigmoid({terms} + {self.bias:.3f}))"

    def _design(self, scores: Sequence[float]) -> np.ndarray:
        s = np.asarray(scores, dtype=np.float64)
        if not np.all(np.isfinite(s)):
            raise ValueError("scores must be finite numbers")
        return np.stack([FEATURES[f](s) for f in self.features], axis=1)

    def probabilities(self, scores: Sequence[float]) -> list[float]:
        """Probability of relevance of each candidate of one query."""
        if len(scores) == 0:
            return []
        z = self._design(scores) @ np.asarray(self.weights) + self.bias
        return [float(x) for x in 1.0 / (1.0 + np.exp(-z))]

    @classmethod
    def fit(
        cls,
        score_lists: Sequence[Sequence[float]],
        label_lists: Sequence[Sequence[bool | int]],
        *,
        features: Sequence[str] = ("score",),
        l2: float = 1e-3,
        info: Mapping[str, Any] | None = None,
    ) -> LogisticCalibrator:
        """Fit on labelled queries: one list of scores and one list of 0/1 labels per query.

        Uses Platt's smoothed targets ((N+ + 1) / (N+ + 2) and 1 / (N- + 2)) so that
        probabilities stay away from exactly 0 and 1, and Newton's method with a small
        L2 penalty on the weights.

        Raises:
            ValueError: No data, mismatched lengths, or only one class in the labels.
        """
        if len(score_lists) != len(label_lists) or not score_lists:
            raise ValueError("score_lists and label_lists must be non-empty and of equal length")
        probe = cls([0.0] * len(features), 0.0, features)
        rows, targets = [], []
        for i, (scores, labels) in enumerate(zip(score_lists, label_lists, strict=True)):
            if len(scores) != len(labels):
                raise ValueError(f"query {i}: {len(scores)} scores but {len(labels)} labels")
            if len(scores):
                rows.append(probe._design(scores))
                targets.extend(1.0 if label else 0.0 for label in labels)
        x = np.concatenate(rows)
        y = np.asarray(targets)
        positives, negatives = int(y.sum()), int(len(y) - y.sum())
        if positives == 0 or negatives == 0:
            raise ValueError("labels must contain both relevant and non-relevant passages")
        t = np.where(y > 0, (positives + 1) / (positives + 2), 1 / (negatives + 2))
        design = np.hstack([x, np.ones((len(x), 1))])
        penalty = np.eye(design.shape[1]) * l2
        penalty[-1, -1] = 0.0
        beta = np.zeros(design.shape[1])
        for _ in range(100):
            p = 1.0 / (1.0 + np.exp(-(design @ beta)))
            gradient = design.T @ (p - t) + penalty @ beta
            hessian = design.T @ (design * (p * (1 - p))[:, None]) + penalty
            step = np.linalg.solve(hessian + 1e-9 * np.eye(len(beta)), gradient)
            beta -= step
            if np.max(np.abs(step)) < 1e-10:
                break
        provenance = {"positives": positives, "negatives": negatives, **(info or {})}
        return cls(beta[:-1].tolist(), float(beta[-1]), features, provenance)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "type": "logistic",
            "features": list(self.features),
            "weights": self.weights,
            "bias": self.bias,
            "info": self.info,
        }

    def save(self, path: str | Path) -> Path:
        """Write the calibrator as JSON."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LogisticCalibrator:
        """Inverse of :meth:`to_dict`."""
        if data.get("type") != "logistic":
            raise ValueError(f"not a logistic calibrator: type={data.get('type')!r}")
        return cls(data["weights"], data["bias"], data["features"], data.get("info"))


def load_calibrator(path_or_name: str | Path) -> LogisticCalibrator:
    """Load a calibrator from a JSON file, or by the name of one shipped with the package.

    Shipped names: ``"minilm-hotpotqa"`` (the default, for question answering over
    paragraphs) and ``"minilm-dl19"`` (web passages for search queries).
    """
    from importlib import resources

    path = Path(path_or_name)
    if not path.suffix:
        shipped = resources.files("ctx_core") / "data" / "calibrators" / f"{path_or_name}.json"
        if not shipped.is_file():
            raise ValueError(f"no shipped calibrator named {str(path_or_name)!r}")
        return LogisticCalibrator.from_dict(json.loads(shipped.read_text(encoding="utf-8")))
    if not path.is_file():
        raise FileNotFoundError(f"calibrator file {str(path)!r} does not exist")
    return LogisticCalibrator.from_dict(json.loads(path.read_text(encoding="utf-8")))


def logit(p: float) -> float:
    """Inverse sigmoid, clipped away from 0 and 1."""
    p = min(max(p, 1e-12), 1 - 1e-12)
    return math.log(p / (1 - p))
