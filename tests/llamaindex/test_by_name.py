"""LlamaIndex components built by name decide like those built from objects and round-trip
through to_dict/from_dict; with no model given they use the models a user set in
``Settings`` (and the packaged ones when none is set, without LlamaIndex resolving its
OpenAI defaults)."""

from __future__ import annotations

import pytest
from llama_index.core import Settings
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.llms import MockLLM
from llama_index.core.schema import NodeWithScore, TextNode
from pydantic import ValidationError

from ctx_core.embeddings import Embedder
from ctx_core.scoring import BM25Scorer, EmbeddingScorer
from ctx_core.udcg import HybridSignals
from llamaindex_ctx import (
    ContextRerankPostprocessor,
    ContextToolSpec,
    CtxEmbedding,
    LlamaIndexLLM,
    StructurizePostprocessor,
    StructurizeTransform,
    UDCGRerankPostprocessor,
)
from llamaindex_ctx.embeddings import LlamaIndexEmbedder
from llamaindex_ctx.settings import settings_embedder, settings_llm

QUERY = "Which city is the capital of France?"
TEXTS = {
    "banana": "Bananas are yellow and sweet.",
    "paris": "Paris is the capital of France.",
    "berlin": "Berlin is the capital of Germany.",
}


@pytest.fixture
def nodes():
    return [NodeWithScore(node=TextNode(text=t, id_=i), score=0.5) for i, t in TEXTS.items()]


@pytest.fixture
def clean_settings():
    """Settings as a fresh process has them (nothing set), restored afterwards."""
    saved = (Settings._embed_model, Settings._llm)
    Settings._embed_model, Settings._llm = None, None
    yield Settings
    Settings._embed_model, Settings._llm = saved


def decisions(post, nodes):
    return [
        (n.node.node_id, round(n.score, 6)) for n in post.postprocess_nodes(nodes, query_str=QUERY)
    ]


def test_rerank_postprocessor_by_model_and_by_scorer_name(nodes, embedder, clean_settings):
    by_model = ContextRerankPostprocessor(model=embedder.model_name, top_n=2)
    assert decisions(by_model, nodes) == decisions(
        ContextRerankPostprocessor(EmbeddingScorer(embedder), top_n=2), nodes
    )
    by_name = ContextRerankPostprocessor("bm25", top_n=2)
    assert decisions(by_name, nodes) == decisions(
        ContextRerankPostprocessor(BM25Scorer(), top_n=2), nodes
    )
    for post in (by_model, by_name):
        again = ContextRerankPostprocessor.from_dict(post.to_dict())
        assert (again.scorer, again.model) == (post.scorer, post.model)
        assert decisions(again, nodes) == decisions(post, nodes)
        assert decisions(ContextRerankPostprocessor.from_json(post.to_json()), nodes) == decisions(
            post, nodes
        )
    with pytest.raises(ValidationError, match="unknown scorer"):
        ContextRerankPostprocessor("no-such")
    with pytest.raises(ValidationError, match="already has its model"):
        ContextRerankPostprocessor(BM25Scorer(), model="x")


def test_udcg_postprocessor_by_model_and_calibrator(nodes, embedder, clean_settings):
    by_name = UDCGRerankPostprocessor(model=embedder.model_name, calibrator="hybrid-hotpotqa")
    by_object = UDCGRerankPostprocessor(HybridSignals(embedder), calibrator="hybrid-hotpotqa")
    assert decisions(by_name, nodes) == decisions(by_object, nodes)
    again = UDCGRerankPostprocessor.from_dict(by_name.to_dict())
    assert (again.model, again.calibrator) == (embedder.model_name, "hybrid-hotpotqa")
    assert decisions(again, nodes) == decisions(by_name, nodes)
    with pytest.raises(ValidationError, match="calibrator is required"):
        UDCGRerankPostprocessor(relevance="bm25")


def test_nothing_set_means_packaged_models_and_no_openai(nodes, clean_settings):
    assert settings_embedder() is None and settings_llm() is None
    post = ContextRerankPostprocessor(top_n=1)
    assert post._scorer.embedder.model_name == Embedder().model_name
    # Reading the adapters' defaults did not make LlamaIndex resolve its own (OpenAI) ones.
    assert Settings._embed_model is None and Settings._llm is None


def test_settings_embed_model_is_the_default(nodes, clean_settings):
    clean_settings.embed_model = MockEmbedding(embed_dim=16)
    embedder = settings_embedder()
    assert isinstance(embedder, LlamaIndexEmbedder)
    post = ContextRerankPostprocessor(top_n=3)
    assert post._scorer.embedder.embed_model is Settings.embed_model
    assert len(post.postprocess_nodes(nodes, query_str=QUERY)) == 3
    # What to_dict writes re-resolves from Settings; to_json says the model has no config.
    assert post.to_dict()["scorer"] is None
    # A model named explicitly wins over Settings.
    assert isinstance(ContextRerankPostprocessor("bm25")._scorer, BM25Scorer)
    structurize = StructurizeTransform()
    assert structurize.core_structurizer.embedder.embed_model is Settings.embed_model
    assert StructurizePostprocessor().core_structurizer.embedder.embed_model is Settings.embed_model
    # UDCG's shipped calibrator is for MiniLM: another model must bring its own.
    with pytest.raises(ValidationError, match=r"Settings\.embed_model is"):
        UDCGRerankPostprocessor()
    calibrated = UDCGRerankPostprocessor(calibrator="hybrid-hotpotqa")
    assert calibrated.core_reranker().relevance.embedder.embed_model is Settings.embed_model


def test_settings_ctx_embedding_shares_its_embedder(nodes, embedder, clean_settings):
    clean_settings.embed_model = CtxEmbedding(embedder)
    post = UDCGRerankPostprocessor()  # MiniLM: the shipped calibrator applies
    assert post.core_reranker().relevance.embedder is embedder
    assert decisions(post, nodes) == decisions(
        UDCGRerankPostprocessor(HybridSignals(embedder), calibrator="hybrid-mixed"), nodes
    )


def test_settings_llm_writes_the_tools_summaries(clean_settings):
    from ctx_core.context import WorkingContext

    clean_settings.llm = MockLLM(max_tokens=8)
    spec = ContextToolSpec(WorkingContext([("user", "hello")]))
    assert isinstance(spec.tools.llm, LlamaIndexLLM) and spec.tools.llm.llm is Settings.llm
