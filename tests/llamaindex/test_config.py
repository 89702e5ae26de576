"""LlamaIndex adapters round-trip through to_dict/from_dict and to_json/from_json and decide alike.

Every component is built with a non-default core component (BM25 with ``k1=1.2``, a
tiny random Llama, an embedder batch size of 7, ...), so a rebuild that fell back to a
default would show in the config or in the decisions.
"""

from __future__ import annotations

import pytest
from llama_index.core import Document
from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.llms import MockLLM
from llama_index.core.schema import NodeWithScore, TextNode
from pydantic import ValidationError

from ctx_core.errors import ConfigError
from ctx_core.incontext import InContextRanker
from ctx_core.llm import TransformersLLM
from ctx_core.memory import HeuristicMemoryExtractor, MemoryIndex
from ctx_core.scoring import BM25Scorer, EmbeddingScorer
from ctx_core.structure import HeuristicStructurizer
from ctx_core.udcg import HybridSignals, LogisticCalibrator
from llamaindex_ctx import (
    ContextRerankPostprocessor,
    CtxEmbedding,
    CtxLLM,
    InContextRerankPostprocessor,
    LlamaIndexLLM,
    MemoryExtractTransform,
    StructurizePostprocessor,
    StructurizeTransform,
    UDCGRerankPostprocessor,
)

QUERY = "Which city is the capital of France?"
TEXTS = {
    "banana": "Bananas are yellow and sweet.",
    "paris": "Paris is the capital of France.",
    "louvre": "France borders Spain; the capital city hosts the Louvre.",
    "berlin": "Berlin is the capital of Germany.",
}


@pytest.fixture
def nodes():
    return [NodeWithScore(node=TextNode(text=t, id_=i), score=0.5) for i, t in TEXTS.items()]


def round_trips(component):
    """The component rebuilt from to_dict and from to_json."""
    cls = type(component)
    return [cls.from_dict(component.to_dict()), cls.from_json(component.to_json())]


def decisions(post, nodes):
    kept = post.postprocess_nodes(nodes, query_str=QUERY)
    return [(n.node.node_id, round(n.score, 6)) for n in kept]


def test_context_rerank_postprocessor_keeps_its_scorer(nodes):
    post = ContextRerankPostprocessor(BM25Scorer(k1=1.2, b=0.9), top_n=2, score_threshold=0.1)
    expected = decisions(post, nodes)
    assert post.to_dict()["scorer"] == {"type": "BM25Scorer", "k1": 1.2, "b": 0.9}
    for again in round_trips(post):
        assert type(again) is ContextRerankPostprocessor
        assert again.scorer.config() == post.scorer.config()
        assert (again.top_n, again.score_threshold) == (2, 0.1)
        assert decisions(again, nodes) == expected


def test_context_rerank_postprocessor_with_an_embedding_scorer(nodes, embedder):
    post = ContextRerankPostprocessor(EmbeddingScorer(embedder.model_name, batch_size=7), top_n=3)
    expected = decisions(post, nodes)
    for again in round_trips(post):
        assert again.scorer.config()["batch_size"] == 7
        assert decisions(again, nodes) == expected


def test_a_config_dict_builds_the_scorer(nodes):
    post = ContextRerankPostprocessor({"type": "BM25Scorer", "k1": 1.2}, top_n=2)
    assert isinstance(post.scorer, BM25Scorer) and post.scorer.k1 == 1.2
    assert decisions(post, nodes) == decisions(
        ContextRerankPostprocessor(scorer=BM25Scorer(k1=1.2), top_n=2), nodes
    )


def test_unknown_arguments_are_errors(tiny_llama_dir):
    llm = TransformersLLM(str(tiny_llama_dir))
    for build in (
        lambda: ContextRerankPostprocessor(modle="bm25"),
        lambda: UDCGRerankPostprocessor(scorer=BM25Scorer()),
        lambda: InContextRerankPostprocessor(layer=3),
        lambda: StructurizeTransform(style="reading"),
        lambda: StructurizePostprocessor(style="reading"),
        lambda: MemoryExtractTransform(extractr=None),
        lambda: CtxEmbedding(modle="x"),
        lambda: CtxLLM(llm, modle="x"),
    ):
        with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
            build()
    with pytest.raises(ValidationError, match="does not take"):
        ContextRerankPostprocessor({"type": "BM25Scorer", "k": 1.2})
    with pytest.raises(ValidationError, match="unknown component"):
        ContextRerankPostprocessor({"type": "NoSuchScorer"})


def test_an_object_without_config_is_an_error_not_a_default(nodes):
    class Overlap:
        def score(self, query, passages):
            return [1.0 for _ in passages]

    post = ContextRerankPostprocessor(Overlap())
    with pytest.raises(ConfigError, match="Overlap object, which has no config"):
        post.to_json()
    # to_dict (also LlamaIndex's ingestion cache key) keeps the object: the same scorer.
    assert ContextRerankPostprocessor.from_dict(post.to_dict()).scorer is post.scorer


def test_udcg_postprocessor_keeps_its_relevance_and_calibrator(nodes, embedder):
    post = UDCGRerankPostprocessor(
        HybridSignals(embedder, bm25=BM25Scorer(k1=1.2)),
        calibrator="hybrid-hotpotqa",
        token_budget=40,
        allow_empty=False,
    )
    expected = decisions(post, nodes)
    for again in round_trips(post):
        assert again.core_reranker().config() == post.core_reranker().config()
        assert again.relevance.bm25.k1 == 1.2
        assert decisions(again, nodes) == expected


