from llama_index.core import Document, VectorStoreIndex
from llama_index.core.llms import MockLLM
from llama_index.core.schema import MetadataMode, NodeWithScore, TextNode

from ctx_core.udcg import LogisticCalibrator
from llamaindex_ctx import CtxEmbedding, UDCGRerankPostprocessor

CALIBRATOR = LogisticCalibrator([2.0], -3.0)


def test_scores_and_metadata(overlap_scorer):
    nodes = [
        NodeWithScore(node=TextNode(text="green pears", id_="pears"), score=0.7),
        NodeWithScore(
            node=TextNode(text="red apples", id_="apples", metadata={"src": "x"}), score=0.2
        ),
    ]
    post = UDCGRerankPostprocessor(relevance=overlap_scorer, calibrator=CALIBRATOR)
    [kept] = post.postprocess_nodes(nodes, query_str="red apples")
    meta = kept.node.metadata
    assert kept.node.node_id == "apples" and kept.score == meta["expected_gain"]
    assert meta["src"] == "x" and meta["retrieval_score"] == 0.2 and meta["relevance_score"] == 2.0
    assert "expected_gain" not in kept.node.get_content(metadata_mode=MetadataMode.LLM)
    assert nodes[1].node.metadata == {"src": "x"} and nodes[1].score == 0.2
    assert post.postprocess_nodes(nodes, query_str="volcano") == []


async def test_async_and_query_engine(overlap_scorer):
    post = UDCGRerankPostprocessor(relevance=overlap_scorer, calibrator=CALIBRATOR)
    nodes = [NodeWithScore(node=TextNode(text="red apples", id_="a"))]
    assert [n.node.node_id for n in await post.apostprocess_nodes(nodes, query_str="apples")] == [
        "a"
    ]
    index = VectorStoreIndex.from_documents(
        [Document(text="red apples", doc_id="a"), Document(text="blue sky", doc_id="b")],
        embed_model=CtxEmbedding(),
    )
    engine = index.as_query_engine(similarity_top_k=2, node_postprocessors=[post], llm=MockLLM())
    assert [n.node.ref_doc_id for n in engine.query("red apples").source_nodes] == ["a"]


def test_rule_settings_reach_the_core_reranker(overlap_scorer):
    post = UDCGRerankPostprocessor(
        relevance=overlap_scorer, calibrator=CALIBRATOR, min_share=0.3, min_probability=0.2
    )
    nodes = [
        NodeWithScore(node=TextNode(text=text, id_=text))
        for text in ("red red apples", "red apples", "apples", "blue sky")
    ]
    # p 0.73, 0.73, 0.27, 0.05: 0.27 carries 0.15 of the list, below min_share 0.3
    kept = post.postprocess_nodes(nodes, query_str="red apples")
    assert [n.node.node_id for n in kept] == ["red red apples", "red apples"]
    loose = UDCGRerankPostprocessor(
        relevance=overlap_scorer, calibrator=CALIBRATOR, min_share=0.1, min_probability=0.2
    )
    assert len(loose.postprocess_nodes(nodes, query_str="red apples")) == 3
