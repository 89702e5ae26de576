"""Relevance signals of every candidate list of the five data sets, computed once and cached.

For each query of DL19, HotpotQA, CACM, Cranfield and NQ-open (see :func:`nq_collection`)
this records, per candidate: the graded label, the token count, the ``HybridSignals``
columns without titles (``dense``: the plain MiniLM cosine of the passage text, what
``EmbeddingScorer`` gives; ``feedback``; ``bm25``) and with titles (``dense_title``,
``feedback_title``, ``bm25_title``, which score ``"title: text"`` where a title exists,
``title_in_query``, ``title_in_best``). The same is recorded for two more lists per query:
its *twin*, the candidates of the next query of the same data set (labelled by this
query's own judgements), and a *foreign* list, the candidates of a query of the next data
set (nothing in it can be relevant).

The lexical column ``coverage`` (the share of the query's content words in the passage,
see ``query_coverage``; ``coverage_title`` on ``"title: text"``) needs no model: it is
computed from the data's text in seconds and cached beside the signals
(:func:`lexical`), so adding it did not re-embed anything.

The cache holds model outputs and ids only, no data text (``cache_dir()/bench``).
``udcg_lodo.py`` reads it. Rerun::

    python benchmarks/udcg_signals.py            # all five, about 15 min on 2 cores
    python benchmarks/udcg_signals.py nq dl19    # some
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ctx_core.embeddings import Embedder
from ctx_core.eval.datasets import load_nq_oracle
from ctx_core.eval.datasets.records import IRCollection, RankingQuery
from ctx_core.eval.first_stage import collection_as_ranking
from ctx_core.eval.rerank_datasets import get_rerank_dataset
from ctx_core.models import cache_dir
from ctx_core.progress import progress
from ctx_core.tokens import default_counter
from ctx_core.types import Passage
from ctx_core.udcg import HybridSignals
from ctx_core.udcg.signals import query_coverage

DATASETS = ("dl19", "hotpotqa", "cacm", "cranfield", "nq")

#: Smallest grade that counts as relevant, per data set (TREC DL: grade >= 2).
RELEVANT_GRADE = {"dl19": 2, "hotpotqa": 1, "cacm": 1, "cranfield": 1, "nq": 1}

#: NQ-open: questions used and candidates per question.
NQ_QUESTIONS = 300
NQ_DEPTH = 20


def nq_collection(data_dir: Path | None = None) -> IRCollection:
    """NQ-open as a retrieval collection: the gold passages of all 2,655 questions form the pool.

    The first :data:`NQ_QUESTIONS` questions are the queries; a question's one relevant
    passage is its gold passage. (The DPR ``has_answer`` string match was not used: short
    answers such as "two" or "1901" match about 10 passages per question here.)
    """
    examples = load_nq_oracle(data_dir)
    documents: list[Passage] = []
    by_text: dict[str, str] = {}
    gold: list[str] = []
    for example in examples:
        passage = next(p for p in example.passages if p.metadata.get("isgold"))
        if passage.text not in by_text:
            doc_id = f"nq{len(documents)}"
            by_text[passage.text] = doc_id
            documents.append(
                Passage(passage.text, id=doc_id, metadata={"title": passage.metadata["title"]})
            )
        gold.append(by_text[passage.text])
    queries = {str(i): e.question for i, e in enumerate(examples[:NQ_QUESTIONS])}
    qrels = {qid: {gold[int(qid)]: 1} for qid in queries}
    return IRCollection("nq", documents, queries, qrels)


def load(dataset: str) -> list[RankingQuery]:
    """The data set's queries with their candidates, as ``ctx eval rerank`` loads them."""
    if dataset == "nq":
        return collection_as_ranking(nq_collection(), depth=NQ_DEPTH)
    return get_rerank_dataset(dataset).load(None, None)


def _store(dataset: str) -> Path:
    return cache_dir() / "bench" / f"udcg-lodo-embeddings-{dataset}.npz"


def signals_path(dataset: str) -> Path:
    return cache_dir() / "bench" / f"udcg-lodo-signals-v2-{dataset}.json"


def lexical_path(dataset: str) -> Path:
    return cache_dir() / "bench" / f"udcg-lodo-lexical-{dataset}.json"


