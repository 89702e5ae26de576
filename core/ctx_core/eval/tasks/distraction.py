"""Leave-one-data-set-out evaluation of the distraction-aware reranker's decision.

The reranker's choice of what to keep depends on three things: the relevance signals, a
calibrator that turns them into probabilities, and a [`DropRule`][ctx_core.udcg.DropRule].
Signals come from models and are computed once per candidate list
([`SignalList`][ctx_core.eval.tasks.distraction.SignalList], no text); calibrators and
rules are cheap. So the protocol here works on stored signal lists:

1. for each held-out data set X, fit the calibrator on the lists of every other data set
   (plus, per list, an *unrelated* twin whose labels are all 0) and never on X;
2. apply the reranker's own rule to X's lists and score what it keeps
   ([`list_metrics`][ctx_core.eval.tasks.distraction.list_metrics]);
3. compare with the scorer's top-k at the same mean number of kept passages
   ([`matched_top_k`][ctx_core.eval.tasks.distraction.matched_top_k]), query by query, with a
   paired bootstrap interval.

Examples:
    >>> from ctx_core.udcg import DropRule, LogisticCalibrator
    >>> a = SignalList("toy", "q1", ("a", "b", "c"), (1, 0, 0), {"a": 1}, (5, 5, 5),
    ...                {"score": [0.9, 0.2, 0.1]})
    >>> b = SignalList("toy", "q2", ("d", "e"), (0, 1), {"e": 1}, (5, 5), {"score": [0.3, 0.8]})
    >>> calibrator = LogisticCalibrator.fit([a.signals, b.signals], [a.labels, b.labels])
    >>> kept = keep(a, calibrator, DropRule())
    >>> [a.ids[i] for i in kept], list_metrics(a, kept)["recall"]
    (['a'], 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ctx_core.eval.metrics import ndcg_at_k
from ctx_core.udcg.calibration import Calibrator, LogisticCalibrator
from ctx_core.udcg.list_gate import ListGate
from ctx_core.udcg.metric import udcg
from ctx_core.udcg.reranker import DropRule

__all__ = [
    "SignalList",
    "fit_calibrator_on",
    "fit_list_gate_on",
    "keep",
    "list_metrics",
    "matched_top_k",
    "mean_metrics",
    "top_k",
]


@dataclass(frozen=True)
class SignalList:
    """One query's candidates as the reranker sees them: signals, labels and sizes, no text.

    Attributes:
        dataset: The data set it comes from.
        query_id: The query's id there.
        ids: Candidate ids, in first-stage order.
        grades: Graded label of each candidate (0: not relevant).
        qrels: Every positive judgement of the query (also outside the candidates), for
            nDCG's ideal ranking.
        tokens: Token count of each candidate.
        signals: Signal columns, one value per candidate.
        relevant_grade: Smallest grade that counts as relevant.
        related: ``False`` for an unrelated list (another query's candidates): nothing in
            it is relevant, whatever ``grades`` says.
    """

    dataset: str
    query_id: str
    ids: tuple[str, ...]
    grades: tuple[int, ...]
    qrels: Mapping[str, int]
    tokens: tuple[int, ...]
    signals: Mapping[str, Sequence[float]] = field(repr=False)
    relevant_grade: int = 1
    related: bool = True

    def __post_init__(self) -> None:
        n = len(self.ids)
        sizes = {"grades": len(self.grades), "tokens": len(self.tokens)}
        sizes.update({f"signals[{k!r}]": len(v) for k, v in self.signals.items()})
        wrong = {name: size for name, size in sizes.items() if size != n}
        if wrong:
            raise ValueError(f"{self.dataset}/{self.query_id}: {n} ids but {wrong}")

    @property
    def labels(self) -> list[bool]:
        """Whether each candidate is relevant."""
        return [self.related and g >= self.relevant_grade for g in self.grades]

    def unrelated(
        self, signals: Mapping[str, Sequence[float]], ids: Sequence[str], tokens: Sequence[int]
    ) -> SignalList:
        """This query over another query's candidates: every label 0."""
        return replace(
            self,
            ids=tuple(ids),
            grades=(0,) * len(ids),
            qrels={},
            tokens=tuple(tokens),
            signals=signals,
            related=False,
        )


def fit_calibrator_on(
    lists: Iterable[SignalList], features: Sequence[str], *, l2: float = 1e-2
) -> LogisticCalibrator:
    """A logistic calibrator fitted on labelled lists, each list weighted by its candidates.

    Raises:
        ValueError: No lists, or only one class among their labels.
    """
    chosen = list(lists)
    info = {
        "datasets": sorted({s.dataset for s in chosen}),
        "lists": len(chosen),
        "unrelated_lists": sum(not s.related for s in chosen),
    }
    return LogisticCalibrator.fit(
        [s.signals for s in chosen], [s.labels for s in chosen], features=features, l2=l2, info=info
    )


def fit_list_gate_on(
    lists: Iterable[SignalList],
    features: Sequence[str],
    *,
    best_column: str = "dense",
    l2: float = 1e-2,
) -> ListGate:
    """A list gate fitted on queries' own lists (related) against unrelated lists.

    Pass each query's own list (``related=True``) and unrelated lists (``related=False``,
    e.g. another data set's candidates); not lists of the same data set's other queries,
    which may hold passages relevant to the query. The logistic fit reads the own lists
    that hold a relevant candidate (the others look unrelated for a reason); the threshold
    is the smallest per-data-set 1% quantile of the gate's probability over *all* own
    lists, so that about 1 in 100 own lists of every training data set is emptied.

    Raises:
        ValueError: No related or no unrelated list.
    """
    chosen = list(lists)
    groups: dict[str, list[Mapping[str, Sequence[float]]]] = {}
    for s in chosen:
        if s.related:
            groups.setdefault(s.dataset, []).append(s.signals)
    fitted = [s for s in chosen if not s.related or any(s.labels)]
    return ListGate.fit(
        [s.signals for s in fitted],
        [s.related for s in fitted],
        features=features,
        best_column=best_column,
        l2=l2,
        threshold_lists=list(groups.values()),
        info={"datasets": sorted(groups)},
    )


def keep(
    signal_list: SignalList,
    calibrator: Calibrator,
    rule: DropRule,
    gate: ListGate | None = None,
) -> list[int]:
    """Indices of the candidates the reranker keeps, best first (no budgets, utility 1).

    This is [`UtilityDistractionReranker`][ctx_core.udcg.UtilityDistractionReranker]'s
    decision on stored signals: sort by expected gain (stable), then the rule, with the
    list ``gate`` (when given) deciding whether the list is unrelated.
    """
    probabilities = calibrator.probabilities(signal_list.signals)
    order = sorted(range(len(probabilities)), key=lambda i: -rule.gain(probabilities[i]))
    unrelated = None if gate is None or not probabilities else gate.unrelated(signal_list.signals)
    reasons = rule.reasons(
        [probabilities[i] for i in order], [1.0] * len(order), unrelated=unrelated
    )
    return [i for i, reason in zip(order, reasons, strict=True) if reason == "kept"]


def top_k(signal_list: SignalList, column: str, k: int) -> list[int]:
    """Indices of the ``k`` best candidates by one signal column (ties: first-stage order)."""
    values = np.asarray(signal_list.signals[column], dtype=np.float64)
    return [int(i) for i in np.argsort(-values, kind="stable")[:k]]


def list_metrics(signal_list: SignalList, kept: Sequence[int]) -> dict[str, float]:
    """What one kept context is worth.

    Returns:
        ``recall`` (share of the list's relevant candidates kept; NaN when it has none),
        ``distractor_rate`` (share of the kept that are not relevant; 0 when nothing is
        kept), ``kept``, ``kept_tokens``, ``empty`` (1 when nothing is kept),
        ``ndcg@10`` of the kept list in order (graded gains, ideal from every judgement),
        ``udcg`` (reader utility 1, an empty context scores 0 as in the reference), and
        ``udcg_empty_half`` (the same with an empty context at 0.5).
    """
    labels = signal_list.labels
    relevant = sum(labels)
    hits = sum(labels[i] for i in kept)
    ids = [signal_list.ids[i] for i in kept]
    qrels = signal_list.qrels if signal_list.related else {}
    kept_labels = [labels[i] for i in kept]
    return {
        "recall": hits / relevant if relevant else math.nan,
        "distractor_rate": (len(kept) - hits) / len(kept) if kept else 0.0,
        "kept": float(len(kept)),
        "kept_tokens": float(sum(signal_list.tokens[i] for i in kept)),
        "empty": float(not kept),
        "ndcg@10": ndcg_at_k(ids, dict(qrels), 10) if qrels else 0.0,
        "udcg": udcg([1.0] * len(kept), kept_labels),
        "udcg_empty_half": udcg([1.0] * len(kept), kept_labels, empty_value=0.5),
    }


def matched_top_k(
    signal_lists: Sequence[SignalList], column: str, size: float
) -> list[dict[str, float]]:
    """Per-list metrics of the top-k by ``column`` at a fractional mean size.

    A mean of 2.4 kept passages is matched by top-2 with weight 0.6 and top-3 with weight
    0.4 on every list (the expectation of drawing k per query), so the comparison with a
    reranker that keeps 2.4 on average is at exactly the same mean size.
    """
    low = max(math.floor(size), 0)
    weight = size - low
    out = []
    for s in signal_lists:
        a = list_metrics(s, top_k(s, column, low))
        b = list_metrics(s, top_k(s, column, low + 1)) if weight > 0 else a
        out.append({k: (1 - weight) * a[k] + weight * b[k] for k in a})
    return out


def mean_metrics(rows: Sequence[Mapping[str, float]]) -> dict[str, Any]:
    """Means over lists (NaN values, e.g. recall of a list with nothing relevant, left out)."""
    if not rows:
        return {}
    out: dict[str, Any] = {}
    for name in rows[0]:
        values = [r[name] for r in rows if not math.isnan(r[name])]
        out[name] = float(np.mean(values)) if values else math.nan
    return out
