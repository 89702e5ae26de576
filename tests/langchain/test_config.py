"""LangChain adapters round-trip through model_dump / model_dump_json / dumpd+load and decide alike.

Every component is built with a non-default core component (BM25 with ``k1=1.2``, a
tiny random Llama, an embedder batch size of 7, ...), so a rebuild that fell back to a
default would show in the config or in the decisions.
"""

from __future__ import annotations

import json

import pytest
from langchain_core.documents import Document
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.load import dumpd, dumps, load, loads
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.vectorstores import InMemoryVectorStore
from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

from ctx_core.context import WorkingContext
from ctx_core.incontext import InContextRanker
from ctx_core.llm import TransformersLLM
from ctx_core.memory import MemoryIndex
from ctx_core.scoring import BM25Scorer, EmbeddingScorer
from ctx_core.structure import HeuristicStructurizer
from ctx_core.udcg import HybridSignals
from langchain_ctx import (
    ContextReranker,
    ContextToolkit,
    CtxChatModel,
    CtxEmbeddings,
    InContextReranker,
    LangChainLLM,
    MemoryRetriever,
    RerankingRetriever,
    StructurizeTransformer,
    UDCGReranker,
)
from langchain_ctx._config import package_classes

# langchain_core.load marks load/loads as beta; the round trip is what is tested here.
pytestmark = pytest.mark.filterwarnings("ignore::langchain_core._api.LangChainBetaWarning")

QUERY = "Which city is the capital of France?"


@pytest.fixture
def documents():
    return [
        Document("Bananas are yellow and sweet.", id="banana"),
        Document("Paris is the capital of France.", id="paris"),
        Document("France borders Spain; the capital city hosts the Louvre.", id="louvre"),
        Document("Berlin is the capital of Germany.", id="berlin"),
    ]


def round_trips(component):
    """The component rebuilt four ways: model_validate(model_dump), from JSON, dumpd+load, dumps+loads."""
    cls = type(component)
    allowed = package_classes()
    return [
        cls.model_validate(component.model_dump()),
        cls.model_validate_json(component.model_dump_json()),
        load(dumpd(component), valid_namespaces=["langchain_ctx"], allowed_objects=allowed),
        loads(dumps(component), valid_namespaces=["langchain_ctx"], allowed_objects=allowed),
    ]


def decisions(compressor, documents):
    return [
        (d.id, round(d.metadata["relevance_score"], 6))
        for d in compressor.compress_documents(documents, QUERY)
    ]


def test_context_reranker_keeps_its_scorer(documents):
    reranker = ContextReranker(scorer=BM25Scorer(k1=1.2, b=0.9), top_n=2, score_threshold=0.1)
    expected = decisions(reranker, documents)
    assert reranker.model_dump()["scorer"] == {"type": "BM25Scorer", "k1": 1.2, "b": 0.9}
    for again in round_trips(reranker):
        assert type(again) is ContextReranker
        assert again.scorer.config() == reranker.scorer.config()
        assert (again.top_n, again.score_threshold) == (2, 0.1)
        assert decisions(again, documents) == expected


def test_context_reranker_with_an_embedding_scorer(documents, embedder):
    reranker = ContextReranker(scorer=EmbeddingScorer(embedder.model_name, batch_size=7), top_n=3)
    expected = decisions(reranker, documents)
    for again in round_trips(reranker):
        assert again.scorer.config()["batch_size"] == 7
        assert decisions(again, documents) == expected


def test_a_config_dict_builds_the_component(documents):
    reranker = ContextReranker(scorer={"type": "BM25Scorer", "k1": 1.2}, top_n=2)
    assert isinstance(reranker.scorer, BM25Scorer) and reranker.scorer.k1 == 1.2
    assert decisions(reranker, documents) == decisions(
        ContextReranker(scorer=BM25Scorer(k1=1.2), top_n=2), documents
    )


def test_unknown_arguments_are_errors():
    for build in (
        lambda: ContextReranker(modle="bm25"),
        lambda: UDCGReranker(scorer=BM25Scorer()),
        lambda: InContextReranker(ranker=None, layer=3),
        lambda: StructurizeTransformer(style="reading"),
        lambda: CtxEmbeddings(options={}, modle="x"),
        lambda: CtxChatModel(llm=None, modle="x"),
        lambda: MemoryRetriever(index=MemoryIndex(), top_k=2),
    ):
        with pytest.raises((ValidationError, TypeError)):
            build()
    with pytest.raises(ValidationError, match="does not take"):
        ContextReranker(scorer={"type": "BM25Scorer", "k": 1.2})
    with pytest.raises(ValidationError, match="unknown component"):
        ContextReranker(scorer={"type": "NoSuchScorer"})