def lexical(dataset: str) -> list[dict[str, dict[str, list[float]]]]:
    """Per query, the ``coverage`` columns of its own, twin and foreign lists (cached; no model)."""
    path = lexical_path(dataset)
    if path.exists():
        cached: list[dict[str, dict[str, list[float]]]] = json.loads(
            path.read_text(encoding="utf-8")
        )
        return cached
    queries = load(dataset)
    foreign = load(DATASETS[(DATASETS.index(dataset) + 1) % len(DATASETS)])
    titled = HybridSignals(Embedder(), title_key="title")  # only its title prefixing is used
    n = len(queries)

    def columns(query: str, candidates: list[Passage]) -> dict[str, list[float]]:
        return {
            "coverage": query_coverage(query, [p.text for p in candidates]),
            "coverage_title": query_coverage(
                query, [p.text for p in titled._with_titles(candidates)]
            ),
        }

    out = [
        {
            "own": columns(q.query, q.candidates),
            "twin": columns(q.query, queries[(i + 1) % n].candidates),
            "foreign": columns(q.query, foreign[i % len(foreign)].candidates),
        }
        for i, q in enumerate(queries)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out), encoding="utf-8")
    return out


def _embedder(*datasets: str) -> Embedder:
    embedder = Embedder(cache_bytes=8 << 30, show_progress=True)
    for dataset in datasets:
        if _store(dataset).exists():
            with np.load(_store(dataset), allow_pickle=False) as saved:
                embedder.warm_cache(
                    dict(zip(saved["texts"].tolist(), saved["vectors"], strict=True))
                )
    return embedder


def _save(embedder: Embedder, dataset: str) -> None:
    vectors = embedder.cached_vectors()
    texts = list(vectors)
    path = _store(dataset)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    np.savez(
        staging,
        texts=np.array(texts, dtype=str),
        vectors=np.stack([vectors[t] for t in texts]).astype(np.float32),
    )
    os.replace(staging, path)


def _columns(
    plain: HybridSignals, titled: HybridSignals, query: str, candidates: list[Passage]
) -> dict[str, list[float]]:
    columns = plain.signals(query, candidates)
    del columns["title_in_query"], columns["title_in_best"]
    for name, values in titled.signals(query, candidates).items():
        columns[name if name.startswith("title_") else f"{name}_title"] = values
    return columns


def compute(dataset: str) -> dict[str, Any]:
    """Signals of one data set's lists, their twins and their foreign lists."""
    started = time.perf_counter()
    queries = load(dataset)
    foreign_name = DATASETS[(DATASETS.index(dataset) + 1) % len(DATASETS)]
    foreign = load(foreign_name)
    embedder = _embedder(dataset, foreign_name)
    plain = HybridSignals(embedder, title_key=None)
    titled = HybridSignals(embedder)
    counter = default_counter()
    # One large batch first: the per-query calls below then hit the cache.
    texts = {p.text for q in queries for p in q.candidates}
    texts |= {t.text for q in queries for t in titled._with_titles(q.candidates)}
    embedder.embed(sorted(texts, key=len))  # similar lengths batch together: less padding
    threshold = RELEVANT_GRADE[dataset]
    records = []
    n = len(queries)

    def listed(query: RankingQuery, candidates: list[Passage]) -> dict[str, Any]:
        return {
            "ids": [p.id for p in candidates],
            "grades": [int(query.qrels.get(p.id, 0)) for p in candidates],
            "tokens": [counter.count(p.text) for p in candidates],
            "signals": _columns(plain, titled, query.query, candidates),
        }

    for i, query in enumerate(progress(queries, desc=f"{dataset} signals", show=True)):
        own = listed(query, query.candidates)
        foreign_list = listed(query, foreign[i % len(foreign)].candidates)
        foreign_list["grades"] = [0] * len(foreign_list["ids"])  # another collection
        records.append(
            {
                "query_id": query.query_id,
                **own,
                "qrels": {k: int(v) for k, v in query.qrels.items() if v > 0},
                "twin": listed(query, queries[(i + 1) % n].candidates),
                "foreign": foreign_list,
            }
        )
    _save(embedder, dataset)
    digest = hashlib.sha256(
        json.dumps([[r["query_id"], r["ids"]] for r in records]).encode()
    ).hexdigest()
    return {
        "dataset": dataset,
        "relevant_grade": threshold,
        "foreign_dataset": foreign_name,
        "first_stage": queries[0].metadata.get("first_stage") if queries else None,
        "queries": records,
        "lists_sha256": digest,
        "seconds": round(time.perf_counter() - started, 1),
    }


def main(argv: list[str]) -> int:
    for dataset in argv or DATASETS:
        if dataset not in DATASETS:
            raise SystemExit(f"unknown data set {dataset!r}; choose from {DATASETS}")
        path = signals_path(dataset)
        lexical(dataset)
        if path.exists():
            print(f"{dataset}: cached at {path}")
            continue
        result = compute(dataset)
        path.write_text(json.dumps(result), encoding="utf-8")
        print(f"{dataset}: {len(result['queries'])} queries, {result['seconds']} s -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
