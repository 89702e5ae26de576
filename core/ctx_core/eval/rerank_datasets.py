"""The data sets ``ctx eval rerank`` knows, each with its loader and its metrics.

A data set here is a loader that returns [`RankingQuery`][ctx_core.eval.datasets.records.RankingQuery]
items plus a function that scores one query's reranked passages. Another one is added
with one call::

    register_rerank_dataset(RerankDataset("my-set", "...", load=my_loader, metrics=ranking_metrics(k=10)))

| name | candidates | relevance | metrics |
|---|---|---|---|
| ``dl19`` | BM25 top-100 (Anserini) of the 43 judged TREC DL 2019 queries | NIST grades 0-3; grade >= 2 counts as relevant for MRR, recall and distractor rate (TREC DL convention) | nDCG@10, MRR@10, Recall@10/100, distractor rate, kept, kept tokens |
| ``hotpotqa`` | the 10 paragraphs of each of the 250 questions, file order | supporting = 1 | supporting recall (kept, @2, @5), distractor rate, kept tokens, nDCG@10, MRR@10 |
| ``cranfield`` | first stage (BM25 by default) top-100 over 1,400 abstracts, 225 queries | gains 4 (complete answer) ... 1 (minimum interest) | as ``dl19``, relevant = gain >= 1 |
| ``cacm`` | first stage top-100 over 3,204 records, the 52 judged queries | binary | as ``dl19`` |
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ctx_core.eval.datasets import (
    IRCollection,
    QAExample,
    RankingQuery,
    load_cacm,
    load_cranfield,
    load_dl19,
    load_hotpotqa,
)
from ctx_core.eval.datasets.formats import LoadedData
from ctx_core.eval.datasets.hotpotqa import hotpotqa_as_ranking
from ctx_core.eval.first_stage import collection_as_ranking
from ctx_core.eval.metrics import (
    distractor_rate,
    kept_tokens,
    mrr_at_k,
    ndcg_at_k,
    recall_at_k,
    supporting_recall,
)
from ctx_core.types import Passage

__all__ = [
    "RerankDataset",
    "get_rerank_dataset",
    "ranking_metrics",
    "register_rerank_dataset",
    "rerank_dataset_from_data",
    "rerank_dataset_names",
    "supporting_metrics",
]

#: ``metrics(query, reranked) -> {metric name: value}`` for one query.
MetricsFn = Callable[[RankingQuery, list[Passage]], dict[str, float]]


@dataclass(frozen=True)
class RerankDataset:
    """A data set for ``ctx eval rerank``.

    Attributes:
        name: The name ``--dataset`` accepts.
        description: One line for ``--help`` and the result file.
        load: ``load(data_dir, limit, **options) -> list[RankingQuery]``.
        metrics: Scores one query's reranked passages.
        headline: The metrics shown in the printed table and the plot, in order.
        info: Facts about the data set written into the result file.
        options: Names of the keyword options ``load`` takes (e.g. ``first_stage``).
        provenance: For data loaded from a path ([`rerank_dataset_from_data`][ctx_core.eval.rerank_datasets.rerank_dataset_from_data]): the
            ``data`` (path, format, content hash) and ``data_issues`` every result records.
    """

    name: str
    description: str
    load: Callable[..., list[RankingQuery]]
    metrics: MetricsFn
    headline: tuple[str, ...]
    info: dict[str, Any] = field(default_factory=dict)
    options: tuple[str, ...] = ()
    provenance: dict[str, Any] = field(default_factory=dict)


def ranking_metrics(
    *, k: int = 10, recall_ks: tuple[int, ...] = (10, 100), relevance_threshold: int = 1
) -> MetricsFn:
    """Metrics for graded ranking data: nDCG@k, MRR@k, Recall@each of ``recall_ks``, and more.

    The result also holds ``distractor_rate`` (share of the kept passages below
    ``relevance_threshold``), ``kept`` (passages returned) and ``kept_tokens``.
    """

    def compute(query: RankingQuery, reranked: list[Passage]) -> dict[str, float]:
        ids = [p.id for p in reranked]
        values = {
            f"ndcg@{k}": ndcg_at_k(ids, query.qrels, k),
            f"mrr@{k}": mrr_at_k(ids, query.qrels, k, relevance_threshold=relevance_threshold),
        }
        for r in recall_ks:
            values[f"recall@{r}"] = recall_at_k(
                ids, query.qrels, r, relevance_threshold=relevance_threshold
            )
        values["distractor_rate"] = distractor_rate(
            ids, query.qrels, relevance_threshold=relevance_threshold
        )
        values["kept"] = float(len(reranked))
        values["kept_tokens"] = float(kept_tokens(reranked))
        return values

    return compute


def supporting_metrics(*, ks: tuple[int, ...] = (2, 5)) -> MetricsFn:
    """Metrics for supporting-fact data (qrels 1 = supporting).

    ``supporting_recall`` is over every kept passage, ``supporting_recall@k`` over the
    first ``k``; plus ``distractor_rate``, ``kept``, ``kept_tokens``, ``ndcg@10`` and
    ``mrr@10``.
    """

    def compute(query: RankingQuery, reranked: list[Passage]) -> dict[str, float]:
        ids = [p.id for p in reranked]
        support = [doc for doc, rel in query.qrels.items() if rel > 0]
        values = {"supporting_recall": supporting_recall(ids, support)}
        for k in ks:
            values[f"supporting_recall@{k}"] = supporting_recall(ids[:k], support)
        values["distractor_rate"] = distractor_rate(ids, query.qrels)
        values["kept"] = float(len(reranked))
        values["kept_tokens"] = float(kept_tokens(reranked))
        values["ndcg@10"] = ndcg_at_k(ids, query.qrels, 10)
        values["mrr@10"] = mrr_at_k(ids, query.qrels, 10)
        return values

    return compute


def _load_dl19(data_dir: str | Path | None, limit: int | None) -> list[RankingQuery]:
    return load_dl19(data_dir, limit=limit)


def _load_hotpotqa(data_dir: str | Path | None, limit: int | None) -> list[RankingQuery]:
    return hotpotqa_as_ranking(load_hotpotqa(data_dir, limit=limit))


def _load_cranfield(
    data_dir: str | Path | None, limit: int | None, first_stage: str = "bm25", depth: int = 100
) -> list[RankingQuery]:
    return collection_as_ranking(
        load_cranfield(data_dir), first_stage=first_stage, depth=depth, limit=limit
    )


def _load_cacm(
    data_dir: str | Path | None, limit: int | None, first_stage: str = "bm25", depth: int = 100
) -> list[RankingQuery]:
    return collection_as_ranking(
        load_cacm(data_dir), first_stage=first_stage, depth=depth, limit=limit
    )


_SUPPORTING_HEADLINE = (
    "supporting_recall@2",
    "supporting_recall",
    "distractor_rate",
    "kept",
    "kept_tokens",
    "ndcg@10",
)

_RANKING_HEADLINE = ("ndcg@10", "mrr@10", "recall@10", "recall@100", "kept", "kept_tokens")

_DATASETS: dict[str, RerankDataset] = {}


def _collection_loader(collection: IRCollection) -> Callable[..., list[RankingQuery]]:
    def load(
        data_dir: Any, limit: int | None, first_stage: str = "bm25", depth: int = 100
    ) -> list[RankingQuery]:
        return collection_as_ranking(collection, first_stage=first_stage, depth=depth, limit=limit)

    return load


def _ranking_loader(queries: list[RankingQuery]) -> Callable[..., list[RankingQuery]]:
    def load(data_dir: Any, limit: int | None) -> list[RankingQuery]:
        return list(queries[:limit] if limit is not None else queries)

    return load


def _qa_loader(examples: list[QAExample]) -> Callable[..., list[RankingQuery]]:
    def load(data_dir: Any, limit: int | None) -> list[RankingQuery]:
        return hotpotqa_as_ranking(examples[:limit] if limit is not None else examples)

    return load


def rerank_dataset_from_data(data: LoadedData, *, relevance_threshold: int = 1) -> RerankDataset:
    """Your own data (`ctx_core.eval.datasets.formats.load_data`) as a rerank data set.

    * a collection (``beir``, ``smart``): a first stage (BM25 by default, options
      ``first_stage`` and ``depth``) ranks the whole collection for each judged query;
    * ranking data (``trec``): the given candidates, in their order;
    * QA data (``qa``): each question's paragraphs, supporting = relevant (the
      ``hotpotqa`` metrics).

    Args:
        data: The loaded data.
        relevance_threshold: Grade from which a passage counts as relevant for MRR,
            recall and the distractor rate (nDCG uses the grades).

    Raises:
        ValueError: Conversations (``locomo``), which ``ctx eval memory`` evaluates.

    Examples:
        >>> import json, tempfile, pathlib
        >>> from ctx_core.eval.datasets.formats import load_data
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "mine.jsonl"
        >>> _ = path.write_text(json.dumps({"question": "Who?", "answers": ["Ann"],
        ...     "paragraphs": [{"text": "Ann did.", "is_supporting": True}]}) + "\\n")
        >>> spec = rerank_dataset_from_data(load_data(path))
        >>> spec.name, len(spec.load(None, None))
        ('mine', 1)
    """
    info: dict[str, Any] = {"format": data.format}
    records = data.records
    options: tuple[str, ...] = ()
    load: Callable[..., list[RankingQuery]]
    if data.kind == "collection":
        load = _collection_loader(records)
        metrics = ranking_metrics(relevance_threshold=relevance_threshold)
        headline = _RANKING_HEADLINE
        options = ("first_stage", "depth")
        info["relevance_threshold"] = relevance_threshold
        description = f"{data.name}: first-stage top-k over {len(records.documents)} documents"
    elif data.kind == "ranking":
        load = _ranking_loader(records)
        metrics = ranking_metrics(relevance_threshold=relevance_threshold)
        headline = _RANKING_HEADLINE
        info["relevance_threshold"] = relevance_threshold
        description = f"{data.name}: {len(records)} queries with their given candidates"
    elif data.kind == "qa":
        load = _qa_loader(records)
        metrics = supporting_metrics()
        headline = _SUPPORTING_HEADLINE
        info["relevance"] = "supporting paragraph = 1, other = 0"
        description = f"{data.name}: {len(records)} questions with their paragraphs"
    else:
        raise ValueError(
            f"{data.format} data ({data.kind}) has no candidates to rerank; "
            "evaluate conversations with ctx eval memory"
        )
    return RerankDataset(
        data.name,
        description,
        load=load,
        metrics=metrics,
        headline=headline,
        info=info,
        options=options,
        provenance=data.provenance(),
    )


def register_rerank_dataset(dataset: RerankDataset) -> None:
    """Make a data set available to ``ctx eval rerank --dataset`` (replaces one of the same name)."""
    if not isinstance(dataset, RerankDataset):
        raise TypeError(f"dataset must be a RerankDataset, got {type(dataset).__name__}")
    _DATASETS[dataset.name] = dataset


def rerank_dataset_names() -> list[str]:
    """Names of the registered data sets."""
    return sorted(_DATASETS)


def get_rerank_dataset(name: str) -> RerankDataset:
    """The data set registered as ``name``.

    Raises:
        ValueError: Unknown name (the known ones are listed).
    """
    if name not in _DATASETS:
        raise ValueError(
            f"unknown dataset {name!r}; choose one of {', '.join(rerank_dataset_names())}"
        )
    return _DATASETS[name]


register_rerank_dataset(
    RerankDataset(
        "dl19",
        "TREC DL 2019 passages: BM25 top-100 of 43 judged queries, NIST graded qrels",
        load=_load_dl19,
        metrics=ranking_metrics(relevance_threshold=2),
        headline=_RANKING_HEADLINE,
        info={"relevance_threshold": 2, "gain": "grade 0-3 (trec_eval ndcg_cut)"},
    )
)
register_rerank_dataset(
    RerankDataset(
        "hotpotqa",
        "HotpotQA dev250 distractor: 10 paragraphs per question, 2 supporting",
        load=_load_hotpotqa,
        metrics=supporting_metrics(),
        headline=_SUPPORTING_HEADLINE,
        info={"relevance": "supporting paragraph = 1, distractor = 0"},
    )
)
register_rerank_dataset(
    RerankDataset(
        "cranfield",
        "Cranfield 1400: first-stage top-100 over the collection, 225 queries, graded qrels",
        load=_load_cranfield,
        metrics=ranking_metrics(relevance_threshold=1),
        headline=_RANKING_HEADLINE,
        info={"relevance_threshold": 1, "gain": "4 complete answer ... 1 minimum interest"},
        options=("first_stage", "depth"),
    )
)
register_rerank_dataset(
    RerankDataset(
        "cacm",
        "CACM: first-stage top-100 over 3,204 records, 52 judged queries, binary qrels",
        load=_load_cacm,
        metrics=ranking_metrics(relevance_threshold=1),
        headline=_RANKING_HEADLINE,
        info={"relevance_threshold": 1, "gain": "binary"},
        options=("first_stage", "depth"),
    )
)
