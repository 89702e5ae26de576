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
from ctx_core.errors import ConfigError
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


# -- document memory: model= and Settings.embed_model ----------------------------------

BOOK = (
    "# Cats\n\nCats are small domestic felines. They sleep most of the day and purr.\n\n"
    "# Rockets\n\nRockets carry satellites into orbit. A launch needs clear skies.\n"
)


def memory_documents():
    from llama_index.core import Document

    return [
        Document(text=BOOK, id_="book"),
        Document(text="Paris is the capital of France.", id_="paris"),
    ]


def hits(retriever):
    return [(n.node.node_id, round(n.score, 6)) for n in retriever.retrieve(QUERY)]


def test_memory_components_by_model(embedder, clean_settings):
    from ctx_core.memory import HeuristicMemoryExtractor, MemoryIndex
    from llamaindex_ctx import MemoryExtractTransform, MemoryRetriever

    name = embedder.model_name
    by_model = MemoryExtractTransform(model=name)
    by_object = MemoryExtractTransform(extractor=HeuristicMemoryExtractor(embedder))
    assert [(n.node_id, n.metadata["heading"]) for n in by_model(memory_documents())] == [
        (n.node_id, n.metadata["heading"]) for n in by_object(memory_documents())
    ]
    again = MemoryExtractTransform.from_dict(by_model.to_dict())
    assert again.model == name
    assert MemoryExtractTransform.from_json(by_model.to_json()).model == name

    retriever = MemoryRetriever(model=name, similarity_top_k=2)
    assert retriever.index.embedder.model_name == name
    reference = MemoryRetriever.from_documents(
        memory_documents(), embedder=embedder, similarity_top_k=2
    )
    for built in (retriever, MemoryRetriever.from_dict(retriever.to_dict())):
        assert (built.model, built.similarity_top_k) == (name, 2)
        MemoryExtractTransform(index=built.index)(memory_documents())
        assert hits(built) == hits(reference)
    rebuilt = MemoryRetriever.from_json(MemoryRetriever(model=name).to_json())
    assert rebuilt.model == name and len(rebuilt.index) == 0
    # An empty index given is written as its config; one holding memories is not written.
    empty = MemoryRetriever(MemoryIndex(name, chunk_k=3))
    assert empty.to_dict()["index"] == MemoryIndex(name, chunk_k=3).config()
    assert MemoryRetriever.from_dict(empty.to_dict()).index.config() == empty.index.config()
    with pytest.raises(ConfigError, match="holds 2 memories"):
        reference.to_json()
    assert reference.to_dict()["index"] is reference.index

    with pytest.raises(ValueError, match="already has its embedder"):
        MemoryRetriever(MemoryIndex(name), model=name)
    with pytest.raises(ValueError, match="already has its embedder"):
        MemoryExtractTransform(index=MemoryIndex(name), model=name)
    with pytest.raises(TypeError, match="bogus"):
        MemoryRetriever(model=name, bogus=1)
    with pytest.raises(ValidationError, match="bogus"):
        MemoryExtractTransform(bogus=1)


def test_settings_embed_model_for_memory(clean_settings):
    from llamaindex_ctx import MemoryExtractTransform, MemoryRetriever

    clean_settings.embed_model = MockEmbedding(embed_dim=16)
    retriever = MemoryRetriever()
    assert retriever.index.embedder.embed_model is Settings.embed_model
    transform = MemoryExtractTransform()
    assert transform._extractor.embedder.embed_model is Settings.embed_model
    from_docs = MemoryRetriever.from_documents(memory_documents(), similarity_top_k=1)
    assert from_docs.index.embedder.embed_model is Settings.embed_model
    assert len(from_docs.retrieve(QUERY)) == 1
    # What to_dict writes re-resolves from Settings (the mock has no config to write).
    assert retriever.to_dict()["index"] is None and retriever.to_dict()["model"] is None
    assert MemoryRetriever.from_dict(retriever.to_dict()).index.embedder.embed_model is (
        Settings.embed_model
    )
    assert transform.to_dict()["extractor"] is None
    # A model named explicitly wins over Settings.
    assert MemoryRetriever(model="all-MiniLM-L6-v2").index.embedder.model_name.endswith(
        "all-MiniLM-L6-v2"
    )


# -- the agent tools and the agent memory ---------------------------------------------

CONTEXT_DOC = "Intro line. bird: kea; fruit: fig; bird: emu; fruit: lime. Outro line."


def summaries(spec):
    import json

    tools = {t.metadata.name: t for t in spec.to_tool_list()}
    fragments = json.loads(
        tools["fragment_context"].call(start_marker="bird", end_marker="lime.").content
    )["fragments"]
    out = json.loads(tools["summarize_fragment"].call(fragment_id=fragments[0]["id"]).content)
    assert out["ok"], out
    return [f["summary"] for f in out["fragments"]]


