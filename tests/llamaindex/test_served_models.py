"""LlamaIndex's OpenAILike, pointed at a real llama-cpp-python server, as a core scoring LLM."""

from __future__ import annotations

import pytest
from llama_index.core.schema import NodeWithScore, TextNode
from llama_index.llms.openai_like import OpenAILike

from ctx_core.errors import NotSupportedError
from ctx_core.llm import OpenAICompatibleLLM
from ctx_core.llm.base import supports
from ctx_core.udcg import AbstentionUtility
from llamaindex_ctx import LlamaIndexLLM, LlamaIndexScoringLLM, UDCGRerankPostprocessor
from llamaindex_ctx.structurize import StructurizeTransform

#: Each call goes to a real server, some generate whole replies: not in the default run.
pytestmark = pytest.mark.slow

QUESTION = [
    {"role": "system", "content": "Answer with one word."},
    {"role": "user", "content": "What is the capital of France?"},
]
PASSAGES = ["Hamlet is a tragedy written by William Shakespeare.", "Bananas are yellow."]


def like(server, **options) -> OpenAILike:
    return OpenAILike(
        model="smollm2",
        api_base=server.base_url,
        api_key="none",
        is_chat_model=True,
        max_retries=0,
        **options,
    )


@pytest.fixture(scope="module")
def served(llama_server):
    return OpenAICompatibleLLM("smollm2", base_url=llama_server.base_url)


def test_openai_like_logprobs_equal_the_core_client(llama_server, served):
    llm = LlamaIndexScoringLLM(like(llama_server, logprobs=True, top_logprobs=20))
    assert supports(llm, "next_token") and not supports(llm, "continuation")
    tokens = ["The", "Paris"]
    ours = served.next_token_logprobs([QUESTION], tokens)
    theirs = llm.next_token_logprobs([QUESTION], tokens)
    assert theirs[0][1] == pytest.approx(ours[0][1], abs=1e-4)


def test_an_llm_without_logprobs_is_named(llama_server):
    llm = LlamaIndexScoringLLM(like(llama_server))
    with pytest.raises(NotSupportedError, match=r"ChatResponse.logprobs"):
        llm.next_token_logprobs([QUESTION], ["Paris"])
    with pytest.raises(NotSupportedError, match="continuation"):
        llm.continuation_logprobs([QUESTION], ["Paris"])


async def test_async_scoring_matches_sync(llama_server):
    llm = LlamaIndexScoringLLM(like(llama_server, logprobs=True, top_logprobs=10))
    sync = llm.next_token_logprobs([QUESTION], ["Paris"])
    assert await llm.anext_token_logprobs([QUESTION], ["Paris"]) == pytest.approx(sync, abs=1e-4)


def test_utility_through_openai_like_matches_the_core_client(llama_server, served):
    llm = LlamaIndexScoringLLM(like(llama_server, logprobs=True, top_logprobs=20))
    ours = AbstentionUtility(served, cache_size=0).utilities("Who wrote Hamlet?", PASSAGES)
    theirs = AbstentionUtility(llm, cache_size=0).utilities("Who wrote Hamlet?", PASSAGES)
    assert theirs == pytest.approx(ours, abs=1e-4)


def test_udcg_postprocessor_takes_the_llm_as_reader(llama_server):
    post = UDCGRerankPostprocessor(utility=like(llama_server, logprobs=True, top_logprobs=20))
    assert isinstance(post.core_reranker().utility.llm, LlamaIndexScoringLLM)
    nodes = [NodeWithScore(node=TextNode(text=p, id_=f"n{i}")) for i, p in enumerate(PASSAGES)]
    kept = post.postprocess_nodes(nodes, query_str="Who wrote Hamlet?")
    assert kept and {n.node.node_id for n in kept} <= {"n0", "n1"}


def test_structurizer_takes_the_llm(llama_server):
    transform = StructurizeTransform(structurizer=like(llama_server, max_tokens=96))
    text = "Cats purr when content. Cats sleep a lot. Dogs bark at strangers."
    [node] = transform([TextNode(text=text, id_="x")])
    assert node.node_id == "x"
    assert LlamaIndexLLM(like(llama_server, max_tokens=4)).complete("Say hi.")
