"""LangChain InContextReranker on a tiny random Llama (fast): the adapter's conventions."""

import pytest
from langchain_classic.retrievers import ContextualCompressionRetriever
from langchain_core.documents import Document
from langchain_core.vectorstores import InMemoryVectorStore

from ctx_core.incontext import InContextRanker
from langchain_ctx import CtxDocumentCompressor, CtxEmbeddings, InContextReranker


@pytest.fixture(scope="module")
def ranker(tiny_llama_dir):
    return InContextRanker(str(tiny_llama_dir))


@pytest.fixture
def documents():
    return [
        Document("Paris is the capital of France.", id="paris", metadata={"src": "x"}),
        Document("Bananas are yellow."),
        Document("Berlin is the capital of Germany.", id="berlin"),
    ]


def test_scores_copies_and_keeps_ids(ranker, documents):
    reranker = InContextReranker(ranker=ranker, top_n=2)
    assert isinstance(reranker, CtxDocumentCompressor)
    kept = reranker.compress_documents(documents, "What is the capital of France?")
    assert len(kept) == 2
    expected = ranker.score("What is the capital of France?", [d.page_content for d in documents])
    best = sorted(range(3), key=lambda i: -expected[i])[:2]
    assert [d.page_content for d in kept] == [documents[i].page_content for i in best]
    for doc in kept:
        original = next(d for d in documents if d.page_content == doc.page_content)
        assert doc is not original and doc.id == original.id
        assert doc.metadata == {
            **original.metadata,
            "relevance_score": doc.metadata["relevance_score"],
        }
        assert "relevance_score" not in original.metadata


async def test_async_matches_sync_and_empty_input_loads_nothing(tiny_llama_dir, documents):
    reranker = InContextReranker(model=str(tiny_llama_dir), top_n=3, calibrate=False)
    assert reranker.compress_documents([], "q") == []
    assert reranker.core_ranker._engine is None  # no model loaded for empty input
    sync = reranker.compress_documents(documents, "capital of Germany")
    result = await reranker.acompress_documents(documents, "capital of Germany")
    assert [d.page_content for d in result] == [d.page_content for d in sync]
    assert reranker.core_ranker.calibrate is False


def test_options_and_bad_input(tiny_llama_dir):
    reranker = InContextReranker(
        model=str(tiny_llama_dir), scoring_layer=0, options={"length_normalization": "sqrt"}
    )
    assert reranker.core_ranker.length_normalization == "sqrt"
    assert reranker.core_ranker.layers == [0]
    with pytest.raises(ValueError):
        InContextReranker(model=str(tiny_llama_dir), options={"attention": "dense"})
    with pytest.raises(TypeError, match="InContextRanker"):
        InContextReranker(ranker="not a ranker")
    with pytest.raises(ValueError):
        InContextReranker(model=str(tiny_llama_dir), top_n=0)


def test_in_a_contextual_compression_retriever(ranker):
    store = InMemoryVectorStore.from_texts(
        ["The Eiffel Tower is in Paris.", "Paris is the capital of France.", "Bananas."],
        CtxEmbeddings(),
        ids=["eiffel", "paris", "banana"],
    )
    retriever = ContextualCompressionRetriever(
        base_compressor=InContextReranker(ranker=ranker, top_n=2),
        base_retriever=store.as_retriever(search_kwargs={"k": 3}),
    )
    docs = retriever.invoke("What is the capital of France?")
    assert len(docs) == 2 and {d.id for d in docs} <= {"eiffel", "paris", "banana"}
    assert all("relevance_score" in d.metadata for d in docs)
