"""Layer / head / signal-token study for the zero-shot in-context ranker on a dev subset.

One forward pass per query records, at EVERY layer, the log attention mass that each token
of the final query block (and of its content-free twin) puts on every candidate. All
scoring choices (layer or layer range, head subset, which signal tokens, calibration, length
normalization) are then evaluated offline from those arrays, so a sweep costs one pass per
query. Reads the data files directly (same metric definitions as the evaluation harness:
trec_eval nDCG@10 with graded gains; HotpotQA supporting recall@2).

Run (from the repository root):

    PYTHONPATH=core:packages python benchmarks/incontext_sweep.py record --model smollm2 \
        --dataset dl19 --limit 10 --out sweep/smollm2-dl19.pt
    PYTHONPATH=core:packages python benchmarks/incontext_sweep.py analyze \
        sweep/smollm2-dl19.pt --json benchmarks/results/incontext/sweep/smollm2-dl19.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("CTX_DATA_DIR") or ROOT.parent / "shared" / "data")


# -- data (read directly; the harness's loaders give the same passages) -------------------


def load_dl19(data_dir: Path, limit: int | None) -> list[dict[str, Any]]:
    runs = json.loads((data_dir / "trec-dl-passage" / "bm25_top100_dl19.json").read_text())
    qrels: dict[str, dict[str, int]] = {}
    for line in (data_dir / "trec-dl-passage" / "qrels.dl19-passage.txt").read_text().splitlines():
        qid, _, docid, rel = line.split()
        qrels.setdefault(qid, {})[docid] = int(rel)
    out = []
    for run in runs[: limit or None]:
        qid = str(run["hits"][0]["qid"])
        out.append(
            {
                "qid": qid,
                "query": run["query"],
                "ids": [str(h["docid"]) for h in run["hits"]],
                "texts": [h["content"] for h in run["hits"]],
                "qrels": qrels.get(qid, {}),
            }
        )
    return out


def load_hotpotqa(data_dir: Path, limit: int | None) -> list[dict[str, Any]]:
    lines = (data_dir / "hotpotqa-dev250-distractor" / "dev250.jsonl").read_text().splitlines()
    out = []
    for line in lines[: limit or None]:
        record = json.loads(line)
        contexts = record["contexts"]
        out.append(
            {
                "qid": record["question_id"],
                "query": record["question_text"],
                "ids": [f"{record['question_id']}-{c['id']}" for c in contexts],
                "texts": [f"{c['title']}: {c['paragraph_text']}" for c in contexts],
                "qrels": {
                    f"{record['question_id']}-{c['id']}": 1 for c in contexts if c["is_supporting"]
                },
            }
        )
    return out


def ndcg_at_k(ranked: list[str], qrels: dict[str, int], k: int = 10) -> float:
    dcg = sum(qrels.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(qrels.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranked: list[str], qrels: dict[str, int], k: int) -> float:
    relevant = {d for d, g in qrels.items() if g > 0}
    return len(relevant & set(ranked[:k])) / len(relevant) if relevant else 0.0


# -- record ---------------------------------------------------------------------------------


def record(args: argparse.Namespace) -> None:
    from ctx_core.incontext import InContextRanker, PromptTemplate

    data_dir = Path(args.data_dir)
    items = (load_dl19 if args.dataset == "dl19" else load_hotpotqa)(data_dir, args.limit)
    template = PromptTemplate()
    if args.no_query_in_instruction:
        template = PromptTemplate(
            instruction="You will be given a list of passages. Each passage starts with its ID "
            "and ends with END ID. Read all of them.\n\nPassages:"
        )
    ranker = InContextRanker(
        args.model,
        dtype=args.dtype,
        device="cpu",
        query_offset=args.query_offset,
        attention=args.attention,
        template=template,
    )
    engine, builder = ranker.engine, ranker.builder
    n_layers = engine.num_layers
    records = []
    started = time.perf_counter()
    for number, item in enumerate(items, start=1):
        prompt = builder.build(
            item["query"], item["texts"], calibrate=True, causal=args.attention == "causal"
        )
        s = prompt.structure
        blocks = []
        rows: list[int] = []
        for j in range(2):
            a, b = s.query_span(j)
            tail = list(range(max(a, b - args.tail), b))
            qa, qb = prompt.query_text_spans[j]
            chosen = sorted(set(tail) | set(range(qa, qb)))
            blocks.append(
                {
                    "offset": len(rows),
                    "rows": len(chosen),
                    "tail": [chosen.index(t) for t in tail],
                    "query": [chosen.index(t) for t in range(qa, qb)],
                }
            )
            rows += chosen
        wall, cpu = time.perf_counter(), time.process_time()
        with torch.no_grad():
            out = engine.run(
                prompt.input_ids,
                s,
                signal_rows=rows,
                layers=list(range(args.max_layer or n_layers)),
            )
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        logmass = torch.stack([out.logmass[i] for i in sorted(out.logmass)]).to(torch.float16)
        records.append(
            {
                **{k: item[k] for k in ("qid", "query", "ids", "qrels")},
                "token_counts": list(s.candidate_lengths),
                "logmass": logmass,
                "blocks": blocks,
                "tokens": s.total_length,
                "seconds": wall,
                "cpu_seconds": cpu,
            }
        )
        print(
            f"[{number}/{len(items)}] {s.total_length} tokens, {wall:.1f}s wall, {cpu:.1f}s cpu",
            file=sys.stderr,
            flush=True,
        )
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "config": {
                # Plain values only (not the command function), so the safe loader reads it.
                **{k: v for k, v in vars(args).items() if k != "func"},
                "layers": n_layers,
                "wall_seconds": time.perf_counter() - started,
            },
            "records": records,
        },
        out_path,
    )
    print(f"wrote {out_path}", file=sys.stderr)


# -- analyze --------------------------------------------------------------------------------


def _probs(rec: dict[str, Any], block: int) -> torch.Tensor:
    """Softmax over candidates of one block's rows, ``(layers, H, rows, N)`` (cached)."""
    key = f"_probs{block}"
    if key not in rec:
        info = rec["blocks"][block]
        lm = rec["logmass"][:, :, info["offset"] : info["offset"] + info["rows"]].float()
        rec[key] = torch.softmax(lm, -1)
    return rec[key]


