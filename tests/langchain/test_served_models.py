"""LangChain's ChatOpenAI, pointed at a real llama-cpp-python server, as a core scoring LLM."""

from __future__ import annotations

import pytest
from langchain_core.documents import Document
from langchain_openai import ChatOpenAI

from ctx_core.errors import NotSupportedError
from ctx_core.llm import OpenAICompatibleLLM
from ctx_core.llm.base import supports
from ctx_core.memory.selection import LogprobJudge
from ctx_core.udcg import AbstentionUtility
from langchain_ctx import LangChainLLM, LangChainScoringLLM, StructurizeTransformer, UDCGReranker

#: Each call goes to a real server, some generate whole replies: not in the default run.
pytestmark = pytest.mark.slow

QUESTION = [
    {"role": "system", "content": "Answer with one word."},
    {"role": "user", "content": "What is the capital of France?"},
]
PASSAGES = ["Hamlet is a tragedy written by William Shakespeare.", "Bananas are yellow."]


#: ChatOpenAI sends ``max_completion_tokens``, which llama-cpp-python ignores.
ONE_TOKEN = {"extra_body": {"max_tokens": 1}}


def chat(server, **options) -> ChatOpenAI:
    return ChatOpenAI(
        model="smollm2", base_url=server.base_url, api_key="none", max_retries=0, **options
    )


def scoring(server, **options) -> LangChainScoringLLM:
    top = options.pop("top_logprobs", None)
    return LangChainScoringLLM(chat(server, **options), top_logprobs=top, scoring_kwargs=ONE_TOKEN)


@pytest.fixture(scope="module")
def served(llama_server):
    return OpenAICompatibleLLM("smollm2", base_url=llama_server.base_url)


def test_chat_openai_logprobs_equal_the_core_client(llama_server, served):
    llm = LangChainScoringLLM(
        chat(llama_server, logprobs=True, top_logprobs=20), scoring_kwargs=ONE_TOKEN
    )
    assert supports(llm, "next_token") and not supports(llm, "continuation")
    tokens = ["The", "Paris", "NO-RESPONSE"]
    ours = served.next_token_logprobs([QUESTION], tokens)
    # ChatOpenAI has no tokenizer endpoint: spellings are matched by text; listed ones agree.
    theirs = llm.next_token_logprobs([QUESTION], tokens)
    assert theirs[0][1] == pytest.approx(ours[0][1], abs=1e-4)
    assert all(v <= 0 for v in theirs[0])


def test_top_logprobs_can_be_asked_per_call(llama_server):
    plain = scoring(llama_server, top_logprobs=5)
    rows = plain.next_token_logprobs([QUESTION, "Say hello."], ["Paris", "Hello"])
    assert len(rows) == 2 and all(len(r) == 2 for r in rows)


def test_a_chat_model_without_logprobs_is_named(llama_server):
    llm = scoring(llama_server)
    with pytest.raises(NotSupportedError, match=r"response_metadata\['logprobs'\]") as info:
        llm.next_token_logprobs([QUESTION], ["Paris"])
    assert "logprobs" in info.value.feature
    with pytest.raises(NotSupportedError, match="continuation"):
        llm.continuation_logprobs([QUESTION], ["Paris"])
    with pytest.raises(TypeError, match="continuation"):
        LogprobJudge(llm)


async def test_async_scoring_matches_sync(llama_server):
    llm = LangChainScoringLLM(
        chat(llama_server, logprobs=True, top_logprobs=10), scoring_kwargs=ONE_TOKEN
    )
    sync = llm.next_token_logprobs([QUESTION], ["Paris"])
    assert await llm.anext_token_logprobs([QUESTION], ["Paris"]) == pytest.approx(sync, abs=1e-4)


def test_utility_through_chat_openai_matches_the_core_client(llama_server, served):
    llm = LangChainScoringLLM(
        chat(llama_server, logprobs=True, top_logprobs=20), scoring_kwargs=ONE_TOKEN
    )
    ours = AbstentionUtility(served, cache_size=0).utilities("Who wrote Hamlet?", PASSAGES)
    theirs = AbstentionUtility(llm, cache_size=0).utilities("Who wrote Hamlet?", PASSAGES)
    assert theirs == pytest.approx(ours, abs=1e-4)


def test_udcg_reranker_takes_the_chat_model_as_reader(llama_server):
    reader = chat(llama_server, logprobs=True, top_logprobs=20, extra_body={"max_tokens": 1})
    reranker = UDCGReranker(utility=reader)
    assert isinstance(reranker.core_reranker().utility.llm, LangChainScoringLLM)
    docs = [Document(p, id=f"d{i}", metadata={"k": i}) for i, p in enumerate(PASSAGES)]
    kept = reranker.compress_documents(docs, "Who wrote Hamlet?")
    assert kept and all(0.0 <= d.metadata["utility"] <= 1.0 for d in kept)
    assert {d.id for d in kept} <= {"d0", "d1"}


def test_structurizer_takes_the_chat_model(llama_server):
    transformer = StructurizeTransformer(
        structurizer=chat(llama_server, extra_body={"max_tokens": 96})
    )
    text = "Cats purr when content. Cats sleep a lot. Dogs bark at strangers."
    [doc] = transformer.transform_documents([Document(text, id="x")])
    assert doc.id == "x" and doc.metadata["original_text"] == text
    assert LangChainLLM(chat(llama_server, extra_body={"max_tokens": 4})).complete("Say hi.")
