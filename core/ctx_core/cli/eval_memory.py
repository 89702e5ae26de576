"""``ctx eval memory``: document memories against fixed-size chunking (LoCoMo, Cranfield, CACM)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from ctx_core.cli.eval_data import add_data_arguments
from ctx_core.eval.results import results_root

DATASETS = ("locomo", "locomo-llm", "cranfield", "cacm")


def register(subparsers: Any) -> None:
    """Add the ``memory`` kind to ``ctx eval``."""
    parser = subparsers.add_parser(
        "memory",
        help="document memories (MoM) vs fixed-size chunking",
        description=(
            "locomo: each session a document; evidence recall of the three-layer memory "
            "retriever (heuristic extractor) against fixed-size chunks with the same embedder. "
            "locomo-llm: the same on a few sessions with the LLM extractor too, and its "
            "extraction time per 1,000 tokens. cranfield / cacm: nDCG@10 and recall@100 of "
            "document retrieval."
        ),
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", choices=DATASETS, help="built-in data set")
    add_data_arguments(parser, source)
    parser.add_argument("--data-dir", default=None, help="data folder (default: ../shared/data)")
    parser.add_argument("--limit", type=int, default=None, help="first N conversations / queries")
    parser.add_argument(
        "--fixed-words",
        default="60,120",
        help="comma-separated max_words of the fixed-size baselines (default 60,120)",
    )
    parser.add_argument(
        "--window-words",
        default="",
        help=(
            "comma-separated sizes of word-window baselines (chunks of N words cut anywhere, "
            "also inside single-paragraph documents); default none"
        ),
    )
    parser.add_argument(
        "--memory-words",
        default="150",
        help="comma-separated max_words of the heuristic memories (min_words = max_words // 5; default 150)",
    )
    parser.add_argument("--llm", default=None, help="LLM for locomo-llm (default: smollm2)")
    parser.add_argument(
        "--conversation", type=int, default=0, help="locomo-llm: which conversation"
    )
    parser.add_argument("--sessions", type=int, default=4, help="locomo-llm: first N sessions")
    parser.add_argument("--paths", type=int, default=2, help="locomo-llm: candidate paths (1-3)")
    parser.add_argument("--max-tokens", type=int, default=384, help="locomo-llm: longest LLM reply")
    parser.add_argument(
        "--output",
        "-o",
        default=None,
        help="result file (default: benchmarks/results/memory/... in this repository, "
        "else ./ctx-eval-results/memory/...)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def _fixed_sizes(text: str, option: str, *, allow_empty: bool = False) -> list[int]:
    try:
        sizes = [int(x) for x in text.split(",") if x.strip()]
    except ValueError as err:
        raise ValueError(f"{option} must be comma-separated integers, got {text!r}") from err
    if (not sizes and not allow_empty) or (sizes and min(sizes) < 1):
        raise ValueError(f"{option} needs sizes >= 1")
    return sizes


def run(args: argparse.Namespace) -> int:
    """Execute ``ctx eval memory``."""
    from ctx_core.eval.results import write_results
    from ctx_core.eval.tasks.memory import (
        FixedChunkMethod,
        MemoryMethod,
        QueryCachingEmbedder,
        WholeDocumentMethod,
        evaluate_ir,
        evaluate_locomo,
    )
    from ctx_core.memory.heuristic import HeuristicMemoryExtractor

    started = time.perf_counter()
    show = not args.no_progress
    sizes = _fixed_sizes(args.memory_words, "--memory-words")
    fixed_sizes = _fixed_sizes(args.fixed_words, "--fixed-words")
    if args.limit is not None and args.limit < 1:
        raise ValueError("--limit must be >= 1")
    embedder = QueryCachingEmbedder()
    heuristics = [
        (w, HeuristicMemoryExtractor(embedder, max_words=w, min_words=max(1, w // 5)))
        for w in sizes
    ]
    heuristic = heuristics[0][1]
    window_sizes = _fixed_sizes(args.window_words, "--window-words", allow_empty=True)
    fixed = [FixedChunkMethod(embedder, w) for w in fixed_sizes]
    fixed += [FixedChunkMethod(embedder, w, unit="words") for w in window_sizes]

    def memory_methods(**options: Any) -> list[Any]:
        return [
            MemoryMethod(extractor, embedder, f"memory-heuristic-{w}w", **options)
            for w, extractor in heuristics
        ]

    options: dict[str, Any] = {}
    data = None
    from ctx_core.cli.eval_data import check_data_options

    check_data_options(args)
    if args.data is not None:
        from ctx_core.cli.eval_data import load_data_argument
        from ctx_core.eval.datasets.formats import describe

        data = load_data_argument(args)
        if data.kind not in ("conversations", "collection"):
            raise ValueError(
                f"ctx eval memory reads conversations (locomo) or collections (beir, smart), "
                f"not {data.format} data"
            )
        print(describe(data), file=sys.stderr)
    from ctx_core.eval.datasets.issues import DataIssues

    issues = DataIssues()
    provenance: dict[str, Any] = data.provenance() if data is not None else {}

    def finish(results: dict[str, Any], partial: bool) -> Path:
        results.update(provenance or {"data_issues": issues.to_dict()})
        results.update(
            kind="memory",
            method="memory-vs-fixed",
            limit=args.limit,
            partial=partial,
            dataset_options=options,
            command="ctx " + " ".join(sys.argv[1:]) if sys.argv[1:] else "ctx eval memory",
            wall_seconds=time.perf_counter() - started,
        )
        return write_results(results, _output(args, data.name if data is not None else None))

    def save_partial(so_far: dict[str, Any]) -> None:
        finish(so_far, True)

    if args.dataset == "locomo" or (data is not None and data.kind == "conversations"):
        from ctx_core.eval.datasets import load_locomo

        if data is not None:
            conversations = data.records[: args.limit]
        else:
            conversations = load_locomo(args.data_dir, issues=issues)[: args.limit]
            issues.log()
        options = {"conversations": len(conversations)}
        methods = [*fixed, *memory_methods()]
        # A long run saves what it has after each conversation ("partial": true).
        results = evaluate_locomo(
            conversations,
            methods,
            show_progress=show,
            on_conversation=save_partial,
        )
    elif args.dataset == "locomo-llm":
        results, options = _locomo_llm(args, embedder, heuristic, fixed, show)
        options["memory_words"] = sizes[0]
    else:
        from ctx_core.eval.datasets import load_cacm, load_cranfield

        if data is not None:
            collection = data.records
        else:
            collection = (load_cranfield if args.dataset == "cranfield" else load_cacm)(
                args.data_dir
            )
        methods = [
            WholeDocumentMethod(embedder),
            *fixed,
            *memory_methods(outline_k=50, core_k=50),
        ]
        results = evaluate_ir(collection, methods, limit=args.limit, show_progress=show)
    path = finish(results, False)
    summary = {
        name: {k: round(v, 4) for k, v in m.items() if "@" in k}
        for name, m in results["metrics"].items()
    }
    print(json.dumps(summary, indent=1))
    print(f"results: {path.resolve()}", file=sys.stderr)
    return 0


def _output(args: argparse.Namespace, data_name: str | None = None) -> Path:
    if args.output:
        return Path(args.output)
    name = data_name or args.dataset
    if args.dataset == "locomo-llm":
        name += f"-conv{args.conversation}-sessions{args.sessions}-paths{args.paths}"
    if args.limit is not None:
        name += f"-limit{args.limit}"
    return results_root() / "memory" / f"{name}.json"


def memory_shape(memory: Any) -> dict[str, Any]:
    """A memory without its text: chunk spans, how each was recovered, sizes, selection info."""
    return {
        "doc_id": memory.doc_id,
        "source_characters": len(memory.source),
        "outline_entries": len(memory.outline),
        "chunks": [
            {
                "start": c.start,
                "end": c.end,
                "outline_index": c.outline_index,
                "recovery": c.recovery,
                "core_content_words": len(c.core_content.split()),
            }
            for c in memory.chunks
        ],
        "info": memory.info,
    }


def _locomo_llm(
    args: argparse.Namespace, embedder: Any, heuristic: Any, fixed: list[Any], show: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """LLM extractor on the first sessions of one conversation (SmolLM2 on CPU is slow)."""
    from ctx_core.eval.datasets import load_locomo
    from ctx_core.eval.tasks.memory import MemoryMethod, evaluate_locomo, locomo_documents
    from ctx_core.llm import TransformersLLM
    from ctx_core.memory.extractor import DEFAULT_PATHS, MemoryExtractor
    from ctx_core.tokens import default_counter

    if not 1 <= args.paths <= len(DEFAULT_PATHS):
        raise ValueError(f"--paths must be between 1 and {len(DEFAULT_PATHS)}")
    conversations = load_locomo(args.data_dir)
    if not 0 <= args.conversation < len(conversations):
        raise ValueError(f"--conversation must be in [0, {len(conversations) - 1}]")
    conversation = conversations[args.conversation]
    chosen = [s for s in conversation.sessions if s.turns][: args.sessions]
    llm = TransformersLLM(args.llm)
    extractor = MemoryExtractor(
        llm,
        embedder=embedder,
        paths=DEFAULT_PATHS[: args.paths],
        max_tokens=args.max_tokens,
        max_words=heuristic.max_words,
    )
    llm_method = MemoryMethod(extractor, embedder, "memory-llm", show_progress=show)
    methods = [*fixed, MemoryMethod(heuristic, embedder, "memory-heuristic"), llm_method]

    results = evaluate_locomo(
        [conversation], methods, sessions=lambda _: chosen, show_progress=show
    )
    counter = default_counter()
    ids = {s.session_id for s in chosen}
    tokens = sum(
        counter.count(text)
        for doc_id, text, _ in locomo_documents(conversation)
        if doc_id.split("/", 1)[1] in ids
    )
    candidates = [
        c for m in llm_method.memories for w in m.info.get("windows", []) for c in w["candidates"]
    ]
    recoveries: dict[str, int] = {}
    for memory in llm_method.memories:
        for chunk in memory.chunks:
            recoveries[chunk.recovery] = recoveries.get(chunk.recovery, 0) + 1
    results["llm_extraction"] = {
        "llm": extractor.settings()["llm"],
        "sessions": len(chosen),
        "source_tokens_cl100k": tokens,
        "extraction_seconds": llm_method.extraction_seconds,
        "seconds_per_1000_tokens": 1000 * llm_method.extraction_seconds / max(tokens, 1),
        "extraction_cpu_seconds": llm_method.extraction_cpu_seconds,
        "cpu_seconds_per_1000_tokens": 1000 * llm_method.extraction_cpu_seconds / max(tokens, 1),
        "generated_tokens_budget": args.max_tokens * args.paths * len(chosen),
        "note": (
            "wall and CPU time of the whole LLM extraction (generation of every path, "
            "anchor recovery, fallback segmentation, candidate scoring) on the machine in "
            "environment (a shared CPU: see load_average)"
        ),
        "candidates": len(candidates),
        "candidates_with_placed_anchors": sum(1 for c in candidates if c["placed"]),
        "chunk_recovery_counts": recoveries,
        # Spans and sizes only: no text of the data set goes into the result file.
        "memories": [memory_shape(m) for m in llm_method.memories],
    }
    options = {
        "conversation": conversation.conversation_id,
        "sessions": [s.session_id for s in chosen],
        "paths": args.paths,
        "max_tokens": args.max_tokens,
    }
    return results, options
