"""Entry point of the ``ctx`` command.

Each subcommand lives in its own module under ``ctx_core.cli`` and exposes
``register(subparsers)``; add a module name to `COMMANDS` to add a command. Only the
module of the command being run is imported (a cold ``ctx rerank`` must not pay for the
imports of ``ctx eval``); ``ctx --help`` imports them all.

``-v`` / ``--verbose`` is accepted before or after the command's name.

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


def _command_name(module: str) -> str:
    return module.rsplit(".", 1)[-1]


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser, one subparser per command module.

    Args:
        only: Register only this command (its module alone is imported); ``None`` or an
            unknown name registers every command.
    """
    parser = argparse.ArgumentParser(
        prog="ctx", description="Context engineering for RAG pipelines."
    )
    parser.add_argument("--version", action="version", version=f"ctx-rag {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    names = [m for m in COMMANDS if _command_name(m) == only] or COMMANDS
    for name in names:
        importlib.import_module(name).register(subparsers)
    _accept_verbose_everywhere(parser)
    return parser


def _accept_verbose_everywhere(parser: argparse.ArgumentParser) -> None:
    """Give every subcommand (nested ones too) the ``-v`` flag of the top level."""
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        for sub in set(action.choices.values()):
            if not any("--verbose" in a.option_strings for a in sub._actions):
                # SUPPRESS: a subcommand without -v keeps the value given before its name.
                sub.add_argument(
                    "-v",
                    "--verbose",
                    action="store_true",
                    default=argparse.SUPPRESS,
                    help="log progress details",
                )
            _accept_verbose_everywhere(sub)


def _requested_command(argv: Sequence[str]) -> str | None:
    """The command name in ``argv`` (the first word that is not an option), if any."""
    for word in argv:
        if word == "--":
            return None
        if not word.startswith("-"):
            return word
    return None


def _quiet_frameworks(verbose: bool) -> None:
    """Silence the loading bars and info chatter of transformers and Hugging Face hub."""
    import os

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "info" if verbose else "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if "transformers" in sys.modules:  # already imported: its settings are read, set them
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()


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
        words = list(sys.argv[1:] if argv is None else argv)
        parser = build_parser(_requested_command(words))
        args = parser.parse_args(words)
        command = f"ctx {args.command}"
        logging.basicConfig(
            level=logging.INFO if args.verbose else logging.WARNING,
            format="%(levelname)s %(name)s: %(message)s",
        )
        _quiet_frameworks(args.verbose)
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
