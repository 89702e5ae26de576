"""The in-context engine with FP8 (e4m3) matrix products against bf16, on a GPU, in one run.

1. **Environment**: GPU, versions; bf16 and FP8 (``torch._scaled_mm``, e4m3, row-wise
   scales, bf16 out) 8192^3 product rates on random data.
2. **Check**: the FP8 product on the GPU against the same quantized operands multiplied in
   fp32 (``Fp8Weights(emulate=True)``'s arithmetic), fresh random inputs, NaN-poisoned output.
3. **Benchmark** (same model and shapes as ``incontext_gpu.py``): a Mistral-7B-shaped model
   with random bf16 weights, prompts of 100 + N x 160 + 40 tokens, N = 20, 100, 500, forward
   through 20 layers and scoring at layer 20. Side by side: the bf16 floor (the 20 layers'
   bf16 products alone), the FP8 floor (the same products in FP8 on pre-quantized inputs,
   with and without fast accumulation), dense causal flash SDPA (transformers) compiled and
   not, the engine (``triton``) in bf16 and in FP8, each plain and with compiled norms/MLP.
   Median of timed runs after warm-up (CUDA events); peak memory of the timed runs.
4. **Agreement on random weights**: 20 prompts of 100 ragged candidates (40-160 tokens) and
   20 of 100 fixed 160-token candidates; per prompt, Spearman's rho of the candidates'
   scores (the ranker's score: mean log mass over heads and the 40 query-block rows),
   FP8 engine vs bf16 engine (both compiled).
5. **Agreement on packaged models** (``--models smollm2 gemma3-270m``): the first ``--queries``
   DL19 queries, BM25 top-100, ``InContextRanker`` in bf16 vs ``precision="fp8"`` (same
   loaded model): Kendall's tau of the two rankings per query, nDCG@10 of each.

Writes ``incontext_fp8.json`` into ``--out`` (default ``$OUT``, else
``benchmarks/results/incontext``) after every stage. On a CUDA machine, from the repository
root:

    PYTHONPATH=core:packages python benchmarks/incontext_fp8.py --bench --agreement
    PYTHONPATH=core:packages python benchmarks/incontext_fp8.py --models smollm2 gemma3-270m \
        --name incontext_fp8_models.json

CPU dry run on tiny shapes (FP8 emulated in fp32, no timing claims):
``... incontext_fp8.py --bench --agreement --tiny --device cpu --out /tmp/fp8``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "core"), str(ROOT / "packages"), str(Path(__file__).resolve().parent)]

from incontext_gpu import (  # noqa: E402
    GIB,
    Report,
    _raise_stop,
    _Stop,
    build_model,
    environment,
    layer_gemms,
    matmul_rate,
    measure,
)

from ctx_core.incontext.fp8 import (  # noqa: E402
    Fp8Weights,
    quantize_rows,
    quantize_weight,
    scaled_matmul,
)
from ctx_core.incontext.segments import SegmentStructure  # noqa: E402

# -- rank statistics ---------------------------------------------------------------------


def _ranks(values: list[float]) -> list[float]:
    """Ranks 1..n, ties getting their mean rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rho (Pearson correlation of the ranks)."""
    ra, rb = _ranks(a), _ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb, strict=True))
    va = math.sqrt(sum((x - ma) ** 2 for x in ra))
    vb = math.sqrt(sum((y - mb) ** 2 for y in rb))
    return cov / (va * vb) if va and vb else float("nan")


def kendall_tau(a: list[float], b: list[float]) -> float:
    """Kendall's tau-b of two score lists (O(n^2); n = 100 here)."""
    concordant = discordant = ties_a = ties_b = 0
    n = len(a)
    for i in range(n):
        for j in range(i + 1, n):
            da, db = a[i] - a[j], b[i] - b[j]
            if da == 0 and db == 0:
                continue
            if da == 0:
                ties_a += 1
            elif db == 0:
                ties_b += 1
            elif (da > 0) == (db > 0):
                concordant += 1
            else:
                discordant += 1
    denom = math.sqrt((concordant + discordant + ties_a) * (concordant + discordant + ties_b))
    return (concordant - discordant) / denom if denom else float("nan")


def _summary(values: list[float]) -> dict[str, float]:
    s = sorted(values)
    return {
        "min": s[0],
        "median": s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2,
        "mean": sum(s) / len(s),
        "max": s[-1],
    }


# -- stages ------------------------------------------------------------------------------


