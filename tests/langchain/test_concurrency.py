"""200 concurrent async calls on one shared LangChain compressor."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from langchain_core.documents import Document

from ctx_core.embeddings import Embedder
from ctx_core.scoring import EmbeddingScorer
from langchain_ctx import ContextReranker

CALLS = 200

TEXTS = [
    f"{colour} {thing} {where}."
    for colour, thing, where in itertools.product(
        ("Red", "Green", "Blue", "Yellow"),
        ("apples grow", "cars park", "birds nest"),
        ("near the river", "by the sea"),
    )
]
QUERIES = ["Where do birds nest?", "Which apples are red?", "Cars by the river", "Blue sea"]


def job(n: int) -> tuple[list[Document], str]:
    """The n-th call's documents (an overlapping window of 4) and its query."""
    start = (n * 5) % len(TEXTS)
    docs = [
        Document(TEXTS[(start + k) % len(TEXTS)], id=f"d{(start + k) % len(TEXTS)}")
        for k in range(4)
    ]
    return docs, QUERIES[n % len(QUERIES)]


def ranked(documents) -> tuple[list[str | None], list[float]]:
    """Ids in order, and scores (compared with a tolerance: batches differ in padding)."""
    return [d.id for d in documents], [d.metadata["relevance_score"] for d in documents]


async def test_200_concurrent_acompress_documents_equal_the_sequential_results():
    # A small cache: concurrent calls evict passages other calls are reading.
    reranker = ContextReranker(scorer=EmbeddingScorer(Embedder(cache_size=12)), top_n=3)
    sequential = ContextReranker(scorer=EmbeddingScorer(), top_n=3)
    expected = [ranked(sequential.compress_documents(*job(n))) for n in range(CALLS)]
    results = await asyncio.gather(
        *(reranker.acompress_documents(*job(n)) for n in range(CALLS)), return_exceptions=True
    )
    failures = [repr(r) for r in results if isinstance(r, BaseException)]
    assert not failures, f"{len(failures)} of {CALLS} calls failed, e.g. {failures[0]}"
    got = [ranked(r) for r in results]
    assert [ids for ids, _ in got] == [ids for ids, _ in expected]
    assert [s for _, scores in got for s in scores] == pytest.approx(
        [s for _, scores in expected for s in scores], abs=1e-5
    )
