"""Entry point of the ``ctx`` command.

Each subcommand lives in its own module under ``ctx_core.cli`` and exposes
``register(subparsers)``; add a module name to :data:`COMMANDS` to add a command.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from ctx_core import __version__
from ctx_core.errors import CtxError

__all__ = ["COMMANDS", "build_parser", "main"]

COMMANDS = [
    "ctx_core.cli.rerank",
    "ctx_core.cli.structurize",
    "ctx_core.cli.demo",
    "ctx_core.cli.eval",
    "ctx_core.cli.batch",
    "ctx_core.cli.memorize",
    "ctx_core.cli.ask",
]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, one subparser per command module."""
    parser = argparse.ArgumentParser(
        prog="ctx", description="Context engineering for RAG pipelines."
    )
    parser.add_argument("--version", action="version", version=f"ctx-rag {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ctx`` command; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except (CtxError, ValueError, TypeError, FileNotFoundError) as err:
        print(f"ctx {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
