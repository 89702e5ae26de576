import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.llms import MockLLM
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import MetadataMode, NodeWithScore, TextNode

from ctx_core.llm import BaseLLM
from ctx_core.structure import HeuristicStructurizer, LLMStructurizer, structure_from_metadata
from llamaindex_ctx import CtxEmbedding, StructurizePostprocessor, StructurizeTransform

AMAZON = (
    "The Amazon rainforest covers much of the Amazon basin in South America. "
    "It spans parts of nine countries, with most of it in Brazil. "
    "Jazz originated in New Orleans in the late nineteenth century. "
    "It grew out of blues and ragtime played by African American musicians."
)
PHOTO = (
    "Photosynthesis converts light energy into chemical energy in plants. "
    "Chlorophyll in the leaves absorbs mostly red and blue light."
)


@pytest.fixture
def heuristic(embedder):
    return HeuristicStructurizer(embedder)


def test_ingestion_pipeline_structurizes_then_embeds(heuristic):
    documents = [
        Document(text=AMAZON, id_="amazon", metadata={"source": "atlas"}),
        Document(text=PHOTO, id_="photo", metadata={"source": "biology"}),
    ]
    pipeline = IngestionPipeline(
        transformations=[
            SentenceSplitter(chunk_size=512, chunk_overlap=0),
            StructurizeTransform(structurizer=heuristic),
            CtxEmbedding(),
        ]
    )
    nodes = pipeline.run(documents=documents)
    assert len(nodes) == 2 and all(n.embedding is not None for n in nodes)
    amazon = next(n for n in nodes if n.metadata["source"] == "atlas")
    assert amazon.ref_doc_id == "amazon"
    assert amazon.metadata["original_text"] == AMAZON
    assert amazon.get_content().startswith(structure_from_metadata(amazon.metadata).scope + ".\n**")
    # The structure and the original text stay out of what the embedder and the LLM read.
    for mode in (MetadataMode.EMBED, MetadataMode.LLM):
        content = amazon.get_content(metadata_mode=mode)
        assert "original_text" not in content and '"aspects"' not in content
        assert "source: atlas" in content
    index = VectorStoreIndex(nodes, embed_model=CtxEmbedding())
    [hit] = index.as_retriever(similarity_top_k=1).retrieve("Where did jazz begin?")
    assert hit.node.metadata["source"] == "atlas"


def test_transform_copies_keeps_ids_and_skips_blank(heuristic):
    nodes = [
        TextNode(text=AMAZON, id_="n1", metadata={"k": 1}),
        TextNode(text="  ", id_="blank"),
    ]
    out = StructurizeTransform(structurizer=heuristic, format="outline")(nodes)
    assert [n.node_id for n in out] == ["n1", "blank"]
    assert out[0] is not nodes[0] and nodes[0].text == AMAZON and nodes[0].metadata == {"k": 1}
    assert out[0].metadata["k"] == 1 and out[0].metadata["structure_format"] == "outline"
    assert out[1].text == "  " and "structure" not in out[1].metadata
    assert StructurizeTransform(structurizer=heuristic)([]) == []
    with pytest.raises(TypeError, match=r"nodes\[0\] must be a BaseNode"):
        StructurizeTransform(structurizer=heuristic)(["text"])


async def test_async_transform_and_postprocessor_with_an_llm(heuristic):
    class AsyncScripted(BaseLLM):
        def complete(self, prompt, **kwargs):
            raise AssertionError("the async path must call acomplete")

        async def acomplete(self, prompt, **kwargs):
            return "scope: two subjects\naspects:\n  - name: forest\n    sentences: 1-2\n  - name: music\n    sentences: 3-4"

    structurizer = LLMStructurizer(AsyncScripted(), fallback=heuristic)
    [node] = await StructurizeTransform(structurizer=structurizer).acall([TextNode(text=AMAZON)])
    assert node.get_content().startswith("two subjects.\n**forest**:")
    hits = [NodeWithScore(node=TextNode(text=AMAZON, id_="a"), score=0.7)]
    [hit] = await StructurizePostprocessor(structurizer=structurizer).apostprocess_nodes(
        hits, query_str="jazz"
    )
    assert hit.score == 0.7 and hit.node.node_id == "a"
    assert hit.node.get_content().startswith("This passage talks about two subjects:\n1. forest:")


def test_postprocessor_in_a_query_engine(heuristic):
    nodes = [
        TextNode(text=AMAZON, id_="amazon", metadata={"source": "atlas"}),
        TextNode(text=PHOTO, id_="photo"),
    ]
    index = VectorStoreIndex(nodes, embed_model=CtxEmbedding())
    engine = index.as_query_engine(
        similarity_top_k=2,
        llm=MockLLM(),  # echoes its prompt: we can read the context the reader got
        node_postprocessors=[StructurizePostprocessor(structurizer=heuristic)],
    )
    response = engine.query("Where did jazz begin?")
    sources = response.source_nodes
    assert [n.node.node_id for n in sources] == ["amazon", "photo"]
    assert sources[0].score > sources[1].score
    assert all(n.node.get_content().startswith("This passage talks about") for n in sources)
    assert "This passage talks about" in str(response)
    assert "original_text" not in str(response)
    assert nodes[0].text == AMAZON  # the index's own nodes are untouched
    assert StructurizePostprocessor(structurizer=heuristic).postprocess_nodes([]) == []