def fp8_rate(device: str, size: int = 8192, reps: int = 10, fast: bool = True) -> float:
    """FP8 TFLOP/s of a size^3 ``torch._scaled_mm`` with row-wise scales on random data."""
    xq, xs = quantize_rows(torch.randn(size, size, device=device, dtype=torch.bfloat16))
    wq, ws = quantize_weight(torch.randn(size, size, device=device, dtype=torch.bfloat16))
    r = measure(
        lambda: scaled_matmul(xq, xs, wq, ws, torch.bfloat16, fast_accum=fast), device, 3, reps
    )
    return 2 * size**3 / (r["ms"] / 1000) / 1e12


def product_check(report: Report, device: str, tiny: bool) -> bool:
    """FP8 products on the device vs the same quantized operands multiplied in fp32."""
    results = []
    shapes = [(37, 64, 48)] if tiny else [(1, 4096, 4096), (333, 4096, 14336), (3340, 14336, 4096)]
    for m, k, n in shapes:
        for fast in (True, False):
            torch.manual_seed(m + k + n)
            x = torch.randn(m, k, device=device, dtype=torch.bfloat16) * 3
            w = torch.randn(n, k, device=device, dtype=torch.bfloat16) * 0.02
            xq, xs = quantize_rows(x)
            wq, ws = quantize_weight(w)
            emulate = device == "cpu"
            out = scaled_matmul(xq, xs, wq, ws, torch.bfloat16, fast_accum=fast, emulate=emulate)
            ref = scaled_matmul(xq.cpu(), xs.cpu(), wq.cpu(), ws.cpu(), torch.float64, emulate=True)
            exact = (x.double() @ w.double().t()).cpu()
            r = {
                "shape": [m, k, n],
                "fast_accum": fast,
                "nan": bool(out.isnan().any()),
                "rel_error_vs_quantized_fp32": float(
                    (out.cpu().double() - ref).norm() / ref.norm()
                ),
                "rel_error_vs_unquantized": float(
                    (out.cpu().double() - exact).norm() / exact.norm()
                ),
            }
            r["passed"] = not r["nan"] and r["rel_error_vs_quantized_fp32"] < 1e-2
            results.append(r)
            print(f"  product check {r}", flush=True)
    report.data["product_checks"] = results
    report.save()
    return all(r["passed"] for r in results)


def fp8_gemms(
    model: Any, tokens: int, layers: int, device: str, reps: int, fast: bool
) -> dict[str, Any]:
    """The FP8 floor: the 20 layers' products in FP8 on inputs quantized beforehand."""
    layer = model.model.layers[0]
    attn, mlp = layer.self_attn, layer.mlp
    emulate = device == "cpu"
    w = {
        name: quantize_weight(mod.weight)
        for name, mod in [
            ("q", attn.q_proj),
            ("k", attn.k_proj),
            ("v", attn.v_proj),
            ("o", attn.o_proj),
            ("g", mlp.gate_proj),
            ("u", mlp.up_proj),
            ("d", mlp.down_proj),
        ]
    }
    dtype = torch.bfloat16
    x = quantize_rows(torch.randn(tokens, model.config.hidden_size, device=device, dtype=dtype))
    a = quantize_rows(torch.randn(tokens, attn.o_proj.in_features, device=device, dtype=dtype))
    m = quantize_rows(torch.randn(tokens, mlp.down_proj.in_features, device=device, dtype=dtype))
    inputs = {"q": x, "k": x, "v": x, "o": a, "g": x, "u": x, "d": m}

    def run() -> None:
        for _ in range(layers):
            for name, (wq, ws) in w.items():
                xq, xs = inputs[name]
                scaled_matmul(xq, xs, wq, ws, dtype, fast_accum=fast, emulate=emulate)

    r = measure(run, device, warmup=2, reps=reps)
    params = sum(p.numel() for p in layer.parameters() if p.dim() == 2) * layers
    r["params"] = params
    r["tflops"] = 2 * params * tokens / (r["ms"] / 1000) / 1e12
    return r