def test_an_object_without_config_is_an_error_not_a_default(documents):
    class Overlap:
        def score(self, query, passages):
            return [1.0 for _ in passages]

    reranker = ContextReranker(scorer=Overlap())
    with pytest.raises(PydanticSerializationError, match="Overlap object, which has no config"):
        reranker.model_dump_json()
    # A Python-mode dump keeps the object itself: rebuilt, it is the same scorer.
    assert ContextReranker.model_validate(reranker.model_dump()).scorer is reranker.scorer
    # LangChain's form says it cannot be loaded (dumpd runs on every call for callbacks).
    assert dumpd(reranker)["type"] == "not_implemented"
    with pytest.raises(NotImplementedError, match=r"doesn't implement serialization"):
        load(dumpd(reranker), valid_namespaces=["langchain_ctx"], allowed_objects="all")


def test_udcg_reranker_keeps_its_relevance_and_calibrator(documents, embedder):
    reranker = UDCGReranker(
        relevance=HybridSignals(embedder, bm25=BM25Scorer(k1=1.2)),
        calibrator="hybrid-hotpotqa",
        token_budget=40,
        allow_empty=False,
    )
    expected = [
        (d.id, round(d.metadata["expected_gain"], 6))
        for d in reranker.compress_documents(documents, QUERY)
    ]
    for again in round_trips(reranker):
        assert again.core_reranker().config() == reranker.core_reranker().config()
        assert again.relevance.bm25.k1 == 1.2
        kept = again.compress_documents(documents, QUERY)
        assert [(d.id, round(d.metadata["expected_gain"], 6)) for d in kept] == expected


def test_udcg_reranker_with_a_fitted_calibrator(documents):
    from ctx_core.udcg import LogisticCalibrator

    calibrator = LogisticCalibrator([0.8], -2.0)
    reranker = UDCGReranker(relevance=BM25Scorer(k1=1.2), calibrator=calibrator, token_budget=40)
    dumped = json.loads(reranker.model_dump_json())
    assert dumped["calibrator"] == calibrator.to_dict()
    again = UDCGReranker.model_validate(dumped)
    assert again.core_reranker().config() == reranker.core_reranker().config()
    assert decisions(again, documents) == decisions(reranker, documents)


def test_incontext_reranker_keeps_its_model(documents, tiny_llama_dir):
    reranker = InContextReranker(model=str(tiny_llama_dir), scoring_layer=1, top_n=2)
    expected = decisions(reranker, documents)
    for again in round_trips(reranker):
        assert again.model == str(tiny_llama_dir) and again.scoring_layer == 1
        assert decisions(again, documents) == expected


def test_incontext_reranker_with_a_shared_ranker(documents, tiny_llama_dir):
    ranker = InContextRanker(str(tiny_llama_dir), scoring_layer=0, calibrate=False)
    reranker = InContextReranker(ranker=ranker, top_n=2)
    expected = decisions(reranker, documents)
    assert reranker.model_dump()["ranker"] == ranker.config()
    for again in round_trips(reranker):
        assert again.core_ranker.config() == ranker.config()
        assert decisions(again, documents) == expected


def test_reranking_retriever_round_trips_its_reranker(documents):
    store = InMemoryVectorStore.from_documents(documents, CtxEmbeddings())
    base = store.as_retriever(search_kwargs={"k": 4})
    retriever = RerankingRetriever(
        base_retriever=base, reranker=ContextReranker(scorer=BM25Scorer(k1=1.2)), k=2
    )
    expected = [d.id for d in retriever.invoke(QUERY)]
    # The vector-store retriever has no serialized form: said, not dropped.
    for dump in (retriever.model_dump, retriever.model_dump_json):
        with pytest.raises(PydanticSerializationError, match="VectorStoreRetriever, which Lang"):
            dump()
    assert dumpd(retriever)["type"] == "not_implemented"
    for dumped in (
        retriever.model_dump(exclude={"base_retriever"}),
        json.loads(retriever.model_dump_json(exclude={"base_retriever"})),
    ):
        assert dumped["reranker"]["kwargs"]["scorer"] == {"type": "BM25Scorer", "k1": 1.2, "b": 0.4}
        again = RerankingRetriever.model_validate({**dumped, "base_retriever": base})
        assert again.reranker.scorer.config() == retriever.reranker.scorer.config()
        assert again.reranker is not retriever.reranker
        assert [d.id for d in again.invoke(QUERY)] == expected