def _scores(
    rec: dict[str, Any],
    layers: list[int],
    heads: list[int] | None,
    signal: str,
    calibrate: bool,
    length: str,
) -> torch.Tensor:
    def block_scores(j: int) -> torch.Tensor:
        info = rec["blocks"][j]
        sel = info["query"] if signal == "query" else info["tail"][-int(signal[4:]) :]
        probs = _probs(rec, j)[layers][:, :, sel]
        if heads is not None:
            probs = probs[:, heads]
        return probs.mean((0, 1, 2))

    scores = block_scores(0)
    if calibrate:
        scores = scores - block_scores(1)
    counts = torch.tensor(rec["token_counts"], dtype=torch.float32)
    if length == "length":
        scores = scores / counts
    elif length == "sqrt":
        scores = scores / counts.sqrt()
    return scores


def _metric(rec: dict[str, Any], scores: torch.Tensor, dataset: str) -> float:
    order = sorted(range(len(scores)), key=lambda i: -float(scores[i]))
    ranked = [rec["ids"][i] for i in order]
    if dataset == "dl19":
        return ndcg_at_k(ranked, rec["qrels"], 10)
    return recall_at_k(ranked, rec["qrels"], 2)


def analyze(args: argparse.Namespace) -> None:
    # Tensors, numbers, strings, lists and dicts only: the safe loader, no arbitrary pickle.
    blob = torch.load(args.path, weights_only=True)
    config, records = blob["config"], blob["records"]
    dataset = config["dataset"]
    n_layers = records[0]["logmass"].shape[0]
    n_heads = records[0]["logmass"].shape[1]
    results: dict[str, float] = {}

    def evaluate(label: str, **options: Any) -> float:
        value = sum(_metric(r, _scores(r, **options), dataset) for r in records) / len(records)
        results[label] = value
        return value

    signals = ["tail1", "tail2", "tail4", "query"]
    for layer in range(n_layers):
        for signal in signals:
            for calibrate in (False, True):
                for length in ("none", "length"):
                    evaluate(
                        f"layer={layer} signal={signal} calibrate={calibrate} length={length}",
                        layers=[layer],
                        heads=None,
                        signal=signal,
                        calibrate=calibrate,
                        length=length,
                    )
    thirds = [
        list(range(a, b)) for a, b in ((0, n_layers // 3), (n_layers // 3, 2 * n_layers // 3))
    ]
    for span in [list(range(n_layers)), *thirds]:
        for signal in signals:
            for calibrate in (False, True):
                for length in ("none", "length"):
                    evaluate(
                        f"layers={span[0]}-{span[-1]} signal={signal} calibrate={calibrate} "
                        f"length={length}",
                        layers=span,
                        heads=None,
                        signal=signal,
                        calibrate=calibrate,
                        length=length,
                    )
    # Single heads at each layer (best configuration of the rest kept simple).
    per_head: dict[str, float] = {}
    for layer in range(n_layers):
        for head in range(n_heads):
            for calibrate in (False, True):
                label = f"layer={layer} head={head} signal=tail1 calibrate={calibrate} length=none"
                per_head[label] = evaluate(
                    label,
                    layers=[layer],
                    heads=[head],
                    signal="tail1",
                    calibrate=calibrate,
                    length="none",
                )
    best = sorted(results.items(), key=lambda kv: -kv[1])[:25]
    metric = "nDCG@10" if dataset == "dl19" else "supporting recall@2"
    print(f"{args.path}: {len(records)} queries, {n_layers} layers, {n_heads} heads; {metric}")
    for label, value in best:
        print(f"  {value:.4f}  {label}")
    if args.json:
        out = {
            "what": "in-context ranker layer/head/signal sweep on a dev subset (offline from one pass)",
            "metric": metric,
            "dataset": dataset,
            "queries": len(records),
            "config": {k: v for k, v in config.items() if k != "func"},
            "top": best,
            "all": results,
            "cpu_seconds_per_query": sum(r["cpu_seconds"] for r in records) / len(records),
            "wall_seconds_per_query": sum(r["seconds"] for r in records) / len(records),
            "machine": {"platform": platform.platform(), "torch": torch.__version__},
            "command": " ".join(sys.argv),
        }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=1))
        print(f"wrote {args.json}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record")
    rec.add_argument("--model", default="smollm2")
    rec.add_argument("--dataset", choices=["dl19", "hotpotqa"], default="dl19")
    rec.add_argument("--limit", type=int, default=10)
    rec.add_argument("--data-dir", default=str(DEFAULT_DATA))
    rec.add_argument("--dtype", default="bfloat16")
    rec.add_argument("--query-offset", type=int, default=8192)
    rec.add_argument("--attention", choices=["block", "causal"], default="block")
    rec.add_argument("--no-query-in-instruction", action="store_true")
    rec.add_argument("--tail", type=int, default=8)
    rec.add_argument("--max-layer", type=int, default=None)
    rec.add_argument("--out", required=True)
    rec.set_defaults(func=record)
    ana = sub.add_parser("analyze")
    ana.add_argument("path")
    ana.add_argument("--json", default=None)
    ana.set_defaults(func=analyze)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
