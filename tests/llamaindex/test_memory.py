"""llamaindex_ctx.MemoryRetriever and MemoryExtractTransform."""

import pytest
from llama_index.core import Document
from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.schema import MetadataMode, NodeRelationship, QueryBundle, TextNode

from ctx_core.memory import HeuristicMemoryExtractor, MemoryIndex
from llamaindex_ctx import MemoryExtractTransform, MemoryRetriever

BOOK = (
    "# Cats\n\nCats are small domestic felines. They sleep most of the day and purr when content.\n\n"
    "# Rockets\n\nRockets carry satellites into orbit. A launch needs clear skies and low winds.\n"
)


def documents():
    return [
        Document(
            text=BOOK, id_="book", metadata={"author": "me"}, excluded_llm_metadata_keys=["author"]
        ),
        Document(text="Paris is the capital of France.", id_="paris"),
    ]


def test_transform_in_an_ingestion_pipeline(embedder):
    index = MemoryIndex(embedder)
    transform = MemoryExtractTransform(index=index)
    docs = documents()
    nodes = IngestionPipeline(transformations=[transform]).run(documents=docs)
    assert [n.node_id for n in nodes] == ["book#0", "book#1", "paris#0"]
    cats, rockets, _paris = nodes
    assert cats.metadata["heading"] == "Cats" and rockets.metadata["heading"] == "Rockets"
    assert cats.metadata["author"] == "me"
    assert BOOK[cats.start_char_idx : cats.end_char_idx] == cats.get_content(
        metadata_mode=MetadataMode.NONE
    )
    assert cats.relationships[NodeRelationship.SOURCE].node_id == "book"
    # Added keys stay out of what the LLM reads; the document's own exclusions are kept.
    llm_view = cats.get_content(metadata_mode=MetadataMode.LLM)
    assert (
        "core_content" not in llm_view and "author" not in llm_view and "heading: Cats" in llm_view
    )
    assert index.doc_ids == ["book", "paris"]
    assert docs[0].text == BOOK and docs[0].metadata == {"author": "me"}  # inputs untouched


async def test_transform_async_and_empty_input(embedder):
    transform = MemoryExtractTransform(extractor=HeuristicMemoryExtractor(embedder))
    assert transform([]) == []
    nodes = await transform.acall(documents())
    assert len(nodes) == 3 and all(isinstance(n, TextNode) for n in nodes)


def test_transform_bad_input(embedder):
    transform = MemoryExtractTransform(extractor=HeuristicMemoryExtractor(embedder))
    with pytest.raises(ValueError, match=r"documents\['blank'\]: document is empty"):
        transform([Document(text="  ", id_="blank")])
    with pytest.raises(TypeError, match="must be a LlamaIndex node"):
        transform(["text"])
    with pytest.raises(TypeError, match="index must be a ctx_core MemoryIndex"):
        MemoryExtractTransform(index="not an index")


@pytest.fixture(scope="module")
def retriever(embedder):
    return MemoryRetriever.from_documents(documents(), embedder=embedder, similarity_top_k=2)


def test_retriever_returns_scored_chunks(retriever):
    hits = retriever.retrieve("Which vehicles carry satellites?")
    assert hits[0].node.node_id == "book#1"
    assert hits[0].score == hits[0].node.metadata["relevance_score"]
    assert "retrieval_score" in hits[0].node.metadata
    assert hits[0].node.metadata["memory_layers"][0] == "chunk"
    assert hits[0].node.relationships[NodeRelationship.SOURCE].node_id == "book"
    assert len(hits) == 2


async def test_retriever_native_async(retriever):
    sync = retriever.retrieve("capital of France")
    asynchronous = await retriever.aretrieve(QueryBundle("capital of France"))
    assert [n.node.node_id for n in asynchronous] == [n.node.node_id for n in sync]


def test_retriever_in_a_query_engine(retriever):
    from llama_index.core.llms import MockLLM

    engine = RetrieverQueryEngine.from_args(retriever, llm=MockLLM())
    response = engine.query("What is the capital of France?")
    assert response.source_nodes[0].node.node_id == "paris#0"


def test_retriever_bad_settings(embedder):
    with pytest.raises(TypeError, match="MemoryIndex"):
        MemoryRetriever("index")
    with pytest.raises(ValueError, match="similarity_top_k"):
        MemoryRetriever(MemoryIndex(embedder), similarity_top_k=0)
