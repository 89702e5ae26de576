"""``ctx demo``: the end-to-end pipeline on the offline defaults."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``demo`` command."""
    parser = subparsers.add_parser(
        "demo",
        help="run the end-to-end offline demo",
        description="Run the end-to-end pipeline (LlamaIndex and LangChain, offline models) on a public-domain book.",
    )
    parser.add_argument(
        "--question", action="append", help="ask this instead of the demo questions (repeatable)"
    )
    parser.add_argument(
        "--only", action="append", help="run only sections whose name contains this (repeatable)"
    )
    parser.add_argument("--list", action="store_true", help="list the sections and exit")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute ``ctx demo``."""
    # Imported here: the demo sections pull in most features, which other commands do not need.
    from ctx_core.demo import demo_sections, run_demo

    if args.list:
        for name, _ in demo_sections():
            print(name)
        return 0
    run_demo(questions=args.question, only=args.only)
    return 0
