"""Property-based tests of the LlamaIndex reranker over real ``TextNode`` objects (issue 22).

Arbitrary queries, nodes (unicode, empty text, ids, metadata with NaN/inf, retrieval
scores with NaN/inf) and ``top_n`` values go through
``ContextRerankPostprocessor.postprocess_nodes`` (BM25 scorer: no model). Properties:
only documented errors, the caller's nodes are not mutated, every returned node is a
copy of a distinct input node with its id, text and metadata, at most ``top_n``, best
first.
"""

from __future__ import annotations

import asyncio
import copy
import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from ctx_core.errors import CtxError
from ctx_core.scoring import BM25Scorer
from llamaindex_ctx import ContextRerankPostprocessor

DOCUMENTED = (ValueError, TypeError, CtxError)
RESERVED = {"relevance_score", "retrieval_score"}
FAST = settings(
    max_examples=50, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

words = st.text(alphabet=st.characters(categories=("L", "N")), min_size=1, max_size=8)
sentences = st.lists(words, min_size=1, max_size=6).map(" ".join)
texts = st.one_of(st.text(max_size=40), sentences, st.just(""))
queries = st.one_of(st.text(max_size=30), sentences, st.just(""))
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-1000, 1000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)
metadata = st.dictionaries(
    st.text(min_size=1, max_size=8).filter(lambda k: k not in RESERVED),
    st.one_of(values, st.lists(values, max_size=3)),
    max_size=4,
)


@st.composite
def nodes(draw: Any) -> list[NodeWithScore]:
    count = draw(st.integers(0, 8))
    result = []
    for i in range(count):
        node_id = draw(st.one_of(st.just(f"n{i}"), st.text(min_size=1, max_size=6)))
        node = TextNode(text=draw(texts), id_=node_id, metadata=draw(metadata))
        score = draw(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)))
        result.append(NodeWithScore(node=node, score=score))
    return result


def snapshot(items: list[NodeWithScore]) -> str:
    return repr(
        [
            (n.node.node_id, n.node.get_content(), copy.deepcopy(n.node.metadata), n.score)
            for n in items
        ]
    )


@FAST
@given(
    items=nodes(),
    query=queries,
    top_n=st.one_of(st.none(), st.integers(1, 10)),
    use_async=st.booleans(),
)
def test_postprocess_nodes(
    items: list[NodeWithScore], query: str, top_n: int | None, use_async: bool
) -> None:
    post = ContextRerankPostprocessor(BM25Scorer(), top_n=top_n)
    before = snapshot(items)
    try:
        if use_async:
            output = asyncio.run(post.apostprocess_nodes(items, QueryBundle(query)))
        else:
            output = post.postprocess_nodes(items, query_str=query)
    except DOCUMENTED:
        output = None
    assert snapshot(items) == before, "the caller's nodes were mutated"
    if output is None:
        return
    if not items:
        assert output == []
    if top_n is not None:
        assert len(output) <= top_n
    by_id = {n.node.node_id: n for n in items}
    returned = [n.node.node_id for n in output]
    assert len(returned) == len(set(returned))
    for item in output:
        original = by_id[item.node.node_id]
        assert item.node is not original.node, "returned the caller's node, not a copy"
        assert item.node.get_content() == original.node.get_content()
        for key, value in original.node.metadata.items():
            assert repr(item.node.metadata[key]) == repr(value), key
    scores = [n.score for n in output]
    assert all(isinstance(s, float) and math.isfinite(s) for s in scores)
    assert scores == sorted(scores, reverse=True)


@FAST
@given(
    top_n=st.one_of(
        st.integers(-3, 0), st.floats(allow_nan=True), st.booleans(), st.text(max_size=3)
    )
)
def test_bad_top_n_is_a_documented_error(top_n: Any) -> None:
    # Refused when built, or refused when used, or honoured: never an undocumented error.
    try:
        reranker = ContextRerankPostprocessor(BM25Scorer(), top_n=top_n)
        out = reranker.postprocess_nodes(
            [NodeWithScore(node=TextNode(text=t)) for t in ("a b", "b c", "c d")], query_str="b"
        )
    except DOCUMENTED:
        return
    assert len(out) <= max(int(top_n), 0)
