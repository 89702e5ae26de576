"""200 concurrent async calls on one shared LlamaIndex postprocessor."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from ctx_core.embeddings import Embedder
from ctx_core.scoring import EmbeddingScorer
from llamaindex_ctx import ContextRerankPostprocessor

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


def job(n: int) -> tuple[list[NodeWithScore], QueryBundle]:
    """The n-th call's nodes (an overlapping window of 4) and its query."""
    start = (n * 5) % len(TEXTS)
    nodes = [
        NodeWithScore(
            node=TextNode(text=TEXTS[(start + k) % len(TEXTS)], id_=f"n{(start + k) % len(TEXTS)}"),
            score=1.0 - k / 10,
        )
        for k in range(4)
    ]
    return nodes, QueryBundle(QUERIES[n % len(QUERIES)])


def ranked(nodes: list[NodeWithScore]) -> tuple[list[str], list[float]]:
    """Ids in order, and scores (compared with a tolerance: batches differ in padding)."""
    return [n.node.node_id for n in nodes], [n.score or 0.0 for n in nodes]


async def test_200_concurrent_apostprocess_nodes_equal_the_sequential_results():
    # A small cache: concurrent calls evict passages other calls are reading.
    post = ContextRerankPostprocessor(EmbeddingScorer(Embedder(cache_size=12)), top_n=3)
    sequential = ContextRerankPostprocessor(EmbeddingScorer(), top_n=3)
    expected = [ranked(sequential.postprocess_nodes(*job(n))) for n in range(CALLS)]
    results = await asyncio.gather(
        *(post.apostprocess_nodes(*job(n)) for n in range(CALLS)), return_exceptions=True
    )
    failures = [repr(r) for r in results if isinstance(r, BaseException)]
    assert not failures, f"{len(failures)} of {CALLS} calls failed, e.g. {failures[0]}"
    got = [ranked(r) for r in results]
    assert [ids for ids, _ in got] == [ids for ids, _ in expected]
    assert [s for _, scores in got for s in scores] == pytest.approx(
        [s for _, scores in expected for s in scores], abs=1e-5
    )
