"""``ctx rerank``: rerank passages from a JSON-lines file."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ctx_core.cli._io import json_line, read_text, write_output
from ctx_core.rerank import Reranker
from ctx_core.scoring.registry import build_scorer, scorer_names
from ctx_core.types import Passage


def register(subparsers: Any) -> None:
    """Add the ``rerank`` command."""
    parser = subparsers.add_parser(
        "rerank",
        help="rerank passages from a JSON-lines file",
        description=(
            "Read passages (one JSON object per line with 'text' and optional 'id', "
            "'metadata', 'score'), rerank them for --query and write them as JSON lines, best first. "
            "A NaN or infinite number in the output is written as null (strict JSON)."
        ),
    )
    parser.add_argument("--query", "-q", required=True, help="the question or search query")
    parser.add_argument(
        "--input", "-i", required=True, help="passages file (.jsonl), or - for stdin"
    )
    parser.add_argument(
        "--scorer", default="embedding", choices=scorer_names(), help="relevance scorer"
    )
    parser.add_argument(
        "--model", default=None, help="model id or path for the scorer (default: offline)"
    )
    parser.add_argument("--top-n", type=int, default=None, help="keep at most N passages")
    parser.add_argument(
        "--threshold", type=float, default=None, help="drop passages scoring below this"
    )
    parser.add_argument("--output", "-o", default="-", help="output file (default: stdout)")
    parser.set_defaults(func=run)


def read_passages(source: str) -> list[Passage]:
    """Passages from a JSON-lines file (``-`` for stdin); errors name the file and line."""
    text, name = read_text(source, "--input")
    passages = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"--input {name} line {number}: not valid JSON ({err.msg})") from err
        if isinstance(record, str):
            record = {"text": record}
        if not isinstance(record, dict):
            raise ValueError(f"--input {name} line {number}: expected an object with 'text'")
        try:
            passages.append(Passage.from_dict(record))
        except (TypeError, ValueError) as err:
            raise ValueError(f"--input {name} line {number}: {err}") from err
    return passages


def run(args: argparse.Namespace) -> int:
    """Execute ``ctx rerank``."""
    passages = read_passages(args.input)
    options = {"model": args.model} if args.model else {}
    reranker = Reranker(
        build_scorer(args.scorer, **options), top_n=args.top_n, score_threshold=args.threshold
    )
    kept = reranker.rerank(args.query, passages)
    write_output(args.output, "".join(json_line(p.to_dict()) for p in kept))
    return 0
