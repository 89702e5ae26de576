"""Distraction-aware reranking (UDCG) against top-k and reorder baselines, with cross-fitted calibrators.

Every method starts from the same candidates (HotpotQA: the 10 paragraphs of each
question; DL19: the BM25 top-100). Calibrators are fitted on 4/5 of the queries and
applied to the other 1/5 (5-fold cross-fitting), so no query is judged by a calibrator
that saw its labels; training also includes, for each training query, an unrelated
list (another question's candidates, all irrelevant). ``kept_unrelated`` is how many
passages a method keeps when given such an unrelated list: ideally none. Reported per method: supporting recall (HotpotQA), recall of
relevant passages (DL19), distractor rate (share of kept passages that are not relevant,
per query, 0 when nothing is kept), distractors and passages kept per query, kept tokens,
nDCG@10 of the kept list, and UDCG of the context (the first 10 passages kept) with the
packaged SmolLM2's utilities and the gold labels. On HotpotQA, SmolLM2 also answers from each method's
context (EM / F1). The reader's prompt, UDCG with a reader and EM/F1 for any method and any
data are in the library: ``ctx eval udcg`` (``ctx_core.eval.tasks.reader``); this script adds
the cross-fitted calibrators and the unrelated lists.

Rerun (CPU, about an hour on 2 cores; cached model outputs make reruns fast)::

    python benchmarks/udcg_eval.py --dataset hotpotqa --reader
    python benchmarks/udcg_eval.py --dataset dl19

Results: ``benchmarks/results/udcg/<dataset>.json`` and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ctx_core.embeddings import Embedder
from ctx_core.eval.datasets import load_dl19, load_hotpotqa
from ctx_core.eval.datasets.hotpotqa import hotpotqa_as_ranking
from ctx_core.eval.environment import environment
from ctx_core.eval.methods import long_context_order
from ctx_core.eval.metrics import distractor_rate, exact_match, ndcg_at_k, token_f1
from ctx_core.eval.tasks.reader import reader_prompt
from ctx_core.llm import TransformersLLM
from ctx_core.models import cache_dir
from ctx_core.progress import progress
from ctx_core.tokens import default_counter
from ctx_core.types import Passage
from ctx_core.udcg import AbstentionUtility, HybridSignals, LogisticCalibrator, udcg
from ctx_core.udcg.reranker import order_for_reader

RESULTS = Path(__file__).resolve().parent / "results" / "udcg"

#: Calibrator feature sets compared (all over the same HybridSignals columns).
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    # Platt scaling of the MiniLM cosine: the faithful reranker with a plain scorer.
    "udcg-platt": ("dense",),
    # + the gap to the best candidate of the same query (listwise calibration).
    "udcg-listwise": ("dense", "gap_to_best:dense"),
    # + feedback from the best passage, in-list BM25 and title links (the shipped default).
    "udcg-hybrid": (
        "dense",
        "gap_to_best:dense",
        "feedback",
        "gap_to_best:feedback",
        "max_norm:bm25",
        "title_in_query",
        "title_in_best",
    ),
}

#: UDCG and the reader see the first CONTEXT passages a method keeps.
CONTEXT = 10


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    staging.write_bytes(data)
    os.replace(staging, path)


def cached(name: str, compute: Callable[[], Any]) -> Any:
    """Compute once, then reuse from the cache folder (model outputs only, no data text).

    The cache is JSON (plain lists, dicts, strings and numbers; tuples come back as
    lists): never pickle, which runs code from whoever could write the cache folder.
    """
    path = cache_dir() / "bench" / f"{name}.json"
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    value = compute()
    _write_atomically(path, json.dumps(value).encode("utf-8"))
    return value


def _embedding_store(tag: str) -> Path:
    return cache_dir() / "bench" / f"embeddings-minilm-{tag}.npz"


def warm_embedder(tag: str) -> Embedder:
    """The packaged MiniLM with every embedding computed by earlier runs for ``tag``."""
    # Every embedding of the run stays cached (saved by save_embedder for the next run).
    embedder = Embedder(cache_bytes=8 << 30)
    store = _embedding_store(tag)
    if store.exists():
        # A plain .npz (a string array and a float matrix): loaded without pickle.
        with np.load(store, allow_pickle=False) as saved:
            embedder.warm_cache(dict(zip(saved["texts"].tolist(), saved["vectors"], strict=True)))
    return embedder


def save_embedder(embedder: Embedder, tag: str) -> None:
    vectors = embedder.cached_vectors()
    texts = list(vectors)
    matrix = np.stack([vectors[t] for t in texts]) if texts else np.zeros((0, 0), np.float32)
    buffer = io.BytesIO()
    np.savez(buffer, texts=np.array(texts, dtype=str), vectors=matrix.astype(np.float32))
    _write_atomically(_embedding_store(tag), buffer.getvalue())


def hybrid_signals(
    queries: list[Any], tag: str, embedder: Embedder | None = None
) -> tuple[list[dict[str, list[float]]], list[dict[str, list[float]]]]:
    """HybridSignals of each query's own candidates, and of an unrelated list.

    The unrelated list of query ``i`` is the candidate list of query ``i + 1`` (all labels
    0): fitting on such lists teaches a calibrator that the best of a bad list is still
    bad, so the reranker can return an empty context; evaluating on them measures it.
    Embeddings are cached on disk, so only the first run pays for the encoder.
    """
    embedder = embedder or warm_embedder(tag)
    hybrid = HybridSignals(embedder)
    own = [
        hybrid.signals(q.query, q.candidates) for q in progress(queries, desc="signals", show=True)
    ]
    unrelated = [
        hybrid.signals(q.query, queries[(i + 1) % len(queries)].candidates)
        for i, q in enumerate(progress(queries, desc="unrelated lists", show=True))
    ]
    save_embedder(embedder, tag)
    return own, unrelated


def utility_settings(utility: AbstentionUtility) -> dict[str, Any]:
    """What the result file records of the utility model (and what its cache key hashes)."""
    return {
        "model": utility.model_name,
        "abstain_token": utility.abstain_token,
        "max_passage_tokens": utility.max_passage_tokens,
    }


def utilities_for(
    queries: list[Any], methods: dict[str, list[list[int]]], utility: AbstentionUtility, tag: str
) -> list[dict[int, float]]:
    """Reader utilities of every passage some method puts in its first CONTEXT (cached on disk)."""
    model = hashlib.sha1(
        json.dumps(utility_settings(utility), sort_keys=True).encode()
    ).hexdigest()[:10]
    path = cache_dir() / "bench" / f"udcg-utilities-{model}-{tag}.json"
    known: list[dict[int, float]] = (
        [
            {int(i): float(v) for i, v in row.items()}  # JSON keys are strings
            for row in json.loads(path.read_text(encoding="utf-8"))
        ]
        if path.exists()
        else [{} for _ in queries]
    )
    for n, q in enumerate(progress(queries, desc="SmolLM2 utilities", show=True)):
        needed = sorted({i for kept in methods.values() for i in kept[n][:CONTEXT]} - set(known[n]))
        if needed:
            values = utility.utilities(q.query, [q.candidates[i] for i in needed])
            known[n].update(zip(needed, values, strict=True))
        if n % 25 == 24 or n == len(queries) - 1:
            _write_atomically(path, json.dumps(known).encode("utf-8"))
    return known


def load(dataset: str, limit: int | None) -> tuple[list[Any], dict[str, Any]]:
    if dataset == "hotpotqa":
        examples = load_hotpotqa(limit=limit)
        return hotpotqa_as_ranking(examples), {e.id: e for e in examples}
    return load_dl19(limit=limit), {}


def cross_fitted_probabilities(
    signals: list[dict[str, list[float]]],
    unrelated: list[dict[str, list[float]]],
    labels: list[list[int]],
    features: Sequence[str],
    folds: int = 5,
) -> tuple[list[list[float]], list[list[float]]]:
    """Probabilities for each query's own and unrelated list from calibrators that never saw it.

    Training folds include their queries' unrelated lists (all labels 0). Unrelated list
    ``i`` holds query ``i + 1``'s candidates: it is evaluated only with fold ``i``'s
    calibrator, whose training set may contain query ``i + 1``'s candidates as its own -
    labelled relevant for that other question, so nothing leaks about question ``i``.
    """
    own: list[list[float]] = [[] for _ in signals]
    other: list[list[float]] = [[] for _ in signals]
    for fold in range(folds):
        train = [i for i in range(len(signals)) if i % folds != fold]
        calibrator = LogisticCalibrator.fit(
            [signals[i] for i in train] + [unrelated[i] for i in train],
            [labels[i] for i in train] + [[0] * len(unrelated[i]["dense"]) for i in train],
            features=features,
        )
        for i in range(fold, len(signals), folds):
            own[i] = calibrator.probabilities(signals[i])
            other[i] = calibrator.probabilities(unrelated[i])
    return own, other


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=["hotpotqa", "dl19"], required=True)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--reader", action="store_true", help="SmolLM2 answers (HotpotQA)")
    parser.add_argument(
        "--min-grade", type=int, default=None, help="relevant at this grade (DL19: 2)"
    )
    parser.add_argument("--llm", default="smollm2", help="reader and utility model (alias or path)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    queries, examples = load(args.dataset, args.limit)
    min_grade = args.min_grade or (2 if args.dataset == "dl19" else 1)
    tag = f"{args.dataset}-{len(queries)}"
    counter = default_counter()

    # Cached as a whole so that a machine without the embedder can rerun from the cache.
    signals, unrelated = cached(f"udcg-hybrid-signals-{tag}", lambda: hybrid_signals(queries, tag))
    labels = [[int(q.qrels.get(p.id, 0) >= min_grade) for p in q.candidates] for q in queries]

    llm = TransformersLLM(args.llm, device=args.device, batch_size=args.batch_size)
    utility = AbstentionUtility(llm)

    # Each method: query index -> kept candidate indices, in reading order.
    methods: dict[str, list[list[int]]] = {}
    dense = [np.asarray(s["dense"]) for s in signals]
    by_dense = [[int(i) for i in np.argsort(-d, kind="stable")] for d in dense]
    methods["none"] = [list(range(len(q.candidates))) for q in queries]
    methods["embedding"] = by_dense
    methods["long-context-reorder"] = [long_context_order(order) for order in by_dense]
    for k in (2, 4, 6):
        methods[f"top-{k}"] = [order[:k] for order in by_dense]
    # Passages each method keeps from an unrelated list (another question's candidates).
    kept_unrelated: dict[str, float] = {
        name: float(len(queries[0].candidates))
        for name in ("none", "embedding", "long-context-reorder")
    }
    kept_unrelated.update({f"top-{k}": float(k) for k in (2, 4, 6)})

    def decide(probabilities: list[float]) -> list[int]:
        p = np.asarray(probabilities)
        return [int(i) for i in np.argsort(-p, kind="stable") if p[i] > 0.25]

    for name, features in FEATURE_SETS.items():
        own, other = cross_fitted_probabilities(signals, unrelated, labels, features)
        methods[name] = [decide(p) for p in own]
        kept_unrelated[name] = float(np.mean([len(decide(p)) for p in other]))
        if name == "udcg-hybrid":
            methods[f"{name}-edges"] = [
                [
                    int(c.id)
                    for c in order_for_reader([Passage(str(i), id=str(i)) for i in ks], "edges")
                ]
                for ks in methods[name]
            ]
            kept_unrelated[f"{name}-edges"] = kept_unrelated[name]

    # UDCG is computed on what the reader gets: the first CONTEXT passages a method keeps.
    utilities = utilities_for(queries, methods, utility, tag)

    reader_scores: dict[str, list[tuple[float, float]]] = {}
    if args.reader and args.dataset == "hotpotqa":
        reader = utility.llm
        reader_id = hashlib.sha1(str(args.llm).encode()).hexdigest()[:10]
        for name in ("none", "long-context-reorder", "top-2", "top-4", "top-6", "udcg-hybrid"):

            def answer(name: str = name) -> list[str]:
                prompts = [
                    reader_prompt(q.query, [q.candidates[i] for i in methods[name][n][:CONTEXT]])
                    for n, q in enumerate(queries)
                ]
                return reader.complete_batch(prompts, max_tokens=24, stop=["\n"])

            digest = hashlib.sha1(json.dumps(methods[name]).encode()).hexdigest()[:10]
            replies = cached(f"udcg-reader-{reader_id}-{tag}-{name}-{digest}", answer)
            reader_scores[name] = [
                (
                    exact_match(r, examples[q.query_id].answers),
                    token_f1(r, examples[q.query_id].answers),
                )
                for r, q in zip(replies, queries, strict=True)
            ]

    results: dict[str, Any] = {}
    for name, kept in methods.items():
        per_query = []
        for n, q in enumerate(queries):
            ids = [q.candidates[i].id for i in kept[n]]
            relevant = [p.id for p in q.candidates if q.qrels.get(p.id, 0) >= min_grade]
            hits = sum(1 for i in ids if q.qrels.get(i, 0) >= min_grade)
            row = {
                "query_id": q.query_id,
                "kept": len(ids),
                "distractors": len(ids) - hits,
                "recall": hits / len(relevant) if relevant else 0.0,
                "distractor_rate": distractor_rate(ids, q.qrels, relevance_threshold=min_grade),
                "kept_tokens": sum(counter.count(q.candidates[i].text) for i in kept[n]),
                "ndcg@10": ndcg_at_k(ids, q.qrels, 10),
                "udcg": udcg(
                    [utilities[n][i] for i in kept[n][:CONTEXT]],
                    [labels[n][i] == 1 for i in kept[n][:CONTEXT]],
                ),
                "ranking": ids,
            }
            if name in reader_scores:
                row["em"], row["f1"] = reader_scores[name][n]
            per_query.append(row)
        metric_names = [k for k in per_query[0] if k not in ("query_id", "ranking")]
        results[name] = {
            "metrics": {
                **{m: float(np.mean([r[m] for r in per_query])) for m in metric_names},
                "kept_unrelated": kept_unrelated[name],
            },
            "per_query": per_query,
        }
    all_u = np.asarray([u for n, per in enumerate(utilities) for u in per.values()])
    flat_labels = np.asarray([labels[n][i] for n, per in enumerate(utilities) for i in per])
    report = {
        "kind": "udcg",
        "dataset": args.dataset,
        "num_queries": len(queries),
        "relevant_at_grade": min_grade,
        "calibration": "5-fold cross-fitting over queries (fit on 4/5, apply to 1/5)",
        "feature_sets": {k: list(v) for k, v in FEATURE_SETS.items()},
        "utility_model": {
            **utility_settings(utility),
            "device": str(llm.device),
            "dtype": str(llm.model.dtype),
        },
        "udcg_context": f"the first {CONTEXT} passages each method keeps",
        "utility_stats": {
            "mean_p_no_response": float(1 - all_u.mean()),
            "mean_utility_relevant": float(all_u[flat_labels == 1].mean()),
            "mean_utility_irrelevant": float(all_u[flat_labels == 0].mean()),
        },
        "methods": results,
        "wall_time_s": round(time.perf_counter() - started, 1),
        "environment": environment(),
        "command": "python " + " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "created": created,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{args.dataset}{'' if args.limit is None else f'-limit{args.limit}'}.json"
    out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    columns = [
        "recall",
        "distractor_rate",
        "distractors",
        "kept",
        "kept_tokens",
        "ndcg@10",
        "udcg",
        "kept_unrelated",
        "em",
        "f1",
    ]
    print(f"\n{args.dataset}: {len(queries)} queries, relevant = grade >= {min_grade}; {out}")
    print("| method | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for name, result in results.items():
        m = result["metrics"]
        cells = [f"{m[c]:.3f}" if c in m else "-" for c in columns]
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
