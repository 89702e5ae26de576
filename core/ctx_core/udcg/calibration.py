"""Turning raw relevance signals into probabilities of relevance.

[`LogisticCalibrator`][ctx_core.udcg.calibration.LogisticCalibrator] with the single feature ``"score"`` is Platt scaling
(``p = sigmoid(a * score + b)``). It can also read several signal columns (see
[`ctx_core.udcg.signals`][ctx_core.udcg.signals]) and *listwise* transforms of them that compare a
passage with the other candidates of the same query - our extension: a bi-encoder's
absolute cosine drifts from query to query, its gap to the best candidate much less.

A feature is a column name (``"dense"``) or ``"transform:column"``
(``"gap_to_best:dense"``); transforms are listed in `TRANSFORMS`.

Examples:
    >>> calibrator = LogisticCalibrator.fit([[0.9, 0.2, 0.1], [0.8, 0.7, 0.1]], [[1, 0, 0], [1, 1, 0]])
    >>> p = calibrator.probabilities([0.85, 0.15])
    >>> p[0] > 0.5 > p[1]
    True
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ctx_core.udcg._logistic import fit_logistic
from ctx_core.udcg.list_gate import ListGate

__all__ = ["TRANSFORMS", "Calibrator", "LogisticCalibrator", "Signals", "load_calibrator"]

#: Share of related training lists whose best candidate falls below ``empty_below``.
EMPTY_QUANTILE = 0.01

#: One query's signal columns, or a plain list of scores (the column ``"score"``).
Signals = Mapping[str, Sequence[float]] | Sequence[float]


def _reciprocal_rank(values: np.ndarray) -> np.ndarray:
    order = np.argsort(-values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    return 1.0 / ranks


def _zscore(values: np.ndarray) -> np.ndarray:
    spread = values.std()
    return (values - values.mean()) / spread if spread > 1e-12 else np.zeros_like(values)


def _max_norm(values: np.ndarray) -> np.ndarray:
    top = np.abs(values).max()
    return values / top if top > 1e-12 else np.zeros_like(values)


#: Listwise transforms of one column over one query's candidates.
TRANSFORMS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "gap_to_best": lambda v: v - v.max(),
    "zscore": _zscore,
    "reciprocal_rank": _reciprocal_rank,
    "max_norm": _max_norm,
}


def _parse(feature: str) -> tuple[Callable[[np.ndarray], np.ndarray] | None, str]:
    if ":" not in feature:
        return None, feature
    transform, column = feature.split(":", 1)
    if transform not in TRANSFORMS:
        raise ValueError(
            f"unknown transform {transform!r} in feature {feature!r}; choose from {sorted(TRANSFORMS)}"
        )
    return TRANSFORMS[transform], column


def _columns(signals: Signals) -> Mapping[str, Sequence[float]]:
    return signals if isinstance(signals, Mapping) else {"score": signals}


@runtime_checkable
class Calibrator(Protocol):
    """Maps one query's relevance signals to probabilities of relevance."""

    def probabilities(self, signals: Signals) -> list[float]:
        """One probability per candidate of one query."""
        ...