def test_structurize_transformer_keeps_its_structurizer(documents, embedder):
    transformer = StructurizeTransformer(
        structurizer=HeuristicStructurizer(embedder, sentences_per_aspect=1), format="outline"
    )
    expected = [d.page_content for d in transformer.transform_documents(documents)]
    for again in round_trips(transformer):
        assert again.structurizer.config() == transformer.structurizer.config()
        assert again.format == "outline"
        assert [d.page_content for d in again.transform_documents(documents)] == expected


def test_memory_retriever_writes_the_settings_of_an_empty_index(documents, embedder):
    def build():
        return MemoryRetriever(index=MemoryIndex(embedder, chunk_k=3), k=1, layers=("chunk",))

    reference = build()
    reference.add_documents(documents)
    expected = [d.id for d in reference.invoke(QUERY)]
    for again in round_trips(build()):
        assert again.index.config() == reference.index.config()
        assert (again.k, again.layers) == (1, ("chunk",))
        again.add_documents(documents)
        assert [d.id for d in again.invoke(QUERY)] == expected


def test_memory_retriever_with_memories_says_it_cannot_be_written(documents, embedder):
    retriever = MemoryRetriever.from_documents(documents, embedder=embedder)
    with pytest.raises(PydanticSerializationError, match="holds 4 memories"):
        retriever.model_dump_json()
    assert dumpd(retriever)["type"] == "not_implemented"
    # A Python-mode dump keeps the live index.
    assert MemoryRetriever.model_validate(retriever.model_dump()).index is retriever.index


def test_ctx_embeddings_keep_the_model_and_options():
    embeddings = CtxEmbeddings(batch_size=7)
    vector = embeddings.embed_query("capital of France")
    for again in round_trips(embeddings):
        assert again.embedder.batch_size == 7 and again.options == {"batch_size": 7}
        assert again.embed_query("capital of France") == pytest.approx(vector)


def test_ctx_embeddings_describe_a_shared_embedder(embedder):
    embeddings = CtxEmbeddings(embedder)
    assert embeddings.embedder is embedder
    assert embeddings.model == embedder.model_name
    again = CtxEmbeddings.model_validate(embeddings.model_dump())
    assert again.embedder.config() == embedder.config()


def test_ctx_chat_model_keeps_its_llm(tiny_llama_dir):
    chat = CtxChatModel(llm=TransformersLLM(str(tiny_llama_dir), seed=3), max_tokens=5)
    expected = chat.invoke([HumanMessage("Say hi")]).content
    for again in round_trips(chat):
        assert again.llm.config() == chat.llm.config()
        assert again.max_tokens == 5
        assert again.invoke([HumanMessage("Say hi")]).content == expected


def test_ctx_chat_model_over_a_framework_model_cannot_be_written():
    fake = GenericFakeChatModel(messages=iter([AIMessage("hi")]))
    chat = CtxChatModel(llm=LangChainLLM(fake))
    with pytest.raises(PydanticSerializationError, match="LangChainLLM object"):
        chat.model_dump_json()
    assert dumpd(chat)["type"] == "not_implemented"


def test_context_toolkit_writes_a_core_llm(tiny_llama_dir, embedder):
    llm = TransformersLLM(str(tiny_llama_dir))
    kit = ContextToolkit(context=WorkingContext(), llm=llm, embedder=embedder)
    dumped = json.loads(kit.model_dump_json())
    assert dumped["llm"] == llm.config() and dumped["embedder"] == embedder.config()
    again = ContextToolkit.model_validate(dumped)
    assert again.llm.config() == llm.config()
    assert [t.name for t in again.get_tools()] == [t.name for t in kit.get_tools()]
    with pytest.raises(ValidationError):
        ContextToolkit(context=WorkingContext(), tools=["list_fragments"])


def test_context_toolkit_with_messages_is_not_written_without_them():
    kit = ContextToolkit(context=WorkingContext([("user", "hi")]))
    with pytest.raises(PydanticSerializationError, match="holds 1 messages"):
        kit.model_dump_json()
    assert ContextToolkit.model_validate(kit.model_dump()).context is kit.context


def test_context_toolkit_over_a_langchain_chat_model_cannot_be_written():
    fake = GenericFakeChatModel(messages=iter([AIMessage("hi")]))
    kit = ContextToolkit(context=WorkingContext(), llm=fake)
    for dump in (kit.model_dump, kit.model_dump_json):
        with pytest.raises(PydanticSerializationError, match="GenericFakeChatModel object"):
            dump()


def test_every_package_class_loads_from_its_module():
    names = {cls.__name__ for cls in package_classes()}
    assert {
        "ContextReranker",
        "UDCGReranker",
        "InContextReranker",
        "RerankingRetriever",
        "StructurizeTransformer",
        "MemoryRetriever",
        "CtxEmbeddings",
        "CtxChatModel",
    } <= names
