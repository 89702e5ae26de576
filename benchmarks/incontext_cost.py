"""CPU cost of one in-context ranking pass: block-sparse vs ordinary causal attention.

For each of the first ``--limit`` DL19 queries (BM25 top-100), the same prompt (same tokens)
is run to the same scoring layer three ways, one after the other, single-threaded:

1. ``block``: the in-context engine, block-sparse attention (backend ``sdpa``), with the
   calibration twin block - exactly what ``InContextRanker`` runs;
2. ``causal``: the same engine and tokens with ordinary causal attention and sequential
   positions (``attention="causal"``);
3. ``hf_causal``: transformers' own ``sdpa`` forward of the prompt without the twin, cut to
   the same number of layers (the scoring layer's MLP included) - a sanity check that (2)
   costs what plain causal attention costs.

Times are process CPU seconds (``time.process_time``) and wall seconds, best of
``--repeat`` runs. Run from the repository root:

    OMP_NUM_THREADS=1 PYTHONPATH=core:packages python benchmarks/incontext_cost.py \
        --model smollm2 --limit 5 --json benchmarks/results/incontext/cost_dl19_smollm2.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from incontext_sweep import DEFAULT_DATA, load_dl19


def _best(fn: Any, repeat: int) -> tuple[float, float]:
    cpu, wall = [], []
    for _ in range(repeat):
        c, w = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return min(cpu), min(wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--limit", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--scoring-layer", type=int, default=None)
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA))
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    from ctx_core.incontext import InContextRanker

    started = time.perf_counter()
    ranker = InContextRanker(
        args.model, dtype=args.dtype, device="cpu", scoring_layer=args.scoring_layer
    )
    engine, builder = ranker.engine, ranker.builder
    layer = ranker.layers[0]
    model = engine.model
    rows_per_query = []
    for item in load_dl19(Path(args.data_dir), args.limit):
        prompt = builder.build(item["query"], item["texts"], calibrate=True)
        causal = builder.build(item["query"], item["texts"], calibrate=True, causal=True)
        plain = builder.build(item["query"], item["texts"], calibrate=False, causal=True)
        rows = prompt.signal_rows("query", 0) + prompt.signal_rows("query", 1)
        causal_rows = causal.signal_rows("query", 0) + causal.signal_rows("query", 1)
        with torch.no_grad():
            block_cost = _best(
                partial(
                    engine.run, prompt.input_ids, prompt.structure, signal_rows=rows, layers=[layer]
                ),
                args.repeat,
            )
            causal_cost = _best(
                partial(
                    engine.run,
                    causal.input_ids,
                    causal.structure,
                    signal_rows=causal_rows,
                    layers=[layer],
                ),
                args.repeat,
            )
            ids = torch.tensor([plain.input_ids])
            saved = model.config.num_hidden_layers
            model.set_attn_implementation("sdpa")
            model.config.num_hidden_layers = layer + 1  # the decoder loops over this many layers
            try:
                hf_cost = _best(partial(model.model, input_ids=ids, use_cache=False), args.repeat)
            finally:
                model.config.num_hidden_layers = saved
        row = {
            "query_id": item["qid"],
            "tokens": prompt.structure.total_length,
            "tokens_without_twin": plain.structure.total_length,
            "block_cpu_s": round(block_cost[0], 3),
            "block_wall_s": round(block_cost[1], 3),
            "causal_cpu_s": round(causal_cost[0], 3),
            "causal_wall_s": round(causal_cost[1], 3),
            "hf_causal_cpu_s": round(hf_cost[0], 3),
            "hf_causal_wall_s": round(hf_cost[1], 3),
        }
        rows_per_query.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)

    def mean(key: str) -> float:
        return round(statistics.mean(r[key] for r in rows_per_query), 3)

    summary = {
        key: mean(key)
        for key in (
            "tokens",
            "block_cpu_s",
            "causal_cpu_s",
            "hf_causal_cpu_s",
            "block_wall_s",
            "causal_wall_s",
            "hf_causal_wall_s",
        )
    }
    summary["causal_over_block_cpu"] = round(summary["causal_cpu_s"] / summary["block_cpu_s"], 2)
    result = {
        "what": "CPU cost of one ranking pass to the scoring layer: block-sparse vs causal",
        "dataset": "dl19 (BM25 top-100)",
        "model": args.model,
        "dtype": args.dtype,
        "scoring_layer": layer,
        "num_layers": engine.num_layers,
        "backend": engine.backend.name,
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "repeat": args.repeat,
        "summary": summary,
        "per_query": rows_per_query,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "command": "python benchmarks/incontext_cost.py " + " ".join(sys.argv[1:]),
        "wall_time_s": round(time.perf_counter() - started, 1),
        "note": "shared 2-core CPU under load from other jobs: CPU seconds are the stable measure",
    }
    print(json.dumps(summary, indent=1))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
