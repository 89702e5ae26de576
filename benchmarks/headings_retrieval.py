"""Do the new headings cost retrieval? Former and new heading settings side by side.

One process, one MiniLM: the heuristic memory extractor with ``titles="keywords"`` (before)
and ``"keyphrases"`` (after) on Cranfield (all 225 queries, nDCG@10 / recall@100 as
``ctx eval memory --dataset cranfield``) and on the first LoCoMo conversations (evidence
recall as ``ctx eval memory --dataset locomo``); the heuristic structurizer with
``naming="keywords", boundary_similarity=None`` (before) and the defaults (after) on a
Cranfield subset (``ctx eval structure --task retrieval``, first ``--structure-limit``
queries, ranked in a pool of depth ``--structure-pool``; 0 for either: all queries, the
whole collection). Results go through the one results writer.

    PYTHONPATH=core:packages python benchmarks/headings_retrieval.py [--locomo 2] [--structure-limit 40] [--structure-pool 20]
"""

from __future__ import annotations

import argparse
import json
import time

from ctx_core.eval.datasets import load_cranfield, load_locomo
from ctx_core.eval.results import write_results
from ctx_core.eval.tasks.memory import (
    MemoryMethod,
    QueryCachingEmbedder,
    evaluate_ir,
    evaluate_locomo,
)
from ctx_core.eval.tasks.structure import RetrievalEvaluator
from ctx_core.memory.heuristic import HeuristicMemoryExtractor
from ctx_core.structure import HeuristicStructurizer

OUT = "benchmarks/results/structure/headings-retrieval-{}.json"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--locomo", type=int, default=2, help="LoCoMo conversations")
    parser.add_argument("--structure-limit", type=int, default=40, help="0: all queries")
    parser.add_argument("--structure-pool", type=int, default=20, help="0: whole collection")
    parser.add_argument("--only", choices=["memory-ir", "memory-locomo", "structure"])
    args = parser.parse_args()
    command = "python benchmarks/headings_retrieval.py " + (
        f"--locomo {args.locomo} --structure-limit {args.structure_limit} "
        f"--structure-pool {args.structure_pool}" + (f" --only {args.only}" if args.only else "")
    )
    embedder = QueryCachingEmbedder()

    def memory_methods(**options):
        return [
            MemoryMethod(
                HeuristicMemoryExtractor(embedder, titles=titles),
                embedder,
                f"memory-{titles}",
                **options,
            )
            for titles in ("keywords", "keyphrases")
        ]

    summary = {}
    if args.only in (None, "memory-ir"):
        started = time.perf_counter()
        results = evaluate_ir(
            load_cranfield(), memory_methods(outline_k=50, core_k=50), show_progress=False
        )
        results.update(kind="memory", method="headings-before-after", limit=None,
                       wall_seconds=time.perf_counter() - started)  # fmt: skip
        write_results(results, OUT.format("memory-cranfield"), command=command)
        summary["memory-cranfield"] = results["metrics"]
    if args.only in (None, "memory-locomo"):
        started = time.perf_counter()
        conversations = load_locomo()[: args.locomo]
        results = evaluate_locomo(conversations, memory_methods(), show_progress=False)
        results.update(kind="memory", method="headings-before-after", limit=args.locomo,
                       wall_seconds=time.perf_counter() - started)  # fmt: skip
        write_results(results, OUT.format(f"memory-locomo-limit{args.locomo}"), command=command)
        summary["memory-locomo"] = results["metrics"]
    if args.only in (None, "structure"):
        evaluator = RetrievalEvaluator(
            "cranfield",
            embedder=embedder,
            limit=args.structure_limit or None,
            pool_depth=args.structure_pool or None,
        )
        subset = f"limit{args.structure_limit}" if args.structure_limit else "all"
        if args.structure_pool != 20:
            subset += f"-pool{args.structure_pool}" if args.structure_pool else "-whole"
        for label, options in (
            ("before", {"naming": "keywords", "boundary_similarity": None}),
            ("after", {}),
        ):
            results = evaluator(
                {"original": None, "heuristic": HeuristicStructurizer(embedder, **options)}
            )
            results["headings"] = label
            write_results(
                results,
                OUT.format(f"structure-cranfield-{label}-{subset}"),
                command=command,
            )
            summary[f"structure-{label}"] = results["results"]
    print(json.dumps(summary, indent=1, default=str))


if __name__ == "__main__":
    main()
