"""LangChain rerankers and retriever: limits honoured exactly, stale scores replaced, bad values named."""

from __future__ import annotations

import math

import pytest
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ValidationError

from ctx_core.scoring import BM25Scorer
from langchain_ctx import ContextReranker, RerankingRetriever, UDCGReranker

DOCS = [
    Document("red apples", id="a", metadata={"relevance_score": 99.0, "src": "x"}),
    Document("blue sky", id="b"),
    Document("red red apples", id="c"),
    Document("green pears", id="d"),
]


class ListRetriever(BaseRetriever):
    """A real LangChain retriever returning a fixed list."""

    docs: list[Document]

    def _get_relevant_documents(self, query, *, run_manager):
        return list(self.docs)


def test_a_stale_relevance_score_is_replaced_by_the_new_one():
    kept = ContextReranker(scorer=BM25Scorer(), top_n=None).compress_documents(DOCS, "red apples")
    scores = [d.metadata["relevance_score"] for d in kept]
    assert scores == sorted(scores, reverse=True)
    assert 99.0 not in scores
    assert kept[[d.id for d in kept].index("a")].metadata["src"] == "x"
    assert DOCS[0].metadata["relevance_score"] == 99.0  # input untouched


@pytest.mark.parametrize("bad", [0, -1])
async def test_per_call_zero_is_an_error_not_the_default(bad):
    reranker = ContextReranker(scorer=BM25Scorer(), top_n=2)
    with pytest.raises(ValueError, match="top_n"):
        reranker.rerank_documents(DOCS, "red", top_n=bad)
    with pytest.raises(ValueError, match="top_n"):
        await reranker.arerank_documents(DOCS, "red", top_n=bad)
    retriever = RerankingRetriever(base_retriever=ListRetriever(docs=DOCS), reranker=reranker, k=2)
    with pytest.raises(ValueError, match="top_n"):
        retriever.invoke("red", k=bad)
    with pytest.raises(ValueError, match="top_n"):
        await retriever.ainvoke("red", k=bad)
    assert len(retriever.invoke("red", k=3)) == 3


@pytest.mark.parametrize("bad", [True, 1.5, "2"])
def test_limits_must_be_ints(bad):
    with pytest.raises(ValidationError, match="top_n"):
        ContextReranker(scorer=BM25Scorer(), top_n=bad)
    with pytest.raises(ValidationError, match="top_n"):
        UDCGReranker(top_n=bad)
    with pytest.raises(ValidationError, match="k"):
        RerankingRetriever(
            base_retriever=ListRetriever(docs=DOCS),
            reranker=ContextReranker(scorer=BM25Scorer()),
            k=bad,
        )
    with pytest.raises(TypeError, match="top_n"):
        ContextReranker(scorer=BM25Scorer()).rerank_documents(DOCS, "red", top_n=bad)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_threshold_must_be_finite(bad):
    with pytest.raises(ValueError, match="score_threshold"):
        ContextReranker(scorer=BM25Scorer(), score_threshold=bad).compress_documents(DOCS, "red")
