"""``ctx eval plot``: table and plot of result files already written."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ctx_core.eval.report import format_table, load_results, order_results, plot_results

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add ``ctx eval plot``."""
    parser = subparsers.add_parser(
        "plot",
        help="print a table and plot metrics per method from result files",
        description=(
            "Read result files (or every *.json of a folder), print a Markdown table and write "
            "a bar chart of each metric per method."
        ),
    )
    parser.add_argument("paths", nargs="+", help="result files or folders")
    parser.add_argument(
        "--metric", action="append", default=None, help="metric to show (repeatable)"
    )
    parser.add_argument(
        "--output", "-o", default=None, help="image file (default: <folder>/<dataset>.png)"
    )
    parser.add_argument("--title", default=None, help="figure title")
    parser.add_argument("--no-plot", action="store_true", help="print the table only")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute ``ctx eval plot``."""
    results = order_results(load_results(args.paths))
    print(format_table(results, args.metric))
    if not args.no_plot:
        first = Path(args.paths[0])
        folder = first if first.is_dir() else first.parent
        target = args.output or folder / f"{results[0].get('dataset', 'results')}.png"
        image = plot_results(results, target, args.metric, title=args.title)
        print(f"wrote {image}", file=sys.stderr)
    return 0
