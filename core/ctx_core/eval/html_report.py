"""A self-contained HTML report beside every result file: tables, plots, per-query drill-down.

[`write_results`][ctx_core.eval.results.write_results] calls
[`write_html_report`][ctx_core.eval.html_report.write_html_report] after writing a result
file, so `ctx eval rerank | structure | memory | context` leave `<name>.html` next to
`<name>.json`. The page needs nothing else: the style is inline and the plots are PNG
images embedded as data URIs (drawn with matplotlib, the `eval` extra; without it the page
says so and keeps the tables). It holds:

* the run: data set, method, command, time, machine and package versions;
* the metrics as a table (nested metrics, e.g. one set per method or per variant, become one
  row each), with the first stage's values beside them when the file has `base_metrics`;
* for a rerank run, the other methods' result files of the same data set in the same folder
  as a comparison table;
* plots: a bar chart per headline metric, and the distribution of the primary metric over
  queries;
* the method's configuration;
* every query as a `<details>` element: its metrics, ranking and, for the `udcg` method,
  each candidate's decision (kept or dropped, and why: `"likely distractor"`,
  `"over token budget"`, ...).

Examples:
    >>> results = {"kind": "rerank", "dataset": "d", "method": "udcg", "headline": ["ndcg@10"],
    ...            "metrics": {"ndcg@10": 0.5}, "per_query": [{"query_id": "q1",
    ...            "query": "who?", "metrics": {"ndcg@10": 0.5}, "decisions": [
    ...            {"id": "p1", "kept": True, "reason": "kept"},
    ...            {"id": "p2", "kept": False, "reason": "likely distractor"}]}]}
    >>> page = render_html_report(results, plots=False)
    >>> "<details" in page and "likely distractor" in page and "<table" in page
    True
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["render_html_report", "write_html_report"]

logger = logging.getLogger(__name__)

# Rows of one per-query list shown in the drill-down; a note says how many were left out.
MAX_ROWS = 1000
# Items of a list of scalars (a ranking) shown inline.
MAX_INLINE = 30
_ROW_KEYS = ("per_query", "per_item")
_ID_KEYS = ("query_id", "item_id", "id")
_TEXT_KEYS = ("query", "question")

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;
max-width:72rem;padding:0 1rem;color:#1f2328;line-height:1.45}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem;
border-bottom:1px solid #d0d7de;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.85rem}
th,td{border:1px solid #d0d7de;padding:.2rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}td:first-child{white-space:nowrap}.wide{overflow-x:auto}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.kept td{background:#e6f4ea}tr.dropped td{background:#fdecea}
.muted{color:#59636e;font-size:.85rem}code,pre{font-family:ui-monospace,monospace;
font-size:.8rem}pre{background:#f6f8fa;padding:.6rem;overflow:auto;max-height:24rem}
details{border:1px solid #d0d7de;border-radius:4px;margin:.3rem 0;padding:.2rem .6rem}
summary{cursor:pointer}img{max-width:100%;border:1px solid #d0d7de}
.badge{display:inline-block;border-radius:3px;padding:0 .3rem;font-size:.75rem}
.badge.kept{background:#2da44e;color:#fff}.badge.dropped{background:#cf222e;color:#fff}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return _e(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:.1f}"
    return _e(value)


def _is_num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _metric_rows(metrics: Any, prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Flatten nested metrics into (row label, {metric: value}) rows."""
    if not isinstance(metrics, Mapping):
        return []
    leaves = {k: v for k, v in metrics.items() if not isinstance(v, Mapping)}
    rows = [(prefix or "all", leaves)] if leaves else []
    for key, value in metrics.items():
        if isinstance(value, Mapping):
            rows += _metric_rows(value, f"{prefix} / {key}" if prefix else str(key))
    return rows


