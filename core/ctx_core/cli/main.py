"""Entry point of the ``ctx`` command.

Each subcommand lives in its own module under ``ctx_core.cli`` and exposes
``register(subparsers)``; add a module name to :data:`COMMANDS` to add a command.

Failures: every error ends the command with one line on standard error,
``ctx COMMAND: error: ...`` naming the file (and line, where one is known), and exit
status 2; Ctrl-C ends it with ``ctx COMMAND: interrupted`` and status 130. With
``--verbose`` an unexpected error's traceback is logged as well.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sqlite3
import sys
from collections.abc import Sequence

from ctx_core import __version__
from ctx_core.errors import CtxError

__all__ = ["COMMANDS", "build_parser", "describe_error", "main"]

logger = logging.getLogger(__name__)

#: Exit status of a command ended by Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130
#: Exit status of a command that failed.
EXIT_FAILED = 2

COMMANDS = [
    "ctx_core.cli.rerank",
    "ctx_core.cli.structurize",
    "ctx_core.cli.demo",
    "ctx_core.cli.eval",
    "ctx_core.cli.batch",
    "ctx_core.cli.memorize",
    "ctx_core.cli.ask",
    "ctx_core.cli.udcg",
    "ctx_core.cli.incontext",
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


def _unwrap(err: BaseException) -> BaseException:
    """The user's own error inside a wrapper (Ray wraps a worker's exception in its own types)."""
    seen = {id(err)}
    while type(err).__module__.startswith("ray."):
        inner = getattr(err, "cause", None) or err.__cause__
        if not isinstance(inner, BaseException) or id(inner) in seen:
            break
        seen.add(id(inner))
        err = inner
    return err


def describe_error(err: BaseException) -> str:
    """One line saying what went wrong: the message, and the file for an OS error."""
    err = _unwrap(err)
    if isinstance(err, OSError) and err.filename is not None:
        reason = err.strerror or str(err)
        text = f"{err.filename}: {reason}"
        if err.filename2 is not None:
            text += f" ({err.filename2})"
    elif isinstance(err, (CtxError, ValueError, TypeError, OSError)):
        text = str(err) or type(err).__name__
    elif isinstance(err, sqlite3.Error):
        text = f"database error: {err}"
    else:
        text = f"{type(err).__name__}: {err}"
    return " ".join(text.split())  # one line, whatever the message held


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ctx`` command; returns the process exit status."""
    command = "ctx"
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        command = f"ctx {args.command}"
        logging.basicConfig(
            level=logging.INFO if args.verbose else logging.WARNING,
            format="%(levelname)s %(name)s: %(message)s",
        )
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (CtxError, ValueError, TypeError, OSError, sqlite3.Error) as err:
        print(f"{command}: error: {describe_error(err)}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as err:  # the last word of the command: one line, not a traceback
        inner = _unwrap(err)
        if isinstance(inner, KeyboardInterrupt):
            print(f"{command}: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        logger.info("traceback of the error", exc_info=err)
        print(f"{command}: error: {describe_error(err)}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
