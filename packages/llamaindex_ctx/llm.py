"""LLMs across the boundary, both ways.

* [`LlamaIndexLLM`][llamaindex_ctx.llm.LlamaIndexLLM] wraps any LlamaIndex ``LLM`` as a core ``LLM``.
* [`LlamaIndexScoringLLM`][llamaindex_ctx.llm.LlamaIndexScoringLLM] also reads ``ChatResponse.logprobs`` (e.g. from
  ``OpenAILike(logprobs=True, top_logprobs=20)``), for the components that need
  next-token probabilities.
* [`CtxLLM`][llamaindex_ctx.llm.CtxLLM] exposes a core ``LLM`` (e.g. the offline ``TransformersLLM``)
  as a LlamaIndex LLM, so query engines can run with no network.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.bridge.pydantic import ConfigDict, Field, PrivateAttr
from llama_index.core.llms import LLM as LlamaLLM
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.custom import CustomLLM

from ctx_core.errors import NotSupportedError
from ctx_core.llm import (
    LLM,
    BaseLLM,
    CompletionChunk,
    Prompt,
    SequenceScore,
    StreamingLLM,
    TransformersLLM,
)
from ctx_core.llm.base import cut_at_stop, to_messages
from ctx_core.llm.logprobs import logprobs_from_top, top_logprobs_of_first_token
from ctx_core.models import DEFAULT_LLM
from llamaindex_ctx._config import Component, JsonConfig

__all__ = ["CtxLLM", "LlamaIndexLLM", "LlamaIndexScoringLLM"]

_CORE_ROLES = {"system", "user", "assistant", "tool"}


class LlamaIndexLLM(BaseLLM):
    """A LlamaIndex LLM as a core [`LLM`][ctx_core.llm.base.LLM].

    Stop strings are applied to the reply text. LlamaIndex LLMs take their sampling
    settings at construction; set ``pass_generation_args=True`` to also forward
    ``max_tokens`` and ``temperature`` as call keyword arguments.

    Examples:
        >>> from llama_index.core.llms import MockLLM
        >>> LlamaIndexLLM(MockLLM()).complete("hello")
        'user: hello\\nassistant: '
    """

    def __init__(self, llm: LlamaLLM, *, pass_generation_args: bool = False) -> None:
        if not isinstance(llm, LlamaLLM):
            raise TypeError(f"llm must be a llama_index LLM, got {type(llm).__name__}")
        self.llm = llm
        self.pass_generation_args = pass_generation_args

    def _call_args(
        self, prompt: Prompt, max_tokens: int, temperature: float
    ) -> tuple[list[ChatMessage], dict[str, Any]]:
        messages = [ChatMessage(role=m["role"], content=m["content"]) for m in to_messages(prompt)]
        kwargs: dict[str, Any] = {}
        if self.pass_generation_args:
            kwargs.update(max_tokens=max_tokens, temperature=temperature)
        return messages, kwargs

    def complete(
        self,
        prompt: Prompt,
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> str:
        """Chat with the LlamaIndex LLM and return its text."""
        messages, kwargs = self._call_args(prompt, max_tokens, temperature)
        return cut_at_stop(self.llm.chat(messages, **kwargs).message.content or "", stop)

    async def acomplete(
        self,
        prompt: Prompt,
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> str:
        """Natively async: ``achat`` on the LlamaIndex LLM."""
        messages, kwargs = self._call_args(prompt, max_tokens, temperature)
        return cut_at_stop((await self.llm.achat(messages, **kwargs)).message.content or "", stop)


class LlamaIndexScoringLLM(LlamaIndexLLM):
    """A LlamaIndex LLM that returns log-probabilities, as a core ``ScoringLLM``.

    ``next_token_logprobs`` chats once per prompt and reads the first token's top-k
    list from ``ChatResponse.logprobs`` (``OpenAI`` and ``OpenAILike`` built with
    ``logprobs=True, top_logprobs=k`` fill it); a token outside the list gets an upper
    bound (see `logprobs_from_top`).
    ``continuation_logprobs`` raises ``NotSupportedError``: chat models report
    log-probabilities of generated tokens only.

    Args:
        llm: Any LlamaIndex ``LLM`` that fills ``ChatResponse.logprobs``.
        max_concurrency: Most scoring calls in flight at once.
        pass_generation_args: Send ``max_tokens=1, temperature=0`` with scoring calls
            (and the generation settings with ``complete``); on by default here.

    Examples:
        >>> from llama_index.llms.openai_like import OpenAILike
        >>> llm = OpenAILike(model="smollm2", api_base="http://127.0.0.1:8000/v1", api_key="-",
        ...                  is_chat_model=True, logprobs=True, top_logprobs=20)  # doctest: +SKIP
        >>> LlamaIndexScoringLLM(llm).next_token_logprobs(["Is Paris in France?"], ["Yes", "No"])  # doctest: +SKIP
        [[-0.3, -1.9]]
    """

    scoring_features = frozenset({"next_token"})

    def __init__(
        self, llm: LlamaLLM, *, max_concurrency: int = 8, pass_generation_args: bool = True
    ) -> None:
        super().__init__(llm, pass_generation_args=pass_generation_args)
        if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int):
            raise TypeError(f"max_concurrency must be an int >= 1, got {max_concurrency!r}")
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        self.max_concurrency = max_concurrency

    @property
    def model_name(self) -> str:
        """The wrapped LLM's model name."""
        return str(getattr(self.llm.metadata, "model_name", type(self.llm).__name__))

    def _scoring_call(self, prompt: Prompt) -> tuple[list[ChatMessage], dict[str, Any]]:
        messages, kwargs = self._call_args(prompt, 1, 0.0)
        return messages, kwargs

    def _row(self, response: ChatResponse, tokens: Sequence[str]) -> list[float]:
        top = response.logprobs[0] if response.logprobs else None
        try:
            listed = top_logprobs_of_first_token(
                [{"top_logprobs": top, "token": "", "logprob": 0.0}] if top else None,
                f"{type(self.llm).__name__} response",
            )
        except NotSupportedError as err:
            raise NotSupportedError(
                f"{type(self.llm).__name__} returned no ChatResponse.logprobs: build it with "
                "log-probabilities on (e.g. OpenAILike(..., logprobs=True, top_logprobs=20)); "
                "an LLM or server that cannot return them cannot score",
                feature="ChatResponse.logprobs",
            ) from err
        return logprobs_from_top(listed, tokens)

    @staticmethod
    def _check_tokens(tokens: Sequence[str]) -> None:
        if (
            isinstance(tokens, str)
            or not tokens
            or not all(isinstance(t, str) and t for t in tokens)
        ):
            raise ValueError("tokens must be a non-empty list of non-empty strings")

    def next_token_logprobs(
        self, prompts: Sequence[Prompt], tokens: Sequence[str]
    ) -> list[list[float]]:
        """For each prompt, the log-probability that the reply starts with each of ``tokens``."""
        self._check_tokens(tokens)
        if not prompts:
            return []

        def one(prompt: Prompt) -> list[float]:
            messages, kwargs = self._scoring_call(prompt)
            return self._row(self.llm.chat(messages, **kwargs), tokens)

        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(prompts))) as pool:
            return list(pool.map(one, prompts))

    async def anext_token_logprobs(
        self, prompts: Sequence[Prompt], tokens: Sequence[str]
    ) -> list[list[float]]:
        """Natively async twin of ``next_token_logprobs`` (``achat`` on the LLM)."""
        self._check_tokens(tokens)
        gate = asyncio.Semaphore(self.max_concurrency)

        async def one(prompt: Prompt) -> list[float]:
            messages, kwargs = self._scoring_call(prompt)
            async with gate:
                response = await self.llm.achat(messages, **kwargs)
            return self._row(response, tokens)

        return list(await asyncio.gather(*(one(p) for p in prompts)))

    def continuation_logprobs(
        self, prompts: Sequence[Prompt], continuations: Sequence[str]
    ) -> list[SequenceScore]:
        """Not available from a chat model: raises ``NotSupportedError`` naming what to use."""
        raise NotSupportedError(
            f"{type(self.llm).__name__} reports log-probabilities of the tokens it generates, "
            "not of a given continuation; score continuations with "
            "ctx_core.llm.OpenAICompatibleLLM(chat_template=...) on a server that echoes "
            "prompt log-probabilities, or with a local TransformersLLM",
            feature="continuation log-probabilities",
        )