class LogisticCalibrator:
    """Logistic regression on features of one query's signals (Platt scaling by default).

    Args:
        weights: One weight per feature.
        bias: Intercept.
        features: Column names or ``"transform:column"`` specs (default ``("score",)``).
        info: Free-form provenance (scorer, data set, sizes), saved with the calibrator.
        empty_below: The probability of a list's best candidate below which the list
            looks unrelated to its query (the reranker then keeps nothing): the 1%
            quantile of the best candidate's probability over the training lists that
            hold a relevant one, so about 1 in 100 related lists is emptied.
        list_gate: A list-level decision whether a list is about its query at all
            ([`ListGate`][ctx_core.udcg.list_gate.ListGate]); when set, the reranker
            uses it in place of ``empty_below``.
    """

    def __init__(
        self,
        weights: Sequence[float],
        bias: float,
        features: Sequence[str] = ("score",),
        info: Mapping[str, Any] | None = None,
        empty_below: float | None = None,
        list_gate: ListGate | None = None,
    ) -> None:
        for feature in features:
            _parse(feature)
        if len(weights) != len(features):
            raise ValueError(f"{len(weights)} weights for {len(features)} features")
        self.weights = [float(w) for w in weights]
        self.bias = float(bias)
        self.features = tuple(features)
        self.info = dict(info or {})
        if empty_below is not None and not 0.0 <= empty_below <= 1.0:
            raise ValueError(f"empty_below must be in [0, 1] or None, got {empty_below}")
        self.empty_below = None if empty_below is None else float(empty_below)
        self.list_gate = list_gate

    def __repr__(self) -> str:
        terms = " + ".join(f"{w:.3f}*{f}" for w, f in zip(self.weights, self.features, strict=True))
        return f"LogisticCalibrator(sigmoid({terms} + {self.bias:.3f}))"

    @property
    def columns(self) -> set[str]:
        """The signal columns this calibrator reads."""
        return {_parse(f)[1] for f in self.features}

    def design(self, signals: Signals) -> np.ndarray:
        """The feature matrix (candidates x features) of one query."""
        columns = _columns(signals)
        missing = sorted(self.columns - set(columns))
        if missing:
            raise ValueError(f"signals lack columns {missing} (have {sorted(columns)})")
        out = []
        for feature in self.features:
            transform, name = _parse(feature)
            values = np.asarray(columns[name], dtype=np.float64)
            if not np.all(np.isfinite(values)):
                raise ValueError(f"signal column {name!r} has non-finite values")
            out.append(transform(values) if transform else values)
        return np.stack(out, axis=1)

    def probabilities(self, signals: Signals) -> list[float]:
        """Probability of relevance of each candidate of one query."""
        columns = _columns(signals)
        if not columns or len(next(iter(columns.values()))) == 0:
            return []
        z = self.design(columns) @ np.asarray(self.weights) + self.bias
        return [float(x) for x in 1.0 / (1.0 + np.exp(-z))]

    @classmethod
    def fit(
        cls,
        signal_lists: Sequence[Signals],
        label_lists: Sequence[Sequence[bool | int]],
        *,
        features: Sequence[str] = ("score",),
        l2: float = 1e-2,
        info: Mapping[str, Any] | None = None,
    ) -> LogisticCalibrator:
        """Fit on labelled queries: one query's signals and 0/1 labels at a time.

        Uses Platt's smoothed targets ((N+ + 1) / (N+ + 2) and 1 / (N- + 2)) so that
        probabilities stay away from exactly 0 and 1, and Newton's method with a small
        L2 penalty on the weights.

        Raises:
            ValueError: No data, mismatched lengths, or only one class in the labels.
        """
        if len(signal_lists) != len(label_lists) or not signal_lists:
            raise ValueError("signal_lists and label_lists must be non-empty and of equal length")
        probe = cls([0.0] * len(features), 0.0, features)
        rows: list[np.ndarray] = []
        targets: list[float] = []
        for i, (signals, labels) in enumerate(zip(signal_lists, label_lists, strict=True)):
            x = probe.design(signals) if len(labels) else np.zeros((0, len(features)))
            if len(x) != len(labels):
                raise ValueError(f"query {i}: {len(x)} candidates but {len(labels)} labels")
            rows.append(x)
            targets.extend(1.0 if label else 0.0 for label in labels)
        x = np.concatenate(rows)
        y = np.asarray(targets)
        positives, negatives = int(y.sum()), int(len(y) - y.sum())
        if positives == 0 or negatives == 0:
            raise ValueError("labels must contain both relevant and non-relevant passages")
        t = np.where(y > 0, (positives + 1) / (positives + 2), 1 / (negatives + 2))
        weights, bias = fit_logistic(x, t, l2)
        provenance = {**(info or {}), "positives": positives, "negatives": negatives}
        fitted = cls(weights, bias, features, provenance)
        tops = [
            max(fitted.probabilities(signals))
            for signals, labels in zip(signal_lists, label_lists, strict=True)
            if any(labels)
        ]
        fitted.empty_below = float(np.quantile(tops, EMPTY_QUANTILE))
        return fitted

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out: dict[str, Any] = {
            "type": "logistic",
            "features": list(self.features),
            "weights": self.weights,
            "bias": self.bias,
            "empty_below": self.empty_below,
            "info": self.info,
        }
        if self.list_gate is not None:
            out["list_gate"] = self.list_gate.to_dict()
        return out

    def save(self, path: str | Path) -> Path:
        """Write the calibrator as JSON."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LogisticCalibrator:
        """Inverse of [`to_dict`][ctx_core.udcg.calibration.LogisticCalibrator.to_dict]."""
        if data.get("type") != "logistic":
            raise ValueError(f"not a logistic calibrator: type={data.get('type')!r}")
        return cls(
            data["weights"],
            data["bias"],
            data["features"],
            data.get("info"),
            data.get("empty_below"),
            ListGate.from_dict(data["list_gate"]) if data.get("list_gate") else None,
        )


def shipped_calibrators() -> list[str]:
    """Names of the calibrators shipped with the package."""
    from importlib import resources

    folder = resources.files("ctx_core") / "data" / "calibrators"
    return sorted(f.name[: -len(".json")] for f in folder.iterdir() if f.name.endswith(".json"))


def load_calibrator(path_or_name: str | Path) -> LogisticCalibrator:
    """Load a calibrator from a JSON file, or by the name of one shipped with the package.

    The rule: a `pathlib.Path`, or a string with a file suffix (``"mine.json"``,
    ``"/data/cal.json"``), is a path to a file; any other string is a shipped name, made of
    letters, digits, ``-`` and ``_`` only, so a name can never reach a file outside the
    shipped calibrators folder (``"../../x"`` is rejected).

    Shipped names: ``"hybrid-mixed"`` (the default: [`HybridSignals`][ctx_core.udcg.signals.HybridSignals]
    with a list gate, chosen by leave-one-data-set-out over five data sets and fitted on all
    five, ``benchmarks/udcg_lodo.py``), ``"hybrid-hotpotqa"`` (the same signals fitted on
    HotpotQA only), ``"minilm-hotpotqa"`` and ``"minilm-dl19"`` (Platt scaling plus the gap
    to the best candidate, for a plain MiniLM ``EmbeddingScorer``).

    Raises:
        ValueError: a string that is neither a file path with a suffix nor a shipped name.
        FileNotFoundError: the path names no file.
    """
    from importlib import resources

    if isinstance(path_or_name, str) and not Path(path_or_name).suffix:
        shipped = shipped_calibrators()
        if not _CALIBRATOR_NAME.fullmatch(path_or_name) or path_or_name not in shipped:
            raise ValueError(
                f"no shipped calibrator named {path_or_name!r} (shipped: {', '.join(shipped)}); "
                "give a file path ending in .json for your own"
            )
        source = resources.files("ctx_core") / "data" / "calibrators" / f"{path_or_name}.json"
        return LogisticCalibrator.from_dict(json.loads(source.read_text(encoding="utf-8")))
    path = Path(path_or_name)
    if not path.is_file():
        raise FileNotFoundError(f"calibrator file {str(path)!r} does not exist")
    return LogisticCalibrator.from_dict(json.loads(path.read_text(encoding="utf-8")))


#: What a shipped calibrator's name may hold: no separator, no dot, so no path tricks.
_CALIBRATOR_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