def bench(report: Report, device: str, args: argparse.Namespace) -> Any:
    from ctx_core.incontext.backends.triton import TritonBackend
    from ctx_core.incontext.engine import InContextEngine

    tiny, cuda = args.tiny, device.startswith("cuda")
    model = build_model(device, tiny)
    cfg = model.config
    score_layer = cfg.num_hidden_layers - 1
    full_layers = score_layer
    block, instr, query = (16, 10, 6) if tiny else (160, 100, 40)
    ns = [2, 4] if tiny else args.n
    backend: Any = "reference" if not cuda else TritonBackend()
    precision: Any = Fp8Weights(emulate=True) if not cuda else "fp8"
    compile_backend: Any = "eager" if not cuda else True
    engines = {
        "engine_triton": InContextEngine(model, backend=backend),
        "engine_triton_compiled": InContextEngine(model, backend=backend, compile=compile_backend),
        "engine_fp8": InContextEngine(model, backend=backend, precision=precision),
        "engine_fp8_compiled": InContextEngine(
            model, backend=backend, precision=precision, compile=compile_backend
        ),
    }
    report.data["bench_config"] = {
        "model": "random MistralConfig, bf16 (incontext_gpu.build_model)" if not tiny else "tiny",
        "hidden": cfg.hidden_size,
        "heads": cfg.num_attention_heads,
        "kv_heads": cfg.num_key_value_heads,
        "mlp": cfg.intermediate_size,
        "layers_run_in_full": full_layers,
        "scoring_layer": score_layer,
        "instruction_tokens": instr,
        "candidate_tokens": block,
        "query_tokens": query,
        "signal_rows": 1,
        "fp8": "e4m3; weights per output channel (amax/448), activations per token "
        "(power-of-two scale), torch._scaled_mm row-wise, bf16 out, use_fast_accum=True; "
        "q/k/v/o and gate/up/down of every layer run; norms, attention, scoring in bf16",
        "timing": "median of timed runs after warm-up, CUDA events; peak = max allocated "
        "during the timed runs; resident = allocated before them",
        "weights_gib": sum(p.numel() * p.element_size() for p in model.parameters()) / GIB,
    }
    report.data["bench"] = []

    def engine_fn(engine: Any, structure: SegmentStructure, ids: Any) -> Callable[[], None]:
        T = structure.total_length

        def run() -> None:
            with torch.no_grad():
                out = engine.run(ids[0], structure, signal_rows=[T - 1], layers=[score_layer])
            assert out.stopped_at == score_layer

        return run

    def dense_fn(ids: Any, fused_by: Any = None) -> Callable[[], None]:
        def run() -> None:
            import contextlib

            fusion = fused_by.fused() if fused_by is not None else contextlib.nullcontext()
            try:
                with torch.no_grad(), fusion:
                    model.model(input_ids=ids, use_cache=False)
            except _Stop:
                pass

        return run

    def timed(
        row: dict[str, Any], name: str, fn: Callable[[], None], warmup: int, reps: int
    ) -> None:
        if cuda:
            torch.cuda.empty_cache()
        t = time.perf_counter()
        hook = None
        if name.startswith("dense"):
            model.set_attn_implementation("sdpa")
            hook = model.model.layers[full_layers].register_forward_pre_hook(_raise_stop)
        try:
            row[name] = measure(fn, device, warmup=warmup, reps=reps)
            row[name]["wall_s_incl_warmup"] = round(time.perf_counter() - t, 1)
            print(
                f"  {name}: {row[name]['ms']:.1f} ms, peak {row[name].get('peak_gib', 0):.1f} "
                f"GiB (+{row[name].get('peak_above_resident_gib', 0):.2f} above resident)",
                flush=True,
            )
        except Exception as exc:
            row[name] = {"error": repr(exc), "trace": traceback.format_exc()[-3000:]}
            print(f"  {name}: ERROR {exc!r}", flush=True)
        finally:
            if hook is not None:
                hook.remove()
        report.save()

    for n in ns:
        structure = SegmentStructure(instr, (block,) * n, (query,), query_offset=8192)
        T = structure.total_length
        ids = torch.randint(100, cfg.vocab_size, (1, T), device=device)
        row: dict[str, Any] = {"N": n, "tokens": T}
        report.data["bench"].append(row)
        reps = max(1, round((3 if n >= 500 else 5 if n >= 100 else 10) * args.reps_scale))
        print(f"N={n}: {T} tokens, {reps} timed runs each", flush=True)
        floors: list[tuple[str, Callable[[], dict[str, Any]]]] = [
            ("floor", lambda t=T, r=reps: layer_gemms(model, t, full_layers, device, max(3, r))),
            (
                "floor_fp8",
                lambda t=T, r=reps: fp8_gemms(model, t, full_layers, device, max(3, r), True),
            ),
            (
                "floor_fp8_exact_accum",
                lambda t=T, r=reps: fp8_gemms(model, t, full_layers, device, max(3, r), False),
            ),
        ]
        for name, fn in floors:
            try:
                row[name] = fn()
                print(f"  {name}: {row[name]['ms']:.1f} ms, {row[name]['tflops']:.0f} TFLOP/s")
            except Exception as exc:
                row[name] = {"error": repr(exc), "trace": traceback.format_exc()[-3000:]}
                print(f"  {name}: ERROR {exc!r}", flush=True)
        report.save()
        if not args.no_dense:
            timed(row, "dense_sdpa", dense_fn(ids), 1, reps)
            timed(
                row,
                "dense_sdpa_compiled",
                dense_fn(ids, engines["engine_triton_compiled"]),
                2,
                reps,
            )
        for name, engine in engines.items():
            timed(row, name, engine_fn(engine, structure, ids), 2, reps)
        row["ratios"] = ratios(row)
        print(f"  ratios: {row['ratios']}", flush=True)
        report.save()
    report.data["fp8_weights_gib"] = engines["engine_fp8"].fp8.nbytes() / GIB  # type: ignore[union-attr]
    report.data["targets"] = targets(report.data["bench"])
    report.save()
    return model, engines, score_layer


