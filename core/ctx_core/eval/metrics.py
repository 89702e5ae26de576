"""Ranking and answer metrics, each for one query; average them over queries yourself.

Ranking metrics take ``ranked_ids`` (passage ids, best first, as a method returned them)
and ``qrels`` (graded relevance by passage id; a missing id counts as 0, i.e. unjudged
passages are not relevant, as in ``trec_eval``).

nDCG follows ``trec_eval``'s ``ndcg_cut``: the gain is the relevance grade itself (not
``2**rel - 1``), the discount is ``log2(rank + 1)``, only grades above 0 gain anything, and
the ideal ranking sorts *every* judged passage of the query, including those the method
never saw. A query without a relevant passage scores 0. ``trec_eval`` re-sorts a run by
score and breaks ties by document id, descending; these functions take the order as
given, and [`rank_by_score`][ctx_core.eval.metrics.rank_by_score] reproduces ``trec_eval``'s sort when you start from scores.

Examples:
    >>> qrels = {"a": 3, "b": 0, "c": 1}
    >>> round(ndcg_at_k(["b", "a", "c"], qrels, k=3), 4)
    0.659
    >>> mrr_at_k(["b", "a", "c"], qrels)
    0.5
    >>> recall_at_k(["b", "a"], qrels, k=2)
    0.5
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from ctx_core.eval.bootstrap import paired_bootstrap as _paired
from ctx_core.tokens import TokenCounter, default_counter
from ctx_core.types import Passage

__all__ = [
    "distractor_rate",
    "exact_match",
    "kept_tokens",
    "mean",
    "mrr_at_k",
    "ndcg_at_k",
    "normalize_answer",
    "paired_bootstrap",
    "rank_by_score",
    "recall_at_k",
    "supporting_recall",
    "token_f1",
]


def _check_ids(ranked_ids: Sequence[str], argument: str = "ranked_ids") -> list[str]:
    if isinstance(ranked_ids, (str, bytes)) or not isinstance(ranked_ids, Iterable):
        raise TypeError(f"{argument} must be a sequence of ids, got {type(ranked_ids).__name__}")
    ids = list(ranked_ids)
    for i, item in enumerate(ids):
        if not isinstance(item, str):
            raise TypeError(f"{argument}[{i}] must be a str id, got {type(item).__name__}")
    if len(set(ids)) != len(ids):
        dupes = sorted({x for x in ids if ids.count(x) > 1})
        raise ValueError(f"{argument} contains duplicate ids: {dupes[:5]}")
    return ids


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    return k


def _check_qrels(qrels: Mapping[str, int]) -> Mapping[str, int]:
    if not isinstance(qrels, Mapping):
        raise TypeError(f"qrels must be a mapping of id to relevance, got {type(qrels).__name__}")
    return qrels


def ndcg_at_k(ranked_ids: Sequence[str], qrels: Mapping[str, int], k: int = 10) -> float:
    """Normalized discounted cumulative gain of the first ``k`` ids (``trec_eval`` ``ndcg_cut.k``).

    Args:
        ranked_ids: Passage ids, best first.
        qrels: Graded relevance by id (missing = 0).
        k: Cutoff.

    Returns:
        A value in [0, 1]; 0 when no judged passage has a grade above 0.

    Raises:
        ValueError: ``k`` is not a positive int, or ``ranked_ids`` repeats an id.

    Examples:
        >>> ndcg_at_k(["x", "y"], {"y": 1}, k=2)  # 1/log2(3) over the ideal 1/log2(2)
        0.6309297535714575
    """
    ids = _check_ids(ranked_ids)
    _check_k(k)
    _check_qrels(qrels)
    dcg = sum(
        max(qrels.get(doc, 0), 0) / math.log2(rank + 1) for rank, doc in enumerate(ids[:k], start=1)
    )
    ideal_gains = sorted((g for g in qrels.values() if g > 0), reverse=True)[:k]
    ideal = sum(g / math.log2(rank + 1) for rank, g in enumerate(ideal_gains, start=1))
    return dcg / ideal if ideal > 0 else 0.0


def mrr_at_k(
    ranked_ids: Sequence[str],
    qrels: Mapping[str, int],
    k: int = 10,
    *,
    relevance_threshold: int = 1,
) -> float:
    """Reciprocal rank of the first relevant id within the first ``k`` (0 if none).

    Args:
        ranked_ids: Passage ids, best first.
        qrels: Graded relevance by id (missing = 0).
        k: Cutoff.
        relevance_threshold: Lowest grade that counts as relevant (TREC DL passage
            ranking uses 2).

    Examples:
        >>> mrr_at_k(["x", "y", "z"], {"z": 1})
        0.3333333333333333
        >>> mrr_at_k(["x", "y", "z"], {"z": 1}, k=2)
        0.0
    """
    ids = _check_ids(ranked_ids)
    _check_k(k)
    _check_qrels(qrels)
    for rank, doc in enumerate(ids[:k], start=1):
        if qrels.get(doc, 0) >= relevance_threshold:
            return 1.0 / rank
    return 0.0


def recall_at_k(
    ranked_ids: Sequence[str],
    qrels: Mapping[str, int],
    k: int,
    *,
    relevance_threshold: int = 1,
) -> float:
    """Share of the query's relevant passages found in the first ``k`` ids.

    The denominator counts every relevant passage in ``qrels``, also those the method
    never saw (as ``trec_eval`` does). A query without a relevant passage scores 0.

    Examples:
        >>> recall_at_k(["a", "x", "b"], {"a": 1, "b": 2, "c": 1}, k=2)
        0.3333333333333333
    """
    ids = _check_ids(ranked_ids)
    _check_k(k)
    _check_qrels(qrels)
    relevant = {doc for doc, rel in qrels.items() if rel >= relevance_threshold}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ids[:k])) / len(relevant)


def supporting_recall(kept_ids: Sequence[str], supporting_ids: Sequence[str]) -> float:
    """Share of the supporting passages that were kept.

    Raises:
        ValueError: ``supporting_ids`` is empty (the recall is undefined).

    Examples:
        >>> supporting_recall(["a", "b", "c"], ["b", "d"])
        0.5
    """
    kept = set(_check_ids(kept_ids, "kept_ids"))
    support = set(_check_ids(supporting_ids, "supporting_ids"))
    if not support:
        raise ValueError("supporting_ids must not be empty")
    return len(support & kept) / len(support)


def distractor_rate(
    kept_ids: Sequence[str], qrels: Mapping[str, int], *, relevance_threshold: int = 1
) -> float:
    """Share of the kept passages that are not relevant (0 when nothing is kept).

    Examples:
        >>> distractor_rate(["a", "b", "c", "d"], {"a": 1, "b": 0})
        0.75
        >>> distractor_rate([], {"a": 1})
        0.0
    """
    ids = _check_ids(kept_ids, "kept_ids")
    _check_qrels(qrels)
    if not ids:
        return 0.0
    return sum(qrels.get(doc, 0) < relevance_threshold for doc in ids) / len(ids)


def kept_tokens(passages: Sequence[Passage | str], counter: TokenCounter | None = None) -> int:
    """Total tokens of the passages' text (default counter: tiktoken ``cl100k_base``).

    Examples:
        >>> kept_tokens(["Hello world", "Hello"])
        3
    """
    if isinstance(passages, (str, bytes, Passage)):
        raise TypeError("passages must be a sequence of passages or strings")
    counter = counter or default_counter()
    total = 0
    for i, item in enumerate(passages):
        if isinstance(item, Passage):
            total += counter.count(item.text)
        elif isinstance(item, str):
            total += counter.count(item)
        else:
            raise TypeError(f"passages[{i}] must be a Passage or str, got {type(item).__name__}")
    return total


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD's answer normalization: lower case, no punctuation, no articles, single spaces.

    Examples:
        >>> normalize_answer("The  Eiffel Tower!")
        'eiffel tower'
    """
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _answers(answers: Sequence[str] | str) -> list[str]:
    items = [answers] if isinstance(answers, str) else list(answers)
    if not items:
        raise ValueError("answers must not be empty")
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise TypeError(f"answers[{i}] must be a str, got {type(item).__name__}")
    return items


