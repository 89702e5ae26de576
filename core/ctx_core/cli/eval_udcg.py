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
    from ctx_core.cli.eval_data import add_data_arguments
    from ctx_core.eval.methods import method_names
    from ctx_core.eval.rerank_datasets import rerank_dataset_names

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
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", "-d", choices=rerank_dataset_names(), help="built-in data set")
    add_data_arguments(parser, source)
    parser.add_argument(
        "--method",
        "-m",
        action="append",
        required=True,
        metavar="NAME[:key=value,...]",
        help=f"method to evaluate, repeatable; one of: {', '.join(method_names())}",
    )
    parser.add_argument(
        "--set", dest="options", action="append", default=[], metavar="KEY=VALUE",
        help="option for every --method; repeatable",
    )  # fmt: skip
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
    parser.add_argument("--limit", type=int, default=None, help="evaluate the first N queries")
    parser.add_argument("--data-dir", default=None, help="folder of the built-in data sets")
    parser.add_argument(
        "--first-stage", default=None, choices=["bm25", "embedding"], help="for collections"
    )
    parser.add_argument(
        "--depth", type=int, default=None, help="candidates per query (collections)"
    )
    parser.add_argument("--output", "-o", default=None, help="result file (single --method)")
    parser.add_argument(
        "--results-dir",
        default=None,
        help=(
            "folder for result files (default benchmarks/results/udcg/<data> inside this "
            "repository, else ./ctx-eval-results/udcg/<data>)"
        ),
    )
    parser.add_argument("--label", default=None, help="method name (single --method)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute ``ctx eval udcg``."""
    from ctx_core.cli.eval_data import check_data_options, load_data_argument
    from ctx_core.cli.eval_rerank import method_label, parse_method_spec, parse_option
    from ctx_core.eval.datasets.formats import describe
    from ctx_core.eval.methods import build_method, method_names
    from ctx_core.eval.report import format_table
    from ctx_core.eval.rerank_datasets import get_rerank_dataset, rerank_dataset_from_data
    from ctx_core.eval.results import default_results_path, write_results
    from ctx_core.eval.tasks.reader import ReaderUDCGEvaluator

    methods = [parse_method_spec(m) for m in args.method]
    unknown = [name for name, _ in methods if name not in method_names()]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; choose among {', '.join(method_names())}")
    if len(methods) > 1 and (args.output or args.label):
        raise ValueError("--output and --label need a single --method")
    if args.data is not None:
        data = load_data_argument(args)
        spec = rerank_dataset_from_data(
            data,
            relevance_threshold=1 if args.relevance_threshold is None else args.relevance_threshold,
        )
        print(describe(data), file=sys.stderr)
    else:
        check_data_options(args)
        spec = get_rerank_dataset(args.dataset)
    dataset_options = {
        key: value
        for key, value in (("first_stage", args.first_stage), ("depth", args.depth))
        if value is not None
    }
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
    common = dict(parse_option(o) for o in args.options)
    results = []
    for name, inline in methods:
        options = {**common, **inline}
        method = build_method(name, **options)
        label = args.label or method_label(name, options, method.name)
        result = evaluator(method, label=label)
        path = write_results(result, args.output or default_results_path(result, args.results_dir))
        print(f"wrote {path.resolve()}", file=sys.stderr)
        results.append(result)
    print(format_table(results))
    return 0
