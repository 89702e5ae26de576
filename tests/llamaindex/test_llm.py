import itertools

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


def _messages():
    return [
        ChatMessage(role=MessageRole.SYSTEM, content="Be brief."),
        ChatMessage(role=MessageRole.USER, content="Name three colors."),
    ]


def test_ctx_llm_streams_token_by_token_with_usage(smollm2):
    llm = CtxLLM(smollm2, max_tokens=16)
    prompt = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Name three colors."},
    ]
    expected = smollm2.complete(prompt, max_tokens=16)
    responses = list(llm.stream_chat(_messages()))
    deltas = [r.delta for r in responses if r.delta]
    assert len(deltas) >= 4  # one piece per token, not the whole reply at once
    assert "".join(deltas) == expected == responses[-1].message.content
    # Each response holds the text so far; the last one the real token counts.
    assert all(
        b.message.content.startswith(a.message.content) for a, b in itertools.pairwise(responses)
    )
    usage = responses[-1].raw["usage"]
    assert usage["prompt_tokens"] == len(smollm2.prompt_ids(prompt, reserve=16))
    assert 0 < usage["completion_tokens"] <= 16
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert responses[-1].raw["finish_reason"] in ("stop", "length")
    completions = list(llm.stream_complete("Name three colors."))
    assert len([r for r in completions if r.delta]) >= 4
    assert completions[-1].text == smollm2.complete("Name three colors.", max_tokens=16)


async def test_ctx_llm_streams_asynchronously(smollm2):
    llm = CtxLLM(smollm2, max_tokens=12)
    chat = [r async for r in await llm.astream_chat(_messages())]
    assert len([r for r in chat if r.delta]) >= 3
    assert chat[-1].message.content == llm.chat(_messages()).message.content
    completion = [r async for r in await llm.astream_complete("Name a color.")]
    assert completion[-1].text == llm.complete("Name a color.").text


def test_ctx_llm_by_name_and_round_trip(tiny_llama_dir):
    llm = CtxLLM(model=str(tiny_llama_dir), max_tokens=6)
    assert llm.model_name == str(tiny_llama_dir)
    again = CtxLLM.from_dict(llm.to_dict())
    assert again.model == str(tiny_llama_dir) and again.llm is None
    assert again.complete("Hello").text == llm.complete("Hello").text
    with pytest.raises(ValueError, match="either model"):
        CtxLLM(again.core_llm, model="smollm2")
