import pytest
from langchain_classic.retrievers import ContextualCompressionRetriever
from langchain_core.documents import Document
from langchain_core.vectorstores import InMemoryVectorStore

from langchain_ctx import ContextReranker, CtxEmbeddings, RerankingRetriever
from langchain_ctx.convert import documents_to_passages, passages_to_documents


@pytest.fixture
def documents():
    return [
        Document("red apples", id="a", metadata={"src": "x"}),
        Document("green pears", metadata={"src": "y"}),
        Document("red red apples", id="c"),
        Document("red apples again", id="a"),  # repeated id, as retrievers sometimes return
    ]


def test_conversion_round_trip_keeps_ids_and_metadata(documents):
    passages = documents_to_passages(documents)
    assert [p.id for p in passages] == ["a", "#1", "c", "#3"]
    back = passages_to_documents([p.with_metadata(extra=1) for p in passages[::-1]], documents)
    assert [d.id for d in back] == ["a", "c", None, "a"]
    assert back[3].metadata == {"src": "x", "extra": 1}
    assert documents[0].metadata == {"src": "x"}


def test_compressor_copies_and_scores(overlap_scorer, documents):
    reranker = ContextReranker(scorer=overlap_scorer, top_n=2)
    kept = reranker.compress_documents(documents, "red apples")
    assert [(d.id, d.page_content) for d in kept] == [("a", "red apples"), ("c", "red red apples")]
    assert kept[0].metadata == {"src": "x", "relevance_score": 2.0}
    assert all("relevance_score" not in d.metadata for d in documents)
    assert kept[0] is not documents[0]


def test_threshold_and_top_n_none(overlap_scorer, documents):
    reranker = ContextReranker(scorer=overlap_scorer, top_n=None, score_threshold=1.0)
    assert len(reranker.compress_documents(documents, "green")) == 1


async def test_async_and_empty(overlap_scorer, documents):
    reranker = ContextReranker(scorer=overlap_scorer, top_n=3)
    assert await reranker.acompress_documents(
        documents, "red apples"
    ) == reranker.compress_documents(documents, "red apples")
    calls = overlap_scorer.calls
    assert reranker.compress_documents([], "red") == []
    assert await reranker.acompress_documents([], "red") == []
    assert overlap_scorer.calls == calls


def test_bad_input(overlap_scorer):
    reranker = ContextReranker(scorer=overlap_scorer)
    with pytest.raises(TypeError, match=r"documents\[0\]"):
        reranker.compress_documents(["not a document"], "q")
    with pytest.raises(ValueError, match="query"):
        reranker.compress_documents([Document("x")], "  ")
    with pytest.raises(ValueError):
        ContextReranker(scorer=overlap_scorer, top_n=0)


@pytest.fixture(scope="module")
def store():
    texts = [
        "The Eiffel Tower is in Paris.",
        "Paris is the capital of France.",
        "Bananas are rich in potassium.",
        "The Louvre is a museum in Paris.",
        "Berlin is the capital of Germany.",
    ]
    return InMemoryVectorStore.from_texts(
        texts, CtxEmbeddings(), ids=["eiffel", "paris", "banana", "louvre", "berlin"]
    )


def test_inside_contextual_compression_retriever(store):
    retriever = ContextualCompressionRetriever(
        base_compressor=ContextReranker(top_n=2),
        base_retriever=store.as_retriever(search_kwargs={"k": 5}),
    )
    kept = retriever.invoke("What is the capital of France?")
    assert kept[0].id == "paris" and len(kept) == 2


async def test_reranking_retriever_k_and_async(store):
    retriever = RerankingRetriever(
        base_retriever=store.as_retriever(search_kwargs={"k": 5}), reranker=ContextReranker(), k=3
    )
    assert len(retriever.invoke("capital")) == 3
    assert len(retriever.invoke("capital", k=1)) == 1
    sync = retriever.invoke("museum in Paris")
    assert [d.id for d in await retriever.ainvoke("museum in Paris")] == [d.id for d in sync]
    assert sync[0].id == "louvre"
