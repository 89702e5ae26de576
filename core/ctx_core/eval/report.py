"""Read result files back, print them as a table and plot a metric per method.

Examples:
    >>> rows = [{"dataset": "d", "method": "none", "num_queries": 2, "metrics": {"ndcg@10": 0.5}}]
    >>> print(format_table(rows, ["ndcg@10"]))
    | method | queries | ndcg@10 |
    |---|---|---|
    | none | 2 | 0.5000 |
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ctx_core.errors import require

__all__ = ["format_table", "load_results", "order_results", "plot_results"]

_DIGITS = re.compile(r"(\d+)")

# Metrics that count things rather than being rates: printed with one decimal.
_COUNTS = ("kept", "kept_tokens")


def load_results(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    """Result files (folders are searched for ``*.json``, not recursively), in path order.

    Raises:
        FileNotFoundError: A path does not exist.
        ValueError: A file is not a result file (no ``metrics``), or nothing was found.
    """
    files: list[Path] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            files.extend(sorted(path.glob("*.json")))
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"no such result file or folder: {item}")
    results = []
    for file in files:
        data = json.loads(file.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or "metrics" not in data or "method" not in data:
            raise ValueError(f"{file} is not a result file (no 'method' and 'metrics')")
        data["_path"] = str(file)
        results.append(data)
    if not results:
        raise ValueError(f"no result files found in {', '.join(str(p) for p in paths)}")
    return results


def order_results(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Baselines first (``none``, then the other plain orders), then by method name."""
    first = {"none": 0, "random": 1}

    def natural(name: str) -> list[tuple[int, str]]:
        # "top-5" before "top-10": compare digit runs as numbers
        return [(int(part), "") if part.isdigit() else (-1, part) for part in _DIGITS.split(name)]

    return sorted(
        results, key=lambda r: (first.get(str(r["method"]), 2), natural(str(r["method"])))
    )


def _metric_names(results: Sequence[dict[str, Any]], metrics: Sequence[str] | None) -> list[str]:
    if metrics:
        return list(metrics)
    headline = results[0].get("headline") if results else None
    return list(headline) if headline else list(results[0]["metrics"]) if results else []


def _format(name: str, value: object) -> str:
    if not isinstance(value, (int, float)):
        return "-"
    return f"{value:.1f}" if name in _COUNTS else f"{value:.4f}"


def format_table(results: Sequence[dict[str, Any]], metrics: Sequence[str] | None = None) -> str:
    """A Markdown table: one row per result, one column per metric (mean over queries).

    Args:
        results: Result dicts (from [`RerankEvaluator`][ctx_core.eval.tasks.rerank.RerankEvaluator] or files).
        metrics: Columns to show (default: the first result's ``headline`` metrics).
    """
    names = _metric_names(results, metrics)
    several = len({r.get("dataset") for r in results}) > 1
    header = ["dataset"] if several else []
    header += ["method", "queries", *names]
    timed = any("timing" in r for r in results)
    if timed:
        header.append("ms/query")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in results:
        row = [str(r.get("dataset"))] if several else []
        row += [str(r["method"]), str(r.get("num_queries", "-"))]
        row += [_format(n, r["metrics"].get(n)) for n in names]
        if timed:
            ms = (r.get("timing") or {}).get("ms_per_query")
            row.append("-" if ms is None else f"{ms:.1f}")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def plot_results(
    results: Sequence[dict[str, Any]],
    path: str | Path,
    metrics: Sequence[str] | None = None,
    *,
    title: str | None = None,
) -> Path:
    """Bar charts of each metric per method (one panel per metric), saved as an image.

    Args:
        results: Results of one data set.
        path: The image to write (``.png``, ``.svg``, ...); its folder is created.
        metrics: Metrics to plot (default: the first result's ``headline``).
        title: Figure title (default: the data set, query count and limit).

    Raises:
        ValueError: No results, or results of different data sets.
    """
    require("matplotlib", "eval", "plotting evaluation results")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not results:
        raise ValueError("results must not be empty")
    datasets = sorted({str(r.get("dataset")) for r in results})
    if len(datasets) > 1:
        raise ValueError(f"results mix data sets ({', '.join(datasets)}); plot one at a time")
    names = _metric_names(results, metrics)
    labels = [str(r["method"]) for r in results]
    columns = 2 if len(names) == 4 else min(3, len(names))
    rows = -(-len(names) // columns)
    fig, axes = plt.subplots(
        rows,
        columns,
        figsize=(3.4 * columns + 1.4, (0.32 * len(labels) + 1.0) * rows + 0.5),
        squeeze=False,
    )
    for index, ax in enumerate(axes.flat):
        if index >= len(names):
            ax.set_visible(False)
            continue
        name = names[index]
        values = [float(r["metrics"].get(name, float("nan"))) for r in results]
        bars = ax.barh(range(len(labels)), values, color="#4c72b0")
        ax.set_yticks(range(len(labels)), labels if index % columns == 0 else [""] * len(labels))
        ax.invert_yaxis()
        ax.set_title(name, fontsize=10)
        ax.bar_label(bars, [_format(name, v) for v in values], fontsize=7, padding=2)
        top = max((v for v in values if v == v), default=1.0)
        ax.set_xlim(0, (top or 1.0) * 1.3)
        ax.tick_params(axis="both", labelsize=8)
    first = results[0]
    limit = first.get("limit")
    fig.suptitle(
        title
        or f"{datasets[0]}: {first.get('num_queries', '?')} queries"
        + (f" (limit {limit})" if limit else ""),
        fontsize=11,
    )
    fig.tight_layout()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=120)
    plt.close(fig)
    return target
