"""``ctx rerank``: rerank passages from a JSON-lines file."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

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
            "'metadata', 'score'), rerank them for --query and write them as JSON lines, best first."
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
    """Passages from a JSON-lines file (``-`` for stdin); errors name the line."""
    if source == "-":
        lines = sys.stdin.read().splitlines()
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"--input {source!r}: no such file")
        lines = path.read_text(encoding="utf-8").splitlines()
    passages = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"--input line {number}: not valid JSON ({err.msg})") from err
        if isinstance(record, str):
            record = {"text": record}
        if not isinstance(record, dict):
            raise ValueError(f"--input line {number}: expected an object with 'text'")
        try:
            passages.append(Passage.from_dict(record))
        except (TypeError, ValueError) as err:
            raise ValueError(f"--input line {number}: {err}") from err
    return passages


def run(args: argparse.Namespace) -> int:
    """Execute ``ctx rerank``."""
    passages = read_passages(args.input)
    options = {"model": args.model} if args.model else {}
    reranker = Reranker(
        build_scorer(args.scorer, **options), top_n=args.top_n, score_threshold=args.threshold
    )
    kept = reranker.rerank(args.query, passages)
    lines = "".join(json.dumps(p.to_dict(), ensure_ascii=False) + "\n" for p in kept)
    if args.output == "-":
        sys.stdout.write(lines)
    else:
        Path(args.output).write_text(lines, encoding="utf-8")
    return 0
