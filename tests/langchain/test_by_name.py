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
