"""A served model behind an OpenAI-compatible HTTP API as a core `ScoringLLM`.

Works with hosted APIs and with vLLM, llama.cpp (``llama-server``), llama-cpp-python's
server and SGLang: anything that answers ``/v1/chat/completions`` (and, for exact
scoring, ``/v1/completions`` with ``echo``).

Two ways to get probabilities, picked by whether a chat template is given:

* **Top-k** (no ``chat_template``): one ``/v1/chat/completions`` request per prompt with
  ``max_tokens=1, logprobs=true, top_logprobs=k``; a token's log-probability is read from
  the first generated token's top-k list. A token outside the top ``k`` gets an upper
  bound (the smaller of the lowest listed log-probability and the log of the mass the
  list leaves over). Works with any server that returns log-probabilities, hosted APIs
  included. ``continuation_logprobs`` is not available this way.
* **Exact** (``chat_template`` given): the prompt is rendered with the template here and
  scored with ``/v1/completions`` (``echo=true, logprobs=0, max_tokens=1``); the echoed
  per-token log-probabilities of the continuation are summed. Both scoring methods work
  and give exact values, on servers that echo prompt log-probabilities (vLLM, llama.cpp
  servers; not OpenAI's hosted chat models).

Candidate tokens are matched by spelling: the server's tokenizer endpoint (llama-cpp-python
``/extras/tokenize``, vLLM and llama.cpp ``/tokenize``) gives the first token of each
string; a server without one is matched by text (the longest listed token that starts
the string).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from ctx_core._registry import Configurable
from ctx_core._retry import aretry_call, backoff, deadline_from, retry_after, retry_call
from ctx_core.errors import (
    ConfigError,
    MalformedResponseError,
    NotSupportedError,
    RemoteServiceError,
    ServiceTimeoutError,
    ServiceUnavailableError,
    UnknownModelError,
    require,
)
from ctx_core.llm.base import BaseLLM, Prompt, SequenceScore, cut_at_stop, to_messages
from ctx_core.llm.logprobs import logprobs_from_top, top_logprobs_of_first_token

__all__ = ["OpenAICompatibleLLM"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Tokenizer endpoints of common servers: (path from the server root, request, response keys).
_TOKENIZERS: tuple[tuple[str, str, str, str, str, str], ...] = (
    # path, text field, tokens field, detokenize path, tokens-in field, text-out field
    (
        "/extras/tokenize",
        "input",
        "tokens",
        "/extras/detokenize",
        "tokens",
        "text",
    ),  # llama-cpp-python
    ("/tokenize", "prompt", "tokens", "/detokenize", "tokens", "prompt"),  # vLLM
    ("/tokenize", "content", "tokens", "/detokenize", "tokens", "content"),  # llama.cpp server
)

ChatTemplate = str | Callable[[list[dict[str, str]]], str]


class _HTTPStatusError(Exception):
    """An HTTP error answer, kept with its status, headers and (key-scrubbed) body."""

    def __init__(self, status: int, body: str, headers: dict[str, str]) -> None:
        super().__init__(f"HTTP {status}: {body[:500]}")
        self.status_code = status
        self.body = body
        self.headers = headers


class OpenAICompatibleLLM(BaseLLM, Configurable):
    """A model served over an OpenAI-compatible API, for generation and scoring.

    Timeouts, connection failures, HTTP 408/409/429 and 5xx answers are retried up to
    ``max_retries`` times with exponential backoff, or after the wait the server asks
    for in ``Retry-After``; then a typed error is raised with the cause attached:
    [`ServiceUnavailableError`][ctx_core.errors.ServiceUnavailableError] (never
    reached), [`ServiceTimeoutError`][ctx_core.errors.ServiceTimeoutError],
    [`UnknownModelError`][ctx_core.errors.UnknownModelError] (checked against
    ``/v1/models`` on first use, and on a 404 naming the model),
    [`MalformedResponseError`][ctx_core.errors.MalformedResponseError] (not JSON, or
    not the promised shape; not retried),
    [`NotSupportedError`][ctx_core.errors.NotSupportedError] (no log-probabilities, no
    echo) or [`RemoteServiceError`][ctx_core.errors.RemoteServiceError] with the HTTP
    status for other 4xx answers. The API key is sent as a bearer token and never
    appears in ``repr``, ``config()``, logs or error messages.

    Args:
        model: Model name as the server knows it (default: ``$OPENAI_MODEL``; else the
            only model ``/v1/models`` lists).
        base_url: API base URL ending in ``/v1`` (default: ``$OPENAI_BASE_URL``, else
            ``$OPENAI_API_BASE``, else ``https://api.openai.com/v1``).
        api_key: Bearer token (default: ``$OPENAI_API_KEY``; local servers need none).
        chat_template: A Jinja chat template (e.g. ``tokenizer.chat_template`` of the
            served model) or a callable rendering a message list to the prompt text.
            Given, scoring is exact through ``/v1/completions``; see the module docs.
        top_logprobs: ``k`` of the top-k lists read when no template is given (most
            hosted APIs and vLLM allow at most 20).
        timeout: Seconds for each request.
        max_retries: Retries after the first attempt.
        retry_backoff: First backoff delay in seconds (doubled each retry).
        deadline: Seconds one request may take in all, retries and waits included.
        max_concurrency: Most requests in flight at once for one batch call.
        check_model: Check ``model`` against ``/v1/models`` on first use.
        tokenizer_endpoint: ``"auto"`` to find the server's tokenizer, ``None`` to match
            candidate tokens by text only.
        headers: Extra HTTP headers (not written into ``config()``).

    Examples:
        >>> llm = OpenAICompatibleLLM("smollm2", base_url="http://127.0.0.1:8000/v1")  # doctest: +SKIP
        >>> llm.complete("What is the capital of France?", max_tokens=12)  # doctest: +SKIP
        'The capital of France is Paris.'
        >>> llm.next_token_logprobs(["Is Paris in France? Answer yes or no."], ["yes", "no"])  # doctest: +SKIP
        [[-0.4, -1.2]]
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        chat_template: ChatTemplate | None = None,
        top_logprobs: int = 20,
        timeout: float = 60.0,
        max_retries: int = 3,
        retry_backoff: float = 0.5,
        deadline: float | None = None,
        max_concurrency: int = 8,
        check_model: bool = True,
        tokenizer_endpoint: str | None = "auto",
        headers: dict[str, str] | None = None,
    ) -> None:
        require("httpx", "openai", "OpenAICompatibleLLM")
        if model is not None and (not isinstance(model, str) or not model.strip()):
            raise ValueError(f"model must be a non-empty str or None, got {model!r}")
        url = base_url or os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_BASE")
        url = url or "https://api.openai.com/v1"
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, got {url!r}")
        if chat_template is not None and not (
            callable(chat_template) or (isinstance(chat_template, str) and chat_template.strip())
        ):
            raise TypeError("chat_template must be a Jinja template string or a callable")
        if isinstance(top_logprobs, bool) or not isinstance(top_logprobs, int) or top_logprobs < 1:
            raise ValueError(f"top_logprobs must be an int >= 1, got {top_logprobs!r}")
        if not isinstance(timeout, (int, float)) or not 0 < timeout < math.inf:
            raise ValueError(f"timeout must be a finite number of seconds > 0, got {timeout!r}")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries must be an int >= 0, got {max_retries!r}")
        if not isinstance(retry_backoff, (int, float)) or retry_backoff < 0:
            raise ValueError(f"retry_backoff must be >= 0, got {retry_backoff!r}")
        if deadline is not None and (
            isinstance(deadline, bool)
            or not isinstance(deadline, (int, float))
            or not 0 < deadline < math.inf
        ):
            raise ValueError(
                f"deadline must be a finite number of seconds > 0 or None, got {deadline!r}"
            )
        if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int):
            raise TypeError(f"max_concurrency must be an int >= 1, got {max_concurrency!r}")
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        if tokenizer_endpoint not in ("auto", None):
            raise ValueError(
                f"tokenizer_endpoint must be 'auto' or None, got {tokenizer_endpoint!r}"
            )
        self.base_url = url.rstrip("/")
        self.model_name = model or os.environ.get("OPENAI_MODEL") or None
        self.chat_template = chat_template
        self.top_logprobs = top_logprobs
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.retry_backoff = float(retry_backoff)
        self.deadline = deadline
        self.max_concurrency = max_concurrency
        self.check_model = check_model
        self.tokenizer_endpoint = tokenizer_endpoint
        # Private, never printed: repr, config and every error message leave it out.
        self.__api_key = api_key or os.environ.get("OPENAI_API_KEY") or None
        self._headers = {"Content-Type": "application/json", **(headers or {})}
        self._lock = threading.Lock()
        self._model_checked = False
        self._spellings: dict[str, str | None] = {}
        self._lengths: dict[str, int] = {}
        self._tokenizer: tuple[str, str, str, str, str, str] | bool | None = None
        self._template: Any = None
        self._client: Any = None

    # -- identity ---------------------------------------------------------

    @property
    def scoring_features(self) -> frozenset[str]:
        """What this LLM can score: continuations only through a chat template (see the module docs)."""
        if self.chat_template is None:
            return frozenset({"next_token"})
        return frozenset({"next_token", "continuation"})

    def __repr__(self) -> str:
        return f"OpenAICompatibleLLM(model={self.model_name!r}, base_url={self.base_url!r})"

    def config(self) -> dict[str, Any]:
        """The server, model and request settings; never the API key or headers.

        Raises:
            ConfigError: ``chat_template`` is a callable (only a template string is data).
        """
        if callable(self.chat_template):
            raise ConfigError(
                "chat_template is a callable, which has no config(); pass the template string "
                "(e.g. tokenizer.chat_template) to serialize the LLM"
            )
        return {
            "type": "OpenAICompatibleLLM",
            "model": self.model_name,
            "base_url": self.base_url,
            "chat_template": self.chat_template,
            "top_logprobs": self.top_logprobs,
            "timeout": self.timeout,
            "max_retries": self.max_retries,
            "retry_backoff": self.retry_backoff,
            "deadline": self.deadline,
            "max_concurrency": self.max_concurrency,
            "check_model": self.check_model,
            "tokenizer_endpoint": self.tokenizer_endpoint,
        }

    # -- generation -------------------------------------------------------

    def complete(
        self,
        prompt: Prompt,
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> str:
        """The model's reply to ``prompt`` from ``/v1/chat/completions``."""
        body = self._chat_body(prompt, max_tokens, temperature, stop)
        return self._reply_text(self._post("/chat/completions", body), stop)

    async def acomplete(
        self,
        prompt: Prompt,
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> str:
        """Natively async twin of `complete`."""
        body = self._chat_body(prompt, max_tokens, temperature, stop)
        async with self._async_client() as client:
            return self._reply_text(await self._apost(client, "/chat/completions", body), stop)

    def complete_batch(
        self,
        prompts: Sequence[Prompt],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> list[str]:
        """Replies to several prompts, up to ``max_concurrency`` requests at a time."""
        bodies = [self._chat_body(p, max_tokens, temperature, stop) for p in prompts]
        answers = self._map(lambda b: self._post("/chat/completions", b), bodies)
        return [self._reply_text(a, stop) for a in answers]

    # -- scoring ----------------------------------------------------------

    def next_token_logprobs(
        self, prompts: Sequence[Prompt], tokens: Sequence[str]
    ) -> list[list[float]]:
        """For each prompt, the log-probability that the reply starts with each of ``tokens``.

        Exact with a ``chat_template``; otherwise read from the top-k list (a token
        outside it gets an upper bound, see the module docs).
        """
        tokens = self._check_tokens(tokens)
        if self.chat_template is not None:
            pairs = [(p, t) for p in prompts for t in tokens]
            scores = self._map(lambda pt: self._echo_first(pt[0], pt[1]), pairs)
            return [scores[i * len(tokens) : (i + 1) * len(tokens)] for i in range(len(prompts))]
        spellings = [self._spelling(t) for t in tokens]
        bodies = [self._topk_body(p) for p in prompts]
        answers = self._map(lambda b: self._post("/chat/completions", b), bodies)
        return [self._read_topk(a, tokens, spellings) for a in answers]

    async def anext_token_logprobs(
        self, prompts: Sequence[Prompt], tokens: Sequence[str]
    ) -> list[list[float]]:
        """Async twin of `next_token_logprobs`."""
        tokens = self._check_tokens(tokens)
        if self.chat_template is not None:
            pairs = [(p, t) for p in prompts for t in tokens]
            async with self._async_client() as client:
                gate = asyncio.Semaphore(self.max_concurrency)

                async def first(pt: tuple[Prompt, str]) -> float:
                    async with gate:
                        score = await self._aecho_score(client, pt[0], pt[1], first_only=True)
                    return score.logprob

                scores = await asyncio.gather(*(first(pt) for pt in pairs))
            return [
                list(scores[i * len(tokens) : (i + 1) * len(tokens)]) for i in range(len(prompts))
            ]
        spellings = await asyncio.to_thread(lambda: [self._spelling(t) for t in tokens])
        async with self._async_client() as client:
            gate = asyncio.Semaphore(self.max_concurrency)

            async def one(prompt: Prompt) -> list[float]:
                async with gate:
                    answer = await self._apost(client, "/chat/completions", self._topk_body(prompt))
                return self._read_topk(answer, tokens, spellings)

            return list(await asyncio.gather(*(one(p) for p in prompts)))

    def continuation_logprobs(
        self, prompts: Sequence[Prompt], continuations: Sequence[str]
    ) -> list[SequenceScore]:
        """For each (prompt, continuation) pair, the log-probability of the continuation as the reply.

        Raises:
            NotSupportedError: no ``chat_template`` was given, or the server does not
                echo prompt log-probabilities on ``/v1/completions``.
        """
        self._check_pairs(prompts, continuations)
        return self._map(
            lambda pc: self._echo_score(pc[0], pc[1]),
            list(zip(prompts, continuations, strict=True)),
        )

    async def acontinuation_logprobs(
        self, prompts: Sequence[Prompt], continuations: Sequence[str]
    ) -> list[SequenceScore]:
        """Async twin of `continuation_logprobs`."""
        self._check_pairs(prompts, continuations)
        async with self._async_client() as client:
            gate = asyncio.Semaphore(self.max_concurrency)

            async def one(prompt: Prompt, continuation: str) -> SequenceScore:
                async with gate:
                    return await self._aecho_score(client, prompt, continuation, first_only=False)

            return list(
                await asyncio.gather(
                    *(one(p, c) for p, c in zip(prompts, continuations, strict=True))
                )
            )

    def render(self, prompt: Prompt) -> str:
        """The prompt text sent to ``/v1/completions``: ``prompt`` through the chat template.

        Raises:
            NotSupportedError: no ``chat_template`` was given.
        """
        messages = to_messages(prompt)
        if self.chat_template is None:
            raise NotSupportedError(
                "scoring a continuation needs /v1/completions with echo=true and the served "
                "model's chat template to render chat prompts: pass chat_template= (e.g. "
                "tokenizer.chat_template) to OpenAICompatibleLLM",
                feature="chat_template for /v1/completions",
            )
        if callable(self.chat_template):
            return str(self.chat_template(messages))
        if self._template is None:
            require("jinja2", "openai", "Rendering a chat template")
            from jinja2.sandbox import ImmutableSandboxedEnvironment

            env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
            self._template = env.from_string(self.chat_template)
        return str(self._template.render(messages=messages, add_generation_prompt=True))

    # -- request bodies and answers --------------------------------------

    def _chat_body(
        self, prompt: Prompt, max_tokens: int, temperature: float, stop: Sequence[str] | None
    ) -> dict[str, Any]:
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise ValueError(f"max_tokens must be an int >= 1, got {max_tokens!r}")
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        body: dict[str, Any] = {
            "messages": to_messages(prompt),
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        if stop:
            body["stop"] = list(stop)
        return body

    def _topk_body(self, prompt: Prompt) -> dict[str, Any]:
        return {
            "messages": to_messages(prompt),
            "max_tokens": 1,
            "temperature": 0.0,
            "logprobs": True,
            "top_logprobs": self.top_logprobs,
        }

    def _echo_body(self, prompt: Prompt, continuation: str) -> dict[str, Any]:
        return {
            "prompt": self.render(prompt) + continuation,
            "max_tokens": 1,
            "temperature": 0.0,
            "echo": True,
            "logprobs": 0,
        }

    def _reply_text(self, answer: dict[str, Any], stop: Sequence[str] | None) -> str:
        message = _dig(answer, "choices", 0, "message")
        content = message.get("content") if isinstance(message, dict) else None
        if content is None:
            content = ""
        if not isinstance(content, str):
            raise MalformedResponseError(
                f"/chat/completions answered a non-text message content: {type(content).__name__}"
            )
        return cut_at_stop(content, stop).strip()

    def _read_topk(
        self, answer: dict[str, Any], tokens: Sequence[str], spellings: Sequence[str | None]
    ) -> list[float]:
        where = self._where("/chat/completions")
        try:
            listed = top_logprobs_of_first_token(_dig(answer, "choices", 0).get("logprobs"), where)
        except NotSupportedError as err:
            raise NotSupportedError(
                f"{where} returned no logprobs for logprobs=true, top_logprobs="
                f"{self.top_logprobs}; the server must be started with log-probabilities "
                "enabled (llama-cpp-python: logits_all=True)",
                feature="logprobs on /v1/chat/completions",
            ) from err
        return logprobs_from_top(listed, tokens, spellings)

    def _prompt_length(self, text: str) -> int:
        """Tokens the server reads for ``text`` (its ``usage.prompt_tokens``; remembered)."""
        if text not in self._lengths:
            body = {"prompt": text, "max_tokens": 1, "temperature": 0.0}
            self._lengths[text] = self._usage(self._post("/completions", body), "prompt_tokens")
        return self._lengths[text]

    def _usage(self, answer: dict[str, Any], field: str) -> int:
        try:
            return int(answer["usage"][field])
        except (KeyError, TypeError, ValueError) as err:
            raise MalformedResponseError(
                f"{self._where('/completions')} answered without usage.{field}"
            ) from err

    def _read_echo(
        self, answer: dict[str, Any], prompt_tokens: int, *, first_only: bool
    ) -> SequenceScore:
        # The continuation's tokens are the last echoed prompt tokens before the generated
        # ones: counted with usage (prompt with vs without the continuation), because
        # servers differ in how they write text offsets (llama-cpp-python leaves special
        # tokens out of them).
        logprobs = _dig(answer, "choices", 0).get("logprobs")
        values = logprobs.get("token_logprobs") if isinstance(logprobs, dict) else None
        if not isinstance(values, list) or not values:
            raise NotSupportedError(
                f"{self._where('/completions')} returned no prompt logprobs for echo=true, "
                "logprobs=0; continuation scoring needs a server that echoes them (vLLM, "
                "llama.cpp, llama-cpp-python with logits_all=True)",
                feature="echo with logprobs on /v1/completions",
            )
        total = self._usage(answer, "prompt_tokens")
        generated = self._usage(answer, "completion_tokens")
        count = total - prompt_tokens
        end = len(values) - generated
        picked = values[end - count : end] if 0 < count <= end else []
        if not picked or any(v is None for v in picked):
            raise NotSupportedError(
                f"{self._where('/completions')} did not echo log-probabilities for the "
                f"continuation's {count} token(s); the server must echo the prompt's tokens",
                feature="echo with logprobs on /v1/completions",
            )
        if first_only:
            picked = picked[:1]
        return SequenceScore(float(sum(float(v) for v in picked)), len(picked))

    def _echo_first(self, prompt: Prompt, token: str) -> float:
        return self._echo_score(prompt, token, first_only=True).logprob

    def _echo_score(
        self, prompt: Prompt, continuation: str, *, first_only: bool = False
    ) -> SequenceScore:
        body = self._echo_body(prompt, continuation)
        length = self._prompt_length(body["prompt"][: len(body["prompt"]) - len(continuation)])
        answer = self._post("/completions", body)
        return self._read_echo(answer, length, first_only=first_only)

    async def _aecho_score(
        self, client: Any, prompt: Prompt, continuation: str, *, first_only: bool
    ) -> SequenceScore:
        body = self._echo_body(prompt, continuation)
        text = body["prompt"][: len(body["prompt"]) - len(continuation)]
        length = await asyncio.to_thread(self._prompt_length, text)
        answer = await self._apost(client, "/completions", body)
        return self._read_echo(answer, length, first_only=first_only)

    # -- tokens -----------------------------------------------------------

    @staticmethod
    def _check_tokens(tokens: Sequence[str]) -> list[str]:
        if isinstance(tokens, str) or not tokens:
            raise ValueError("tokens must be a non-empty list of strings")
        if not all(isinstance(t, str) and t for t in tokens):
            raise ValueError("tokens must be non-empty strings")
        return list(tokens)

    @staticmethod
    def _check_pairs(prompts: Sequence[Prompt], continuations: Sequence[str]) -> None:
        if len(prompts) != len(continuations):
            raise ValueError(
                f"prompts and continuations differ in length ({len(prompts)} vs {len(continuations)})"
            )
        if not all(isinstance(c, str) and c for c in continuations):
            raise ValueError("continuations must be non-empty strings")

    def _spelling(self, token: str) -> str | None:
        """The text of the first token of ``token`` per the server's tokenizer (None: unknown)."""
        if self.tokenizer_endpoint is None:
            return None
        if token in self._spellings:
            return self._spellings[token]
        spelling = None
        for api in self._tokenizer_apis():
            try:
                spelling = self._first_piece(api, token)
            except RemoteServiceError as err:
                if err.status_code in (404, 405, 400, 422) and self._tokenizer is None:
                    continue
                raise
            with self._lock:
                self._tokenizer = api
            break
        else:
            with self._lock:
                self._tokenizer = False
            logger.info("%s has no tokenizer endpoint; matching tokens by text", self.base_url)
        self._spellings[token] = spelling
        return spelling

    def _tokenizer_apis(self) -> list[tuple[str, str, str, str, str, str]]:
        if self._tokenizer is False:
            return []
        if isinstance(self._tokenizer, tuple):
            return [self._tokenizer]
        return list(_TOKENIZERS)

    def _first_piece(self, api: tuple[str, str, str, str, str, str], token: str) -> str | None:
        path, text_key, ids_key, detok_path, ids_in, text_out = api
        extra = {"add_special_tokens": False} if text_key == "prompt" else {}
        extra.update({"add_special": False} if text_key == "content" else {})
        root = self._root()

        def ids_of(text: str) -> list[int]:
            answer = self._post(
                root + path, {"model": self.model_name, text_key: text, **extra}, absolute=True
            )
            ids = answer.get(ids_key)
            if not isinstance(ids, list):
                raise MalformedResponseError(f"{root + path} answered without {ids_key!r}")
            return [int(i["id"]) if isinstance(i, dict) else int(i) for i in ids]

        # Strip what the tokenizer adds to every text (a BOS token) by tokenizing "" too.
        empty, ids = ids_of(""), ids_of(token)
        ids = ids[len(empty) :] if ids[: len(empty)] == empty else ids
        if not ids:
            return None
        answer = self._post(
            root + detok_path, {"model": self.model_name, ids_in: ids[:1]}, absolute=True
        )
        piece = answer.get(text_out)
        if not isinstance(piece, str):
            raise MalformedResponseError(f"{root + detok_path} answered without {text_out!r}")
        return piece

    def _root(self) -> str:
        return self.base_url[: -len("/v1")] if self.base_url.endswith("/v1") else self.base_url

    # -- HTTP -------------------------------------------------------------

    def _auth_headers(self) -> dict[str, str]:
        key = self.__api_key
        return {**self._headers, **({"Authorization": f"Bearer {key}"} if key else {})}

    def _scrub(self, text: str) -> str:
        key = self.__api_key
        return text.replace(key, "***") if key else text

    def _where(self, path: str) -> str:
        return f"{self.base_url}{path} (model {self.model_name!r})"

    def _sync_client(self) -> Any:
        with self._lock:
            if self._client is None:
                import httpx

                self._client = httpx.Client(timeout=self.timeout)
            return self._client

    def _async_client(self) -> Any:
        import httpx

        # One client per call: an async client belongs to the event loop it was made on.
        return httpx.AsyncClient(timeout=self.timeout)

    def _model_body(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"model": self.model_name, **body} if self.model_name else body

    def _post(self, path: str, body: dict[str, Any], *, absolute: bool = False) -> dict[str, Any]:
        if not absolute:
            self._ensure_model()
            body = self._model_body(body)
        url = path if absolute else self.base_url + path
        ends_at = deadline_from(self.deadline)
        client = self._sync_client()

        def call() -> dict[str, Any]:
            response = client.post(
                url, json=body, headers=self._auth_headers(), timeout=self._timeout(ends_at)
            )
            return self._answer(response, url)

        return retry_call(call, lambda e, a: self._decide(e, a, ends_at, url), self.max_retries)

    async def _apost(self, client: Any, path: str, body: dict[str, Any]) -> dict[str, Any]:
        await asyncio.to_thread(self._ensure_model)
        body = self._model_body(body)
        url = self.base_url + path
        ends_at = deadline_from(self.deadline)

        async def call() -> dict[str, Any]:
            response = await client.post(
                url, json=body, headers=self._auth_headers(), timeout=self._timeout(ends_at)
            )
            return self._answer(response, url)

        return await aretry_call(
            call, lambda e, a: self._decide(e, a, ends_at, url), self.max_retries
        )

    def _get(self, path: str) -> dict[str, Any]:
        url = self.base_url + path
        ends_at = deadline_from(self.deadline)
        client = self._sync_client()

        def call() -> dict[str, Any]:
            response = client.get(url, headers=self._auth_headers(), timeout=self._timeout(ends_at))
            return self._answer(response, url)

        return retry_call(call, lambda e, a: self._decide(e, a, ends_at, url), self.max_retries)

    def _timeout(self, ends_at: float) -> float:
        # Each attempt's timeout shrinks so the attempt cannot outlive the deadline.
        return max(min(self.timeout, ends_at - time.monotonic()), 0.001)

    def _answer(self, response: Any, url: str) -> dict[str, Any]:
        if response.status_code >= 400:
            raise _HTTPStatusError(
                response.status_code, self._scrub(response.text), dict(response.headers)
            )
        try:
            data = response.json()
        except (json.JSONDecodeError, ValueError) as err:
            raise MalformedResponseError(
                f"{url} answered HTTP {response.status_code} with a body that is not JSON: "
                f"{self._scrub(response.text[:200])!r}",
                status_code=response.status_code,
            ) from err
        if not isinstance(data, dict):
            raise MalformedResponseError(
                f"{url} answered JSON that is not an object: {type(data).__name__}",
                status_code=response.status_code,
            )
        return data

    def _decide(self, err: Exception, attempt: int, ends_at: float, url: str) -> float:
        """Seconds to wait before the next attempt, or raise the typed error to give up with."""
        import httpx

        if isinstance(err, (MalformedResponseError, NotSupportedError)):
            raise err
        status = err.status_code if isinstance(err, _HTTPStatusError) else None
        attempts = attempt + 1
        timed_out = isinstance(err, httpx.TimeoutException)
        unreachable = isinstance(err, httpx.TransportError) and not timed_out
        body = err.body if isinstance(err, _HTTPStatusError) else ""
        if status is not None and status < 500 and "logprob" in body.lower():
            raise NotSupportedError(
                f"{url} refused log-probabilities (HTTP {status}): {body[:300]}",
                feature="logprobs",
            ) from err
        if status == 500 and "logprob" in body.lower():
            # llama-cpp-python answers 500 when started without logits_all: retrying cannot help.
            raise NotSupportedError(
                f"{url} cannot return log-probabilities (HTTP 500): {body[:300]}",
                feature="logprobs",
            ) from err
        if status == 404 and self.model_name and "model" in body.lower():
            raise UnknownModelError(
                f"{url} does not serve model {self.model_name!r} (HTTP 404): {body[:300]}",
                status_code=status,
                attempts=attempts,
            ) from err
        retryable = (
            timed_out
            or unreachable
            or (status is not None and (status in (408, 409, 429) or status >= 500))
        )
        asked = retry_after(err.headers) if isinstance(err, _HTTPStatusError) else None
        wait = backoff(self.retry_backoff, attempt, asked)
        if retryable and attempt < self.max_retries:
            if time.monotonic() + wait >= ends_at:
                raise ServiceTimeoutError(
                    f"{url} gave up: the deadline of {self.deadline}s would pass before the "
                    f"next attempt (wait {wait:g}s after attempt {attempts}: {self._scrub(str(err))})",
                    status_code=status,
                    attempts=attempts,
                ) from err
            logger.warning(
                "%s attempt %d failed (%s); retrying in %.2fs",
                url,
                attempts,
                status if status is not None else type(err).__name__,
                wait,
            )
            return wait
        detail = self._scrub(str(err))
        if timed_out:
            raise ServiceTimeoutError(
                f"{url} timed out after {self.timeout}s ({attempts} attempt(s))",
                attempts=attempts,
            ) from err
        if unreachable:
            raise ServiceUnavailableError(
                f"{url} could not be reached after {attempts} attempt(s): "
                f"{type(err).__name__}: {detail}",
                attempts=attempts,
            ) from err
        if status is not None:
            raise RemoteServiceError(
                f"{url} failed with HTTP {status} after {attempts} attempt(s): {body[:500]}",
                status_code=status,
                attempts=attempts,
            ) from err
        raise RemoteServiceError(
            f"{url} failed after {attempts} attempt(s): {type(err).__name__}: {detail}",
            attempts=attempts,
        ) from err

    def _ensure_model(self) -> None:
        """Check the model name against ``/v1/models`` once (or pick the only one served)."""
        if self._model_checked or (not self.check_model and self.model_name):
            return
        try:
            answer = self._get("/models")
        except RemoteServiceError as err:
            if err.status_code in (404, 405) and self.model_name:
                self._model_checked = True  # no model list to check against
                return
            raise
        data = answer.get("data")
        if not isinstance(data, list):
            raise MalformedResponseError(f"{self.base_url}/models answered without a 'data' list")
        served = [str(m.get("id")) for m in data if isinstance(m, dict) and m.get("id")]
        if self.model_name is None:
            if len(served) != 1:
                raise ValueError(
                    f"model is required: {self.base_url} serves {len(served)} models "
                    f"({served[:10]}); pass model=... or set OPENAI_MODEL"
                )
            self.model_name = served[0]
        elif self.model_name not in served:
            raise UnknownModelError(
                f"{self.base_url} does not serve model {self.model_name!r}; it serves {served[:20]}",
                status_code=404,
            )
        self._model_checked = True

    def _map(self, function: Callable[[Any], T], items: Sequence[Any]) -> list[T]:
        """``function`` over ``items`` in input order, ``max_concurrency`` at a time."""
        if not items:
            return []
        self._ensure_model()
        if len(items) == 1 or self.max_concurrency == 1:
            return [function(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(items))) as pool:
            return list(pool.map(function, items))

    def close(self) -> None:
        """Close the pooled HTTP connections (the LLM stays usable: a new pool opens on use)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()


def _dig(answer: dict[str, Any], *path: Any) -> Any:
    """``answer[path...]``, raising a clear error when the shape is not the API's."""
    value: Any = answer
    for key in path:
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError) as err:
            raise MalformedResponseError(
                f"the answer has no {'/'.join(map(str, path))}: {str(answer)[:200]}"
            ) from err
    if not isinstance(value, dict):
        raise MalformedResponseError(f"the answer's {'/'.join(map(str, path))} is not an object")
    return value
