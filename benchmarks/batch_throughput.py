"""Rows per second of a batch rerank job on a local Ray instance, for 1 and 2 workers.

Rows are HotpotQA dev questions with their 10 paragraphs (read from the data folder
at run time, written to a temporary folder, never into the repository); the
transform is ``rerank`` with the packaged MiniLM embedding scorer. Each worker is a
Ray actor with 1 CPU (so 1 torch thread); each run writes to a fresh output folder.

Rerun:
    python benchmarks/batch_throughput.py --limit 60 --shard-size 5 --workers 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

from ctx_core.batch import read_output, run_batch
from ctx_core.eval.datasets.hotpotqa import load_hotpotqa
from ctx_core.eval.environment import environment

RESULTS = Path(__file__).resolve().parent / "results" / "batch"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="data folder (default: the shared one)")
    parser.add_argument("--limit", type=int, default=60, help="HotpotQA questions (rows)")
    parser.add_argument("--shard-size", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--local-cpus", type=int, default=2)
    parser.add_argument("--output", default=str(RESULTS / "throughput.json"))
    args = parser.parse_args()

    import ray

    started = time.time()
    examples = load_hotpotqa(args.data_dir, limit=args.limit)
    ray.init(num_cpus=args.local_cpus, include_dashboard=False, log_to_driver=False)
    runs = []
    outputs = []
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "rows.jsonl"
        with open(source, "w", encoding="utf-8") as handle:
            for example in examples:
                row = {
                    "qid": example.id,
                    "query": example.question,
                    "candidates": [p.to_dict() for p in example.passages],
                }
                handle.write(json.dumps(row) + "\n")
        for workers in args.workers:
            load_before = os.getloadavg()
            result = run_batch(
                "rerank",
                {"top_n": 5},
                source,
                Path(scratch) / f"out-{workers}",
                shard_size=args.shard_size,
                batch_size=args.batch_size,
                workers=workers,
                num_cpus=1,
            )
            outputs.append(read_output(Path(scratch) / f"out-{workers}"))
            shard_seconds = list(result.shard_seconds.values())
            runs.append(
                {
                    "workers": workers,
                    "rows": result.rows_done,
                    "shards": result.shards_done,
                    "seconds": result.seconds,
                    "rows_per_second": result.rows_per_second,
                    "mean_shard_seconds": sum(shard_seconds) / len(shard_seconds),
                    "shard_seconds": result.shard_seconds,
                    "load_average_before": load_before,
                    "load_average_after": os.getloadavg(),
                }
            )
            print(
                f"{workers} worker(s): {result.rows_done} rows in {result.seconds:.1f} s "
                f"= {result.rows_per_second:.2f} rows/s",
                file=sys.stderr,
            )
    ray.shutdown()
    base = runs[0]["rows_per_second"]
    report = {
        "benchmark": "batch rerank throughput",
        "data": f"HotpotQA dev250, first {len(examples)} questions, 10 paragraphs each",
        "config": {
            "transform": "rerank",
            "options": {"top_n": 5},
            "scorer": "embedding (packaged all-MiniLM-L6-v2)",
            "shard_size": args.shard_size,
            "batch_size": args.batch_size,
            "cpus_per_worker": 1,
            "local_ray_cpus": args.local_cpus,
        },
        "metrics": {f"rows_per_second_{r['workers']}_workers": r["rows_per_second"] for r in runs}
        | {
            f"speedup_{r['workers']}_workers": r["rows_per_second"] / base if base else None
            for r in runs
        },
        "same_output_for_every_worker_count": all(o == outputs[0] for o in outputs),
        "runs": runs,
        "environment": environment(),
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "wall_seconds": time.time() - started,
        "notes": (
            "seconds = the map over shards (actor start-up and model load included, "
            "planning excluded). The machine is shared: see the load averages."
        ),
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(report["metrics"], indent=1))


if __name__ == "__main__":
    main()
