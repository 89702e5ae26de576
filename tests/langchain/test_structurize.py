import json

import pytest
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda, RunnablePassthrough
from langchain_core.vectorstores import InMemoryVectorStore

from ctx_core.llm import BaseLLM
from ctx_core.structure import HeuristicStructurizer, LLMStructurizer, structure_from_metadata
from langchain_ctx import CtxEmbeddings, LangChainLLM, StructurizeTransformer

AMAZON = (
    "The Amazon rainforest covers much of the Amazon basin in South America. "
    "It spans parts of nine countries, with most of it in Brazil. "
    "Jazz originated in New Orleans in the late nineteenth century. "
    "It grew out of blues and ragtime played by African American musicians."
)
YAML = (
    "scope: rainforest and jazz\naspects:\n  - name: the Amazon\n    sentences: 1-2\n"
    "  - name: jazz\n    sentences: 3-4"
)


@pytest.fixture
def transformer(embedder):
    return StructurizeTransformer(structurizer=HeuristicStructurizer(embedder))


@pytest.fixture
def documents():
    return [
        Document(AMAZON, id="amazon", metadata={"source": "atlas", "page": 3}),
        Document("Paris is the capital of France. It lies on the Seine.", metadata={"k": 1}),
        Document("   ", id="blank"),
    ]


def test_transform_keeps_ids_metadata_and_order(transformer, documents):
    before = [d.model_copy(deep=True) for d in documents]
    out = transformer.transform_documents(documents)
    assert [d.id for d in out] == ["amazon", None, "blank"]
    first = out[0]
    assert first.metadata["source"] == "atlas" and first.metadata["page"] == 3
    assert first.metadata["original_text"] == AMAZON
    assert first.metadata["structure_format"] == "retrieval"
    structure = structure_from_metadata(first.metadata)
    assert structure.source == AMAZON and structure.is_valid
    assert first.page_content.startswith(structure.scope + ".\n**")
    assert "**" in first.page_content and AMAZON.split(". ")[0] in first.page_content
    assert out[1].metadata["k"] == 1 and "structure" in out[1].metadata
    assert out[2] == documents[2] and out[2] is not documents[2]  # blank: unchanged copy
    assert documents == before  # the caller's documents are untouched
    json.loads(first.metadata["structure"])


def test_format_override_idempotence_and_errors(transformer, documents):
    once = transformer.transform_documents(documents[:1], format="reading")
    assert once[0].page_content.startswith("This passage talks about")
    twice = transformer.transform_documents(once, format="reading")
    assert twice[0].page_content == once[0].page_content
    assert twice[0].metadata["original_text"] == AMAZON
    assert transformer.transform_documents([]) == []
    with pytest.raises(ValueError, match="format must be one of"):
        transformer.transform_documents(documents, format="yaml")
    with pytest.raises(TypeError, match=r"documents\[0\] must be a Document"):
        transformer.transform_documents(["text"])


async def test_async_with_an_llm_structurizer_uses_acomplete(embedder, documents):
    class AsyncScripted(BaseLLM):
        calls = 0

        def complete(self, prompt, **kwargs):
            raise AssertionError("the async path must not block on complete")

        async def acomplete(self, prompt, **kwargs):
            type(self).calls += 1
            return YAML

    transformer = StructurizeTransformer(
        structurizer=LLMStructurizer(AsyncScripted(), fallback=HeuristicStructurizer(embedder)),
        format="reading",
    )
    out = await transformer.atransform_documents(documents)
    assert AsyncScripted.calls == 2  # the blank document never reaches the model
    assert out[0].page_content.startswith(
        "This passage talks about rainforest and jazz:\n1. the Amazon:"
    )
    meta = json.loads(out[0].metadata["structure"])["metadata"]
    assert meta["structurizer"] == "llm"
    # The second text has 2 sentences: YAML pointing at 3-4 is clipped away, repaired.
    assert structure_from_metadata(out[1].metadata).is_valid


def test_llm_structurizer_with_a_langchain_chat_model(embedder):
    chat = FakeListChatModel(responses=[YAML])
    structurizer = LLMStructurizer(LangChainLLM(chat), fallback=HeuristicStructurizer(embedder))
    [doc] = StructurizeTransformer(structurizer=structurizer).transform_documents(
        [Document(AMAZON, id="a")]
    )
    assert doc.page_content.splitlines()[:2] == [
        "rainforest and jazz.",
        "**the Amazon**: The Amazon rainforest covers much of the Amazon basin in South America. "
        "It spans parts of nine countries, with most of it in Brazil.",
    ]


def test_in_a_vector_store_and_a_chain(transformer, documents):
    structured = transformer.transform_documents(documents[:2])
    store = InMemoryVectorStore(CtxEmbeddings())
    store.add_documents(structured)
    retriever = store.as_retriever(search_kwargs={"k": 1})
    [hit] = retriever.invoke("Where did jazz begin?")
    assert hit.id == "amazon" and hit.metadata["original_text"] == AMAZON

    reading = StructurizeTransformer(structurizer=transformer.structurizer, format="reading")
    prompt = ChatPromptTemplate.from_template("Context:\n{context}\n\nQuestion: {question}")
    chat = FakeListChatModel(responses=["New Orleans"])
    seen = []

    def context(docs):
        return "\n\n".join(d.page_content for d in docs)

    chain = (
        {
            "context": retriever | RunnableLambda(reading.transform_documents) | context,
            "question": RunnablePassthrough(),
        }
        | prompt
        | RunnableLambda(lambda value: seen.append(value.to_string()) or value)
        | chat
    )
    assert chain.invoke("Where did jazz begin?").content == "New Orleans"
    assert "This passage talks about" in seen[0]
    assert "Jazz originated in New Orleans in the late nineteenth century." in seen[0]
