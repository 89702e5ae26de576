import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.llms import MockLLM

from llamaindex_ctx import CtxLLM, LlamaIndexLLM


def test_llamaindex_llm_as_core_llm():
    llm = LlamaIndexLLM(MockLLM())
    reply = llm.complete([{"role": "system", "content": "S"}, {"role": "user", "content": "hello"}])
    assert reply == "system: S\nuser: hello\nassistant: "
    assert llm.complete("hello world", stop=["world"]) == "user: hello "
    with pytest.raises(TypeError, match="llm"):
        LlamaIndexLLM("nope")


async def test_llamaindex_llm_async():
    assert await LlamaIndexLLM(MockLLM()).acomplete("hi") == "user: hi\nassistant: "


def test_core_llm_in_llamaindex_matches_core_output(smollm2):
    llm = CtxLLM(smollm2, max_tokens=12)
    assert llm.metadata.is_chat_model and llm.metadata.context_window == smollm2.max_length
    expected = smollm2.complete(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is the capital of Italy?"},
        ],
        max_tokens=12,
    )
    response = llm.chat(
        [
            ChatMessage(role=MessageRole.SYSTEM, content="Be brief."),
            ChatMessage(role=MessageRole.USER, content="What is the capital of Italy?"),
        ]
    )
    assert response.message.content == expected
    assert llm.complete("What is the capital of Italy?").text == smollm2.complete(
        "What is the capital of Italy?", max_tokens=12
    )
    chunks = list(llm.stream_complete("Say hi."))
    assert chunks[-1].text == smollm2.complete("Say hi.", max_tokens=12)


async def test_core_llm_in_llamaindex_async(smollm2):
    llm = CtxLLM(smollm2, max_tokens=8)
    response = await llm.achat([ChatMessage(role=MessageRole.USER, content="Name a color.")])
    assert response.message.content == smollm2.complete("Name a color.", max_tokens=8)
    assert (await llm.acomplete("Name a color.")).text == response.message.content
