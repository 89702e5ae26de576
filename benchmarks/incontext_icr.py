"""ICR's own scoring beside the BlockRank-style single-layer score, one pass per query.

For each model, one set of forward passes through every layer (``scoring_layer="all"``)
serves four methods (see ``ctx_core.eval.rerankers.InContextMethod``):

* ``single-layer``: the BlockRank-style score at the model's middle layer (SmolLM2 18,
  Gemma-3 11): softmax over candidate tokens, averaged over heads and query tokens,
  calibrated by subtraction (the ranker's default);
* ``all-layers``: the same averaged over every layer;
* ``icr-subtract``: ICR's aggregation (whole-sequence attention summed over all layers,
  heads, query tokens and each candidate's tokens), calibrated by subtraction;
* ``icr``: ICR's defaults, the same with masked calibration (tokens below mean - 2 std of
  the candidate's calibrated scores dropped).

The first-stage order (``none``) runs on the same subset. Subsets (``--limit`` queries,
``--top`` first-stage candidates) are written into each result file's
``dataset_options``; a CPU run takes the subset, a GPU run the full sets (see
``benchmarks/results/incontext/icr/README.md``).

Example:
    python benchmarks/incontext_icr.py --dataset dl19 --limit 10 --top 30 --model smollm2
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from pathlib import Path

from ctx_core.eval.methods import build_method
from ctx_core.eval.rerank_datasets import RerankDataset, get_rerank_dataset
from ctx_core.eval.rerankers import InContextMethod
from ctx_core.eval.results import write_results
from ctx_core.eval.tasks.rerank import RerankEvaluator

#: The BlockRank-style scoring layer of each packaged model (the ranker's default layer).
SINGLE_LAYER = {"smollm2": 18, "gemma3-270m": 11}


def _subset(name: str, top: int | None) -> RerankDataset:
    spec = get_rerank_dataset(name)
    if top is None:
        return spec

    def load(data_dir, limit):  # type: ignore[no-untyped-def]
        queries = spec.load(data_dir, limit)
        return [dataclasses.replace(q, candidates=list(q.candidates[:top])) for q in queries]

    return dataclasses.replace(
        spec, load=load, description=f"{spec.description}; first {top} candidates per query"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=("dl19", "hotpotqa"), required=True)
    parser.add_argument("--model", choices=sorted(SINGLE_LAYER), required=True)
    parser.add_argument("--limit", type=int, default=None, help="first N queries (default all)")
    parser.add_argument("--top", type=int, default=None, help="first N candidates per query")
    parser.add_argument("--dtype", default="float32", help="float32 (fastest on CPU) or bfloat16")
    parser.add_argument("--device", default=None)
    parser.add_argument(
        "--max-pass-tokens",
        type=int,
        default=16384,
        help="token capacity of one pass (ICR needs every candidate in one pass)",
    )
    parser.add_argument(
        "--results-dir", type=Path, default=Path("benchmarks/results/incontext/icr")
    )
    args = parser.parse_args(argv)
    command = shlex.join(["python", "benchmarks/incontext_icr.py", *(argv or sys.argv[1:])])

    with_title = args.dataset == "hotpotqa"  # HotpotQA paragraphs are scored with titles
    common = {
        "model": args.model,
        "dtype": args.dtype,
        "scoring_layer": "all",
        "max_pass_tokens": args.max_pass_tokens,
    }
    if args.device:
        common["device"] = args.device
    if with_title:
        common["with_title"] = True
    methods = {
        # ICR first: its pass carries the per-token attention the others reuse.
        "icr": InContextMethod(icr=True, **common),
        "icr-subtract": InContextMethod(icr=True, masked_calibration=False, **common),
        "all-layers": InContextMethod(**common),
        "single-layer": InContextMethod(use_layers=[SINGLE_LAYER[args.model]], **common),
    }
    evaluator = RerankEvaluator(
        _subset(args.dataset, args.top), limit=args.limit, command=command, show_progress=False
    )
    folder = args.results_dir / args.dataset
    options = {"top": args.top, "with_title": with_title}
    for label, method in [("none", build_method("none")), *methods.items()]:
        name = label if label == "none" else f"{args.model}-{label}"
        results = evaluator(method, label=name)
        results["dataset_options"] = options
        path = write_results(results, folder / f"{name}.json", command=command)
        print(f"{name}: {results['metrics'][evaluator.primary_metric]:.4f} -> {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