def ratios(row: dict[str, Any]) -> dict[str, float]:
    def ms(name: str) -> float | None:
        value = row.get(name, {}).get("ms")
        return float(value) if value is not None else None

    out: dict[str, float] = {}
    pairs = [
        ("engine_fp8_compiled", "floor_fp8"),
        ("engine_fp8", "floor_fp8"),
        ("engine_triton_compiled", "floor"),
        ("floor", "floor_fp8"),
        ("engine_triton_compiled", "engine_fp8_compiled"),
        ("engine_triton", "engine_fp8"),
        ("dense_sdpa_compiled", "engine_fp8_compiled"),
        ("dense_sdpa", "engine_fp8_compiled"),
        ("engine_fp8_compiled", "floor"),
    ]
    for a, b in pairs:
        x, y = ms(a), ms(b)
        if x and y:
            out[f"{a}_over_{b}"] = round(x / y, 3)
    return out


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's speed targets for the compiled FP8 engine."""
    by_n = {r["N"]: r for r in rows}
    out = []

    def ms(r: dict[str, Any], name: str) -> float | None:
        value = r.get(name, {}).get("ms")
        return float(value) if value is not None else None

    big, mid = by_n.get(500), by_n.get(100)
    if big is not None and ms(big, "engine_fp8_compiled") is not None:
        end = ms(big, "engine_fp8_compiled")
        assert end is not None
        out.append({"target": "N=500 <= 750 ms end to end", "value": end, "met": end <= 750})
        floor = ms(big, "floor_fp8")
        if floor:
            out.append(
                {
                    "target": "N=500 within 1.25x of the FP8 floor",
                    "value": round(end / floor, 3),
                    "met": end / floor <= 1.25,
                }
            )
    if mid is not None and ms(mid, "engine_fp8_compiled") is not None:
        end = ms(mid, "engine_fp8_compiled")
        assert end is not None
        out.append({"target": "N=100 <= 150 ms end to end", "value": end, "met": end <= 150})
        floor = ms(mid, "floor_fp8")
        if floor:
            out.append(
                {
                    "target": "N=100 within 1.25x of the FP8 floor",
                    "value": round(end / floor, 3),
                    "met": end / floor <= 1.25,
                }
            )
    return out