def test_tool_spec_by_names_round_trips(tiny_llama_dir, embedder, clean_settings):
    from ctx_core.context import WorkingContext
    from ctx_core.llm import TransformersLLM

    spec = ContextToolSpec(
        llm=str(tiny_llama_dir),
        embedder=embedder.model_name,
        tool_names=["fragment_context", "summarize_fragment"],
    )
    assert isinstance(spec.tools.llm, TransformersLLM)
    assert spec.to_dict() == {
        "context": {"type": "WorkingContext", "counter": None},
        "llm": str(tiny_llama_dir),
        "embedder": embedder.model_name,
        "tool_names": ["fragment_context", "summarize_fragment"],
        "class_name": "ContextToolSpec",
    }
    reference = summaries(
        ContextToolSpec(
            WorkingContext([("user", CONTEXT_DOC)]), llm=TransformersLLM(str(tiny_llama_dir))
        )
    )
    for again in (
        ContextToolSpec.from_dict(spec.to_dict()),
        ContextToolSpec.from_json(spec.to_json()),
    ):
        assert again.to_dict() == spec.to_dict()
        assert [t.metadata.name for t in again.to_tool_list()] == [
            "fragment_context",
            "summarize_fragment",
        ]
        again.context.append("user", CONTEXT_DOC)
        assert summaries(again) == reference
    # Not written as a default: a context holding messages, a LlamaIndex LLM.
    with pytest.raises(ConfigError, match="holds 1 messages"):
        ContextToolSpec(WorkingContext([("user", "hi")])).to_json()
    mock = ContextToolSpec(llm=MockLLM(max_tokens=8))
    with pytest.raises(ConfigError, match="MockLLM object"):
        mock.to_json()
    assert mock.to_dict()["llm"] is mock._given["llm"]
    with pytest.raises(TypeError, match="bogus"):
        ContextToolSpec(bogus=1)
    with pytest.raises(ConfigError, match="of class 'Other'"):
        ContextToolSpec.from_dict({**spec.to_dict(), "class_name": "Other"})


def test_active_context_memory_settings_names_and_history(tiny_llama_dir, clean_settings):
    from llama_index.core.base.llms.types import ChatMessage

    from ctx_core.context import ContextBudget
    from ctx_core.llm import TransformersLLM
    from llamaindex_ctx import ActiveContextMemory, ScriptedPolicyLLM

    # Nothing set: summaries need an llm.
    with pytest.raises(ValidationError, match="needs an llm"):
        ActiveContextMemory(budget=ContextBudget(mode="summarize"))
    clean_settings.llm = MockLLM(max_tokens=8)
    clean_settings.embed_model = MockEmbedding(embed_dim=16)
    memory = ActiveContextMemory(budget=ContextBudget(mode="summarize"))
    spec = memory.tool_spec()
    assert isinstance(spec.tools.llm, LlamaIndexLLM) and spec.tools.llm.llm is Settings.llm
    assert spec.tools.embedder.embed_model is Settings.embed_model
    assert memory.to_dict()["llm"] is None  # a Settings default is read again, not written

    by_name = ActiveContextMemory(budget=ContextBudget(max_tokens=200), llm=str(tiny_llama_dir))
    assert isinstance(by_name.tool_spec().tools.llm, TransformersLLM)
    log = " ".join(f"event {i}: ok;" for i in range(300))
    history = [
        ChatMessage(role="user", content=log),
        ChatMessage(role="assistant", content="Noted.", additional_kwargs={"x": 1}),
        ChatMessage(role="user", content="Any errors?"),
    ]
    by_name.put_messages(history)
    shown = by_name.get()
    for again in (
        ActiveContextMemory.from_dict(by_name.to_dict()),
        ActiveContextMemory.from_json(by_name.to_json()),
    ):
        assert again.llm == str(tiny_llama_dir) and again.budget == by_name.budget
        assert again.get_all() == history  # byte for byte, kwargs kept
        assert [m.content for m in again.get()] == [m.content for m in shown]
        assert again.reads[-1] == by_name.reads[-1]
    framework = ActiveContextMemory(llm=MockLLM(max_tokens=8))
    with pytest.raises(ConfigError, match="MockLLM object"):
        framework.to_json()
    with pytest.raises(ValidationError, match="bogus"):
        ActiveContextMemory(bogus=1)
    from ctx_core.context import ScriptedPolicy

    with pytest.raises(ValidationError, match="bogus"):
        ScriptedPolicyLLM(
            policy=ScriptedPolicy.last_update(["bird"], window_tokens=None),
            reader=MockLLM(),
            bogus=1,
        )
