"""``ctx eval structure``: retrieval and reading with original vs structurized texts."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from ctx_core.models import DEFAULT_LLM

__all__ = ["default_path", "register", "run", "write"]

logger = logging.getLogger(__name__)

RESULTS_DIR = Path("benchmarks") / "results" / "structure"


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
    parser.add_argument("--task", choices=["retrieval", "reader"], required=True)
    parser.add_argument(
        "--dataset",
        choices=["cranfield", "cacm", "hotpotqa"],
        default=None,
        help="retrieval: cranfield or cacm; reader: hotpotqa (the default)",
    )
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
        help="results file (default: under benchmarks/results/structure/)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(func=run)


def default_path(results: dict[str, Any]) -> Path:
    """``benchmarks/results/structure/<task>-<dataset>-<variants>[-pool<N>][-limit<N>].json``."""
    config = results["config"]
    name = f"{results['kind'].removeprefix('structure-')}-{results['dataset']}-{'+'.join(results['variants'])}"
    if config.get("pool_depth") is not None:
        name += f"-pool{config['pool_depth']}"
    if config.get("limit") is not None:
        name += f"-limit{config['limit']}"
    return RESULTS_DIR / f"{name}.json"


def write(results: dict[str, Any], path: str | Path | None = None) -> Path:
    """Write ``results`` as JSON (per-query rows one per line) and return the path."""
    target = Path(path) if path is not None else default_path(results)
    target.parent.mkdir(parents=True, exist_ok=True)
    head = {k: v for k, v in results.items() if k != "per_query"}
    text = json.dumps(head, indent=2, ensure_ascii=False)
    blocks = []
    for variant, rows in results.get("per_query", {}).items():
        lines = ",\n".join("      " + json.dumps(r, ensure_ascii=False) for r in rows)
        blocks.append(f'    "{variant}": [\n{lines}\n    ]')
    body = '  "per_query": {\n' + ",\n".join(blocks) + "\n  }"
    text = text[: text.rstrip().rfind("}")].rstrip() + ",\n" + body + "\n}\n"
    target.write_text(text, encoding="utf-8")
    return target


def run(args: argparse.Namespace) -> int:
    """Execute ``ctx eval structure``."""
    from ctx_core.structure.evaluate import run_reader_eval, run_retrieval_eval

    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    show = not args.no_progress
    if args.task == "retrieval":
        if args.dataset not in ("cranfield", "cacm"):
            raise ValueError("--task retrieval needs --dataset cranfield or cacm")
        results = run_retrieval_eval(
            args.dataset,
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
            raise ValueError("--task reader works on --dataset hotpotqa")
        results = run_reader_eval(
            variants,
            reader=args.reader,
            llm=args.llm if args.llm != args.reader else None,
            limit=args.limit,
            max_new_tokens=args.max_new_tokens,
            batch_size=args.batch_size,
            data_dir=args.data_dir,
            show_progress=show,
        )
        headline = "f1"
    path = write(results, args.output)
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
    print(f"({headline} is the headline metric) results: {path}")
    return 0
