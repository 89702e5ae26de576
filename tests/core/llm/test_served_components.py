"""The components that need an LLM, run on a served model (the real llama-cpp-python server)."""

from __future__ import annotations

import math

import pytest

from ctx_core.llm import OpenAICompatibleLLM
from ctx_core.memory.extractor import MemoryExtractor
from ctx_core.memory.selection import LogprobJudge
from ctx_core.structure import LLMStructurizer
from ctx_core.udcg import AbstentionUtility

#: Each call goes to a real server, some generate whole replies: not in the default run.
pytestmark = pytest.mark.slow

QUESTION = "Who wrote Hamlet?"
PASSAGES = [
    "Hamlet is a tragedy written by William Shakespeare around 1600.",
    "Bananas are an elongated, edible fruit produced by large herbaceous plants.",
]


@pytest.fixture(scope="module")
def served(llama_server):
    return OpenAICompatibleLLM("smollm2", base_url=llama_server.base_url)


@pytest.fixture(scope="module")
def exact(llama_server, smollm2_chat_template):
    return OpenAICompatibleLLM(
        "smollm2",
        base_url=llama_server.base_url,
        chat_template=smollm2_chat_template,
        timeout=300.0,
    )


def test_utility_from_a_served_model_is_its_abstention_probability(exact):
    utility = AbstentionUtility(exact, cache_size=0)
    probabilities = utility.no_response_probabilities(QUESTION, PASSAGES)
    prompts = [utility.prompt(QUESTION, p) for p in PASSAGES]
    direct = [math.exp(row[0]) for row in exact.next_token_logprobs(prompts, ["NO-RESPONSE"])]
    assert probabilities == pytest.approx(direct, rel=1e-6)
    assert all(0.0 < p < 1.0 for p in probabilities)
    assert utility.utilities(QUESTION, PASSAGES) == pytest.approx([1 - p for p in direct])


def test_utility_from_top_k_is_an_upper_bound_on_abstention(served, exact):
    bounded = AbstentionUtility(served, cache_size=0).no_response_probabilities(QUESTION, PASSAGES)
    true = AbstentionUtility(exact, cache_size=0).no_response_probabilities(QUESTION, PASSAGES)
    for upper, value in zip(bounded, true, strict=True):
        assert value <= upper * (1 + 1e-3) + 1e-9


def test_boundary_and_completeness_judges_on_a_served_model(exact):
    judge = LogprobJudge(exact)
    [same, different] = judge.separations(
        [
            ("Cats purr when content.", "Cats also purr when hurt."),
            ("Cats purr when content.", "The stock market fell 3% on Tuesday."),
        ]
    )
    assert 0.0 < same < 1.0 and 0.0 < different < 1.0
    [(fit, weight_fit), (misfit, _)] = judge.completeness(
        [
            ("Cats purr.", "Cats purr when they are content."),
            ("Cats purr.", "The stock market fell three percent on Tuesday."),
        ]
    )
    assert weight_fit >= 5 and fit > misfit


def test_a_next_token_only_model_is_refused_by_the_completeness_judge(served):
    with pytest.raises(TypeError, match="continuation"):
        LogprobJudge(served)
    # The extractor falls back to embeddings instead of failing mid-extraction.
    assert MemoryExtractor(served).judge().method == "embeddings"


def test_memory_extractor_scores_with_a_template_backed_server(exact):
    assert MemoryExtractor(exact).judge().method == "logprobs"


def test_llm_structurizer_on_a_served_model(served):
    text = "Cats purr when content. Cats sleep sixteen hours a day. Dogs bark at strangers."
    structure = LLMStructurizer(served, max_tokens=96).structurize(text)
    # Every sentence comes out exactly as it went in, under some aspect.
    assert structure.source == text
    assert [s.text for s in structure.sentences] == [
        "Cats purr when content.",
        "Cats sleep sixteen hours a day.",
        "Dogs bark at strangers.",
    ]
    assert structure.scope and structure.aspects