def exact_match(prediction: str, answers: Sequence[str] | str) -> float:
    """1.0 if the normalized prediction equals any normalized answer, else 0.0.

    Examples:
        >>> exact_match("the Eiffel tower.", ["Eiffel Tower", "tour Eiffel"])
        1.0
    """
    if not isinstance(prediction, str):
        raise TypeError(f"prediction must be a str, got {type(prediction).__name__}")
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(a) for a in _answers(answers)))


def token_f1(prediction: str, answers: Sequence[str] | str) -> float:
    """SQuAD token F1 between the prediction and the best-matching answer.

    Examples:
        >>> round(token_f1("Wilhelm Röntgen of Germany", ["Wilhelm Conrad Röntgen"]), 4)
        0.5714
    """
    if not isinstance(prediction, str):
        raise TypeError(f"prediction must be a str, got {type(prediction).__name__}")
    pred_tokens = normalize_answer(prediction).split()
    best = 0.0
    for answer in _answers(answers):
        gold_tokens = normalize_answer(answer).split()
        if not pred_tokens or not gold_tokens:
            best = max(best, float(pred_tokens == gold_tokens))
            continue
        common = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
        if common == 0:
            continue
        precision = common / len(pred_tokens)
        recall = common / len(gold_tokens)
        best = max(best, 2 * precision * recall / (precision + recall))
    return best


