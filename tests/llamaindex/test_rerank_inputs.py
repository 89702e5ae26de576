"""LlamaIndex postprocessors: stale scores replaced, limits must be positive ints."""

from __future__ import annotations

import pytest
from llama_index.core.schema import NodeWithScore, TextNode
from pydantic import ValidationError

from ctx_core.scoring import BM25Scorer
from llamaindex_ctx import ContextRerankPostprocessor, UDCGRerankPostprocessor

NODES = [
    NodeWithScore(
        node=TextNode(
            text="red apples",
            id_="a",
            metadata={"relevance_score": 99.0, "retrieval_score": 42.0, "src": "x"},
        ),
        score=0.3,
    ),
    NodeWithScore(node=TextNode(text="blue sky", id_="b"), score=0.2),
    NodeWithScore(node=TextNode(text="red red apples", id_="c"), score=0.1),
]


def test_stale_scores_in_metadata_are_replaced():
    post = ContextRerankPostprocessor(scorer=BM25Scorer(), top_n=None)
    kept = {n.node.node_id: n for n in post.postprocess_nodes(NODES, query_str="red apples")}
    a = kept["a"]
    assert a.node.metadata["retrieval_score"] == 0.3  # the score it came in with
    assert a.node.metadata["relevance_score"] == a.score != 99.0
    assert a.node.metadata["src"] == "x"
    assert NODES[0].node.metadata["retrieval_score"] == 42.0  # input untouched


@pytest.mark.parametrize("bad", [True, 1.5, 0])
def test_top_n_must_be_a_positive_int(bad):
    with pytest.raises(ValidationError, match="top_n"):
        ContextRerankPostprocessor(scorer=BM25Scorer(), top_n=bad)
    with pytest.raises(ValidationError, match="top_n"):
        UDCGRerankPostprocessor(top_n=bad)
