"""Cached document states on a GPU: cold encoding, warm single queries, batched queries.

One run, Mistral-7B shape with random bf16 weights (as ``incontext_gpu.py``: 20 layers run
in full, scoring at layer 20), instruction 100 tokens, 160-token documents, 40-token query
block, signal = the block's last 16 tokens, query-free layout. Side by side:

* **full pass**: today's path, every candidate re-encoded for the query (engine, ``triton``);
* **naive cached**: the cached query path through the ``sdpa`` backend (per layer the pool
  is gathered and concatenated with the query block, then one SDPA call);
* **cached, triton**: the cached path through the ``triton`` backend's pool kernels, eager
  and replayed from a CUDA graph, for a few kernel tilings;
* **floors**: one query reads the 20 layers' weights and the pool's cached states once
  (bytes / the copy bandwidth measured here); 64 batched queries need
  ``2 x params x tokens`` matrix-product FLOPs plus ``4 x rows x keys x head_dim`` per layer
  of attention (FLOPs / the bf16 matrix-product rate measured here).

Also: the cold path (documents encoded per second, as a fraction of the matrix-product
rate), bytes per cached document, and checks: the cached log masses against the full pass,
64 batched queries against one at a time, top-10 agreement.

    PYTHONPATH=core:packages python benchmarks/incontext_cached.py --out benchmarks/results/incontext

CPU dry run (tiny shapes, ``sdpa`` only): add ``--tiny --device cpu``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "core"), str(ROOT / "packages"), str(ROOT / "benchmarks")]

from incontext_gpu import build_model, matmul_rate, measure  # noqa: E402

from ctx_core.incontext.backends.sdpa import SdpaBackend  # noqa: E402
from ctx_core.incontext.cached import (  # noqa: E402
    CachedQueryGraph,
    QueryLayout,
    encode_blocks,
    run_cached,
)
from ctx_core.incontext.engine import InContextEngine  # noqa: E402
from ctx_core.incontext.segments import SegmentStructure  # noqa: E402
from ctx_core.incontext.states import DocumentStateCache, StateSpec  # noqa: E402

GIB = 1024**3


def copy_bandwidth(device: str, gib: float = 2.0) -> float:
    """Device-to-device copy, bytes read plus written per second (GB/s)."""
    n = int(gib * GIB) // 2
    a = torch.randn(n, device=device, dtype=torch.bfloat16)
    b = torch.empty_like(a)
    r = measure(lambda: b.copy_(a), device, warmup=3, reps=10)
    return 2 * n * 2 / (r["ms"] / 1000) / 1e9


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    return float((a - b).abs().max() / b.abs().max())


def top_overlap(a: torch.Tensor, b: torch.Tensor, k: int = 10) -> float:
    """Overlap of the top-k candidates of two (H, S, N) log masses (mean softmax over H, S)."""
    sa = torch.softmax(a.double(), -1).mean((0, 1))
    sb = torch.softmax(b.double(), -1).mean((0, 1))
    k = min(k, sa.numel())
    return len(set(sa.topk(k).indices.tolist()) & set(sb.topk(k).indices.tolist())) / k


def cached_call(engine: Any, view: Any, layout: Any, ids: Any, sig: Any, layer: int) -> Any:
    """A closure running one cached query pass (bound now, not at call time)."""
    return lambda: run_cached(engine, view, layout, ids, signal_rows=sig, layers=[layer])


def parse_variant(name: str, backend_cls: Any) -> tuple[Any, bool]:
    """``m64_n32[_s3][_w8][_c8][_nomerge][_compile]``: block_m / block_n, stages, warps, chunks."""
    options: dict[str, Any] = {}
    compiled = False
    keys = {"m": "cached_block_m", "n": "cached_block_n", "s": "num_stages", "w": "num_warps",
            "c": "cached_chunks"}  # fmt: skip
    for part in name.split("_"):
        if part == "default":
            continue
        if part == "compile":
            compiled = True
        elif part == "nomerge":
            options["cached_merge"] = False
        else:
            options[keys[part[0]]] = int(part[1:])
    return backend_cls(**options), compiled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[100, 500])
    parser.add_argument("--queries", type=int, default=64)
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument(
        "--variants", nargs="+", default=["m64_n32", "m64_n64", "m64_n64_compile"],
        help="triton tilings of the cached path (see parse_variant)",
    )  # fmt: skip
    parser.add_argument("--batch-variants", nargs="*", default=None)
    parser.add_argument("--full-reps", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", default=os.environ.get("OUT") or str(ROOT / "benchmarks/results"))
    parser.add_argument("--name", default="incontext_cached.json")
    args = parser.parse_args()
    device, tiny = args.device, args.tiny
    cuda = device.startswith("cuda")
    out_path = Path(args.out) / args.name
    report: dict[str, Any] = {
        "benchmark": "incontext_cached",
        "command": " ".join(sys.argv),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }

    def save() -> None:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(report, indent=1, default=str))

    import transformers

    env: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "device": device,
    }
    if cuda:
        import triton

        env["gpu"] = torch.cuda.get_device_name()
        env["triton"] = triton.__version__
        env["bf16_matmul_tflops"] = matmul_rate(device)
        env["copy_gb_s"] = copy_bandwidth(device)
    report["environment"] = env
    save()
    print(json.dumps(env), flush=True)

    model = build_model(device, tiny)
    cfg = model.config
    S = cfg.num_hidden_layers - 1  # the scoring layer
    block, instr, qlen, signals = (16, 10, 6, 3) if tiny else (160, 100, 40, 16)
    offset = 8192 if not tiny else 64
    ns = sorted(args.n)
    g = torch.Generator().manual_seed(0)
    vocab = cfg.vocab_size
    instruction = torch.randint(0, vocab, (instr,), generator=g).tolist()
    docs = [torch.randint(0, vocab, (block,), generator=g).tolist() for _ in range(max(ns))]
    keys = [f"doc{i}" for i in range(len(docs))]
    queries = [torch.randint(0, vocab, (qlen,), generator=g).tolist() for _ in range(args.queries)]
    dtype = next(model.parameters()).dtype
    spec = StateSpec(
        model="random-mistral-7b-shape",
        template="random",
        layer=S,
        dtype=str(dtype).replace("torch.", ""),
        max_block_tokens=block,
        kv_heads=cfg.num_key_value_heads,
        head_dim=cfg.head_dim,
    )
    layer0 = model.model.layers[0]
    params_layer = sum(p.numel() for p in layer0.parameters() if p.dim() == 2)
    attn = layer0.self_attn
    qk_params = attn.q_proj.weight.numel() + attn.k_proj.weight.numel()
    params_run = params_layer * S + qk_params  # what a pass multiplies by per token
    weight_bytes = params_run * dtype.itemsize
    report["config"] = {
        "layers_run_in_full": S,
        "scoring_layer": S,
        "instruction_tokens": instr,
        "document_tokens": block,
        "query_tokens": qlen,
        "signal_rows": signals,
        "bytes_per_cached_token": spec.bytes_per_token(),
        "bytes_per_cached_document_bf16": spec.bytes_per_token() * block,
        "weights_read_per_query_gib": weight_bytes / GIB,
    }
    save()

    backend_cls: Any = SdpaBackend
    if cuda:
        from ctx_core.incontext.backends.triton import TritonBackend

        backend_cls = TritonBackend
    fast = InContextEngine(model, backend=backend_cls())
    naive = InContextEngine(model, backend=SdpaBackend())
    cache = DocumentStateCache(max_bytes=64 * GIB if not tiny else GIB)
    cache.bind(spec, device)

    # -- cold path ---------------------------------------------------------------------
    pairs = list(zip(keys, docs, strict=True))
    with torch.no_grad():
        encode_blocks(fast, cache, instruction, pairs[:4], max_pass_tokens=16384)  # warm-up
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        encode_blocks(fast, cache, instruction, pairs[4:], max_pass_tokens=16384)
        if cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
    encoded = len(pairs) - 4
    tokens = encoded * block + instr * math.ceil(encoded * block / (16384 - instr))
    cold = {
        "documents": encoded,
        "seconds": seconds,
        "documents_per_s": encoded / seconds,
        "matmul_tflops_achieved": 2 * params_run * tokens / seconds / 1e12,
    }
    if cuda:
        cold["fraction_of_bf16_rate"] = cold["matmul_tflops_achieved"] / env["bf16_matmul_tflops"]
    report["cold"] = cold
    save()
    print("cold", json.dumps(cold), flush=True)

    variants: dict[str, Any] = {"default": (backend_cls(), False)}
    if cuda:
        variants = {name: parse_variant(name, backend_cls) for name in args.variants}
    batch_variants = variants
    if cuda and args.batch_variants:
        batch_variants = {name: parse_variant(name, backend_cls) for name in args.batch_variants}
    rows: list[dict[str, Any]] = []
    report["warm"] = rows
    reps = 5 if tiny else 30
    for n in ns:
        row: dict[str, Any] = {"n": n, "pool_tokens": instr + n * block}
        rows.append(row)
        layout = QueryLayout((qlen,), offset)
        sig = list(range(qlen - signals, qlen))
        q_ids = queries[0]
        state_bytes = (instr + n * block) * spec.bytes_per_token()
        row["cached_states_gib"] = state_bytes / GIB
        if cuda:
            row["floor_ms"] = (weight_bytes + state_bytes) / (env["copy_gb_s"] * 1e9) * 1000
        structure = SegmentStructure(instr, (block,) * n, (qlen,), query_offset=offset)
        full_ids = instruction + [t for d in docs[:n] for t in d] + q_ids
        full_rows = [structure.prefix_length + r for r in sig]
        try:
            with torch.no_grad():

                def full(ids: Any = full_ids, st: Any = structure, rows: Any = full_rows) -> Any:
                    return fast.run(ids, st, signal_rows=rows, layers=[S])

                ref = full().logmass[S]
                row["full_pass"] = measure(full, device, warmup=1, reps=args.full_reps)
                with cache.pool(keys[:n]) as view:
                    naive_lm = run_cached(naive, view, layout, q_ids, signal_rows=sig, layers=[S])
                    row["naive_cached"] = measure(
                        cached_call(naive, view, layout, q_ids, sig, S), device, warmup=2, reps=reps
                    )
                    row["naive_vs_full_rel"] = rel(naive_lm[S], ref)
                    for name, (backend, compiled) in variants.items():
                        engine = InContextEngine(model, backend=backend, compile=compiled)
                        got = run_cached(engine, view, layout, q_ids, signal_rows=sig, layers=[S])
                        entry: dict[str, Any] = {
                            "vs_full_rel": rel(got[S], ref),
                            "top10_overlap_vs_full": top_overlap(got[S], ref),
                            "eager": measure(
                                cached_call(engine, view, layout, q_ids, sig, S),
                                device,
                                warmup=2,
                                reps=reps,
                            ),
                        }
                        if cuda:
                            graph = CachedQueryGraph(
                                engine, view, layout, signal_rows=sig, layers=[S]
                            )
                            entry["graph_vs_eager_rel"] = rel(graph(q_ids)[S], got[S])
                            entry["graph"] = measure(
                                lambda gr=graph, q=q_ids: gr(q), device, warmup=3, reps=reps
                            )
                            entry["graph_x_floor"] = entry["graph"]["ms"] / row["floor_ms"]
                            del graph
                        row[f"cached_{name}"] = entry
                        save()
                        print(n, name, json.dumps(entry), flush=True)
        except Exception:  # keep what was measured
            row["error"] = traceback.format_exc()
            print(row["error"], flush=True)
        save()

    # -- batched queries over the largest pool -------------------------------------------
    n = ns[-1]
    k = args.queries
    batch: dict[str, Any] = {"n": n, "queries": k}
    report["batched"] = batch
    layout = QueryLayout((qlen,) * k, offset)
    sig = [j * qlen + r for j in range(k) for r in range(qlen - signals, qlen)]
    ids = [t for q in queries for t in q]
    P = instr + n * block
    rows_attn = k * qlen * cfg.num_attention_heads
    attn_flops = 4 * rows_attn * P * cfg.head_dim * S
    mm_flops = 2 * params_run * k * qlen
    batch["flops"] = {"attention": attn_flops, "matmul": mm_flops}
    if cuda:
        batch["compute_floor_ms"] = (
            (attn_flops + mm_flops) / (env["bf16_matmul_tflops"] * 1e12) * 1000
        )
    try:
        with torch.no_grad(), cache.pool(keys[:n]) as view:
            one_layout = QueryLayout((qlen,), offset)
            one_sig = list(range(qlen - signals, qlen))
            singles = [
                run_cached(fast, view, one_layout, queries[j], signal_rows=one_sig, layers=[S])[S]
                for j in (0, k - 1)
            ]
            for name, (backend, compiled) in batch_variants.items():
                engine = InContextEngine(model, backend=backend, compile=compiled)
                got = run_cached(engine, view, layout, ids, signal_rows=sig, layers=[S])[S]
                entry = {
                    "batched_vs_single_rel": max(
                        rel(got[:, :signals], singles[0]), rel(got[:, -signals:], singles[1])
                    ),
                    "eager": measure(
                        cached_call(engine, view, layout, ids, sig, S),
                        device,
                        warmup=1,
                        reps=max(3, reps // 3),
                    ),
                }
                if cuda:
                    graph = CachedQueryGraph(engine, view, layout, signal_rows=sig, layers=[S])
                    entry["graph"] = measure(lambda gr=graph: gr(ids), device, warmup=2, reps=10)
                    entry["graph_x_compute_floor"] = (
                        entry["graph"]["ms"] / batch["compute_floor_ms"]
                    )
                    entry["tflops"] = (attn_flops + mm_flops) / (entry["graph"]["ms"] / 1000) / 1e12
                    del graph
                batch[f"cached_{name}"] = entry
                save()
                print("batched", name, json.dumps(entry), flush=True)
    except Exception:
        batch["error"] = traceback.format_exc()
        print(batch["error"], flush=True)
    report["cache_stats"] = cache.stats()
    save()

    # Summary table (the end of the output).
    print("\nN     full_ms  naive_ms  best_graph_ms  floor_ms  x_floor  full/best")
    for row in rows:
        graphs = {
            k2: v["graph"]["ms"]
            for k2, v in row.items()
            if k2.startswith("cached_") and isinstance(v, dict) and "graph" in v
        }
        best = min(graphs.values()) if graphs else float("nan")
        full_ms = row.get("full_pass", {}).get("ms", float("nan"))
        print(
            f"{row['n']:<5} {full_ms:8.1f} {row.get('naive_cached', {}).get('ms', float('nan')):9.2f} "
            f"{best:14.2f} {row.get('floor_ms', float('nan')):9.2f} "
            f"{best / row.get('floor_ms', float('nan')):8.2f} {full_ms / best:9.0f}"
        )
    graphs = {
        k2: v["graph"]["ms"]
        for k2, v in batch.items()
        if k2.startswith("cached_") and isinstance(v, dict) and "graph" in v
    }
    if graphs:
        print(f"batched {k} x N={n}: best {min(graphs.values()):.1f} ms, compute floor "
              f"{batch['compute_floor_ms']:.1f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