class CtxLLM(JsonConfig, CustomLLM):
    """A core [`LLM`][ctx_core.llm.LLM] as a LlamaIndex LLM (chat and completion).

    Build it by name (``model="smollm2"``, any Hugging Face id or local path: a
    ``TransformersLLM``) or around a core LLM (``llm``, also the first positional
    argument: the object or its ``config()`` dict); with neither it loads the packaged
    SmolLM2. ``to_dict`` writes the name or the LLM's config; an LLM without one (a
    wrapped framework model) makes ``to_json`` raise ``ConfigError``.

    When the core LLM streams ([`StreamingLLM`][ctx_core.llm.StreamingLLM], e.g.
    ``TransformersLLM``), ``stream_complete`` / ``stream_chat`` (and their async twins)
    yield the reply token by token, and each response's ``raw`` holds the token usage
    (``prompt_tokens``, ``completion_tokens``, ``total_tokens``) and ``finish_reason``.

    Examples:
        >>> llm = CtxLLM(model="smollm2", max_tokens=12)  # doctest: +SKIP
        >>> llm.complete("What is the capital of France?").text  # doctest: +SKIP
        'The capital of France is Paris.'
        >>> [r.delta for r in llm.stream_complete("Hi!")]  # doctest: +SKIP
        ['Hello', '!', ' How', ...]
    """

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(
        default=None, description="Model id, path or alias of a local TransformersLLM."
    )
    llm: Component = Field(default=None, description="A ctx_core LLM or its config.")
    max_tokens: int = Field(default=256, ge=1)
    temperature: float = Field(default=0.0, ge=0.0)
    context_window: int = Field(default=4096, ge=1)
    model_name: str = Field(default="ctx-core")
    _core: Any = PrivateAttr()

    def __init__(self, llm: LLM | dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(llm=llm, **kwargs)

    def model_post_init(self, context: Any, /) -> None:
        if self.llm is not None and self.model is not None:
            raise ValueError("give either model= (a model id) or llm= (a core LLM), not both")
        if self.llm is None:
            llm: Any = TransformersLLM(self.model or DEFAULT_LLM)
        elif isinstance(self.llm, LLM):
            llm = self.llm
        else:
            raise TypeError(f"llm must be a ctx_core LLM, got {type(self.llm).__name__}")
        self._core = llm
        if "model_name" not in self.model_fields_set:
            self.model_name = self.model or str(getattr(llm, "model_name", type(llm).__name__))
        if "context_window" not in self.model_fields_set and getattr(llm, "max_length", None):
            self.context_window = int(llm.max_length)

    @property
    def core_llm(self) -> LLM:
        """The core LLM doing the work."""
        core: LLM = self._core
        return core

    @classmethod
    def class_name(cls) -> str:
        return "CtxLLM"

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            context_window=self.context_window,
            num_output=self.max_tokens,
            model_name=self.model_name,
            is_chat_model=True,
        )

    def _options(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        # LlamaIndex passes its own keywords (e.g. ``formatted``) along; only ours are read.
        return {
            "max_tokens": int(kwargs.get("max_tokens", self.max_tokens)),
            "temperature": float(kwargs.get("temperature", self.temperature)),
            "stop": kwargs.get("stop"),
        }

    @staticmethod
    def _prompt(messages: Sequence[ChatMessage]) -> list[dict[str, str]]:
        def role(message: ChatMessage) -> str:
            value = (
                message.role.value if isinstance(message.role, MessageRole) else str(message.role)
            )
            return value if value in _CORE_ROLES else "user"

        return [{"role": role(m), "content": m.content or ""} for m in messages]

    def _pieces(self, prompt: Prompt, kwargs: dict[str, Any]) -> Iterator[CompletionChunk]:
        """The reply as it is generated (one piece when the core LLM cannot stream)."""
        options = self._options(kwargs)
        if isinstance(self._core, StreamingLLM):
            return self._core.stream(prompt, **options)
        return iter([CompletionChunk(self._core.complete(prompt, **options))])

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text=self._core.complete(prompt, **self._options(kwargs)))

    @llm_completion_callback()
    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        return CompletionResponse(text=await self._core.acomplete(prompt, **self._options(kwargs)))

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        pieces = self._pieces(prompt, kwargs)

        def gen() -> CompletionResponseGen:
            text, usage = "", _Usage()
            for piece in pieces:
                text += piece.text
                yield CompletionResponse(text=text, delta=piece.text, raw=usage.add(piece))

        return gen()

    @llm_completion_callback()
    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        responses = self.stream_complete(prompt, formatted=formatted, **kwargs)
        return _in_thread(responses)

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        text = self._core.complete(self._prompt(messages), **self._options(kwargs))
        return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text))

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        text = await self._core.acomplete(self._prompt(messages), **self._options(kwargs))
        return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text))

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        pieces = self._pieces(self._prompt(messages), kwargs)

        def gen() -> ChatResponseGen:
            text, usage = "", _Usage()
            for piece in pieces:
                text += piece.text
                yield ChatResponse(
                    message=ChatMessage(role=MessageRole.ASSISTANT, content=text),
                    delta=piece.text,
                    raw=usage.add(piece),
                )

        return gen()

    @llm_chat_callback()
    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        return _in_thread(self.stream_chat(messages, **kwargs))


class _Usage:
    """Token counts so far, as OpenAI-style ``raw`` usage (what LlamaIndex's handlers read)."""

    def __init__(self) -> None:
        self.prompt = 0
        self.completion = 0

    def add(self, piece: CompletionChunk) -> dict[str, Any]:
        self.prompt += piece.input_tokens
        self.completion += piece.output_tokens
        usage = {
            "prompt_tokens": self.prompt,
            "completion_tokens": self.completion,
            "total_tokens": self.prompt + self.completion,
        }
        return {"usage": usage, "finish_reason": piece.finish_reason}


async def _in_thread(responses: Iterator[Any]) -> AsyncGenerator[Any, None]:
    """Iterate a blocking generator in worker threads, one item at a time."""
    done = object()
    try:
        while True:
            item = await asyncio.to_thread(next, responses, done)
            if item is done:
                return
            yield item
    finally:
        close = getattr(responses, "close", None)
        if close is not None:
            await asyncio.to_thread(close)
