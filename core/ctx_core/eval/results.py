"""The one writer of result files: what ran, where, when, and every query's values.

Every evaluation (``ctx eval rerank``, ``structure``, ``memory``, ``context`` and the
tasks of [`ctx_core.eval.tasks`][ctx_core.eval.tasks]) writes through [`write_results`][ctx_core.eval.results.write_results]. A file holds
the task's results plus the run's provenance ([`provenance`][ctx_core.eval.results.provenance]): ``environment``
(Python, OS, CPU, accelerator, package versions, git commit), ``command`` (the command
line that reproduces it) and ``created`` (UTC). Per-query values (``per_query``, a list
or a dict of lists, and ``per_item``) come last, one line per query, so a diff of two
runs shows which queries changed. Beside each ``.json`` file goes an ``.html`` report
(``ctx_core.eval.html_report``).

Examples:
    >>> import json, tempfile
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> results = {"kind": "rerank", "dataset": "d", "method": "none", "limit": 2,
    ...            "metrics": {"ndcg@10": 0.5}, "per_query": [{"query_id": "1"}, {"query_id": "2"}]}
    >>> path = write_results(results, folder / "none.json", command="ctx eval rerank ...")
    >>> print(path.read_text().split('"per_query"')[1])
    : [
        {"query_id": "1"},
        {"query_id": "2"}
      ]
    }
    <BLANKLINE>
    >>> sorted(json.loads(path.read_text()))[:4]
    ['command', 'created', 'dataset', 'environment']
    >>> default_results_path(results).as_posix()
    'benchmarks/results/rerank/d/none-limit2.json'
"""

from __future__ import annotations

import json
import logging
import platform
import re
import shlex
import sys
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ctx_core.eval.environment import environment

__all__ = [
    "DEFAULT_RESULTS_DIR",
    "USER_RESULTS_DIR",
    "current_command",
    "default_results_path",
    "provenance",
    "results_root",
    "write_results",
]

logger = logging.getLogger(__name__)

#: Where result files go by default inside a checkout of this repository (relative to
#: the working directory): used when that folder exists there.
DEFAULT_RESULTS_DIR = Path("benchmarks") / "results"

#: Where they go from any other working directory (a folder named for what ran is made
#: inside it: ``ctx-eval-results/rerank/<data>/...``).
USER_RESULTS_DIR = Path("ctx-eval-results")


def results_root() -> Path:
    """The root folder of default result paths, relative to the working directory.

    ``benchmarks/results`` when the working directory holds one (a checkout of this
    repository), else ``ctx-eval-results``: run from your own folder, ``ctx eval``
    writes there, never into a ``benchmarks/`` folder it would have to create.
    """
    return DEFAULT_RESULTS_DIR if DEFAULT_RESULTS_DIR.is_dir() else USER_RESULTS_DIR


# Keys whose value is one row per query (or per item): written one row per line.
_ROW_KEYS = ("per_query", "per_item")


def current_command() -> str:
    """This process's command line, program name without its folder (``ctx eval ...``)."""
    argv = [Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python", *sys.argv[1:]]
    return shlex.join(argv)


def now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def provenance(command: str | None = None, created: str | None = None) -> dict[str, Any]:
    """``environment``, ``command`` (default: this process's) and ``created`` (default: now)."""
    return {
        "environment": environment(),
        "command": command or current_command(),
        "created": created or now(),
    }


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+=-]+", "_", text).strip("_") or "method"


