"""``ctx structurize``: print the structure of a text file."""

from __future__ import annotations

import argparse
from typing import Any

from ctx_core.cli._io import read_text, write_output
from ctx_core.structure import HeuristicStructurizer, LLMStructurizer, render
from ctx_core.structure.base import BaseStructurizer
from ctx_core.structure.render import FORMATS


def register(subparsers: Any) -> None:
    """Add the ``structurize`` command."""
    parser = subparsers.add_parser(
        "structurize",
        help="organize a text as scope, aspects and its own sentences",
        description=(
            "Read a text file (or - for stdin) and print its structure: a scope, aspects "
            "and the original sentences under them. Offline heuristic by default "
            "(headings and lists, else MiniLM topic segmentation); --llm uses an LLM "
            "(with validation, repair and fallback to the heuristic)."
        ),
    )
    parser.add_argument("file", metavar="FILE", help="text file to structurize, or - for stdin")
    parser.add_argument(
        "--llm",
        default=None,
        metavar="MODEL",
        help="structure with this LLM (alias smollm2 or gemma3-270m, a Hugging Face id or a path)",
    )
    parser.add_argument(
        "--format", "-f", default="reading", choices=FORMATS, help="output form (default: reading)"
    )
    parser.add_argument(
        "--chunk-tokens",
        type=int,
        default=1024,
        help="with --llm: longest chunk sent to the LLM at once (default 1024)",
    )
    parser.add_argument("--output", "-o", default="-", help="output file (default: stdout)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute ``ctx structurize``."""
    text, _ = read_text(args.file, "FILE")
    if not text.strip():
        raise ValueError(f"FILE {args.file!r} holds no text")
    structurizer: BaseStructurizer = (
        LLMStructurizer(args.llm, chunk_tokens=args.chunk_tokens)
        if args.llm
        else HeuristicStructurizer()
    )
    output = render(structurizer.structurize(text), args.format)
    if not output.endswith("\n"):
        output += "\n"
    write_output(args.output, output)
    return 0
