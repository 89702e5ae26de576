"""The rerank task: a data set's queries, reranked by a component, scored per query.

[`RerankEvaluator`][ctx_core.eval.tasks.rerank.RerankEvaluator] is built from a data set (and options), then called with any
component that has ``rerank(query, candidates) -> list[Passage]`` (a method of
[`ctx_core.eval.methods`][ctx_core.eval.methods], a [`Reranker`][ctx_core.rerank.Reranker], a
[`UtilityDistractionReranker`][ctx_core.udcg.reranker.UtilityDistractionReranker], ...). It returns a JSON-ready dict
with the mean ``metrics``, every query's values and ranking, the component's config,
timings and the run's provenance; ``base_metrics`` are the same metrics for the
first-stage order (the candidates as given), so each result shows what reranking changed.

Examples:
    >>> from ctx_core.eval.methods import build_method
    >>> evaluator = RerankEvaluator("dl19", show_progress=False)
    >>> evaluator.primary_metric
    'ndcg@10'
    >>> results = evaluator(build_method("none"))  # doctest: +SKIP
    >>> round(results["metrics"]["ndcg@10"], 4)  # doctest: +SKIP
    0.5058
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from ctx_core.eval.datasets import RankingQuery
from ctx_core.eval.metrics import mean
from ctx_core.eval.rerank_datasets import RerankDataset, get_rerank_dataset
from ctx_core.eval.results import now, provenance
from ctx_core.progress import progress
from ctx_core.types import Passage

__all__ = ["RerankEvaluator", "run_rerank_eval"]

logger = logging.getLogger(__name__)


def _check_output(
    label: str, query_id: str, candidates: list[Passage], output: object
) -> list[Passage]:
    if not isinstance(output, list):
        raise TypeError(f"method {label!r} returned {type(output).__name__} for query {query_id}")
    known = {p.id for p in candidates}
    seen: set[str] = set()
    for i, item in enumerate(output):
        if not isinstance(item, Passage):
            raise TypeError(
                f"method {label!r} returned {type(item).__name__} at position {i} for query {query_id}"
            )
        if item.id not in known:
            raise ValueError(
                f"method {label!r} returned passage {item.id!r}, not a candidate of query {query_id}"
            )
        if item.id in seen:
            raise ValueError(f"method {label!r} returned passage {item.id!r} twice")
        seen.add(item.id)
    return output


class RerankEvaluator:
    """Evaluates rerank components on one data set (loaded once, on the first call).

    Args:
        dataset: A name from [`rerank_dataset_names`][ctx_core.eval.rerank_datasets.rerank_dataset_names]
            (``dl19``, ``hotpotqa``, ``cranfield``, ``cacm``) or a
            [`RerankDataset`][ctx_core.eval.rerank_datasets.RerankDataset].
        limit: Evaluate only the first ``limit`` queries.
        data_dir: The data folder (see [`resolve_data_dir`][ctx_core.eval.datasets.paths.resolve_data_dir]).
        show_progress: Show a progress bar over the queries.
        command: The command line to record (default: this process's arguments).
        **dataset_options: Options of the data set's loader, e.g. ``first_stage="embedding"``
            or ``depth=50`` for ``cranfield`` and ``cacm``.

    Attributes:
        primary_metric: The data set's first headline metric (``ndcg@10``,
            ``supporting_recall``, ...).

    Raises:
        ValueError: Unknown data set or option.
    """

    def __init__(
        self,
        dataset: str | RerankDataset,
        *,
        limit: int | None = None,
        data_dir: str | Path | None = None,
        show_progress: bool = True,
        command: str | None = None,
        **dataset_options: Any,
    ) -> None:
        spec = get_rerank_dataset(dataset) if isinstance(dataset, str) else dataset
        unknown = sorted(set(dataset_options) - set(spec.options))
        if unknown:
            takes = ", ".join(spec.options) or "none"
            raise ValueError(
                f"dataset {spec.name!r} does not take option(s) {unknown}; it takes: {takes}"
            )
        self.spec = spec
        self.limit = limit
        self.data_dir = data_dir
        self.show_progress = show_progress
        self.command = command
        self.dataset_options = dict(dataset_options)
        self.primary_metric = spec.headline[0]
        self._queries: list[RankingQuery] | None = None
        self._base: dict[str, float] | None = None
        self.load_s = 0.0

    @property
    def queries(self) -> list[RankingQuery]:
        """The data set's queries with their candidates in first-stage order (loaded once)."""
        if self._queries is None:
            started = time.perf_counter()
            self._queries = self.spec.load(self.data_dir, self.limit, **self.dataset_options)
            self.load_s = time.perf_counter() - started
        return self._queries

    def base_metrics(self) -> dict[str, float]:
        """The metrics of the first-stage order (every candidate, as given), means over queries."""
        if self._base is None:
            rows = [self.spec.metrics(q, list(q.candidates)) for q in self.queries]
            names = list(rows[0]) if rows else list(self.spec.headline)
            self._base = {name: mean(r[name] for r in rows) for name in names}
        return dict(self._base)

    def __call__(self, method: Any, *, label: str | None = None) -> dict[str, Any]:
        """Rerank every query with ``method`` and score the result.

        Args:
            method: Anything with ``rerank(query, candidates) -> list[Passage]``; its
                ``name`` and ``config()`` go into the result when it has them.
            label: The method's name in tables, plots and the file name (default
                ``method.name``, else its class name).

        Returns:
            A JSON-ready dict: ``metrics`` (means over queries), ``base_metrics`` (the
            first-stage order's), ``per_query`` (each query's id, text, metrics and
            returned ranking, plus what the method's ``query_details()`` adds), the method's ``method_config``, the data set and its first stage,
            ``timing``, ``environment`` (machine and package versions), ``command`` and
            ``created``.

        Raises:
            TypeError: ``method`` has no ``rerank``, or returned something else than a
                list of passages.
            ValueError: The method returned a passage that is not a candidate or
                returned one twice.
        """
        if not callable(getattr(method, "rerank", None)):
            raise TypeError(
                f"method must have rerank(query, candidates), got {type(method).__name__}"
            )
        spec = self.spec
        label = label or getattr(method, "name", None) or type(method).__name__
        started = time.perf_counter()
        created = now()
        queries = self.queries
        per_query: list[dict[str, Any]] = []
        rerank_s = 0.0
        for query in progress(
            queries, desc=f"{spec.name} {label}", show=self.show_progress, unit="query"
        ):
            t0 = time.perf_counter()
            output = method.rerank(query.query, list(query.candidates))
            seconds = time.perf_counter() - t0
            rerank_s += seconds
            reranked = _check_output(label, query.query_id, query.candidates, output)
            row = {
                "query_id": query.query_id,
                "query": query.query,
                "metrics": spec.metrics(query, reranked),
                "num_candidates": len(query.candidates),
                "seconds": round(seconds, 4),
                "ranking": [p.id for p in reranked],
            }
            # A method may say more about its last call (UDCG: each candidate's decision).
            details = getattr(method, "query_details", None)
            if callable(details):
                row.update(details())
            per_query.append(row)
        names = list(per_query[0]["metrics"]) if per_query else list(spec.headline)
        metrics = {name: mean(q["metrics"][name] for q in per_query) for name in names}
        base = self.base_metrics()
        # includes the data set's loading when this call loaded it
        wall_s = time.perf_counter() - started
        first_stage = queries[0].metadata.get("first_stage") if queries else None
        config = method.config() if callable(getattr(method, "config", None)) else {"name": label}
        primary = self.primary_metric
        if primary in metrics and primary in base:
            logger.info(
                "%s %s: %s %.4f (first stage %.4f)",
                spec.name, label, primary, metrics[primary], base[primary],
            )  # fmt: skip
        return {
            "kind": "rerank",
            "dataset": spec.name,
            "dataset_description": spec.description,
            "dataset_info": {**spec.info, "first_stage": first_stage},
            "dataset_options": dict(self.dataset_options),
            "limit": self.limit,
            "num_queries": len(per_query),
            "method": label,
            "method_config": config,
            # A calibrator fitted on this data set judges it in-sample.
            "in_sample": spec.name in (config.get("calibrator_fitted_on") or ()),
            "metrics": metrics,
            "base_metrics": base,
            "headline": list(spec.headline),
            "per_query": per_query,
            "timing": {
                "load_s": round(self.load_s, 3),
                "rerank_s": round(rerank_s, 3),
                "ms_per_query": round(1000 * rerank_s / max(len(per_query), 1), 2),
            },
            "wall_time_s": round(wall_s, 3),
            **spec.provenance,
            **provenance(self.command, created),
        }


def run_rerank_eval(
    dataset: str | RerankDataset,
    method: Any,
    *,
    limit: int | None = None,
    data_dir: str | Path | None = None,
    show_progress: bool = True,
    label: str | None = None,
    command: str | None = None,
    **dataset_options: Any,
) -> dict[str, Any]:
    """``RerankEvaluator(dataset, ...)(method, label=label)``: one method, one call.

    See [`RerankEvaluator`][ctx_core.eval.tasks.rerank.RerankEvaluator] for the arguments and the result.
    """
    evaluator = RerankEvaluator(
        dataset,
        limit=limit,
        data_dir=data_dir,
        show_progress=show_progress,
        command=command,
        **dataset_options,
    )
    return evaluator(method, label=label)