def default_results_path(results: Mapping[str, Any], results_dir: str | Path | None = None) -> Path:
    """Where a result file goes by default, by its ``kind``.

    * ``rerank`` and ``udcg``: ``benchmarks/results/<kind>/<dataset>/<method>[-<options>][-limit<N>].json``
      (``results_dir`` replaces ``benchmarks/results/<kind>/<dataset>``).
    * ``structure-retrieval`` / ``structure-reader``:
      ``benchmarks/results/structure/<task>-<dataset>-<variants>[-pool<N>][-limit<N>].json``.
    * context results (``benchmark: context``): ``benchmarks/results/context-<task>-<time>.json``.
    * any other kind: ``benchmarks/results/<kind>/<dataset>[-limit<N>].json``.

    Other kinds put their files in ``results_dir`` instead of ``benchmarks/results/<kind>``.
    Outside a checkout of this repository ``ctx-eval-results`` replaces
    ``benchmarks/results`` (see [`results_root`][ctx_core.eval.results.results_root]).
    """
    root = results_root()
    kind = str(results.get("kind", "rerank"))
    if results.get("benchmark") == "context":
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        folder = Path(results_dir) if results_dir is not None else root
        return folder / f"context-{results.get('task', 'eval')}-{stamp}.json"
    if kind.startswith("structure-"):
        config = results["config"]
        variants = "+".join(results["variants"])
        name = f"{kind.removeprefix('structure-')}-{results['dataset']}-{variants}"
        if config.get("pool_depth") is not None:
            name += f"-pool{config['pool_depth']}"
        if config.get("limit") is not None:
            name += f"-limit{config['limit']}"
        folder = Path(results_dir) if results_dir is not None else root / "structure"
        return folder / f"{name}.json"
    if kind in ("rerank", "udcg"):
        folder = (
            Path(results_dir) if results_dir is not None else root / kind / str(results["dataset"])
        )
        name = _slug(str(results["method"]))
        for key, value in sorted((results.get("dataset_options") or {}).items()):
            name += f"-{_slug(f'{key}={value}')}"
    else:
        folder = Path(results_dir) if results_dir is not None else root / kind
        name = _slug(str(results.get("dataset", kind)))
    if results.get("limit") is not None:
        name += f"-limit{results['limit']}"
    return folder / f"{name}.json"


def _context_names(payload: dict[str, Any]) -> dict[str, Any]:
    # Context result files named their provenance ``versions``, ``machine`` and ``date``
    # before the writer was shared; those keys stay so readers of older files keep working.
    env = payload["environment"]
    return {
        "versions": {"python": env["python"], **env["packages"]},
        "machine": {
            "platform": platform.platform(),
            "processor": env["processor"] or env["machine"],
            "cpu_count": env["cpu_count"],
        },
        "date": payload["created"],
    }


def write_results(
    results: Mapping[str, Any],
    path: str | Path | None = None,
    *,
    command: str | None = None,
    html: bool = True,
) -> Path:
    """Write ``results`` as JSON with its provenance, one line per query; return the path.

    Args:
        results: A task's results. ``environment``, ``command`` and ``created`` are
            added when missing (see [`provenance`][ctx_core.eval.results.provenance]).
        path: The file to write (default [`default_results_path`][ctx_core.eval.results.default_results_path], under the working
            directory); its folder is created.
        command: The command line to record; replaces the results' own.
        html: Also write the page of
            [`write_html_report`][ctx_core.eval.html_report.write_html_report] beside a
            ``.json`` file (same name, ``.html``): tables, plots, per-query drill-down.
    """
    payload = dict(results)
    if command is not None:
        payload["command"] = command
    for key, value in provenance(payload.get("command"), payload.get("created")).items():
        if key not in payload:
            payload[key] = value
    if payload.get("benchmark") == "context":
        for key, value in _context_names(payload).items():
            payload.setdefault(key, value)
    target = Path(path) if path is not None else default_results_path(payload)
    target.parent.mkdir(parents=True, exist_ok=True)
    head = {k: v for k, v in payload.items() if k not in _ROW_KEYS}
    text = json.dumps(head, indent=2, ensure_ascii=False)
    blocks = [_rows_block(key, payload[key]) for key in _ROW_KEYS if key in payload]
    if blocks:
        text = text[: text.rstrip().rfind("}")].rstrip()
        text += ("," if head else "") + "\n" + ",\n".join(blocks) + "\n}"
    target.write_text(text + "\n", encoding="utf-8")
    logger.info("wrote %s", target)
    if html and target.suffix == ".json":
        _write_html(payload, target)
    return target


def _write_html(payload: dict[str, Any], target: Path) -> None:
    # The JSON file is the record; a report that cannot be drawn must not lose it.
    from ctx_core.eval.html_report import write_html_report

    try:
        write_html_report(payload, target.with_suffix(".html"), json_path=target)
    except Exception as err:  # the report is a view of the file written above
        logger.warning("could not write the HTML report of %s: %r", target, err)


def _rows_block(key: str, rows: Any) -> str:
    if isinstance(rows, Mapping):  # rows per variant (structure results)
        groups = [
            f'    "{name}": [\n' + ",\n".join("      " + _line(r) for r in group) + "\n    ]"
            for name, group in rows.items()
        ]
        return f'  "{key}": {{\n' + ",\n".join(groups) + "\n  }" if groups else f'  "{key}": {{}}'
    if not rows:
        return f'  "{key}": []'
    return f'  "{key}": [\n' + ",\n".join("    " + _line(r) for r in rows) + "\n  ]"


def _line(row: Any) -> str:
    return json.dumps(row, ensure_ascii=False)
