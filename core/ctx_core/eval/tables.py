"""Results tables generated from result files, never typed: markers, builders, check.

A Markdown page holds a marker where a table goes::

    <!-- table: rerank-dl19 -->
    (whatever is here is replaced)
    <!-- /table -->

A *builder* registered under that name reads committed result files (JSON under
``benchmarks/results/``) and returns the table's Markdown. [`render_page`][ctx_core.eval.tables.render_page] fills every
marker of a page; [`update_pages`][ctx_core.eval.tables.update_pages] does it for files (or only checks them, for a test
that fails when a page's table differs from what its results give). Builders get the
repository root, so they read the same files wherever the check runs.

Helpers for builders: [`markdown_table`][ctx_core.eval.tables.markdown_table] (rows to Markdown), [`load_result`][ctx_core.eval.tables.load_result]
(a JSON file under the root), [`paired_values`][ctx_core.eval.tables.paired_values] (per-query values of two result files,
matched by query id) and [`comparison_cell`][ctx_core.eval.tables.comparison_cell] (a paired bootstrap 95% interval, or "n
too small", from [`compare`][ctx_core.eval.bootstrap.compare]).

Examples:
    >>> registry = TableRegistry()
    >>> @registry.register("demo")
    ... def demo(root):
    ...     return markdown_table(["method", "score"], [["a", fmt(0.51234, 3)]])
    >>> page = "Intro\\n<!-- table: demo -->\\nold\\n<!-- /table -->\\nEnd\\n"
    >>> print(render_page(page, ".", registry))
    Intro
    <!-- table: demo -->
    | method | score |
    |---|---|
    | a | 0.512 |
    <!-- /table -->
    End
    <BLANKLINE>
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ctx_core.eval.bootstrap import (
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    MIN_PAIRS,
    compare,
    format_interval,
)

__all__ = [
    "Marker",
    "TableRegistry",
    "comparison_cell",
    "find_markers",
    "fmt",
    "load_result",
    "markdown_table",
    "paired_values",
    "render_page",
    "unmarked_tables",
    "update_pages",
]

_OPEN = re.compile(r"^<!-- table: ([A-Za-z0-9_.-]+) -->$")
_CLOSE = "<!-- /table -->"
_FENCE = re.compile(r"^\s*(```|~~~)")
_MEASUREMENT = re.compile(r"\d\.\d|\d\s?(x|×|ms|s|GiB|MB)\b")

#: A builder: the repository root in, the table's Markdown out.
Builder = Callable[[Path], str]


@dataclass
class TableRegistry:
    """Named table builders.

    Examples:
        >>> registry = TableRegistry()
        >>> registry.register("t", lambda root: "| a |\\n|---|")  # doctest: +ELLIPSIS
        <function <lambda> at ...>
        >>> registry.names()
        ['t']
    """

    builders: dict[str, Builder] = field(default_factory=dict)

    def register(self, name: str, builder: Builder | None = None) -> Any:
        """Register ``builder`` under ``name`` (or use as a decorator without ``builder``).

        Raises:
            ValueError: ``name`` is already registered or is not a valid marker name.
        """
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise ValueError(f"table name must be letters, digits, '.', '_' or '-', got {name!r}")

        def add(fn: Builder) -> Builder:
            if name in self.builders:
                raise ValueError(f"table {name!r} is already registered")
            self.builders[name] = fn
            return fn

        return add(builder) if builder is not None else add

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self.builders)

    def build(self, name: str, root: str | Path) -> str:
        """The table ``name`` from the result files under ``root``.

        Raises:
            KeyError: No builder is registered under ``name``.
        """
        if name not in self.builders:
            raise KeyError(f"no table builder named {name!r}; known: {', '.join(self.names())}")
        return self.builders[name](Path(root)).strip("\n")


@dataclass(frozen=True)
class Marker:
    """One marked table in a page: its name and the lines it spans (0-based, markers included)."""

    name: str
    start: int
    end: int


def find_markers(text: str, source: str = "page") -> list[Marker]:
    """The table markers of a page, in order (markers inside code fences are left alone).

    Raises:
        ValueError: A marker is not closed, is nested, or a closing marker has no opening.
    """
    markers: list[Marker] = []
    name: str | None = None
    start = 0
    fence = False
    for number, line in enumerate(text.split("\n")):
        if _FENCE.match(line):
            fence = not fence
            continue
        if fence:
            continue
        stripped = line.strip()
        opened = _OPEN.match(stripped)
        if opened:
            if name is not None:
                raise ValueError(
                    f"{source}:{number + 1}: table {opened[1]!r} opens inside {name!r}"
                )
            name, start = opened[1], number
        elif stripped == _CLOSE:
            if name is None:
                raise ValueError(f"{source}:{number + 1}: '{_CLOSE}' without an opening marker")
            markers.append(Marker(name, start, number))
            name = None
    if name is not None:
        raise ValueError(f"{source}:{start + 1}: table {name!r} is not closed with '{_CLOSE}'")
    return markers


def render_page(text: str, root: str | Path, registry: TableRegistry, source: str = "page") -> str:
    """``text`` with every marked table replaced by its builder's output.

    Raises:
        KeyError: A marker names no registered builder.
        ValueError: Malformed markers (see [`find_markers`][ctx_core.eval.tables.find_markers]).
    """
    lines = text.split("\n")
    out: list[str] = []
    position = 0
    for marker in find_markers(text, source):
        out.extend(lines[position : marker.start + 1])
        out.extend(registry.build(marker.name, root).split("\n"))
        out.append(lines[marker.end])
        position = marker.end + 1
    out.extend(lines[position:])
    return "\n".join(out)


def update_pages(
    pages: Iterable[str | Path],
    root: str | Path,
    registry: TableRegistry,
    *,
    check: bool = False,
) -> list[Path]:
    """Fill the marked tables of ``pages``; return the pages whose tables changed.

    Args:
        pages: Markdown files.
        root: Repository root (builders read result files under it).
        registry: The builders.
        check: Only compare: leave the files as they are.
    """
    changed = []
    for item in pages:
        page = Path(item)
        text = page.read_text(encoding="utf-8")
        rendered = render_page(text, root, registry, source=str(page))
        if rendered != text:
            changed.append(page)
            if not check:
                page.write_text(rendered, encoding="utf-8")
    return changed


def unmarked_tables(text: str) -> list[tuple[int, str]]:
    """Markdown tables outside table markers and code fences whose body holds a measurement.

    A measurement: a decimal number (``0.506``, ``1,246.3``), a ratio (``2.4x``) or a time
    (``86 ms``, ``12 s``) outside inline code. Tables of options or counts
    pass; a caller keeps its own list of tables that are not results.

    Returns:
        ``(line number, header line)`` of each (1-based line number).
    """
    inside = {number for m in find_markers(text) for number in range(m.start, m.end + 1)}
    found: list[tuple[int, str]] = []
    fence = False
    block: list[tuple[int, str]] = []
    for number, line in enumerate([*text.split("\n"), ""]):
        if _FENCE.match(line):
            fence = not fence
        is_row = not fence and number not in inside and line.lstrip().startswith("|")
        if is_row:
            block.append((number, line))
            continue
        body = re.sub(r"`[^`]*`", "", " ".join(row for _, row in block[2:]))
        if block and _MEASUREMENT.search(body):
            found.append((block[0][0] + 1, block[0][1]))
        block = []
    return found


# -- helpers for builders ------------------------------------------------------------------


def load_result(root: str | Path, path: str) -> dict[str, Any]:
    """The JSON file ``path`` (relative to ``root``).

    Raises:
        FileNotFoundError: The file is missing (the message names it).
    """
    file = Path(root) / path
    if not file.is_file():
        raise FileNotFoundError(f"result file {path} not found under {root}")
    data: dict[str, Any] = json.loads(file.read_text(encoding="utf-8"))
    return data


def fmt(value: Any, digits: int = 4, *, thousands: bool = False, signed: bool = False) -> str:
    """A number for a table cell (``-`` for a missing value).

    Examples:
        >>> fmt(0.50581), fmt(1234.56, 1, thousands=True), fmt(None), fmt(0.1, 2, signed=True)
        ('0.5058', '1,234.6', '-', '+0.10')
    """
    if value is None or not isinstance(value, (int, float)):
        return "-"
    sign = "+" if signed else ""
    comma = "," if thousands else ""
    return f"{value:{sign}{comma}.{digits}f}"


def markdown_table(
    header: Sequence[str], rows: Iterable[Sequence[Any]], align: Sequence[str] | None = None
) -> str:
    """A Markdown table; ``align`` holds ``"l"``/``"r"`` per column (default: plain ``---``).

    Raises:
        ValueError: A row's length differs from the header's.
    """
    header = [str(h) for h in header]
    if align is not None and len(align) != len(header):
        raise ValueError("align must give one entry per column")
    rule = [("---:" if a == "r" else "---") for a in align] if align else ["---"] * len(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(rule) + "|"]
    for row in rows:
        cells = [str(c) for c in row]
        if len(cells) != len(header):
            raise ValueError(f"row {cells} has {len(cells)} cells for {len(header)} columns")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _per_query(result: Mapping[str, Any], metric: str) -> dict[str, float]:
    rows = result.get("per_query")
    if not isinstance(rows, list):
        raise ValueError(f"result of {result.get('method')!r} has no per_query rows")
    values = {}
    for row in rows:
        metrics = row.get("metrics", row)
        if metric not in metrics:
            raise ValueError(f"per_query rows of {result.get('method')!r} lack {metric!r}")
        values[str(row["query_id"])] = float(metrics[metric])
    return values


def paired_values(
    a: Mapping[str, Any], b: Mapping[str, Any], metric: str
) -> tuple[list[float], list[float]]:
    """Per-query values of ``metric`` in two rerank result files, matched by query id.

    Raises:
        ValueError: The files hold different queries (a comparison needs the same ones).
    """
    va, vb = _per_query(a, metric), _per_query(b, metric)
    if set(va) != set(vb):
        raise ValueError(
            f"{a.get('method')!r} and {b.get('method')!r} were run on different queries "
            f"({len(va)} and {len(vb)}); a paired comparison needs the same ones"
        )
    ids = sorted(va)
    return [va[i] for i in ids], [vb[i] for i in ids]


def comparison_cell(
    a: Sequence[float],
    b: Sequence[float],
    *,
    digits: int = 3,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    min_pairs: int = MIN_PAIRS,
) -> str:
    """``+0.123 [+0.045, +0.201]`` (mean of ``a - b`` and its paired bootstrap 95% interval).

    Below ``min_pairs`` pairs: ``n too small (n < min)``.
    """
    result = compare(a, b, resamples=resamples, seed=seed, min_pairs=min_pairs)
    return format_interval(result, digits)
