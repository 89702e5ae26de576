"""langchain_ctx.MemoryRetriever: the standard retriever suite and our own conventions."""

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_tests.integration_tests import RetrieversIntegrationTests

from ctx_core.memory import MemoryIndex
from langchain_ctx import MemoryRetriever

TEXTS = [f"Fact {i}: the number {i} is {'even' if i % 2 == 0 else 'odd'}." for i in range(12)]


@pytest.fixture(scope="module")
def memory_index(embedder):
    index = MemoryIndex(embedder)
    index.add_texts(TEXTS, ids=[f"fact-{i}" for i in range(12)])
    return index


class TestMemoryRetrieverStandard(RetrieversIntegrationTests):
    @pytest.fixture(autouse=True)
    def _index(self, memory_index):
        self._memory_index = memory_index

    @property
    def retriever_constructor(self) -> type[MemoryRetriever]:
        return MemoryRetriever

    @property
    def retriever_constructor_params(self) -> dict:
        return {"index": self._memory_index}

    @property
    def retriever_query_example(self) -> str:
        return "Which numbers are even?"


DOCS = [
    Document(
        "# Paris\n\nParis is the capital of France.",
        id="fr",
        metadata={"lang": "en", "tags": ["a"]},
    ),
    Document("# Bananas\n\nBananas are yellow fruit.", id="ba", metadata={"lang": "en"}),
    Document("Mars is the red planet.", metadata={"src": "no-id"}),
]


def test_from_documents_keeps_ids_metadata_and_adds_provenance(embedder):
    originals = [d.model_copy(deep=True) for d in DOCS]
    retriever = MemoryRetriever.from_documents(DOCS, embedder=embedder, k=2)
    [top, *_] = retriever.invoke("What is the capital of France?")
    assert top.id == "fr#0" and top.page_content == "# Paris\n\nParis is the capital of France."
    assert top.metadata["lang"] == "en" and top.metadata["tags"] == ["a"]
    assert top.metadata["heading"] == "Paris" and top.metadata["doc_id"] == "fr"
    assert "chunk" in top.metadata["memory_layers"]
    assert top.metadata["relevance_score"] > 0
    assert originals == DOCS  # the caller's documents are not changed
    red = retriever.invoke("red planet", k=1)[0]
    assert red.metadata["src"] == "no-id" and red.id.endswith("#0")


async def test_async_matches_sync(embedder):
    retriever = MemoryRetriever.from_documents(DOCS, embedder=embedder, k=2)
    sync = retriever.invoke("yellow fruit")
    asynchronous = await retriever.ainvoke("yellow fruit")
    assert [d.id for d in asynchronous] == [d.id for d in sync]


def test_callbacks_see_the_retrieval(embedder):
    class Recorder(BaseCallbackHandler):
        def __init__(self):
            self.events = []

        def on_retriever_start(self, serialized, query, **kwargs):
            self.events.append(("start", query))

        def on_retriever_end(self, documents, **kwargs):
            self.events.append(("end", len(documents)))

    recorder = Recorder()
    retriever = MemoryRetriever.from_documents(DOCS, embedder=embedder, k=1)
    retriever.invoke("Paris", config={"callbacks": [recorder]})
    assert recorder.events == [("start", "Paris"), ("end", 1)]


def test_add_documents_and_bad_input(embedder):
    retriever = MemoryRetriever(index=MemoryIndex(embedder))
    assert retriever.invoke("anything") == []
    retriever.add_documents(DOCS[:1])
    with pytest.raises(ValueError, match="already in the index"):
        retriever.add_documents(DOCS[:1])
    with pytest.raises(ValueError, match="document is empty"):
        retriever.add_documents([Document("   ", id="blank")])
    with pytest.raises(TypeError, match="must be a Document"):
        retriever.add_documents(["plain string"])
    with pytest.raises(ValueError):
        MemoryRetriever(index=MemoryIndex(embedder), k=0)
