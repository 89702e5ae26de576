"""Query-free vs query-in-instruction layout: paired bootstrap over per-query metrics.

Reads ``ctx eval rerank`` result files of the same data set and queries (one per layout) and
writes, per metric, the mean per-query difference (query-free minus query-in-instruction)
with a 95% percentile bootstrap interval.

    PYTHONPATH=core:packages python benchmarks/incontext_layout_compare.py \\
        --query-free FILE --query-in-instruction FILE --out RESULT.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "core"), str(ROOT / "packages")]

from ctx_core.eval.metrics import paired_bootstrap  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--query-free", required=True, help="result file, query-free layout")
    parser.add_argument("--query-in-instruction", required=True, help="result file, default")
    parser.add_argument("--metrics", nargs="+", default=["ndcg@10", "mrr@10", "recall@10"])
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    free = json.loads(Path(args.query_free).read_text())
    base = json.loads(Path(args.query_in_instruction).read_text())
    by_id = {q["query_id"]: q for q in base["per_query"]}
    rows = [(q, by_id[q["query_id"]]) for q in free["per_query"] if q["query_id"] in by_id]
    if not rows:
        raise SystemExit("the two files share no queries")
    result = {
        "benchmark": "incontext_layout_compare",
        "command": " ".join(sys.argv),
        "dataset": free["dataset"],
        "queries": len(rows),
        "query_free": {"method": free["method"], "command": free["command"]},
        "query_in_instruction": {"method": base["method"], "command": base["command"]},
        "metrics": {},
    }
    for metric in args.metrics:
        a = [q["metrics"][metric] for q, _ in rows]
        b = [r["metrics"][metric] for _, r in rows]
        result["metrics"][metric] = {
            "query_free": sum(a) / len(a),
            "query_in_instruction": sum(b) / len(b),
            **paired_bootstrap(a, b),
        }
    Path(args.out).write_text(json.dumps(result, indent=1))
    for metric, m in result["metrics"].items():
        print(
            f"{metric}: query-free {m['query_free']:.3f} vs {m['query_in_instruction']:.3f}, "
            f"difference {m['difference']:+.3f} [{m['low']:+.3f}, {m['high']:+.3f}]"
        )


if __name__ == "__main__":
    main()
