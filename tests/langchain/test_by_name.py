"""LangChain components built by name (model ids, scorer and calibrator names) decide like
the ones built from objects, and serialize back to the names."""

from __future__ import annotations

import json

import pytest
from langchain_core.documents import Document
from langchain_core.load import dumpd, load
from pydantic import ValidationError

from ctx_core.llm import TransformersLLM
from ctx_core.scoring import BM25Scorer, EmbeddingScorer
from ctx_core.udcg import HybridSignals, LogisticCalibrator
from langchain_ctx import ContextReranker, CtxChatModel, UDCGReranker
from langchain_ctx._config import package_classes

pytestmark = pytest.mark.filterwarnings("ignore::langchain_core._api.LangChainBetaWarning")

QUERY = "Which city is the capital of France?"
DOCS = [
    Document("Bananas are yellow and sweet.", id="banana"),
    Document("Paris is the capital of France.", id="paris"),
    Document("Berlin is the capital of Germany.", id="berlin"),
]


def decisions(compressor, key="relevance_score"):
    return [(d.id, round(d.metadata[key], 6)) for d in compressor.compress_documents(DOCS, QUERY)]


def rebuilt(component):
    cls = type(component)
    return [
        cls.model_validate(component.model_dump()),
        cls.model_validate_json(component.model_dump_json()),
        load(
            dumpd(component), valid_namespaces=["langchain_ctx"], allowed_objects=package_classes()
        ),
    ]


def test_context_reranker_by_model_id(embedder):
    reranker = ContextReranker(model=embedder.model_name, top_n=2)
    assert isinstance(reranker._scorer, EmbeddingScorer)
    assert decisions(reranker) == decisions(
        ContextReranker(scorer=EmbeddingScorer(embedder), top_n=2)
    )
    assert json.loads(reranker.model_dump_json())["model"] == embedder.model_name
    for again in rebuilt(reranker):
        assert again.model == embedder.model_name and again.scorer is None
        assert decisions(again) == decisions(reranker)


def test_context_reranker_by_scorer_name():
    reranker = ContextReranker(scorer="bm25", top_n=2)
    assert decisions(reranker) == decisions(ContextReranker(scorer=BM25Scorer(), top_n=2))
    for again in rebuilt(reranker):
        assert again.scorer == "bm25"
        assert decisions(again) == decisions(reranker)


def test_context_reranker_names_its_mistakes():
    with pytest.raises(ValidationError, match="unknown scorer 'no-such'"):
        ContextReranker(scorer="no-such")
    with pytest.raises(ValidationError, match=r"does not take option\(s\) \['model'\]"):
        ContextReranker(scorer="bm25", model="minilm")
    with pytest.raises(ValidationError, match="already has its model"):
        ContextReranker(scorer=BM25Scorer(), model="minilm")


def test_udcg_reranker_by_model_and_calibrator(embedder):
    by_name = UDCGReranker(model="minilm", calibrator="hybrid-hotpotqa", token_budget=60)
    by_object = UDCGReranker(
        relevance=HybridSignals(embedder), calibrator="hybrid-hotpotqa", token_budget=60
    )
    assert decisions(by_name, "expected_gain") == decisions(by_object, "expected_gain")
    # The default model keeps its shipped calibrator when none is given.
    assert UDCGReranker(model="minilm").core_reranker().config()["calibrator"] == "hybrid-mixed"
    for again in rebuilt(by_name):
        assert (again.model, again.calibrator) == ("minilm", "hybrid-hotpotqa")
        assert decisions(again, "expected_gain") == decisions(by_name, "expected_gain")


def test_udcg_reranker_by_scorer_name_needs_a_calibrator():
    with pytest.raises(ValidationError, match="calibrator is required"):
        UDCGReranker(relevance="bm25")
    reranker = UDCGReranker(relevance="bm25", calibrator=LogisticCalibrator([0.5], -2.0))
    assert isinstance(reranker.core_reranker().relevance, BM25Scorer)


def test_udcg_reranker_reader_by_name(tiny_llama_dir):
    reranker = UDCGReranker(utility=str(tiny_llama_dir))
    assert reranker.core_reranker().utility.config()["llm"]["model"] == str(tiny_llama_dir)
    again = UDCGReranker.model_validate_json(reranker.model_dump_json())
    assert again.core_reranker().config() == reranker.core_reranker().config()


def test_chat_model_by_name(tiny_llama_dir):
    chat = CtxChatModel(model=str(tiny_llama_dir), max_tokens=5)
    expected = TransformersLLM(str(tiny_llama_dir)).complete("Say hi", max_tokens=5)
    assert chat.invoke("Say hi").content == expected
    for again in rebuilt(chat):
        assert again.model == str(tiny_llama_dir) and again.llm is None
        assert again.invoke("Say hi").content == expected
    with pytest.raises(ValidationError, match="either model"):
        CtxChatModel(model="smollm2", llm=chat.core_llm)


