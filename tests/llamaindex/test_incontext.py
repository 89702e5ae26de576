"""LlamaIndex InContextRerankPostprocessor on a tiny random Llama (fast)."""

from typing import ClassVar

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.callbacks import CallbackManager, CBEventType, LlamaDebugHandler
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.llms import MockLLM
from llama_index.core.schema import NodeWithScore, TextNode

from ctx_core.incontext import InContextRanker
from llamaindex_ctx import CtxEmbedding, CtxRerankPostprocessor, InContextRerankPostprocessor


@pytest.fixture(scope="module")
def ranker(tiny_llama_dir):
    return InContextRanker(str(tiny_llama_dir))


@pytest.fixture
def nodes():
    return [
        NodeWithScore(
            node=TextNode(text="Paris is the capital of France.", id_="paris", metadata={"s": 1}),
            score=0.4,
        ),
        NodeWithScore(node=TextNode(text="Bananas are yellow.", id_="banana"), score=0.9),
        NodeWithScore(node=TextNode(text="Berlin is in Germany.", id_="berlin"), score=0.1),
    ]


class Recorder(BaseEventHandler):
    events: ClassVar[list[str]] = []

    @classmethod
    def class_name(cls) -> str:
        return "IncontextRecorder"

    def handle(self, event, **kwargs):
        self.events.append(event.class_name())


def test_scores_copies_and_events(ranker, nodes):
    recorder = Recorder()
    get_dispatcher().add_event_handler(recorder)
    debug = LlamaDebugHandler()
    post = InContextRerankPostprocessor(
        ranker=ranker, top_n=2, callback_manager=CallbackManager([debug])
    )
    assert isinstance(post, CtxRerankPostprocessor)
    kept = post.postprocess_nodes(nodes, query_str="What is the capital of France?")
    expected = ranker.score("What is the capital of France?", [n.node.text for n in nodes])
    best = sorted(range(3), key=lambda i: -expected[i])[:2]
    assert [n.node.node_id for n in kept] == [nodes[i].node.node_id for i in best]
    for n in kept:
        original = next(o for o in nodes if o.node.node_id == n.node.node_id)
        assert n.node is not original.node
        assert n.node.metadata["retrieval_score"] == original.score
        assert abs(n.score - expected[nodes.index(original)]) < 1e-6
    assert nodes[0].node.metadata == {"s": 1} and nodes[0].score == 0.4
    assert {"ReRankStartEvent", "ReRankEndEvent"} <= set(recorder.events)
    assert len(debug.get_event_pairs(CBEventType.RERANKING)) == 1
    assert post.model_label().startswith("incontext:")


async def test_async_empty_and_errors(tiny_llama_dir, nodes):
    post = InContextRerankPostprocessor(model=str(tiny_llama_dir), top_n=3)
    assert post.postprocess_nodes([], query_str="x") == []
    assert post.core_ranker._engine is None
    sync = post.postprocess_nodes(nodes, query_str="Berlin")
    result = await post.apostprocess_nodes(nodes, query_str="Berlin")
    assert [n.node.node_id for n in result] == [n.node.node_id for n in sync]
    with pytest.raises(ValueError, match="query_bundle"):
        post.postprocess_nodes(nodes)
    with pytest.raises(TypeError, match="InContextRanker"):
        InContextRerankPostprocessor(ranker="nope")


def test_in_a_query_engine(ranker):
    documents = [
        Document(text="The Eiffel Tower is in Paris.", doc_id="eiffel"),
        Document(text="Paris is the capital of France.", doc_id="paris"),
        Document(text="Bananas are rich in potassium.", doc_id="banana"),
    ]
    index = VectorStoreIndex.from_documents(documents, embed_model=CtxEmbedding())
    engine = index.as_query_engine(
        similarity_top_k=3,
        node_postprocessors=[InContextRerankPostprocessor(ranker=ranker, top_n=1)],
        llm=MockLLM(),
    )
    [node] = engine.query("What is the capital of France?").source_nodes
    assert node.node.ref_doc_id in {"eiffel", "paris", "banana"}
    assert "retrieval_score" in node.node.metadata