def agreement_random(
    report: Report, device: str, args: argparse.Namespace, built: Any = None
) -> None:
    """Spearman of candidate scores, FP8 vs bf16 engine, over random prompts."""
    from ctx_core.incontext.backends.triton import TritonBackend
    from ctx_core.incontext.engine import InContextEngine
    from ctx_core.incontext.scoring import scores_from_logmass

    cuda = device.startswith("cuda")
    if built is None:
        model = build_model(device, args.tiny)
        score_layer = model.config.num_hidden_layers - 1
        backend: Any = TritonBackend() if cuda else "reference"
        compile_backend: Any = True if cuda else "eager"
        precision: Any = "fp8" if cuda else Fp8Weights(emulate=True)
        bf16 = InContextEngine(model, backend=backend, compile=compile_backend)
        fp8 = InContextEngine(model, backend=backend, compile=compile_backend, precision=precision)
    else:
        model, engines, score_layer = built
        bf16, fp8 = engines["engine_triton_compiled"], engines["engine_fp8_compiled"]
    n, prompts = (8, 3) if args.tiny else (100, args.prompts)
    instr, query = (10, 6) if args.tiny else (100, 40)
    lo, hi = (4, 16) if args.tiny else (40, 160)
    results: dict[str, Any] = {}
    for profile in ("ragged", "fixed"):
        rhos = []
        gen = torch.Generator().manual_seed(0 if profile == "ragged" else 1)
        for _ in range(prompts):
            if profile == "ragged":
                lengths = torch.randint(lo, hi + 1, (n,), generator=gen).tolist()
            else:
                lengths = [hi] * n
            structure = SegmentStructure(instr, tuple(lengths), (query,), query_offset=8192)
            T = structure.total_length
            ids = torch.randint(100, model.config.vocab_size, (T,), generator=gen).to(device)
            rows = list(range(T - query, T))
            scores = []
            for engine in (bf16, fp8):
                with torch.no_grad():
                    out = engine.run(ids, structure, signal_rows=rows, layers=[score_layer])
                scores.append(scores_from_logmass(out.logmass[score_layer][None]).tolist())
            rhos.append(spearman(scores[0], scores[1]))
        results[profile] = {
            "prompts": prompts,
            "candidates": n,
            "lengths": f"uniform {lo}-{hi}" if profile == "ragged" else f"all {hi}",
            "spearman": rhos,
            "spearman_summary": _summary(rhos),
            "all_at_least_0.99": all(r >= 0.99 for r in rhos),
        }
        print(f"  agreement {profile}: {results[profile]['spearman_summary']}", flush=True)
    report.data["agreement_random"] = results
    report.save()


