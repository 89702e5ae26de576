"""``ctx eval udcg``: UDCG of each method's context under a reader LLM, and the reader's EM/F1."""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

from ctx_core.models import DEFAULT_LLM

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add ``ctx eval udcg``."""
    from ctx_core.cli.eval_rerank import add_method_arguments

    parser = subparsers.add_parser(
        "udcg",
        help="UDCG of each method's context under a reader LLM, and the reader's EM/F1",
        description=(
            "Rerank every query with each --method, give the first --context passages to a "
            "reader LLM, and score the context with UDCG (the reader's utilities and the gold "
            "labels); on data with answers the reader also answers (EM / token F1). Writes one "
            "JSON result file per method and prints a table."
        ),
        epilog=(
            "examples:\n"
            "  ctx eval udcg --dataset hotpotqa --method none --method udcg --limit 20\n"
            "  ctx eval udcg --data ./my-qa.jsonl --method top-k:k=3 --reader smollm2"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_method_arguments(parser, "udcg")
    parser.add_argument(
        "--reader",
        default=DEFAULT_LLM,
        help=f"reader LLM: alias, id or path (default {DEFAULT_LLM})",
    )
    parser.add_argument(
        "--device", default=None, help="device of the reader (default: cuda if any)"
    )
    parser.add_argument(
        "--context", type=int, default=10, help="passages of each method's output the reader gets"
    )
    parser.add_argument("--no-answer", action="store_true", help="utilities only, no EM/F1")
    parser.add_argument("--max-tokens", type=int, default=24, help="longest answer")
    parser.add_argument(
        "--relevance-threshold", type=int, default=None, help="relevant from this grade on"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute ``ctx eval udcg``."""
    from ctx_core.cli.eval_rerank import dataset_of, method_label, method_runs
    from ctx_core.eval.methods import build_method
    from ctx_core.eval.report import format_table
    from ctx_core.eval.results import default_results_path, write_results
    from ctx_core.eval.tasks.reader import ReaderUDCGEvaluator

    methods = method_runs(args)
    spec, dataset_options = dataset_of(args)
    evaluator = ReaderUDCGEvaluator(
        spec,
        reader=args.reader,
        context=args.context,
        answer=False if args.no_answer else None,
        max_tokens=args.max_tokens,
        relevance_threshold=args.relevance_threshold,
        limit=args.limit,
        data_dir=args.data_dir,
        device=args.device,
        show_progress=not args.no_progress,
        command=shlex.join(["ctx", *sys.argv[1:]]) if sys.argv[1:2] == ["eval"] else None,
        **dataset_options,
    )
    results = []
    for name, options in methods:
        method = build_method(name, **options)
        label = args.label or method_label(name, options, method.name)
        result = evaluator(method, label=label)
        path = write_results(result, args.output or default_results_path(result, args.results_dir))
        print(f"wrote {path.resolve()}", file=sys.stderr)
        results.append(result)
    print(format_table(results))
    return 0
