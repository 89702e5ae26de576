"""``ctx batch``: restartable batch jobs on Ray (``ctx batch rerank|score|structurize|memorize``).

Each transform is one subcommand; the options shared by all (input, output,
sharding, workers, cluster address) are added here, the transform's own options
by a small ``add_*`` function. Transforms of other capabilities add themselves to
`SUBCOMMANDS`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from ctx_core.cli._io import json_line
from ctx_core.cli.memorize import add_extractor_arguments

__all__ = ["SUBCOMMANDS", "register"]


def _scorer_arguments(parser: argparse.ArgumentParser) -> None:
    from ctx_core.scoring.registry import scorer_names

    parser.add_argument(
        "--scorer", default="embedding", choices=scorer_names(), help="relevance scorer"
    )
    parser.add_argument(
        "--model", default=None, help="model id or path for the scorer (default: offline)"
    )
    parser.add_argument("--device", default=None, help="device for the scorer's model, e.g. cuda")
    parser.add_argument("--query-field", default="query", help="row field holding the query")
    parser.add_argument(
        "--candidates-field", default="candidates", help="row field holding the candidates"
    )


def _scorer_options(args: argparse.Namespace) -> dict[str, Any]:
    scorer_options = {
        k: v for k, v in (("model", args.model), ("device", args.device)) if v is not None
    }
    return {
        "scorer": args.scorer,
        "scorer_options": scorer_options,
        "query_field": args.query_field,
        "candidates_field": args.candidates_field,
    }


def _add_rerank(parser: argparse.ArgumentParser) -> None:
    _scorer_arguments(parser)
    parser.add_argument("--top-n", type=int, default=None, help="keep at most N passages per row")
    parser.add_argument(
        "--threshold", type=float, default=None, help="drop passages scoring below this"
    )
    parser.add_argument("--output-field", default="ranked", help="row field for the result")


def _rerank_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        **_scorer_options(args),
        "top_n": args.top_n,
        "score_threshold": args.threshold,
        "output_field": args.output_field,
    }


def _add_score(parser: argparse.ArgumentParser) -> None:
    _scorer_arguments(parser)
    parser.add_argument("--output-field", default="scores", help="row field for the result")


def _score_options(args: argparse.Namespace) -> dict[str, Any]:
    return {**_scorer_options(args), "output_field": args.output_field}


def _document_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--text-field", default="text", help="row field holding the text")
    parser.add_argument("--id-field", default="id", help="row field holding the document id")
    parser.add_argument(
        "--metadata-field", default="metadata", help="row field holding the document metadata"
    )


def _document_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "text_field": args.text_field,
        "id_field": args.id_field,
        "metadata_field": args.metadata_field,
        "output_field": args.output_field,
    }


def _add_structurize(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--llm",
        default=None,
        help="structure with this LLM (alias, Hugging Face id or path); default: heuristic",
    )
    parser.add_argument(
        "--chunk-tokens", type=int, default=None, help="with --llm: longest chunk per prompt"
    )
    parser.add_argument(
        "--structure-format",
        default="reading",
        help="rendering of the structurized text (see ctx structurize --format)",
    )
    _document_arguments(parser)
    parser.add_argument("--output-field", default="structured", help="row field for the result")


def _structurize_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if args.llm is not None:
        options["llm"] = args.llm
        if args.chunk_tokens is not None:
            options["chunk_tokens"] = args.chunk_tokens
    elif args.chunk_tokens is not None:
        raise ValueError("--chunk-tokens is only for --llm")
    return {
        "structurizer": "llm" if args.llm else "heuristic",
        "structurizer_options": options,
        "format": args.structure_format,
        **_document_options(args),
    }


def _add_memorize(parser: argparse.ArgumentParser) -> None:
    add_extractor_arguments(parser)
    parser.add_argument("--max-words", type=int, default=150, help="longest chunk in words")
    parser.add_argument(
        "--min-words", type=int, default=30, help="shortest chunk a cut may leave, in words"
    )
    _document_arguments(parser)
    parser.add_argument("--output-field", default="memory", help="row field for the result")


def _extractor_options(args: argparse.Namespace) -> dict[str, Any]:
    if args.extractor == "heuristic":
        return {"max_words": args.max_words, "min_words": args.min_words}
    return {"max_words": args.max_words}  # the LLM extractor's fallback segmentation


def _memorize_options(args: argparse.Namespace) -> dict[str, Any]:
    if args.llm is not None and args.extractor != "llm":
        raise ValueError("--llm is only for --extractor llm")
    return {
        "extractor": args.extractor,
        "extractor_options": _extractor_options(args),
        "llm": args.llm,
        **_document_options(args),
    }


#: Subcommand name -> (transform name, help, add arguments, options from arguments).
SUBCOMMANDS: dict[
    str,
    tuple[
        str,
        str,
        Callable[[argparse.ArgumentParser], None],
        Callable[[argparse.Namespace], dict[str, Any]],
    ],
] = {
    "rerank": (
        "rerank",
        "rerank the candidates of (query, candidates) rows",
        _add_rerank,
        _rerank_options,
    ),
    "score": (
        "score",
        "score the candidates of (query, candidates) rows",
        _add_score,
        _score_options,
    ),
    "structurize": (
        "structurize",
        "structurize the text of document rows (scope, aspects, descriptions)",
        _add_structurize,
        _structurize_options,
    ),
    "memorize": (
        "extract_memories",
        "extract the document memory (outline, scenario chunks, core contents) of document rows",
        _add_memorize,
        _memorize_options,
    ),
}


def _common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input",
        "-i",
        required=True,
        nargs="+",
        help="input .jsonl/.parquet files or folders of them",
    )
    parser.add_argument(
        "--output",
        "-o",
        required=True,
        help="output folder (one file per shard); run again on it to resume",
    )
    parser.add_argument(
        "--format", choices=["jsonl", "parquet"], default="jsonl", help="output format"
    )
    parser.add_argument("--shard-size", type=int, default=1000, help="rows per shard")
    parser.add_argument(
        "--batch-size", type=int, default=16, help="rows per transform call in a shard"
    )
    parser.add_argument("--workers", type=int, default=1, help="actors (each loads the model once)")
    parser.add_argument("--num-cpus", type=float, default=1, help="CPUs per actor")
    parser.add_argument("--num-gpus", type=float, default=0, help="GPUs per actor")
    parser.add_argument(
        "--address",
        default=None,
        help="Ray cluster address ('auto', 'ray://head:10001'); default: a local Ray instance",
    )
    parser.add_argument(
        "--local-cpus", type=int, default=None, help="CPUs of the local Ray instance (default: all)"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="start over in a folder holding another job"
    )


def register(subparsers: Any) -> None:
    """Add the ``batch`` command and its subcommands."""
    parser = subparsers.add_parser(
        "batch",
        help="run a capability over large files on Ray, restartably",
        description=(
            "Run a transform over JSON-lines or Parquet files on Ray, shard by shard. "
            "Each shard's output file is written when the shard is complete; running the "
            "same command again on the same --output resumes without redoing finished shards."
        ),
    )
    commands = parser.add_subparsers(dest="batch_command", required=True, metavar="TRANSFORM")
    for command, (transform, text, add_arguments, options) in SUBCOMMANDS.items():
        sub = commands.add_parser(command, help=text, description=text)
        _common_arguments(sub)
        add_arguments(sub)
        sub.set_defaults(func=_run, transform=transform, options_from=options)


def _run(args: argparse.Namespace) -> int:
    from ctx_core.batch.runner import run_batch

    result = run_batch(
        args.transform,
        args.options_from(args),
        args.input,
        args.output,
        output_format=args.format,
        shard_size=args.shard_size,
        batch_size=args.batch_size,
        workers=args.workers,
        num_cpus=args.num_cpus,
        num_gpus=args.num_gpus,
        address=args.address,
        local_cpus=args.local_cpus,
        overwrite=args.overwrite,
        show_progress=True,
    )
    summary = result.to_dict()
    summary.pop("shard_seconds")
    sys.stdout.write(json_line(summary))
    return 0