def test_udcg_postprocessor_with_a_fitted_calibrator(nodes):
    calibrator = LogisticCalibrator([0.8], -2.0)
    post = UDCGRerankPostprocessor(BM25Scorer(k1=1.2), calibrator=calibrator, token_budget=40)
    assert post.to_dict()["calibrator"] == calibrator.to_dict()
    for again in round_trips(post):
        assert again.core_reranker().config() == post.core_reranker().config()
        assert decisions(again, nodes) == decisions(post, nodes)


def test_incontext_postprocessor_keeps_its_model(nodes, tiny_llama_dir):
    post = InContextRerankPostprocessor(model=str(tiny_llama_dir), scoring_layer=1, top_n=2)
    expected = decisions(post, nodes)
    for again in round_trips(post):
        assert again.model == str(tiny_llama_dir) and again.scoring_layer == 1
        assert decisions(again, nodes) == expected


def test_incontext_postprocessor_with_a_shared_ranker(nodes, tiny_llama_dir):
    ranker = InContextRanker(str(tiny_llama_dir), scoring_layer=0, calibrate=False)
    post = InContextRerankPostprocessor(ranker, top_n=2)
    expected = decisions(post, nodes)
    assert post.to_dict()["ranker"] == ranker.config()
    for again in round_trips(post):
        assert again.core_ranker.config() == ranker.config()
        assert decisions(again, nodes) == expected


def test_structurize_transform_keeps_its_structurizer(embedder):
    transform = StructurizeTransform(
        structurizer=HeuristicStructurizer(embedder, sentences_per_aspect=1), format="outline"
    )
    text_nodes = [TextNode(text=t, id_=i) for i, t in TEXTS.items()]
    expected = [n.get_content() for n in transform(text_nodes)]
    for again in round_trips(transform):
        assert again.structurizer.config() == transform.structurizer.config()
        assert again.format == "outline"
        assert [n.get_content() for n in again(text_nodes)] == expected


def test_structurize_postprocessor_keeps_its_structurizer(nodes, embedder):
    post = StructurizePostprocessor(
        structurizer=HeuristicStructurizer(embedder, sentences_per_aspect=1), format="markdown"
    )
    expected = [n.node.get_content() for n in post.postprocess_nodes(nodes)]
    for again in round_trips(post):
        assert again.structurizer.config() == post.structurizer.config()
        assert [n.node.get_content() for n in again.postprocess_nodes(nodes)] == expected


def test_memory_extract_transform_keeps_its_extractor_and_index_settings(embedder):
    def build():
        return MemoryExtractTransform(
            extractor=HeuristicMemoryExtractor(embedder, max_words=40, min_words=5),
            index=MemoryIndex(embedder, chunk_k=3),
        )

    text = "# Cats\n\nCats purr. They nap all day.\n\n# Dogs\n\nDogs bark. They fetch sticks."
    documents = [Document(text=text, id_="pets")]
    reference = build()
    expected = [(n.node_id, n.get_content()) for n in reference(documents)]
    for again in round_trips(build()):
        assert again.extractor.config() == reference.extractor.config()
        assert again.index.config() == reference.index.config()
        assert [(n.node_id, n.get_content()) for n in again(documents)] == expected


def test_memory_extract_transform_with_memories_is_not_written_without_them(embedder):
    transform = MemoryExtractTransform(index=MemoryIndex(embedder))
    # In a pipeline: LlamaIndex hashes to_dict() for its cache; that keeps working.
    IngestionPipeline(transformations=[transform]).run(
        documents=[Document(text="Cats purr. They nap.", id_="cats")]
    )
    with pytest.raises(ConfigError, match="holds 1 memories"):
        transform.to_json()
    assert MemoryExtractTransform.from_dict(transform.to_dict()).index is transform.index


def test_ctx_embedding_keeps_the_model_and_options():
    embedding = CtxEmbedding(options={"batch_size": 7}, embed_batch_size=5)
    vector = embedding.get_query_embedding("capital of France")
    for again in round_trips(embedding):
        assert again.embedder.batch_size == 7 and again.embed_batch_size == 5
        assert again.model_name == embedding.model_name
        assert again.get_query_embedding("capital of France") == pytest.approx(vector)


def test_ctx_embedding_describes_a_shared_embedder(embedder):
    embedding = CtxEmbedding(embedder)
    assert embedding.embedder is embedder
    again = CtxEmbedding.from_json(embedding.to_json())
    assert again.embedder.config() == embedder.config()


def test_ctx_llm_keeps_its_llm(tiny_llama_dir):
    llm = CtxLLM(TransformersLLM(str(tiny_llama_dir), seed=3), max_tokens=5)
    expected = llm.complete("Say hi").text
    for again in round_trips(llm):
        assert again.llm.config() == llm.llm.config()
        assert (again.max_tokens, again.model_name) == (5, llm.model_name)
        assert again.complete("Say hi").text == expected


def test_ctx_llm_over_a_framework_model_cannot_be_written():
    llm = CtxLLM(LlamaIndexLLM(MockLLM()))
    with pytest.raises(ConfigError, match="LlamaIndexLLM object"):
        llm.to_json()
