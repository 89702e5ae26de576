"""The options every ``ctx eval`` kind shares to read your own data: ``--data PATH [--format ...]``."""

from __future__ import annotations

import argparse
from typing import Any

from ctx_core.eval.datasets.formats import FORMATS, LoadedData, load_data

__all__ = [
    "add_data_arguments",
    "check_data_options",
    "data_command_arguments",
    "load_data_argument",
]


def add_data_arguments(parser: argparse.ArgumentParser, group: Any | None = None) -> None:
    """Add ``--data``, ``--format``, ``--split`` and ``--qrels-format``.

    Args:
        parser: The command's parser.
        group: A mutually exclusive group to put ``--data`` in (with ``--dataset``).
    """
    (group or parser).add_argument(
        "--data",
        default=None,
        metavar="PATH",
        help=(
            "your own data: a BEIR folder, a TREC folder (hits JSON or run file, qrels, topics), "
            "a SMART folder, a QA .jsonl or a LoCoMo .json (format detected, or --format)"
        ),
    )
    parser.add_argument(
        "--format", default=None, choices=FORMATS, help="format of --data (default: detected)"
    )
    parser.add_argument(
        "--split", default="test", help="--data in BEIR format: qrels/<split>.tsv (default test)"
    )
    parser.add_argument(
        "--qrels-format",
        default="auto",
        choices=["auto", "smart", "trec", "pairs"],
        help="--data in SMART format: layout of the qrels (default: detected)",
    )


def check_data_options(args: argparse.Namespace) -> None:
    """Refuse ``--format``, ``--split`` and ``--qrels-format`` without ``--data``.

    Raises:
        ValueError: One of them is given without ``--data``.
    """
    for flag, value, default in (
        ("--format", args.format, None),
        ("--split", args.split, "test"),
        ("--qrels-format", args.qrels_format, "auto"),
    ):
        if args.data is None and value != default:
            raise ValueError(f"{flag} applies to --data only")


def load_data_argument(args: argparse.Namespace) -> LoadedData:
    """Load ``--data`` with the other options (the data's problems are logged)."""
    check_data_options(args)
    return load_data(args.data, args.format, split=args.split, qrels_format=args.qrels_format)


def data_command_arguments(args: argparse.Namespace) -> list[str]:
    """The ``--data ...`` part of a command line that reruns the evaluation."""
    parts = ["--data", str(args.data)]
    if args.format:
        parts += ["--format", args.format]
    if args.split != "test":
        parts += ["--split", args.split]
    if args.qrels_format != "auto":
        parts += ["--qrels-format", args.qrels_format]
    return parts
