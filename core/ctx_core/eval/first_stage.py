"""First-stage retrieval over a whole collection, producing candidates to rerank.

Cranfield and CACM are full collections, not candidate lists. To evaluate a reranker on
them, a first stage retrieves the top ``depth`` documents (default 100) of every judged
query; the reranker then reorders those candidates, and the metrics are computed against
the query's full qrels (relevant documents the first stage missed still count in recall
and in nDCG's ideal ranking). Two first stages are offered:

- ``bm25`` (default): BM25 (``bm25s``, Lucene variant, k1=1.5, b=0.75) over lower-cased
  words, English stop words removed and Snowball-stemmed when ``PyStemmer`` is installed.
  Needs the ``eval`` extra.
- ``embedding``: cosine similarity of the packaged MiniLM embeddings (dense retrieval).

Ties are broken by collection order, so runs are deterministic.
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

import numpy as np

from ctx_core.errors import require
from ctx_core.eval.datasets.records import IRCollection, RankingQuery

__all__ = ["FIRST_STAGES", "bm25_scores", "collection_as_ranking", "embedding_scores"]

logger = logging.getLogger(__name__)

#: Names accepted by [`collection_as_ranking`][ctx_core.eval.first_stage.collection_as_ranking].
FIRST_STAGES = ("bm25", "embedding")


def _numeric_key(qid: str) -> tuple[int, str]:
    return (int(qid), qid) if qid.isdigit() else (10**9, qid)


def bm25_scores(
    collection: IRCollection, queries: list[str], *, k1: float = 1.5, b: float = 0.75
) -> tuple[np.ndarray, dict[str, Any]]:
    """BM25 scores of every document for each query: an array ``(len(queries), n_docs)``.

    Returns:
        The scores and the configuration used (for the result file).
    """
    require("bm25s", "eval", "the BM25 first stage")
    import bm25s

    stemmer = None
    stemmer_name = None
    if importlib.util.find_spec("Stemmer") is not None:
        import Stemmer

        stemmer = Stemmer.Stemmer("english")
        stemmer_name = "snowball-english (PyStemmer)"
    else:
        logger.warning("PyStemmer is not installed: BM25 runs without stemming")

    def tokenize(texts: list[str]) -> list[list[str]]:
        tokens = bm25s.tokenize(
            texts, stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False
        )
        return [list(t) for t in tokens]

    retriever = bm25s.BM25(k1=k1, b=b, method="lucene")
    retriever.index(tokenize([d.text for d in collection.documents]), show_progress=False)
    scores = np.stack([retriever.get_scores(tokens) for tokens in tokenize(queries)])
    config = {
        "name": "bm25",
        "implementation": f"bm25s {bm25s.__version__}",
        "variant": "lucene",
        "k1": k1,
        "b": b,
        "stopwords": "en",
        "stemmer": stemmer_name,
    }
    return scores, config


def embedding_scores(
    collection: IRCollection, queries: list[str], *, model: str | None = None
) -> tuple[np.ndarray, dict[str, Any]]:
    """Cosine similarities of query and document embeddings, ``(len(queries), n_docs)``."""
    from ctx_core.embeddings import Embedder

    embedder = Embedder(model, show_progress=None)
    docs = embedder.embed([d.text for d in collection.documents])
    queries_matrix = np.stack([embedder.embed_query(q) for q in queries])
    return queries_matrix @ docs.T, {"name": "embedding", "model": embedder.model_name}


def collection_as_ranking(
    collection: IRCollection,
    *,
    first_stage: str = "bm25",
    depth: int = 100,
    limit: int | None = None,
) -> list[RankingQuery]:
    """Ranking queries for a collection: the top ``depth`` documents of a first stage.

    Only queries with relevance judgements are kept (as ``trec_eval`` evaluates only
    judged queries), in numeric id order; ``limit`` keeps the first ``limit`` of them.
    Each candidate is a copy of the document with the first-stage score in ``score`` and
    ``metadata["first_stage_score"]`` and its 1-based ``metadata["rank"]``.

    Raises:
        ValueError: Unknown ``first_stage``, or ``depth``/``limit`` not positive.
    """
    if first_stage not in FIRST_STAGES:
        raise ValueError(f"first_stage must be one of {FIRST_STAGES}, got {first_stage!r}")
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth must be a positive int, got {depth!r}")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive int or None, got {limit!r}")
    qids = sorted((q for q in collection.queries if collection.qrels.get(q)), key=_numeric_key)
    if limit is not None:
        qids = qids[:limit]
    texts = [collection.queries[q] for q in qids]
    if first_stage == "bm25":
        scores, config = bm25_scores(collection, texts)
    else:
        scores, config = embedding_scores(collection, texts)
    config = {**config, "depth": depth}
    result = []
    for row, qid in enumerate(qids):
        # stable sort on -score: ties keep collection order
        order = np.argsort(-scores[row], kind="stable")[:depth]
        candidates = [
            collection.documents[i]
            .with_metadata(rank=rank, first_stage_score=float(scores[row, i]))
            .with_score(float(scores[row, i]))
            for rank, i in enumerate(order, start=1)
        ]
        result.append(
            RankingQuery(
                query_id=qid,
                query=collection.queries[qid],
                candidates=candidates,
                qrels=dict(collection.qrels[qid]),
                metadata={"first_stage": config},
            )
        )
    return result
