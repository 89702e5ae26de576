"""``ctx eval rerank``: evaluate rerank methods on a data set."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from typing import Any

from ctx_core.cli.eval_data import (
    add_data_arguments,
    check_data_options,
    data_command_arguments,
    load_data_argument,
)
from ctx_core.eval.datasets.formats import describe
from ctx_core.eval.methods import build_method, method_names
from ctx_core.eval.report import format_table, load_results, order_results, plot_results
from ctx_core.eval.rerank_datasets import (
    RerankDataset,
    get_rerank_dataset,
    rerank_dataset_from_data,
    rerank_dataset_names,
)
from ctx_core.eval.results import default_results_path, write_results
from ctx_core.eval.tasks.rerank import RerankEvaluator

__all__ = [
    "add_method_arguments",
    "dataset_of",
    "method_runs",
    "parse_method_spec",
    "parse_option",
    "register",
    "run",
]

# Options that are already part of a method's own name (top-3, embedding+top-4, ...).
_NAMED_OPTIONS = {"top_k", "k", "base"}


def register(subparsers: Any) -> None:
    """Add ``ctx eval rerank``."""
    parser = subparsers.add_parser(
        "rerank",
        help="evaluate rerank methods on a data set",
        description=(
            "Rerank every query of a built-in data set (--dataset) or of your own data (--data "
            "PATH: BEIR, TREC, SMART or QA JSONL) with each --method, print a table, write one "
            "JSON result file per method (default benchmarks/results/rerank/<dataset>/ inside "
            "this repository, else ./ctx-eval-results/rerank/<dataset>/) and a plot of the "
            "metrics per method next to them."
        ),
        epilog=(
            "examples:\n"
            "  ctx eval rerank --dataset dl19 --method none --method embedding\n"
            "  ctx eval rerank --dataset hotpotqa --method embedding --set top_k=2\n"
            "  ctx eval rerank --dataset cranfield --method 'top-k:k=5' --limit 20\n"
            "  ctx eval rerank --data ./my-beir-folder --method none --method embedding\n"
            "  ctx eval rerank --data ./MED --format smart --qrels-format trec --method udcg"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_method_arguments(parser, "rerank")
    parser.add_argument(
        "--relevance-threshold",
        type=int,
        default=None,
        help="--data: grade from which a passage counts as relevant for MRR/recall (default 1)",
    )
    parser.add_argument(
        "--metric", action="append", default=None, help="metric to plot (repeatable)"
    )
    parser.add_argument("--no-plot", action="store_true", help="do not write the plot")
    parser.set_defaults(func=run)


def add_method_arguments(parser: argparse.ArgumentParser, kind: str) -> None:
    """Add what every method-comparing ``ctx eval`` command takes.

    The data (``--dataset`` or ``--data PATH`` with its format options), ``--method``
    (repeatable), ``--set``, ``--limit``, ``--data-dir``, ``--first-stage``, ``--depth``,
    ``--output``, ``--results-dir`` (results under ``benchmarks/results/<kind>/``),
    ``--label`` and ``--no-progress``.
    """
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
        "--set",
        dest="options",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="option for every --method (e.g. top_k=4, model=..., base=embedding); repeatable",
    )
    parser.add_argument("--limit", type=int, default=None, help="evaluate the first N queries")
    parser.add_argument("--data-dir", default=None, help="data folder (default: ../shared/data)")
    parser.add_argument(
        "--first-stage",
        default=None,
        choices=["bm25", "embedding"],
        help="first stage for cranfield/cacm and collections given with --data (default bm25)",
    )
    parser.add_argument(
        "--depth", type=int, default=None, help="candidates per query for collections (100)"
    )
    parser.add_argument(
        "--output", "-o", default=None, help="result file (only with a single --method)"
    )
    parser.add_argument(
        "--results-dir",
        default=None,
        help=(
            f"folder for result files (default benchmarks/results/{kind}/<dataset> inside this "
            f"repository, else ./ctx-eval-results/{kind}/<dataset>)"
        ),
    )
    parser.add_argument("--label", default=None, help="method name in tables and file names")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def method_runs(args: argparse.Namespace) -> list[tuple[str, dict[str, Any]]]:
    """Each ``--method`` as ``(name, options)``, the ``--set`` options merged in.

    Raises:
        ValueError: An unknown method, or ``--output`` / ``--label`` with several methods.
    """
    common = dict(parse_option(o) for o in args.options)
    methods = [parse_method_spec(m) for m in args.method]
    unknown = [name for name, _ in methods if name not in method_names()]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; choose among {', '.join(method_names())}")
    if len(methods) > 1 and (args.output or args.label):
        raise ValueError("--output and --label need a single --method")
    return [(name, {**common, **inline}) for name, inline in methods]


def dataset_of(args: argparse.Namespace) -> tuple[RerankDataset, dict[str, Any]]:
    """The data set ``--dataset`` / ``--data`` names, and its ``--first-stage`` / ``--depth``.

    Raises:
        ValueError: A ``--data`` option without ``--data``, or ``--first-stage`` /
            ``--depth`` for a data set they do not apply to.
    """
    if args.data is not None:
        data = load_data_argument(args)
        threshold = 1 if args.relevance_threshold is None else args.relevance_threshold
        spec = rerank_dataset_from_data(data, relevance_threshold=threshold)
        print(describe(data), file=sys.stderr)
    else:
        check_data_options(args)
        spec = get_rerank_dataset(args.dataset)
    dataset_options: dict[str, Any] = {}
    for key, value in (("first_stage", args.first_stage), ("depth", args.depth)):
        if value is not None:
            if key not in spec.options:
                raise ValueError(f"--{key.replace('_', '-')} does not apply to {spec.name}")
            dataset_options[key] = value
    return spec, dataset_options


def parse_value(text: str) -> Any:
    """``"4"`` -> 4, ``"0.5"`` -> 0.5, ``"true"`` -> True, ``"null"`` -> None, else the text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_option(text: str) -> tuple[str, Any]:
    """``"key=value"`` -> ``("key", parsed value)``.

    Raises:
        ValueError: No ``=`` or an empty key.
    """
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"option {text!r} must look like key=value")
    return key.strip(), parse_value(value.strip())


