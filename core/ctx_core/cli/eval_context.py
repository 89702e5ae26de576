"""``ctx eval context``: the context tools on PI-LLM and multi-needle tasks.

`register` adds the ``context`` kind to the ``ctx eval`` group (this module is
listed in ``ctx_core.cli.eval.EVAL_COMMANDS``).
"""

from __future__ import annotations

import argparse
import itertools
import logging
import shlex
from typing import Any

__all__ = ["add_arguments", "register", "run"]

logger = logging.getLogger(__name__)

DESCRIPTION = (
    "Generate PI-LLM (key-value tracking) or multi-needle (kinship chain in essays) tasks and "
    "answer them three ways: the plain LLM on the full context; a scripted policy that folds "
    "the context and searches with the context tools before the LLM answers; and the agent "
    "loop in which the LLM calls the tools itself. Writes a results JSON."
)


def _ints(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as err:
        raise argparse.ArgumentTypeError(
            f"expected integers separated by commas: {text!r}"
        ) from err
    if not values:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's options."""
    parser.add_argument("--task", required=True, choices=["pi-llm", "multi-needle"])
    parser.add_argument(
        "--methods",
        default="plain,scripted,agent",
        help="comma-separated, among plain, scripted, agent (default: all three)",
    )
    parser.add_argument(
        "--keys", type=_ints, default=[2, 4], help="pi-llm: keys per task, e.g. 2,4"
    )
    parser.add_argument(
        "--updates", type=_ints, default=[4, 8], help="pi-llm: updates per key, e.g. 4,8"
    )
    parser.add_argument(
        "--keys-per-task", type=int, default=2, help="pi-llm: keys asked about per task (0: all)"
    )
    parser.add_argument(
        "--sequential", action="store_true", help="pi-llm: key-by-key updates, not interleaved"
    )
    parser.add_argument(
        "--needles", type=_ints, default=[2, 3], help="multi-needle: chain lengths (2-5)"
    )
    parser.add_argument(
        "--context-tokens",
        type=_ints,
        default=[1000],
        help="multi-needle: context lengths in tokens",
    )
    parser.add_argument("--trials", type=int, default=3, help="generated tasks per size")
    parser.add_argument("--seed", type=int, default=0, help="base seed (trial t uses seed + t)")
    parser.add_argument("--limit", type=int, default=None, help="stop after N questions")
    parser.add_argument("--model", default=None, help="LLM id, path or alias (default: smollm2)")
    parser.add_argument("--window-tokens", type=int, default=200, help="scripted fragment size")
    parser.add_argument("--max-tool-calls", type=int, default=20, help="agent cap per question")
    parser.add_argument(
        "--agent-max-tokens", type=int, default=96, help="generation limit per agent reply"
    )
    parser.add_argument(
        "--result-style",
        choices=["json", "text"],
        default="json",
        help="how tool results are written into the context",
    )
    parser.add_argument("--batch-size", type=int, default=8, help="questions answered together")
    parser.add_argument(
        "--data-dir",
        "--data",
        dest="data_dir",
        default=None,
        metavar="PATH",
        help=(
            "folder holding pi-llm/ (the key/value word lists) and needle-haystack/ (the essays "
            "the needles go in): the built-in ones, or your own in the same layout"
        ),
    )
    parser.add_argument("--output", "-o", default=None, help="results JSON path")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def register(subparsers: Any, name: str = "context") -> None:
    """Add the command as ``name`` (``context`` under ``ctx eval``)."""
    parser = subparsers.add_parser(
        name, help="context tools on PI-LLM / multi-needle tasks", description=DESCRIPTION
    )
    add_arguments(parser)


def _sizes(args: argparse.Namespace) -> list[dict[str, Any]]:
    if args.task == "pi-llm":
        return [
            {"n_keys": k, "n_updates": u} for k, u in itertools.product(args.keys, args.updates)
        ]
    return [
        {"n_needles": n, "context_tokens": t}
        for n, t in itertools.product(args.needles, args.context_tokens)
    ]


def format_summary(results: dict[str, Any]) -> str:
    """A plain-text table of the metrics."""
    lines = [
        f"{'size':<14}{'method':<10}{'n':>4}{'acc':>7}{'visible':>9}{'tokens':>9}"
        f"{'calls':>7}{'errors':>8}{'sec':>8}"
    ]
    for size, methods in results["metrics"].items():
        for method, m in methods.items():
            errors = "-" if m["tool_error_rate"] is None else f"{m['tool_error_rate']:.2f}"
            lines.append(
                f"{size:<14}{method:<10}{m['n']:>4}{m['accuracy']:>7.2f}{m['answer_visible']:>9.2f}"
                f"{m['mean_prompt_tokens']:>9.0f}{m['mean_tool_calls']:>7.1f}{errors:>8}"
                f"{m['mean_seconds']:>8.1f}"
            )
    return "\n".join(lines)


def _command(args: argparse.Namespace) -> str:
    """The command line that reruns this evaluation (every option spelled out)."""
    parts = ["ctx", "eval", "context"]
    skip = ("func", "parser", "command", "eval_command", "verbose", "quiet")
    for key, value in vars(args).items():
        if key in skip or value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            parts.append(flag)
        elif isinstance(value, list):
            parts += [flag, ",".join(str(v) for v in value)]
        else:
            parts += [flag, shlex.quote(str(value))]
    return " ".join(parts)


def run(args: argparse.Namespace) -> int:
    """Execute the evaluation."""
    from ctx_core.eval.results import write_results
    from ctx_core.eval.tasks.context import run_context_eval
    from ctx_core.llm import TransformersLLM

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    llm = TransformersLLM(args.model, batch_size=args.batch_size)
    results = run_context_eval(
        args.task,
        llm,
        sizes=_sizes(args),
        methods=methods,
        trials=args.trials,
        seed=args.seed,
        limit=args.limit,
        keys_per_task=args.keys_per_task or None,
        sequential=args.sequential,
        window_tokens=args.window_tokens,
        max_tool_calls=args.max_tool_calls,
        agent_max_tokens=args.agent_max_tokens,
        result_style=args.result_style,
        batch_size=args.batch_size,
        data_dir=args.data_dir,
        show_progress=not args.quiet,
    )
    if args.data_dir is not None:
        from ctx_core.eval.datasets.formats import data_fingerprint

        results["data"] = {"format": "context-sources", **data_fingerprint(args.data_dir)}
    path = write_results(results, args.output, command=_command(args))
    print(format_summary(results))
    print(f"results: {path.resolve()}")
    return 0