# -- the agent tools ------------------------------------------------------------------

CONTEXT_DOC = "Intro line. bird: kea; fruit: fig; bird: emu; fruit: lime. Outro line."


def summary_of(kit):
    """Fragment the context and summarize the first fragment through the kit's tools."""
    tools = {t.name: t for t in kit.get_tools()}
    fragments = json.loads(
        tools["fragment_context"].invoke({"start_marker": "bird", "end_marker": "lime."})
    )["fragments"]
    out = json.loads(tools["summarize_fragment"].invoke({"fragment_id": fragments[0]["id"]}))
    assert out["ok"], out
    return [f["summary"] for f in out["fragments"]]


def test_context_toolkit_by_model_names(tiny_llama_dir, embedder):
    from ctx_core.context import WorkingContext
    from langchain_ctx import ContextToolkit

    by_name = ContextToolkit(
        context=WorkingContext([("user", CONTEXT_DOC)]),
        llm=str(tiny_llama_dir),
        embedder=embedder.model_name,
    )
    assert isinstance(by_name.core_llm, TransformersLLM)
    by_object = ContextToolkit(
        context=WorkingContext([("user", CONTEXT_DOC)]),
        llm=TransformersLLM(str(tiny_llama_dir)),
        embedder=embedder,
    )
    assert summary_of(by_name) == summary_of(by_object)
    # Every tool shares the one loaded model.
    assert {id(t.context_tools.llm) for t in by_name.get_tools()} == {id(by_name.core_llm)}


def test_context_toolkit_round_trips_with_names(tiny_llama_dir):
    from ctx_core.context import WorkingContext
    from langchain_ctx import ContextToolkit

    kit = ContextToolkit(
        llm=str(tiny_llama_dir), tool_names=["fragment_context", "summarize_fragment"]
    )
    assert isinstance(kit.context, WorkingContext) and not kit.context.messages
    assert json.loads(kit.model_dump_json()) == {
        "context": {"type": "WorkingContext", "counter": None},
        "llm": str(tiny_llama_dir),
        "embedder": None,
        "tool_names": ["fragment_context", "summarize_fragment"],
    }
    assert dumpd(kit)["type"] == "constructor"
    reference = summary_of(
        ContextToolkit(
            context=WorkingContext([("user", CONTEXT_DOC)]),
            llm=TransformersLLM(str(tiny_llama_dir)),
        )
    )
    for again in rebuilt(kit):
        assert type(again) is ContextToolkit
        assert (again.llm, again.tool_names) == (kit.llm, kit.tool_names)
        assert isinstance(again.core_llm, TransformersLLM)
        assert again.context is not kit.context and not again.context.messages
        again.context.append("user", CONTEXT_DOC)
        assert summary_of(again) == reference
    # A context holding messages is not written as an empty one.
    kit.context.append("user", "hi")
    assert dumpd(kit)["type"] == "not_implemented"


def test_context_tools_name_their_mistakes():
    from langchain_core.language_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    from ctx_core.context import ScriptedPolicy, WorkingContext
    from langchain_ctx import ContextTool, ContextToolkit, ScriptedPolicyChatModel

    with pytest.raises(ValidationError, match="modle"):
        ContextToolkit(modle="smollm2")
    with pytest.raises(ValidationError, match="bogus"):
        ContextTool(name="list_fragments", context=WorkingContext(), bogus=1)
    with pytest.raises(ValidationError, match="bogus"):
        ScriptedPolicyChatModel(
            policy=ScriptedPolicy.last_update(["bird"], window_tokens=None),
            reader=GenericFakeChatModel(messages=iter([AIMessage("x")])),
            bogus=1,
        )
    with pytest.raises(TypeError, match="llm must be a ctx_core LLM, a LangChain chat"):
        ContextToolkit(llm=3)
    with pytest.raises(ValidationError, match="unknown tool"):
        ContextToolkit(tool_names=["no_such_tool"])


def test_middleware_llm_by_name(tiny_llama_dir):
    from ctx_core.context import ContextBudget
    from langchain_ctx import ActiveContextMiddleware

    middleware = ActiveContextMiddleware(
        budget=ContextBudget(mode="summarize"), llm=str(tiny_llama_dir)
    )
    assert isinstance(middleware.context_tools.llm, TransformersLLM)
    assert middleware.context_tools.llm.config()["model"] == str(tiny_llama_dir)