def _table(
    header: Sequence[str], rows: Sequence[Sequence[Any]], classes: Sequence[str] = ()
) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for index, row in enumerate(rows):
        cls = f' class="{classes[index]}"' if index < len(classes) and classes[index] else ""
        cells = "".join(
            f'<td class="num">{_fmt(c)}</td>' if _is_num(c) else f"<td>{_fmt(c)}</td>" for c in row
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    return f"<div class='wide'>{table}</div>"


def _rows_table(rows: Sequence[tuple[str, Mapping[str, Any]]], label: str = "") -> str:
    names: list[str] = []
    for _, values in rows:
        names += [n for n in values if n not in names]
    return _table(
        [label, *names], [[name, *(values.get(n, "") for n in names)] for name, values in rows]
    )


def _headline(results: Mapping[str, Any], names: Sequence[str]) -> list[str]:
    wanted = [n for n in results.get("headline") or [] if n in names]
    return wanted or [n for n in names if n][:6]


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _bar_plot(rows: Sequence[tuple[str, Mapping[str, Any]]], metrics: Sequence[str]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [m for m in metrics if any(_is_num(v.get(m)) for _, v in rows)][:6]
    if not metrics:
        return ""
    labels = [label for label, _ in rows]
    columns = min(3, len(metrics))
    lines = -(-len(metrics) // columns)
    fig, axes = plt.subplots(
        lines,
        columns,
        figsize=(3.6 * columns + 1.6, (0.3 * len(labels) + 1.0) * lines + 0.4),
        squeeze=False,
    )
    for index, ax in enumerate(axes.flat):
        if index >= len(metrics):
            ax.set_visible(False)
            continue
        name = metrics[index]
        values = [float(v[name]) if _is_num(v.get(name)) else float("nan") for _, v in rows]
        bars = ax.barh(range(len(labels)), values, color="#4c72b0")
        ax.set_yticks(range(len(labels)), labels if index % columns == 0 else [""] * len(labels))
        ax.invert_yaxis()
        ax.set_title(name, fontsize=10)
        ax.bar_label(bars, [_fmt(v) for v in values], fontsize=7, padding=2)
        finite = [v for v in values if v == v]
        top = max(finite, default=1.0)
        ax.set_xlim(min(0.0, min(finite, default=0.0)), (top or 1.0) * 1.3)
        ax.tick_params(labelsize=8)
    fig.tight_layout()
    uri = _png(fig)
    plt.close(fig)
    return uri


def _histogram(values: Sequence[float], name: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 2.6))
    ax.hist(values, bins=min(20, max(5, len(values) // 3)), color="#4c72b0", edgecolor="white")
    ax.set_xlabel(f"{name} per query", fontsize=9)
    ax.set_ylabel("queries", fontsize=9)
    ax.tick_params(labelsize=8)
    fig.tight_layout()
    uri = _png(fig)
    plt.close(fig)
    return uri


def _row_values(row: Mapping[str, Any]) -> dict[str, Any]:
    """A per-query row's own metrics: its ``metrics`` dict, else its numeric fields."""
    metrics = row.get("metrics")
    if isinstance(metrics, Mapping):
        return {k: v for k, v in metrics.items() if _is_num(v)}
    return {k: v for k, v in row.items() if _is_num(v) and k not in ("seconds",)}


def _value_html(key: str, value: Any) -> str:
    if isinstance(value, Mapping):
        rows = _metric_rows(value)
        if rows and all(
            isinstance(v, Mapping) or not isinstance(v, (list, dict)) for v in value.values()
        ):
            return _rows_table(rows)
        return f"<pre>{_e(json.dumps(value, indent=1, ensure_ascii=False, default=str))}</pre>"
    if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
        names: list[str] = []
        for item in value:
            names += [n for n in item if n not in names]
        classes = [
            ("kept" if item["kept"] else "dropped") if isinstance(item.get("kept"), bool) else ""
            for item in value
        ]
        return _table(names, [[_cell(item.get(n, "")) for n in names] for item in value], classes)
    if isinstance(value, list):
        shown = ", ".join(_fmt(v) for v in value[:MAX_INLINE])
        more = f" … ({len(value) - MAX_INLINE} more)" if len(value) > MAX_INLINE else ""
        return f"<code>{shown}</code>{more}"
    return _fmt(value)


def _cell(value: Any) -> Any:
    if isinstance(value, (Mapping, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


def _summary(row: Mapping[str, Any], primary: str | None) -> str:
    ident = next((row[k] for k in _ID_KEYS if k in row), None)
    if ident is None and "conversation" in row:
        ident = f"{row['conversation']} #{row.get('qa', '')}"
    text = next((row[k] for k in _TEXT_KEYS if isinstance(row.get(k), str)), "")
    parts = [f"<b>{_e(ident if ident is not None else '?')}</b>"]
    if text:
        parts.append(_e(text if len(text) <= 120 else text[:117] + "..."))
    values = _row_values(row)
    if primary and primary in values:
        parts.append(f"<span class='muted'>{_e(primary)} {_fmt(values[primary])}</span>")
    decisions = row.get("decisions")
    if isinstance(decisions, list):
        kept = sum(1 for d in decisions if isinstance(d, Mapping) and d.get("kept"))
        parts.append(
            f"<span class='badge kept'>{kept} kept</span> "
            f"<span class='badge dropped'>{len(decisions) - kept} dropped</span>"
        )
    return " · ".join(parts)


def _drilldown(rows: Sequence[Any], primary: str | None) -> str:
    out = []
    for row in rows[:MAX_ROWS]:
        if not isinstance(row, Mapping):
            out.append(f"<pre>{_e(json.dumps(row, ensure_ascii=False, default=str))}</pre>")
            continue
        scalars = [
            [k, v]
            for k, v in row.items()
            if not isinstance(v, (Mapping, list)) and k not in _TEXT_KEYS
        ]
        body = [f"<p>{_e(row[k])}</p>" for k in _TEXT_KEYS if isinstance(row.get(k), str)]
        if scalars:
            body.append(_table(["field", "value"], scalars))
        for key, value in row.items():
            if isinstance(value, (Mapping, list)):
                body.append(f"<h4>{_e(key)}</h4>{_value_html(key, value)}")
        out.append(f"<details><summary>{_summary(row, primary)}</summary>{''.join(body)}</details>")
    if len(rows) > MAX_ROWS:
        out.append(f"<p class='muted'>{len(rows) - MAX_ROWS} more rows are in the JSON file.</p>")
    return "\n".join(out)


def _siblings(results: Mapping[str, Any], folder: Path, own: Path | None) -> list[dict[str, Any]]:
    """Other rerank result files of the same data set in ``folder``."""
    found = []
    for file in sorted(folder.glob("*.json")):
        if own is not None and file.resolve() == own.resolve():
            continue
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if (
            isinstance(data, dict)
            and data.get("kind") == results.get("kind")
            and data.get("dataset") == results.get("dataset")
            and isinstance(data.get("metrics"), Mapping)
            and "method" in data
            and data.get("method") != results.get("method")
        ):
            found.append(data)
    return found


def render_html_report(
    results: Mapping[str, Any],
    *,
    siblings: Sequence[Mapping[str, Any]] = (),
    plots: bool = True,
) -> str:
    """The report of one result as a self-contained HTML page.

    Args:
        results: A result dict, as [`write_results`][ctx_core.eval.results.write_results]
            writes it.
        siblings: Other results of the same data set (other methods), compared in a table
            and a plot.
        plots: Draw the plots (needs matplotlib, the `eval` extra).
    """
    if not isinstance(results, Mapping):
        raise TypeError(f"results must be a mapping, got {type(results).__name__}")
    kind = results.get("kind") or results.get("benchmark") or "evaluation"
    dataset = results.get("dataset") or results.get("task") or ""
    method = results.get("method") or ""
    title = " · ".join(str(x) for x in (kind, dataset, method) if x)
    parts = [f"<h1>{_e(title)}</h1>"]
    description = results.get("dataset_description")
    if description:
        parts.append(f"<p>{_e(description)}</p>")
    env = results.get("environment") or {}
    facts = [
        ["command", results.get("command", "")],
        ["created", results.get("created") or results.get("date", "")],
        ["queries", results.get("num_queries", "")],
        ["limit", results.get("limit", "")],
    ]
    if isinstance(env, Mapping):
        facts += [
            ["python", env.get("python", "")],
            ["machine", env.get("processor") or env.get("machine", "")],
        ]
        facts += [["commit", env.get("git_commit") or env.get("commit", "")]]
    parts.append(_table(["run", ""], [f for f in facts if f[1] not in ("", None)]))

    metrics = (
        results.get("metrics") if results.get("metrics") is not None else results.get("results")
    )
    rows = _metric_rows(metrics)
    base = results.get("base_metrics")
    if rows and isinstance(base, Mapping) and len(rows) == 1:
        rows = [(str(method or "method"), rows[0][1]), ("first stage", dict(base))]
    names: list[str] = []
    for _, values in rows:
        names += [n for n in values if n not in names]
    headline = _headline(results, names)
    if rows:
        parts.append("<h2>Metrics</h2>" + _rows_table(rows))
    compare = [dict(s) for s in siblings if isinstance(s.get("metrics"), Mapping)]
    if compare and rows:
        table_rows = [(str(s.get("method")), dict(s["metrics"])) for s in compare]
        table_rows.append((f"{method} (this run)", dict(rows[0][1])))
        parts.append(
            "<h2>Other methods on this data set</h2>"
            "<p class='muted'>Result files of the same folder when this report was written.</p>"
            + _rows_table(table_rows, "method")
        )
        plot_rows = table_rows
    else:
        plot_rows = rows

    per_groups: list[tuple[str, list[Any]]] = []
    for key in _ROW_KEYS:
        value = results.get(key)
        if isinstance(value, Mapping):
            per_groups += [(f"{key}: {name}", list(group)) for name, group in value.items()]
        elif isinstance(value, list):
            per_groups.append((key, value))
    primary = headline[0] if headline else None
    if plots and (plot_rows or per_groups):
        try:
            images = []
            if plot_rows:
                uri = _bar_plot(plot_rows, headline)
                if uri:
                    images.append(f"<img alt='metrics per method' src='{uri}'>")
            for label, group in per_groups[:4]:
                per_query = [
                    float(_row_values(r)[primary])
                    for r in group
                    if isinstance(r, Mapping) and primary and _is_num(_row_values(r).get(primary))
                ]
                if len(per_query) >= 2:
                    uri = _histogram(per_query, f"{primary} ({label})")
                    images.append(f"<img alt='{_e(primary)} per query' src='{uri}'>")
            if images:
                parts.append("<h2>Plots</h2>" + "".join(f"<p>{i}</p>" for i in images))
        except ImportError:
            parts.append("<p class='muted'>Plots need matplotlib: pip install 'ctx-rag[eval]'.</p>")
    config = results.get("method_config") or results.get("config")
    if config:
        parts.append(
            "<h2>Configuration</h2><pre>"
            + _e(json.dumps(config, indent=2, ensure_ascii=False, default=str))
            + "</pre>"
        )
    for label, group in per_groups:
        parts.append(f"<h2>{_e(label)} ({len(group)})</h2>" + _drilldown(group, primary))
    if isinstance(env, Mapping) and isinstance(env.get("packages"), Mapping):
        parts.append(
            "<h2>Package versions</h2>"
            + _table(["package", "version"], [[k, v] for k, v in env["packages"].items()])
        )
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{_e(title)}</title>"
        f"<style>{_STYLE}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )


def write_html_report(
    results: Mapping[str, Any], path: str | Path, *, json_path: str | Path | None = None
) -> Path:
    """Write the HTML report of ``results`` to ``path`` (its folder is created); return it.

    Args:
        results: A result dict.
        path: The ``.html`` file to write.
        json_path: The result's own JSON file, left out of the comparison with the other
            result files of its folder (rerank runs only).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    siblings: list[dict[str, Any]] = []
    if results.get("kind") == "rerank":
        siblings = _siblings(results, target.parent, Path(json_path) if json_path else None)
    target.write_text(render_html_report(results, siblings=siblings), encoding="utf-8")
    logger.info("wrote %s", target)
    return target
