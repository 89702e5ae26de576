"""TransformersLLM streams token by token: the pieces join to complete()'s reply, with real token counts."""

from __future__ import annotations

import pytest

from ctx_core.llm import CompletionChunk, StreamingLLM, TransformersLLM
from ctx_core.llm.transformers_llm import _visible


@pytest.fixture(scope="module")
def tiny(tiny_llama_dir):
    return TransformersLLM(str(tiny_llama_dir))


def joined(chunks: list[CompletionChunk]) -> str:
    return "".join(c.text for c in chunks)


def test_the_pieces_join_to_the_completion_with_token_counts(tiny):
    assert isinstance(tiny, StreamingLLM)
    prompt = [{"role": "user", "content": "Tell me about France."}]
    chunks = list(tiny.stream(prompt, max_tokens=24))
    assert joined(chunks) == tiny.complete(prompt, max_tokens=24)
    # Token by token: a random model rarely ends early, so many pieces arrive.
    assert len([c for c in chunks if c.text]) > 5
    assert sum(c.input_tokens for c in chunks) == len(tiny.prompt_ids(prompt, reserve=24))
    assert chunks[0].input_tokens > 0 and all(c.input_tokens == 0 for c in chunks[1:])
    assert sum(c.output_tokens for c in chunks) == 24
    assert chunks[-1].finish_reason == "length"
    assert all(c.finish_reason is None for c in chunks[:-1])


def test_stop_strings_end_the_stream_like_the_completion(tiny):
    prompt = "Say something long."
    free = tiny.complete(prompt, max_tokens=30)
    # A stop string taken from the middle of the free reply: both must cut there.
    stop = free[len(free) // 2 : len(free) // 2 + 3]
    assert stop.strip()
    expected = tiny.complete(prompt, max_tokens=30, stop=[stop])
    chunks = list(tiny.stream(prompt, max_tokens=30, stop=[stop]))
    assert joined(chunks) == expected
    assert stop not in joined(chunks)
    assert chunks[-1].finish_reason == "stop"
    assert sum(c.output_tokens for c in chunks) < 30


def test_closing_the_stream_early_stops_generation(tiny):
    stream = tiny.stream("Count to a hundred.", max_tokens=200)
    first = next(stream)
    assert first.text
    stream.close()  # joins the generating thread: it must stop, not run 200 steps
    # The model is free again: a new call works and matches.
    assert joined(list(tiny.stream("Hi", max_tokens=4))) == tiny.complete("Hi", max_tokens=4)


def test_bad_arguments_are_refused_before_streaming(tiny):
    with pytest.raises(ValueError, match="max_tokens"):
        tiny.stream("x", max_tokens=0)
    with pytest.raises(ValueError, match="temperature"):
        tiny.stream("x", temperature=-1)


def test_text_that_may_become_a_stop_string_is_held_back():
    assert _visible("Hello wor", ["world"]) == ("Hello", False)
    assert _visible("Hello world!", ["world"]) == ("Hello", True)
    assert _visible("  Hi there  ", []) == ("Hi there", False)
    assert _visible("1, 2, 3,", [", 4"]) == ("1, 2, 3", False)


def test_smollm2_streams_its_answer(smollm2):
    chunks = list(smollm2.stream("What is the capital of France?", max_tokens=16))
    text = joined(chunks)
    assert text == smollm2.complete("What is the capital of France?", max_tokens=16)
    assert "Paris" in text
    assert len([c for c in chunks if c.text]) >= 3