def rank_by_score(scores: Mapping[str, float]) -> list[str]:
    """Ids sorted the way ``trec_eval`` sorts a run: score descending, ties by id descending.

    Examples:
        >>> rank_by_score({"d1": 0.5, "d3": 0.9, "d2": 0.5})
        ['d3', 'd2', 'd1']
    """
    by_id_descending = sorted(scores, reverse=True)
    return sorted(by_id_descending, key=lambda doc: -scores[doc])  # sorted() is stable


def mean(values: Iterable[float]) -> float:
    """Arithmetic mean (0.0 for no values)."""
    items = list(values)
    return sum(items) / len(items) if items else 0.0


def paired_bootstrap(
    method: Sequence[float],
    baseline: Sequence[float],
    *,
    samples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """Mean per-query difference ``method - baseline`` with a percentile bootstrap interval.

    The dict-returning form of [`paired_bootstrap`][ctx_core.eval.bootstrap.paired_bootstrap]
    (same resampling, same numbers for the same seed).

    Queries are resampled with replacement ``samples`` times; the interval is the central
    ``confidence`` share of the resampled mean differences. An interval that includes 0
    means the data do not show a difference.

    Args:
        method: One value per query for the method.
        baseline: The baseline's values for the same queries, in the same order.
        samples: Bootstrap resamples.
        confidence: Width of the interval (0 < confidence < 1).
        seed: Seed of the resampling (same inputs and seed: same interval).

    Returns:
        ``{"difference", "low", "high", "queries"}``.

    Examples:
        >>> out = paired_bootstrap([0.5, 0.7, 0.9, 0.6], [0.4, 0.6, 0.7, 0.6], samples=2000)
        >>> round(out["difference"], 3), out["low"] > 0
        (0.1, True)
    """
    if len(method) != len(baseline):
        raise ValueError(
            f"method and baseline must have one value per query each, got {len(method)} "
            f"and {len(baseline)}"
        )
    if not method:
        raise ValueError("method must not be empty")
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    difference, low, high = _paired(
        method, baseline, resamples=samples, seed=seed, confidence=confidence
    )
    return {"difference": difference, "low": low, "high": high, "queries": len(method)}
