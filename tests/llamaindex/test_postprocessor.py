from typing import ClassVar

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.callbacks import CallbackManager, CBEventType, LlamaDebugHandler
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.llms import MockLLM
from llama_index.core.schema import MetadataMode, NodeWithScore, TextNode

from llamaindex_ctx import ContextRerankPostprocessor, CtxEmbedding
from llamaindex_ctx.convert import nodes_to_passages, passages_to_nodes


@pytest.fixture
def nodes():
    return [
        NodeWithScore(node=TextNode(text="red apples", id_="a", metadata={"src": "x"}), score=0.9),
        NodeWithScore(node=TextNode(text="green pears", id_="b"), score=0.8),
        NodeWithScore(node=TextNode(text="red red apples", id_="c"), score=0.1),
        NodeWithScore(node=TextNode(text="red apples again", id_="a"), score=0.05),
    ]


class Recorder(BaseEventHandler):
    events: ClassVar[list[str]] = []

    @classmethod
    def class_name(cls) -> str:
        return "Recorder"

    def handle(self, event, **kwargs):
        self.events.append(event.class_name())


def test_conversion_round_trip(nodes):
    passages = nodes_to_passages(nodes)
    assert [p.id for p in passages] == ["a", "b", "c", "#3"]
    assert passages[0].score == 0.9
    back = passages_to_nodes(
        [p.with_metadata(extra=1).with_score(5) for p in passages[::-1]], nodes
    )
    assert [n.node.node_id for n in back] == ["a", "c", "b", "a"]
    assert back[3].node.metadata == {"src": "x", "extra": 1} and back[3].score == 5
    assert "extra" not in back[3].node.get_content(metadata_mode=MetadataMode.LLM)
    assert nodes[0].node.metadata == {"src": "x"}


def test_postprocessor_scores_copies_and_emits_events(overlap_scorer, nodes):
    recorder = Recorder()
    get_dispatcher().add_event_handler(recorder)
    debug = LlamaDebugHandler()
    post = ContextRerankPostprocessor(
        scorer=overlap_scorer, top_n=2, callback_manager=CallbackManager([debug])
    )
    kept = post.postprocess_nodes(nodes, query_str="red apples")
    assert [(n.node.node_id, n.score) for n in kept] == [("a", 2.0), ("c", 2.0)]
    assert kept[0].node.metadata == {"src": "x", "retrieval_score": 0.9}
    assert nodes[0].score == 0.9 and nodes[0].node.metadata == {"src": "x"}
    assert kept[0].node is not nodes[0].node
    assert {"ReRankStartEvent", "ReRankEndEvent"} <= set(recorder.events)
    assert len(debug.get_event_pairs(CBEventType.RERANKING)) == 1


async def test_async_empty_and_errors(overlap_scorer, nodes):
    post = ContextRerankPostprocessor(scorer=overlap_scorer, top_n=3)
    sync = post.postprocess_nodes(nodes, query_str="green pears")
    result = await post.apostprocess_nodes(nodes, query_str="green pears")
    assert [(n.node.node_id, n.score) for n in result] == [(n.node.node_id, n.score) for n in sync]
    calls = overlap_scorer.calls
    assert post.postprocess_nodes([], query_str="x") == []
    assert overlap_scorer.calls == calls
    with pytest.raises(ValueError, match="query_bundle"):
        post.postprocess_nodes(nodes)
    with pytest.raises(TypeError, match=r"nodes\[0\]"):
        post.postprocess_nodes([TextNode(text="bare")], query_str="x")


def test_in_a_query_engine():
    documents = [
        Document(text="The Eiffel Tower is in Paris.", doc_id="eiffel"),
        Document(text="Paris is the capital of France.", doc_id="paris"),
        Document(text="Bananas are rich in potassium.", doc_id="banana"),
    ]
    index = VectorStoreIndex.from_documents(documents, embed_model=CtxEmbedding())
    engine = index.as_query_engine(
        similarity_top_k=3, node_postprocessors=[ContextRerankPostprocessor(top_n=1)], llm=MockLLM()
    )
    response = engine.query("What is the capital of France?")
    [node] = response.source_nodes
    assert node.node.ref_doc_id == "paris"
    assert "retrieval_score" in node.node.metadata
