"""``ctx eval structure``: retrieval and reading with original vs structurized texts."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from ctx_core.models import DEFAULT_LLM

__all__ = ["register", "run"]

logger = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    """Add the ``structure`` kind to ``ctx eval``."""
    parser = subparsers.add_parser(
        "structure",
        help="retrieval (Cranfield, CACM) and reading (HotpotQA) with structurized texts",
        description=(
            "Compare original texts with structurized ones (heuristic and/or LLM "
            "structurizer): MiniLM dense retrieval on Cranfield or CACM (retrieval form), "
            "or a reader LLM answering HotpotQA dev250 questions (reading form)."
        ),
    )
    from ctx_core.cli.eval_data import add_data_arguments

    parser.add_argument("--task", choices=["retrieval", "reader"], required=True)
    parser.add_argument(
        "--dataset",
        choices=["cranfield", "cacm", "hotpotqa"],
        default=None,
        help="retrieval: cranfield or cacm; reader: hotpotqa (the default)",
    )
    add_data_arguments(parser)
    parser.add_argument(
        "--variants",
        default="original,heuristic",
        help="comma-separated: original, heuristic, llm (default: original,heuristic)",
    )
    parser.add_argument(
        "--llm",
        default=DEFAULT_LLM,
        help=f"structurizing LLM of the llm variant (default {DEFAULT_LLM})",
    )
    parser.add_argument(
        "--reader",
        default=DEFAULT_LLM,
        help=f"reader LLM for --task reader (default {DEFAULT_LLM})",
    )
    parser.add_argument("--limit", type=int, default=None, help="evaluate the first N queries")
    parser.add_argument(
        "--pool-depth",
        type=int,
        default=None,
        help="retrieval: rank within a pool (relevant docs + top N original hits per query)",
    )
    parser.add_argument(
        "--min-words",
        type=int,
        default=50,
        help="retrieval: structurize only documents of at least N words (default 50, as the paper)",
    )
    parser.add_argument("--max-new-tokens", type=int, default=16, help="reader: longest answer")
    parser.add_argument("--batch-size", type=int, default=4, help="LLM prompts per batch")
    parser.add_argument("--data-dir", default=None, help="folder of the evaluation data")
    parser.add_argument(
        "--output",
        "-o",
        default=None,
        help="results file (default: under benchmarks/results/structure/ in this repository, "
        "else ./ctx-eval-results/structure/)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute ``ctx eval structure``."""
    from ctx_core.cli.eval_data import check_data_options, load_data_argument
    from ctx_core.eval.datasets.formats import describe
    from ctx_core.eval.results import write_results
    from ctx_core.eval.tasks.structure import run_reader_eval, run_retrieval_eval

    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    show = not args.no_progress
    data = None
    check_data_options(args)
    if args.data is not None:
        if args.dataset is not None:
            raise ValueError("give --dataset or --data, not both")
        data = load_data_argument(args)
        print(describe(data), file=sys.stderr)
    if args.task == "retrieval":
        if data is None and args.dataset not in ("cranfield", "cacm"):
            raise ValueError("--task retrieval needs --dataset cranfield or cacm, or --data")
        results = run_retrieval_eval(
            data if data is not None else args.dataset,
            variants,
            llm=args.llm,
            min_words=args.min_words,
            limit=args.limit,
            pool_depth=args.pool_depth,
            batch_size=args.batch_size,
            data_dir=args.data_dir,
            show_progress=show,
        )
        headline = "ndcg@10"
    else:
        if args.dataset not in (None, "hotpotqa"):
            raise ValueError("--task reader works on --dataset hotpotqa or --data (a qa file)")
        results = run_reader_eval(
            variants,
            reader=args.reader,
            llm=args.llm if args.llm != args.reader else None,
            limit=args.limit,
            max_new_tokens=args.max_new_tokens,
            batch_size=args.batch_size,
            data_dir=args.data_dir,
            show_progress=show,
            data=data,
        )
        headline = "f1"
    path = write_results(results, args.output)
    for variant in variants:
        metrics = results["results"][variant]["metrics"]
        shown = ", ".join(f"{k}={v:.4f}" for k, v in metrics.items())
        print(f"{results['dataset']} {variant:9s} {shown}")
    for variant, by_metric in results["differences"].items():
        change = by_metric[headline]
        print(
            f"{variant} - original, {headline}: {change['difference']:+.4f} "
            f"(95% bootstrap interval {change['low']:+.4f} to {change['high']:+.4f})"
        )
    print(f"({headline} is the headline metric) results: {path.resolve()}")
    return 0
