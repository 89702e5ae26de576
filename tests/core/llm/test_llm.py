import asyncio
import logging
import math

import numpy as np
import pytest
import torch

from ctx_core.llm import LLM, ScoringLLM, TransformersLLM
from ctx_core.llm.base import to_messages


@pytest.fixture(scope="module")
def tiny(tiny_llama_dir):
    return TransformersLLM(str(tiny_llama_dir), batch_size=3, max_length=64)


def test_protocols_are_satisfied(tiny):
    assert isinstance(tiny, LLM) and isinstance(tiny, ScoringLLM)


def test_to_messages_validates():
    assert to_messages("hi") == [{"role": "user", "content": "hi"}]
    with pytest.raises(ValueError, match="role"):
        to_messages([{"role": "wizard", "content": "x"}])
    with pytest.raises(TypeError, match="content"):
        to_messages([{"role": "user", "content": None}])
    with pytest.raises(TypeError, match="prompt"):
        to_messages([])


def test_batched_scores_equal_one_at_a_time(tiny):
    prompts = ["short", "a somewhat longer prompt with more words", "mid length prompt"]
    tokens = ["yes", "no", "maybe"]
    batched = tiny.next_token_logprobs(prompts, tokens)
    single = [tiny.next_token_logprobs([p], tokens)[0] for p in prompts]
    assert np.allclose(batched, single, atol=1e-4)
    assert np.ptp(np.asarray(batched)) > 0.1  # outputs really depend on the input
    continuations = [" A", " the answer is B", " C c"]
    batched_c = tiny.continuation_logprobs(prompts, continuations)
    single_c = [
        tiny.continuation_logprobs([p], [c])[0] for p, c in zip(prompts, continuations, strict=True)
    ]
    assert [s.logprob for s in batched_c] == pytest.approx([s.logprob for s in single_c], abs=1e-4)


def test_continuation_logprob_is_the_chain_of_next_token_logprobs(tiny):
    prompt = "Say something"
    ids = tiny.tokenizer.encode(" hello there", add_special_tokens=False)
    [score] = tiny.continuation_logprobs([prompt], [" hello there"])
    head = tiny.prompt_ids(prompt)
    with torch.no_grad():
        logits = tiny.model(torch.tensor([head + ids])).logits[0].float()
    logprobs = torch.log_softmax(logits, -1)
    expected = sum(float(logprobs[len(head) - 1 + i, t]) for i, t in enumerate(ids))
    assert score.num_tokens == len(ids)
    assert score.logprob == pytest.approx(expected, abs=1e-4)
    assert score.mean_logprob == pytest.approx(expected / len(ids), abs=1e-4)


def test_next_token_logprobs_are_probabilities(tiny):
    vocab = [tiny.tokenizer.decode([i]) for i in range(50, 60)]
    [row] = tiny.next_token_logprobs(["hello"], vocab)
    assert all(x <= 0 for x in row)
    assert sum(math.exp(x) for x in row) < 1


def test_long_prompts_keep_their_end_with_a_warning(tiny, caplog):
    long_prompt = "word " * 200
    with caplog.at_level(logging.WARNING, logger="ctx_core.llm.transformers_llm"):
        ids = tiny.prompt_ids(long_prompt)
    assert len(ids) == tiny.max_length
    assert "exceeds" in caplog.text


def test_generation_is_batched_and_deterministic(tiny):
    prompts = ["one", "two three", "four five six"]
    batched = tiny.complete_batch(prompts, max_tokens=5)
    assert batched == [tiny.complete(p, max_tokens=5) for p in prompts]


def test_bad_arguments_name_themselves(tiny):
    with pytest.raises(ValueError, match="max_tokens"):
        tiny.complete("x", max_tokens=0)
    with pytest.raises(ValueError, match="temperature"):
        tiny.complete("x", temperature=-1)
    with pytest.raises(ValueError, match="continuations"):
        tiny.continuation_logprobs(["a", "b"], ["c"])
    with pytest.raises(ValueError, match="tokens"):
        tiny.next_token_logprobs(["a"], [])
    with pytest.raises(ValueError, match="batch_size"):
        TransformersLLM("smollm2", batch_size=0)


def test_smollm2_answers_and_judges(smollm2):
    answer = smollm2.complete(
        "What is the capital of France? Answer in one sentence.", max_tokens=20
    )
    assert "Paris" in answer
    right, wrong = smollm2.continuation_logprobs(
        ["What is the capital of France?"] * 2,
        ["The capital of France is Paris.", "The capital of France is Berlin."],
    )
    assert right.logprob > wrong.logprob + 5


def test_stop_strings_cut_the_reply(smollm2):
    reply = smollm2.complete("Count from 1 to 10, separated by commas.", max_tokens=30, stop=["5"])
    assert "5" not in reply and "6" not in reply


async def test_async_complete_matches_sync(smollm2):
    prompt = "Name one primary color."
    sync = smollm2.complete(prompt, max_tokens=8)
    results = await asyncio.gather(smollm2.acomplete(prompt, max_tokens=8), asyncio.sleep(0))
    assert results[0] == sync


def test_gemma_base_model_loads_with_bos():
    gemma = TransformersLLM("gemma3-270m", max_length=256)
    assert not gemma.use_chat_template
    ids = gemma.prompt_ids("The capital of France is")
    assert ids[0] == gemma.tokenizer.bos_token_id
    [score] = gemma.continuation_logprobs(["The capital of France is"], [" Paris"])
    [other] = gemma.continuation_logprobs(["The capital of France is"], [" Berlin"])
    assert score.logprob > other.logprob
