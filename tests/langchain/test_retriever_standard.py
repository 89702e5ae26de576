"""langchain-tests' standard retriever suite, run on RerankingRetriever."""

from __future__ import annotations

import pytest
from langchain_core.vectorstores import InMemoryVectorStore
from langchain_tests.integration_tests import RetrieversIntegrationTests

from langchain_ctx import ContextReranker, CtxEmbeddings, RerankingRetriever

TEXTS = [f"Fact {i}: the number {i} is {'even' if i % 2 == 0 else 'odd'}." for i in range(12)]


@pytest.fixture(scope="module")
def base_retriever():
    return InMemoryVectorStore.from_texts(TEXTS, CtxEmbeddings()).as_retriever(
        search_kwargs={"k": 8}
    )


class TestRerankingRetriever(RetrieversIntegrationTests):
    @pytest.fixture(autouse=True)
    def _base(self, base_retriever):
        self._base_retriever = base_retriever

    @property
    def retriever_constructor(self) -> type[RerankingRetriever]:
        return RerankingRetriever

    @property
    def retriever_constructor_params(self) -> dict:
        return {"base_retriever": self._base_retriever, "reranker": ContextReranker(top_n=None)}

    @property
    def retriever_query_example(self) -> str:
        return "Which numbers are even?"
