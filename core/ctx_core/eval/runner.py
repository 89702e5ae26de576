"""Run a rerank method over a data set and keep everything needed to trust the numbers.

Examples:
    >>> from ctx_core.eval.methods import build_method
    >>> results = run_rerank_eval("dl19", build_method("none"), show_progress=False)  # doctest: +SKIP
    >>> round(results["metrics"]["ndcg@10"], 4)  # doctest: +SKIP
    0.5058
"""

from __future__ import annotations

import json
import logging
import re
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ctx_core.eval.environment import environment
from ctx_core.eval.methods import RerankMethod
from ctx_core.eval.metrics import mean
from ctx_core.eval.rerank_datasets import RerankDataset, get_rerank_dataset
from ctx_core.progress import progress
from ctx_core.types import Passage

__all__ = ["DEFAULT_RESULTS_DIR", "default_results_path", "run_rerank_eval", "write_results"]

logger = logging.getLogger(__name__)

#: Where result files go by default, relative to the working directory.
DEFAULT_RESULTS_DIR = Path("benchmarks") / "results"


def _command() -> str:
    argv = [Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python", *sys.argv[1:]]
    return shlex.join(argv)


def _check_output(
    method: RerankMethod, query_id: str, candidates: list[Passage], output: object
) -> list[Passage]:
    label = getattr(method, "name", type(method).__name__)
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


def run_rerank_eval(
    dataset: str | RerankDataset,
    method: RerankMethod,
    *,
    limit: int | None = None,
    data_dir: str | Path | None = None,
    show_progress: bool = True,
    label: str | None = None,
    command: str | None = None,
    **dataset_options: Any,
) -> dict[str, Any]:
    """Rerank every query of a data set with ``method`` and score the result.

    Args:
        dataset: A name from :func:`~ctx_core.eval.rerank_datasets.rerank_dataset_names`
            (``dl19``, ``hotpotqa``, ``cranfield``, ``cacm``) or a
            :class:`~ctx_core.eval.rerank_datasets.RerankDataset`.
        method: The method to evaluate (see :func:`~ctx_core.eval.methods.build_method`).
        limit: Evaluate only the first ``limit`` queries.
        data_dir: The data folder (see :func:`~ctx_core.eval.datasets.resolve_data_dir`).
        show_progress: Show a progress bar over the queries.
        label: The method's name in tables, plots and the file name (default ``method.name``).
        command: The command line to record (default: this process's arguments).
        **dataset_options: Options of the data set's loader, e.g. ``first_stage="embedding"``
            or ``depth=50`` for ``cranfield`` and ``cacm``.

    Returns:
        A JSON-ready dict: ``metrics`` (means over queries), ``per_query`` (each query's
        metrics and returned ranking), the method's ``method_config``, the data set and its
        first stage, ``timing``, ``environment`` (machine and package versions),
        ``command`` and ``created``.

    Raises:
        ValueError: Unknown data set or option, or the method returned a passage that is
            not a candidate or returned one twice.
    """
    spec = get_rerank_dataset(dataset) if isinstance(dataset, str) else dataset
    unknown = sorted(set(dataset_options) - set(spec.options))
    if unknown:
        takes = ", ".join(spec.options) or "none"
        raise ValueError(
            f"dataset {spec.name!r} does not take option(s) {unknown}; it takes: {takes}"
        )
    if not isinstance(method, RerankMethod):
        raise TypeError(
            f"method must have name, rerank() and config(), got {type(method).__name__}"
        )
    label = label or method.name
    started = time.perf_counter()
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    queries = spec.load(data_dir, limit, **dataset_options)
    load_s = time.perf_counter() - started
    per_query: list[dict[str, Any]] = []
    rerank_s = 0.0
    for query in progress(queries, desc=f"{spec.name} {label}", show=show_progress, unit="query"):
        t0 = time.perf_counter()
        output = method.rerank(query.query, list(query.candidates))
        seconds = time.perf_counter() - t0
        rerank_s += seconds
        reranked = _check_output(method, query.query_id, query.candidates, output)
        per_query.append(
            {
                "query_id": query.query_id,
                "metrics": spec.metrics(query, reranked),
                "num_candidates": len(query.candidates),
                "seconds": round(seconds, 4),
                "ranking": [p.id for p in reranked],
            }
        )
    names = list(per_query[0]["metrics"]) if per_query else list(spec.headline)
    metrics = {name: mean(q["metrics"][name] for q in per_query) for name in names}
    wall_s = time.perf_counter() - started
    first_stage = queries[0].metadata.get("first_stage") if queries else None
    return {
        "kind": "rerank",
        "dataset": spec.name,
        "dataset_description": spec.description,
        "dataset_info": {**spec.info, "first_stage": first_stage},
        "dataset_options": dict(dataset_options),
        "limit": limit,
        "num_queries": len(per_query),
        "method": label,
        "method_config": method.config(),
        "metrics": metrics,
        "headline": list(spec.headline),
        "per_query": per_query,
        "timing": {
            "load_s": round(load_s, 3),
            "rerank_s": round(rerank_s, 3),
            "ms_per_query": round(1000 * rerank_s / max(len(per_query), 1), 2),
        },
        "wall_time_s": round(wall_s, 3),
        "environment": environment(),
        "command": command or _command(),
        "created": created,
    }


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+=-]+", "_", text).strip("_") or "method"


def default_results_path(results: dict[str, Any], results_dir: str | Path | None = None) -> Path:
    """``benchmarks/results/rerank/<dataset>/<method>[-<options>][-limit<N>].json``.

    ``results_dir`` replaces ``benchmarks/results/rerank/<dataset>``.
    """
    folder = (
        Path(results_dir)
        if results_dir is not None
        else DEFAULT_RESULTS_DIR / str(results.get("kind", "rerank")) / str(results["dataset"])
    )
    name = _slug(str(results["method"]))
    for key, value in sorted((results.get("dataset_options") or {}).items()):
        name += f"-{_slug(f'{key}={value}')}"
    if results.get("limit") is not None:
        name += f"-limit{results['limit']}"
    return folder / f"{name}.json"


def write_results(results: dict[str, Any], path: str | Path | None = None) -> Path:
    """Write ``results`` as JSON (one line per query) and return the file's path.

    Args:
        results: What :func:`run_rerank_eval` returned.
        path: The file to write (default :func:`default_results_path`, under the working
            directory); its folder is created.
    """
    target = Path(path) if path is not None else default_results_path(results)
    target.parent.mkdir(parents=True, exist_ok=True)
    head = {k: v for k, v in results.items() if k != "per_query"}
    text = json.dumps(head, indent=2, ensure_ascii=False)
    rows = results.get("per_query")
    if rows is not None:
        lines = ",\n".join("    " + json.dumps(row, ensure_ascii=False) for row in rows)
        body = f'  "per_query": [\n{lines}\n  ]' if rows else '  "per_query": []'
        text = text[: text.rstrip().rfind("}")].rstrip() + ",\n" + body + "\n}"
    target.write_text(text + "\n", encoding="utf-8")
    logger.info("wrote %s", target)
    return target
