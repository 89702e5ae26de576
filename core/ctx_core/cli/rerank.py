"""``ctx rerank``: rerank passages from a JSON-lines file."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ctx_core.cli._io import json_line, print_passages_table, read_text, stdout_is_tty, write_output
from ctx_core.types import Passage

#: Scorers that run a local model and so take ``--backend``.
LOCAL_MODEL_SCORERS = ("embedding", "cross-encoder")
#: Scorers that cannot run without ``--model`` (no such model ships offline).
NEEDS_MODEL = ("cross-encoder",)


def register(subparsers: Any) -> None:
    """Add the ``rerank`` command."""
    # Imported here, not at the top: only the scorer registry's names are needed to build
    # the parser, and `ctx rerank` must start fast.
    from ctx_core.onnx_backend import BACKENDS
    from ctx_core.scoring.registry import scorer_names

    parser = subparsers.add_parser(
        "rerank",
        help="rerank passages from a JSON-lines file",
        description=(
            "Read passages (one JSON object per line with 'text' and optional 'id', "
            "'metadata', 'score'), rerank them for --query and write them as JSON lines, best first. "
            "A NaN or infinite number in the output is written as null (strict JSON). "
            "On a terminal the result is shown as a table instead (--json for JSON lines)."
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
        "--model",
        default=None,
        help="model id or path for the scorer (default: offline; required by cross-encoder)",
    )
    parser.add_argument(
        "--backend",
        default=None,
        choices=BACKENDS,
        help="how a local model runs: torch, onnx, onnx-int8 (default auto: the fastest on this machine)",
    )
    parser.add_argument("--top-n", type=int, default=None, help="keep at most N passages")
    parser.add_argument(
        "--threshold", type=float, default=None, help="drop passages scoring below this"
    )
    parser.add_argument("--output", "-o", default="-", help="output file (default: stdout)")
    parser.add_argument("--json", action="store_true", help="write JSON lines even on a terminal")
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


def scorer_options(args: argparse.Namespace) -> dict[str, Any]:
    """``build_scorer`` options from ``--model`` and ``--backend``; bad combinations name the flag."""
    if args.scorer in NEEDS_MODEL and not args.model:
        raise ValueError(
            f"--scorer {args.scorer} needs --model (a model id or folder; none ships offline)"
        )
    options: dict[str, Any] = {"model": args.model} if args.model else {}
    if args.backend is not None:
        if args.scorer not in LOCAL_MODEL_SCORERS:
            raise ValueError(f"--backend applies to --scorer {' or '.join(LOCAL_MODEL_SCORERS)}")
        options["backend"] = args.backend
    return options


def run(args: argparse.Namespace) -> int:
    """Execute ``ctx rerank``."""
    from ctx_core.progress import spinner
    from ctx_core.rerank import Reranker
    from ctx_core.scoring.registry import build_scorer

    options = scorer_options(args)
    passages = read_passages(args.input)
    with spinner(f"loading the {args.scorer} scorer"):
        scorer = build_scorer(args.scorer, **options)
    reranker = Reranker(scorer, top_n=args.top_n, score_threshold=args.threshold)
    # Scoring draws its own bar (per batch) when it runs long.
    kept = reranker.rerank(args.query, passages)
    if args.output == "-" and not args.json and stdout_is_tty():
        print_passages_table(kept, title=f"{args.query}  ({args.scorer})")
        return 0
    write_output(args.output, "".join(json_line(p.to_dict()) for p in kept))
    return 0