def parse_method_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"name:key=value,key=value"`` -> ``(name, options)``; a plain name has no options."""
    name, _, rest = spec.partition(":")
    options = dict(parse_option(part) for part in rest.split(",") if part.strip())
    if not name.strip():
        raise ValueError(f"--method {spec!r} has no method name")
    return name.strip(), options


def method_label(name: str, options: dict[str, Any], built_name: str) -> str:
    """The built method's name plus the options it does not show, e.g. ``embedding[model=x]``."""
    extra = {k: v for k, v in options.items() if k not in _NAMED_OPTIONS}
    if not extra:
        return built_name
    shown = ",".join(
        f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in extra.items()
    )
    return f"{built_name}[{shown}]"


def run(args: argparse.Namespace) -> int:
    """Execute ``ctx eval rerank``."""
    if args.data is None and args.relevance_threshold is not None:
        raise ValueError("--relevance-threshold applies to --data only")
    spec, dataset_options = dataset_of(args)
    methods = method_runs(args)
    command = shlex.join(["ctx", *sys.argv[1:]]) if sys.argv[1:2] == ["eval"] else None
    evaluator = RerankEvaluator(
        spec,
        limit=args.limit,
        data_dir=args.data_dir,
        show_progress=not args.no_progress,
        **dataset_options,
    )
    results = []
    for name, options in methods:
        method = build_method(name, **options)
        label = args.label or method_label(name, options, method.name)
        evaluator.command = command or _rebuild_command(args, name, options)
        result = evaluator(method, label=label)
        folder = args.results_dir
        path = write_results(result, args.output or default_results_path(result, folder))
        print(f"wrote {path.resolve()}", file=sys.stderr)
        results.append((result, path))
    print(format_table([r for r, _ in results]))
    if not args.no_plot:
        folder = results[-1][1].parent
        siblings = [
            r
            for r in load_results([folder])
            if r.get("kind") == "rerank"
            and r.get("dataset") == spec.name
            and r.get("limit") == args.limit
            and (r.get("dataset_options") or {}) == dataset_options
        ]
        stem = default_results_path({**results[-1][0], "method": spec.name}).stem
        image = plot_results(order_results(siblings), folder / f"{stem}.png", args.metric)
        print(f"wrote {image.resolve()}", file=sys.stderr)
    return 0


def _rebuild_command(args: argparse.Namespace, name: str, options: dict[str, Any]) -> str:
    source = ["--dataset", args.dataset] if args.data is None else data_command_arguments(args)
    parts = ["ctx", "eval", "rerank", *source, "--method", name]
    for key, value in options.items():
        parts += ["--set", f"{key}={json.dumps(value) if not isinstance(value, str) else value}"]
    if args.limit is not None:
        parts += ["--limit", str(args.limit)]
    if args.first_stage:
        parts += ["--first-stage", args.first_stage]
    if args.depth:
        parts += ["--depth", str(args.depth)]
    return shlex.join(parts)
