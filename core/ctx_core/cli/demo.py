"""``ctx demo``: the end-to-end pipeline on the offline defaults."""

from __future__ import annotations

import argparse
import sys
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
    from ctx_core.progress import spinner

    if args.list:
        for name, _ in demo_sections():
            print(name)
        return 0
    # A spinner fills the silences (a section loading a model prints nothing for a while);
    # the demo's own lines clear it first. Nothing of it reaches a pipe.
    with spinner("running the demo") as spin:
        run_demo(spin.wrap(sys.stdout), questions=args.question, only=args.only)
    return 0
