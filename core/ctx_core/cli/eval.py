"""``ctx eval``: the evaluation command group.

Each kind of evaluation is a module with ``register(subparsers)``, listed in
`EVAL_COMMANDS` (as `ctx_core.cli.main.COMMANDS` lists the top-level
commands); add one line to add a kind, e.g. ``ctx eval context``.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

__all__ = ["EVAL_COMMANDS", "register"]

EVAL_COMMANDS = [
    "ctx_core.cli.eval_rerank",
    "ctx_core.cli.eval_udcg",
    "ctx_core.cli.eval_plot",
    "ctx_core.cli.eval_structure",
    "ctx_core.cli.eval_memory",
    "ctx_core.cli.eval_context",
]


def register(subparsers: Any) -> None:
    """Add the ``eval`` command group and every kind in `EVAL_COMMANDS`."""
    parser = subparsers.add_parser(
        "eval",
        help="evaluate methods on the evaluation data sets",
        description=(
            "Run an evaluation and write its results (JSON, table, plot) under benchmarks/results/ "
            "inside this repository, else under ./ctx-eval-results/; --data PATH evaluates your "
            "own data (BEIR, TREC, SMART, QA JSONL or LoCoMo format)."
        ),
    )
    kinds = parser.add_subparsers(dest="eval_command", required=True, metavar="KIND")
    for name in EVAL_COMMANDS:
        importlib.import_module(name).register(kinds)
    parser.set_defaults(func=_missing_kind, parser=parser)


def _missing_kind(args: argparse.Namespace) -> int:  # pragma: no cover - argparse requires KIND
    args.parser.print_help()
    return 2
