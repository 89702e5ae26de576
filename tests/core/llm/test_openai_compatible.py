"""OpenAICompatibleLLM against a real llama-cpp-python server serving the packaged SmolLM2 GGUF.

Faults the real server cannot make (5xx, Retry-After, garbage, an unknown-model 404, a
hang) come from a local proxy in front of it; "server down" and "no log-probabilities"
come from the real server itself (stopped; started with ``logits_all=False``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time

import pytest

from ctx_core.errors import (
    ConfigError,
    MalformedResponseError,
    NotSupportedError,
    RemoteServiceError,
    ServiceTimeoutError,
    ServiceUnavailableError,
    UnknownModelError,
)
from ctx_core.llm import OpenAICompatibleLLM, ScoringLLM
from ctx_core.llm.base import supports

QUESTION = [
    {"role": "system", "content": "Answer with one word."},
    {"role": "user", "content": "What is the capital of France?"},
]


@pytest.fixture(scope="module")
def served(llama_server):
    return OpenAICompatibleLLM(
        "smollm2", base_url=llama_server.base_url, max_retries=0, timeout=300.0
    )


@pytest.fixture(scope="module")
def exact(llama_server, smollm2_chat_template):
    return OpenAICompatibleLLM(
        "smollm2",
        base_url=llama_server.base_url,
        chat_template=smollm2_chat_template,
        timeout=300.0,
    )


def fast(base_url: str, **options) -> OpenAICompatibleLLM:
    """An LLM with quick retries, for the fault tests."""
    settings = {"max_retries": 2, "retry_backoff": 0.01, "timeout": 30.0, **options}
    return OpenAICompatibleLLM("smollm2", base_url=base_url, **settings)


# -- generation and scoring ------------------------------------------------------------


def test_complete_is_deterministic_text(served):
    first = served.complete(QUESTION, max_tokens=8)
    assert isinstance(first, str) and first
    assert served.complete(QUESTION, max_tokens=8) == first
    assert served.complete_batch([QUESTION, QUESTION], max_tokens=8) == [first, first]


@pytest.mark.slow
def test_stop_strings_cut_the_reply(served):
    prompt = "Count from 1 to 10."
    text = served.complete(prompt, max_tokens=30)
    assert len(text) > 4
    stop = text[2:4]
    cut = served.complete(prompt, max_tokens=30, stop=[stop])
    assert cut == text[: text.find(stop)].strip()


def test_is_a_scoring_llm_with_features_by_template(served, exact):
    assert isinstance(served, ScoringLLM)
    assert supports(served, "next_token") and not supports(served, "continuation")
    assert supports(exact, "next_token") and supports(exact, "continuation")


def test_top_k_logprobs_match_exact_scores_for_listed_tokens(served, exact):
    # The reply's likeliest first token, read from the top-k list, must equal the
    # log-probability /v1/completions echoes for the same token after the same prompt.
    answer = served._post("/chat/completions", served._topk_body(QUESTION))
    top = answer["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
    token = max(top, key=lambda entry: entry["logprob"])["token"]
    topk = served.next_token_logprobs([QUESTION], [token])[0][0]
    echoed = exact.next_token_logprobs([QUESTION], [token])[0][0]
    assert topk == pytest.approx(echoed, abs=1e-3)
    assert topk > math.log(0.05)


def test_tokens_outside_the_top_k_get_an_upper_bound(served, exact):
    rare = "Xylophone"
    bound = served.next_token_logprobs([QUESTION], [rare])[0][0]
    true = exact.next_token_logprobs([QUESTION], [rare])[0][0]
    assert true <= bound + 1e-3
    listed = served._post("/chat/completions", served._topk_body(QUESTION))
    lowest = min(
        e["logprob"] for e in listed["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
    )
    assert bound <= lowest + 1e-6


def test_spelling_comes_from_the_server_tokenizer(served):
    assert served._spelling("NO-RESPONSE") in {"NO", "N", "NO-"}
    assert served._tokenizer is not None and served._tokenizer is not False


def test_continuation_logprobs_need_a_template(served):
    with pytest.raises(NotSupportedError, match="chat_template") as info:
        served.continuation_logprobs([QUESTION], ["Paris"])
    assert info.value.feature == "chat_template for /v1/completions"


def test_continuation_logprobs_rank_the_right_answer_first(exact):
    scores = exact.continuation_logprobs([QUESTION] * 2, ["Paris", "Bananas are yellow fruit"])
    assert scores[0].num_tokens >= 1 and scores[1].num_tokens >= 4
    assert scores[0].mean_logprob > scores[1].mean_logprob
    assert all(s.logprob < 0 for s in scores)


async def test_async_twins_agree_with_sync(served, exact):
    tokens = ["Paris", "NO-RESPONSE"]
    (row,) = await served.anext_token_logprobs([QUESTION], tokens)
    assert row == pytest.approx(served.next_token_logprobs([QUESTION], tokens)[0], abs=1e-4)
    (row,) = await exact.anext_token_logprobs([QUESTION], tokens)
    assert row == pytest.approx(exact.next_token_logprobs([QUESTION], tokens)[0], abs=1e-4)
    sync = exact.continuation_logprobs([QUESTION], ["Paris"])[0]
    (asynchronous,) = await exact.acontinuation_logprobs([QUESTION], ["Paris"])
    assert asynchronous.logprob == pytest.approx(sync.logprob, abs=1e-4)
    assert await served.acomplete(QUESTION, max_tokens=8) == served.complete(QUESTION, max_tokens=8)


def test_model_is_picked_when_the_server_has_one(llama_server, monkeypatch):
    monkeypatch.delenv("OPENAI_MODEL", raising=False)
    llm = OpenAICompatibleLLM(base_url=llama_server.base_url)
    assert llm.complete("Hi", max_tokens=2)
    assert llm.model_name == "smollm2"


def test_settings_come_from_the_environment(llama_server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", llama_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-secret")
    monkeypatch.setenv("OPENAI_MODEL", "smollm2")
    llm = OpenAICompatibleLLM()
    assert (llm.base_url, llm.model_name) == (llama_server.base_url, "smollm2")
    assert llm._auth_headers()["Authorization"] == "Bearer sk-env-secret"
    assert llm.complete("Hi", max_tokens=2)


def test_config_round_trips_without_the_key(llama_server, smollm2_chat_template):
    from ctx_core._registry import from_config

    llm = OpenAICompatibleLLM(
        "smollm2",
        base_url=llama_server.base_url,
        api_key="sk-very-secret",
        chat_template=smollm2_chat_template,
    )
    config = llm.config()
    assert "sk-very-secret" not in repr(config) and "sk-very-secret" not in repr(llm)
    rebuilt = from_config(config)
    assert rebuilt.config() == config
    with pytest.raises(ConfigError, match="chat_template is a callable"):
        OpenAICompatibleLLM("m", base_url="http://127.0.0.1:1/v1", chat_template=str).config()


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"base_url": "localhost:8000"}, ValueError, "base_url"),
        ({"top_logprobs": 0}, ValueError, "top_logprobs"),
        ({"timeout": 0}, ValueError, "timeout"),
        ({"max_retries": -1}, ValueError, "max_retries"),
        ({"deadline": float("inf")}, ValueError, "deadline"),
        ({"max_concurrency": 0}, ValueError, "max_concurrency"),
        ({"chat_template": 3}, TypeError, "chat_template"),
        ({"tokenizer_endpoint": "vllm"}, ValueError, "tokenizer_endpoint"),
        ({"model": ""}, ValueError, "model"),
    ],
)
def test_bad_arguments_are_named(options, error, match):
    settings = {"model": "m", "base_url": "http://127.0.0.1:1/v1", **options}
    with pytest.raises(error, match=match):
        OpenAICompatibleLLM(**settings)


def test_bad_call_arguments_are_named(served):
    with pytest.raises(ValueError, match="tokens"):
        served.next_token_logprobs([QUESTION], [])
    with pytest.raises(ValueError, match="max_tokens"):
        served.complete(QUESTION, max_tokens=0)
    with pytest.raises(ValueError, match="differ in length"):
        served.continuation_logprobs([QUESTION], ["a", "b"])


# -- faults: the real server ------------------------------------------------------------


@pytest.fixture(scope="module")
def server_without_logprobs(start_llama_server):
    server = start_llama_server(logits_all=False)
    yield server
    server.stop()


@pytest.mark.slow
def test_a_server_without_logprobs_is_named(server_without_logprobs, smollm2_chat_template):
    llm = fast(server_without_logprobs.base_url)
    assert llm.complete("Hi", max_tokens=2)  # text still works
    with pytest.raises(NotSupportedError, match="log-probabilities") as info:
        llm.next_token_logprobs([QUESTION], ["Paris"])
    assert "logprobs" in info.value.feature
    exact = fast(server_without_logprobs.base_url, chat_template=smollm2_chat_template)
    with pytest.raises(NotSupportedError, match="log-probabilities"):
        exact.continuation_logprobs([QUESTION], ["Paris"])


@pytest.mark.slow
def test_a_stopped_server_is_unavailable_after_the_retries(start_llama_server):
    server = start_llama_server()
    llm = fast(server.base_url)
    assert llm.complete("Hi", max_tokens=2)
    server.stop()
    llm.close()
    with pytest.raises(ServiceUnavailableError, match="could not be reached") as info:
        llm.complete("Hi", max_tokens=2)
    assert info.value.attempts == 3
    assert isinstance(info.value.__cause__, Exception)


def test_an_unknown_model_names_the_served_ones(llama_server):
    llm = OpenAICompatibleLLM("gpt-9", base_url=llama_server.base_url)
    with pytest.raises(UnknownModelError, match="smollm2"):
        llm.complete("Hi", max_tokens=2)


# -- faults: through the proxy ----------------------------------------------------------


def test_5xx_is_retried_then_raised_with_its_status(fault_proxy):
    fault_proxy.script = ["500", "503", "500", "500"]
    llm = fast(fault_proxy.base_url, check_model=False)
    with pytest.raises(RemoteServiceError, match="HTTP 500") as info:
        llm.complete("Hi", max_tokens=2)
    assert (info.value.status_code, info.value.attempts) == (500, 3)
    fault_proxy.script = ["503", "429"]
    assert llm.complete("Hi", max_tokens=2)  # the third attempt passes through


def test_retry_after_is_honoured(fault_proxy):
    fault_proxy.script = ["429-after:0.6"]
    llm = fast(fault_proxy.base_url, check_model=False)
    assert llm.complete("Hi", max_tokens=2)
    gap = fault_proxy.arrivals[1] - fault_proxy.arrivals[0]
    assert gap >= 0.55


async def test_retry_after_is_honoured_async(fault_proxy):
    fault_proxy.script = ["503-after:0.5"]
    llm = fast(fault_proxy.base_url, check_model=False)
    assert await llm.acomplete("Hi", max_tokens=2)
    assert fault_proxy.arrivals[1] - fault_proxy.arrivals[0] >= 0.45


def test_4xx_is_not_retried(fault_proxy):
    fault_proxy.script = ["400"]
    llm = fast(fault_proxy.base_url, check_model=False)
    with pytest.raises(RemoteServiceError, match="HTTP 400") as info:
        llm.complete("Hi", max_tokens=2)
    assert info.value.attempts == 1 and len(fault_proxy.arrivals) == 1


def test_timeouts_raise_a_timeout_error(fault_proxy):
    fault_proxy.script = ["slow:2", "slow:2"]
    llm = fast(fault_proxy.base_url, check_model=False, timeout=0.3, max_retries=1)
    started = time.monotonic()
    with pytest.raises(ServiceTimeoutError, match="timed out") as info:
        llm.complete("Hi", max_tokens=2)
    assert info.value.attempts == 2 and time.monotonic() - started < 1.5


def test_deadline_bounds_the_retries(fault_proxy):
    fault_proxy.script = ["503-after:5"]
    llm = fast(fault_proxy.base_url, check_model=False, deadline=1.0)
    started = time.monotonic()
    with pytest.raises(ServiceTimeoutError, match="deadline"):
        llm.complete("Hi", max_tokens=2)
    assert time.monotonic() - started < 0.5


def test_malformed_json_is_not_retried(fault_proxy):
    fault_proxy.script = ["garbage"]
    llm = fast(fault_proxy.base_url, check_model=False)
    with pytest.raises(MalformedResponseError, match="not JSON"):
        llm.complete("Hi", max_tokens=2)
    assert len(fault_proxy.arrivals) == 1


def test_a_dropped_connection_is_retried(fault_proxy):
    fault_proxy.script = ["close"]
    llm = fast(fault_proxy.base_url, check_model=False)
    assert llm.complete("Hi", max_tokens=2)
    assert len(fault_proxy.arrivals) == 2


def test_an_unknown_model_404_is_typed(fault_proxy):
    fault_proxy.script = ["404-model"]
    llm = fast(fault_proxy.base_url, check_model=False)
    with pytest.raises(UnknownModelError, match="does not serve model 'smollm2'"):
        llm.complete("Hi", max_tokens=2)


def test_answers_without_logprobs_are_named(fault_proxy):
    fault_proxy.script = ["no-logprobs"]
    llm = fast(fault_proxy.base_url, check_model=False, tokenizer_endpoint=None)
    with pytest.raises(NotSupportedError, match="no logprobs") as info:
        llm.next_token_logprobs([QUESTION], ["Paris"])
    assert info.value.feature == "logprobs on /v1/chat/completions"


def test_the_api_key_never_leaks(fault_proxy, caplog):
    secret = "sk-do-not-print-0123456789"
    llm = fast(fault_proxy.base_url, check_model=False, api_key=secret)
    fault_proxy.script = ["503", "401-echo"]
    with caplog.at_level(logging.DEBUG), pytest.raises(RemoteServiceError) as info:
        llm.complete("Hi", max_tokens=2)
    assert fault_proxy.auth[-1] == f"Bearer {secret}"  # it was sent
    assert info.value.status_code == 401
    for text in (str(info.value), repr(llm), str(llm.config()), caplog.text):
        assert secret not in text
    assert "***" in str(info.value)


@pytest.mark.slow
def test_concurrency_is_limited(fault_proxy):
    fault_proxy.delay = 0.2
    llm = fast(fault_proxy.base_url, check_model=False, max_concurrency=2)
    llm.complete_batch(["Hi"] * 6, max_tokens=1)
    assert fault_proxy.max_in_flight == 2


@pytest.mark.slow
async def test_concurrency_is_limited_async(fault_proxy):
    fault_proxy.delay = 0.2
    llm = fast(fault_proxy.base_url, check_model=False, max_concurrency=3)
    rows = await llm.anext_token_logprobs(["Hi"] * 7, ["Hello"])
    assert len(rows) == 7 and fault_proxy.max_in_flight == 3


def test_async_calls_from_two_event_loops(served):
    # An async client belongs to one event loop: each call makes its own.
    first = asyncio.run(served.acomplete("Hi", max_tokens=2))
    assert asyncio.run(served.acomplete("Hi", max_tokens=2)) == first
