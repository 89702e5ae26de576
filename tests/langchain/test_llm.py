import pytest
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from langchain_ctx import CtxChatModel, LangChainLLM


def test_langchain_chat_model_as_core_llm():
    chat = GenericFakeChatModel(messages=iter([AIMessage("Paris"), AIMessage("Rome")]))
    llm = LangChainLLM(chat)
    assert (
        llm.complete(
            [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital?"}]
        )
        == "Paris"
    )
    assert llm.complete_batch(["again"]) == ["Rome"]
    with pytest.raises(TypeError, match="chat_model"):
        LangChainLLM(object())


async def test_langchain_llm_async():
    llm = LangChainLLM(GenericFakeChatModel(messages=iter([AIMessage("async answer")])))
    assert await llm.acomplete("q") == "async answer"


def test_core_llm_as_chat_model_matches_the_core_output(smollm2):
    chat = CtxChatModel(llm=smollm2, max_tokens=12)
    messages = [
        SystemMessage("Answer in one short sentence."),
        HumanMessage("What is the capital of Italy?"),
    ]
    expected = smollm2.complete(
        [
            {"role": "system", "content": "Answer in one short sentence."},
            {"role": "user", "content": "What is the capital of Italy?"},
        ],
        max_tokens=12,
    )
    assert chat.invoke(messages).content == expected
    assert "Rome" in expected
    with pytest.raises(TypeError, match="llm"):
        CtxChatModel(llm="not an llm")


async def test_core_llm_as_chat_model_async_and_stop(smollm2):
    chat = CtxChatModel(llm=smollm2, max_tokens=20)
    reply = await chat.ainvoke("Count from 1 to 10, separated by commas.", stop=["4"])
    assert "4" not in reply.content and "5" not in reply.content