def agreement_models(report: Report, device: str, args: argparse.Namespace) -> None:
    """Kendall tau and nDCG@10: ranker in bf16 vs FP8 on the first DL19 queries."""
    from incontext_sweep import DEFAULT_DATA, load_dl19

    from ctx_core.eval.metrics import ndcg_at_k
    from ctx_core.incontext import InContextRanker
    from ctx_core.incontext.fp8 import Fp8Weights as _Fp8
    from ctx_core.models import load_causal_lm
    from ctx_core.types import Passage

    cuda = device.startswith("cuda")
    items = load_dl19(Path(args.data_dir or DEFAULT_DATA), args.queries)
    report.data["agreement_models"] = {}
    for name in args.models:
        t0 = time.perf_counter()
        try:
            model, tokenizer = load_causal_lm(name, device, "bfloat16" if cuda else "float32")
            pass_tokens = 32768 if "gemma" in name else 16384
            rankers = {
                "bf16": InContextRanker(model, tokenizer=tokenizer, max_pass_tokens=pass_tokens),
                "fp8": InContextRanker(
                    model,
                    tokenizer=tokenizer,
                    max_pass_tokens=pass_tokens,
                    precision="fp8" if cuda else "model",
                ),
            }
            if not cuda:  # the dry run: FP8 emulated in fp32
                rankers["fp8"].engine.fp8 = _Fp8(emulate=True)
            if cuda and args.fp32_reference:  # how far bf16 itself is from fp32
                model32, _ = load_causal_lm(name, device, "float32")
                rankers["fp32"] = InContextRanker(
                    model32, tokenizer=tokenizer, max_pass_tokens=pass_tokens
                )
            per_query = []
            for item in items:
                passages = [
                    Passage(id=i, text=t) for i, t in zip(item["ids"], item["texts"], strict=True)
                ]
                entry: dict[str, Any] = {"qid": item["qid"]}
                scores = {}
                for key, ranker in rankers.items():
                    details = ranker.explain(item["query"], passages)
                    scores[key] = details.scores
                    ranked = [
                        p.id for _, p in sorted(zip(details.scores, passages, strict=True),
                                                key=lambda sp: -sp[0])
                    ]  # fmt: skip
                    entry[f"ndcg10_{key}"] = ndcg_at_k(ranked, item["qrels"], 10)
                    entry[f"seconds_{key}"] = details.seconds
                    entry["passes"] = details.passes
                    entry["tokens"] = details.tokens
                entry["kendall_tau"] = kendall_tau(scores["bf16"], scores["fp8"])
                if "fp32" in scores:
                    entry["kendall_tau_bf16_vs_fp32"] = kendall_tau(scores["bf16"], scores["fp32"])
                    entry["kendall_tau_fp8_vs_fp32"] = kendall_tau(scores["fp8"], scores["fp32"])
                entry["spearman"] = spearman(scores["bf16"], scores["fp8"])
                per_query.append(entry)
                print(
                    f"  {name} {item['qid']}: tau {entry['kendall_tau']:.3f} nDCG@10 "
                    f"{entry['ndcg10_bf16']:.3f} / {entry['ndcg10_fp8']:.3f}",
                    flush=True,
                )
            taus = [e["kendall_tau"] for e in per_query]
            nb = sum(e["ndcg10_bf16"] for e in per_query) / len(per_query)
            nf = sum(e["ndcg10_fp8"] for e in per_query) / len(per_query)
            report.data["agreement_models"][name] = {
                "queries": len(per_query),
                "dataset": "TREC DL19 passage, BM25 top-100, first queries in file order",
                "max_pass_tokens": pass_tokens,
                "kendall_tau_summary": _summary(taus),
                "ndcg10_bf16": nb,
                "ndcg10_fp8": nf,
                "ndcg10_fp8_minus_bf16": nf - nb,
                "median_tau_at_least_0.95": _summary(taus)["median"] >= 0.95,
                "ndcg_within_0.005": abs(nf - nb) <= 0.005,
                "reference_fp32": None
                if "fp32" not in rankers
                else {
                    "kendall_tau_bf16_vs_fp32": _summary(
                        [e["kendall_tau_bf16_vs_fp32"] for e in per_query]
                    ),
                    "kendall_tau_fp8_vs_fp32": _summary(
                        [e["kendall_tau_fp8_vs_fp32"] for e in per_query]
                    ),
                    "ndcg10_fp32": sum(e["ndcg10_fp32"] for e in per_query) / len(per_query),
                },
                "per_query": per_query,
                "seconds": round(time.perf_counter() - t0, 1),
            }
            print(f"  {name}: {report.data['agreement_models'][name]['kendall_tau_summary']}, "
                  f"nDCG@10 {nb:.4f} vs {nf:.4f}", flush=True)  # fmt: skip
            del rankers, model
        except Exception as exc:
            report.data["agreement_models"][name] = {
                "error": repr(exc),
                "trace": traceback.format_exc()[-3000:],
            }
            print(f"  {name}: ERROR {exc!r}", flush=True)
        report.save()
        if cuda:
            torch.cuda.empty_cache()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", action="store_true")
    parser.add_argument("--agreement", action="store_true", help="random-weight agreement")
    parser.add_argument("--models", nargs="*", default=[], help="packaged models to compare")
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument(
        "--no-fp32-reference",
        dest="fp32_reference",
        action="store_false",
        help="skip the fp32 ranker (how far bf16 itself is from fp32)",
    )
    parser.add_argument("--prompts", type=int, default=20)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--n", type=int, nargs="+", default=[20, 100, 500])
    parser.add_argument("--reps-scale", type=float, default=1.0)
    parser.add_argument("--no-dense", action="store_true", help="skip the dense baselines")
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--out", default=os.environ.get("OUT") or str(ROOT / "benchmarks/results/incontext")
    )
    parser.add_argument("--name", default="incontext_fp8.json")
    args = parser.parse_args()
    report = Report(Path(args.out) / args.name, "python " + " ".join(sys.argv))
    report.data["benchmark"] = "incontext_fp8"
    report.data["rerun"] = (
        "PYTHONPATH=core:packages python benchmarks/incontext_fp8.py --bench --agreement"
    )
    report.data["environment"] = environment(args.device)
    device = args.device
    if device.startswith("cuda"):
        env = report.data["environment"]
        env["matmul_bf16_8192_tflops"] = round(matmul_rate(device), 1)
        env["matmul_fp8_8192_tflops"] = round(fp8_rate(device), 1)
        env["matmul_fp8_8192_tflops_exact_accum"] = round(fp8_rate(device, fast=False), 1)
        print(json.dumps(env), flush=True)
    report.save()
    ok = True
    if args.bench or args.agreement:
        ok = product_check(report, device, args.tiny)
    built = None
    if args.bench:
        built = bench(report, device, args)
        for t in report.data["targets"]:
            print(f"  target {t}", flush=True)
    if args.agreement:
        try:
            agreement_random(report, device, args, built)
        except Exception as exc:
            report.data["agreement_random"] = {"error": repr(exc), "trace": traceback.format_exc()}
            print(f"agreement ERROR {exc!r}", flush=True)
    del built
    if args.models:
        agreement_models(report, device, args)
    report.data["checks_ok"] = ok
    report.save()
    print(f"done in {report.data['wall_s']} s; checks ok: {ok}", flush=True)


if __name__ == "__main__":
    main()
