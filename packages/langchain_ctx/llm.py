"""LLMs across the boundary, both ways.

* [`LangChainLLM`][langchain_ctx.llm.LangChainLLM] wraps any LangChain ``BaseChatModel`` as a core ``LLM``, so
  core components (structurizers, memory extractors, agents) can use it.
* [`LangChainScoringLLM`][langchain_ctx.llm.LangChainScoringLLM] also reads the log-probabilities a chat model returns
  (e.g. ``ChatOpenAI(logprobs=True, top_logprobs=20)``), so the components that need
  next-token probabilities (UDCG utility, boundary questions) can use it.
* [`CtxChatModel`][langchain_ctx.llm.CtxChatModel] exposes a core ``LLM`` (e.g. the offline
  ``TransformersLLM``) as a LangChain chat model, for chains that must run offline;
  it streams token by token and reports token usage when the core LLM streams.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from typing import Any, cast

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel, LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, convert_to_messages
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field, PrivateAttr

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
from ctx_core.llm.base import to_messages
from ctx_core.llm.logprobs import logprobs_from_top, top_logprobs_of_first_token
from ctx_core.models import DEFAULT_LLM
from langchain_ctx._config import Component, CtxSerializable

__all__ = ["CtxChatModel", "LangChainLLM", "LangChainScoringLLM"]

_ROLE_OF_TYPE = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}


class LangChainLLM(BaseLLM):
    """A LangChain chat model as a core [`LLM`][ctx_core.llm.base.LLM].

    Args:
        chat_model: Any ``BaseChatModel``.
        pass_generation_args: Forward ``max_tokens`` and ``temperature`` as invoke
            keyword arguments (most providers accept them; turn off for one that does not).

    Examples:
        >>> from langchain_core.language_models import GenericFakeChatModel
        >>> from langchain_core.messages import AIMessage
        >>> llm = LangChainLLM(GenericFakeChatModel(messages=iter([AIMessage("Paris")])))
        >>> llm.complete("Capital of France?")
        'Paris'
    """

    def __init__(self, chat_model: BaseChatModel, *, pass_generation_args: bool = True) -> None:
        if not isinstance(chat_model, BaseChatModel):
            raise TypeError(f"chat_model must be a BaseChatModel, got {type(chat_model).__name__}")
        self.chat_model = chat_model
        self.pass_generation_args = pass_generation_args

    def _invoke_args(
        self, prompt: Prompt, max_tokens: int, temperature: float, stop: Sequence[str] | None
    ) -> tuple[list[BaseMessage], dict[str, Any]]:
        messages = convert_to_messages(to_messages(prompt))
        kwargs: dict[str, Any] = {"stop": list(stop) if stop else None}
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
        """Invoke the chat model and return its text."""
        messages, kwargs = self._invoke_args(prompt, max_tokens, temperature, stop)
        return self.chat_model.invoke(messages, **kwargs).text

    async def acomplete(
        self,
        prompt: Prompt,
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
    ) -> str:
        """Natively async: ``ainvoke`` on the chat model."""
        messages, kwargs = self._invoke_args(prompt, max_tokens, temperature, stop)
        return (await self.chat_model.ainvoke(messages, **kwargs)).text


class LangChainScoringLLM(LangChainLLM):
    """A LangChain chat model that returns log-probabilities, as a core ``ScoringLLM``.

    ``next_token_logprobs`` asks for one token and reads the top-k list of
    ``response_metadata["logprobs"]`` (OpenAI's shape, which ``ChatOpenAI`` and the
    OpenAI-compatible LangChain models return); a token outside the list gets an upper
    bound (see `logprobs_from_top`). Chat
    models report log-probabilities of generated tokens only, so
    ``continuation_logprobs`` raises ``NotSupportedError``: score continuations with
    ``OpenAICompatibleLLM(chat_template=...)``.

    Args:
        chat_model: Any ``BaseChatModel`` that returns log-probabilities.
        top_logprobs: When given, ``logprobs=True, top_logprobs=top_logprobs`` are sent
            with each scoring call (``ChatOpenAI`` accepts them); otherwise build the
            model with log-probabilities on, e.g. ``ChatOpenAI(logprobs=True, top_logprobs=20)``.
        max_concurrency: Most scoring calls in flight at once.
        scoring_kwargs: More keyword arguments for each scoring call. ``ChatOpenAI``
            sends its token limit as ``max_completion_tokens``, which llama-cpp-python's
            server ignores; there pass ``{"extra_body": {"max_tokens": 1}}`` so a scoring
            call generates one token, not a whole reply.
        pass_generation_args: As for `LangChainLLM`.

    Examples:
        >>> from langchain_openai import ChatOpenAI
        >>> chat = ChatOpenAI(model="smollm2", base_url="http://127.0.0.1:8000/v1", api_key="-",
        ...                   logprobs=True, top_logprobs=20)  # doctest: +SKIP
        >>> LangChainScoringLLM(chat).next_token_logprobs(["Is Paris in France?"], ["Yes", "No"])  # doctest: +SKIP
        [[-0.3, -1.9]]
    """

    scoring_features = frozenset({"next_token"})

    def __init__(
        self,
        chat_model: BaseChatModel,
        *,
        top_logprobs: int | None = None,
        max_concurrency: int = 8,
        scoring_kwargs: dict[str, Any] | None = None,
        pass_generation_args: bool = True,
    ) -> None:
        super().__init__(chat_model, pass_generation_args=pass_generation_args)
        if scoring_kwargs is not None and not isinstance(scoring_kwargs, dict):
            raise TypeError(
                f"scoring_kwargs must be a dict or None, got {type(scoring_kwargs).__name__}"
            )
        self.scoring_kwargs = dict(scoring_kwargs or {})
        if top_logprobs is not None and (
            isinstance(top_logprobs, bool) or not isinstance(top_logprobs, int) or top_logprobs < 1
        ):
            raise ValueError(f"top_logprobs must be an int >= 1 or None, got {top_logprobs!r}")
        if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int):
            raise TypeError(f"max_concurrency must be an int >= 1, got {max_concurrency!r}")
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        self.top_logprobs = top_logprobs
        self.max_concurrency = max_concurrency

    @property
    def model_name(self) -> str:
        """The chat model's model name, when it has one."""
        for field in ("model_name", "model"):
            value = getattr(self.chat_model, field, None)
            if isinstance(value, str) and value:
                return value
        return type(self.chat_model).__name__

    def _scoring_args(
        self, prompts: Sequence[Prompt], tokens: Sequence[str]
    ) -> tuple[list[Any], dict[str, Any]]:
        if (
            isinstance(tokens, str)
            or not tokens
            or not all(isinstance(t, str) and t for t in tokens)
        ):
            raise ValueError("tokens must be a non-empty list of non-empty strings")
        kwargs: dict[str, Any] = {}
        if self.pass_generation_args:
            kwargs.update(max_tokens=1, temperature=0.0)
        if self.top_logprobs is not None:
            kwargs.update(logprobs=True, top_logprobs=self.top_logprobs)
        kwargs.update(self.scoring_kwargs)
        return [convert_to_messages(to_messages(p)) for p in prompts], kwargs

    def _row(self, reply: BaseMessage, tokens: Sequence[str]) -> list[float]:
        payload = getattr(reply, "response_metadata", {}).get("logprobs")
        try:
            listed = top_logprobs_of_first_token(payload, f"{type(self.chat_model).__name__} reply")
        except NotSupportedError as err:
            raise NotSupportedError(
                f"{type(self.chat_model).__name__} returned no response_metadata['logprobs']: "
                "build it with log-probabilities on (e.g. ChatOpenAI(logprobs=True, "
                "top_logprobs=20)) or pass top_logprobs= to LangChainScoringLLM; a model or "
                "server that cannot return them cannot score",
                feature="logprobs in response_metadata",
            ) from err
        return logprobs_from_top(listed, tokens)

    def next_token_logprobs(
        self, prompts: Sequence[Prompt], tokens: Sequence[str]
    ) -> list[list[float]]:
        """For each prompt, the log-probability that the reply starts with each of ``tokens``."""
        if not prompts:
            return []
        batch, kwargs = self._scoring_args(prompts, tokens)
        replies = self.chat_model.batch(
            batch, config={"max_concurrency": self.max_concurrency}, **kwargs
        )
        return [self._row(reply, tokens) for reply in replies]

    async def anext_token_logprobs(
        self, prompts: Sequence[Prompt], tokens: Sequence[str]
    ) -> list[list[float]]:
        """Natively async twin of ``next_token_logprobs`` (``abatch`` on the chat model)."""
        if not prompts:
            return []
        batch, kwargs = self._scoring_args(prompts, tokens)
        replies = await self.chat_model.abatch(
            batch, config={"max_concurrency": self.max_concurrency}, **kwargs
        )
        return [self._row(reply, tokens) for reply in replies]

    def continuation_logprobs(
        self, prompts: Sequence[Prompt], continuations: Sequence[str]
    ) -> list[SequenceScore]:
        """Not available from a chat model: raises ``NotSupportedError`` naming what to use."""
        raise NotSupportedError(
            f"{type(self.chat_model).__name__} reports log-probabilities of the tokens it "
            "generates, not of a given continuation; score continuations with "
            "ctx_core.llm.OpenAICompatibleLLM(chat_template=...) on a server that echoes "
            "prompt log-probabilities, or with a local TransformersLLM",
            feature="continuation log-probabilities",
        )


class CtxChatModel(BaseChatModel, CtxSerializable):
    """A core [`LLM`][ctx_core.llm.base.LLM] as a LangChain chat model.

    Build it by name (``model="smollm2"``, any Hugging Face id or local path: a
    [`TransformersLLM`][ctx_core.llm.transformers_llm.TransformersLLM]) or around a core LLM (``llm=``, the object or
    its ``config()`` dict); with neither it loads the packaged SmolLM2. ``model_dump``
    and ``dumpd`` write the name or the LLM's config; an LLM without one (a wrapped
    framework model) raises ``ConfigError`` instead.

    When the core LLM streams ([`StreamingLLM`][ctx_core.llm.base.StreamingLLM], e.g.
    ``TransformersLLM``), ``stream`` yields the reply token by token and every reply
    carries ``usage_metadata`` with the real prompt and generated token counts;
    ``response_metadata`` holds ``model_name`` and ``finish_reason``. Tool calling and
    structured output are not offered: the packaged models cannot do them reliably.

    Attributes:
        model: Model id, path or alias of a local ``TransformersLLM``.
        llm: A ready core LLM to use instead (or its ``config()`` dict).
        max_tokens: Most tokens generated per reply (``invoke(..., max_tokens=...)``
            overrides it).
        temperature: Sampling temperature (0: greedy).
        stop: Default stop strings (a call's ``stop=`` replaces them).
        streaming: Let ``invoke`` stream through callbacks (LangChain's convention).

    A call may name another local model (``invoke(..., model="gemma3-270m")``): it is
    loaded once as a ``TransformersLLM`` with default settings and used for that call.

    Examples:
        >>> chat = CtxChatModel(model="smollm2", max_tokens=12)  # doctest: +SKIP
        >>> chat.invoke("What is the capital of France?").content  # doctest: +SKIP
        'The capital of France is Paris.'
        >>> [c.content for c in chat.stream("Hi!")]  # doctest: +SKIP
        ['Hello', '!', ' How', ' can', ' I', ' help', ...]
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    model: str | None = Field(
        default=None, description="Model id, path or alias of a local TransformersLLM."
    )
    llm: Component = Field(
        default=None, description="A ctx_core LLM (has complete/acomplete) or its config."
    )
    max_tokens: int = Field(default=256, ge=1)
    temperature: float = Field(default=0.0, ge=0.0)
    stop: list[str] | None = Field(default=None, description="Default stop strings.")
    streaming: bool = Field(default=False, description="Stream in invoke via callbacks.")
    _llm: LLM = PrivateAttr()
    _others: dict[str, LLM] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: Any, /) -> None:
        if self.llm is not None and self.model is not None:
            raise ValueError("give either model= (a model id) or llm= (a core LLM), not both")
        if self.llm is None:
            self._llm = TransformersLLM(self.model or DEFAULT_LLM)
        elif isinstance(self.llm, LLM):
            self._llm = self.llm
        else:
            raise TypeError(f"llm must be a ctx_core LLM, got {type(self.llm).__name__}")

    @property
    def core_llm(self) -> LLM:
        """The core LLM doing the work."""
        return self._llm

    @property
    def model_name(self) -> str:
        """The model's id, path or alias (the core LLM's ``model_name``, else its class)."""
        return self.model or str(getattr(self._llm, "model_name", type(self._llm).__name__))

    @property
    def _llm_type(self) -> str:
        return "ctx-rag"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
        }

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        """Standard tracing parameters: provider ``ctx_rag``, the model name, the settings."""
        model = kwargs.get("model")
        params = LangSmithParams(
            ls_provider="ctx_rag",
            ls_model_name=model if isinstance(model, str) else self.model_name,
            ls_model_type="chat",
            ls_temperature=float(kwargs.get("temperature", self.temperature)),
            ls_max_tokens=int(kwargs.get("max_tokens", self.max_tokens)),
        )
        stop = stop if stop is not None else self.stop
        if stop:
            params["ls_stop"] = list(stop)
        return params

    def _call(
        self, stop: list[str] | None, kwargs: dict[str, Any]
    ) -> tuple[LLM, str, dict[str, Any]]:
        """The core LLM, model name and generation options of one call."""
        unknown = sorted(set(kwargs) - {"max_tokens", "temperature", "model"})
        if unknown:
            raise TypeError(
                f"CtxChatModel does not take call argument(s) {unknown}; "
                "it takes model, max_tokens, temperature and stop"
            )
        llm, name = self._llm, self.model_name
        model = kwargs.get("model")
        if model is not None and model != name:
            if not isinstance(model, str) or not model:
                raise TypeError(f"model must be a model id, path or alias, got {model!r}")
            if model not in self._others:
                self._others[model] = TransformersLLM(model)
            llm, name = self._others[model], model
        options = {
            "max_tokens": int(kwargs.get("max_tokens", self.max_tokens)),
            "temperature": float(kwargs.get("temperature", self.temperature)),
            "stop": stop if stop is not None else self.stop,
        }
        return llm, name, options

    @staticmethod
    def _prompt(messages: list[BaseMessage]) -> list[dict[str, str]]:
        return [{"role": _ROLE_OF_TYPE.get(m.type, "user"), "content": m.text} for m in messages]

    @staticmethod
    def _message(text: str, name: str, chunks: Sequence[CompletionChunk] | None) -> AIMessage:
        """The reply, with usage and finish reason when the LLM streamed it."""
        metadata: dict[str, Any] = {"model_name": name, "model_provider": "ctx_rag"}
        if chunks is None:
            return AIMessage(content=text, response_metadata=metadata)
        metadata["finish_reason"] = chunks[-1].finish_reason if chunks else "stop"
        return AIMessage(content=text, usage_metadata=_usage(chunks), response_metadata=metadata)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        llm, name, options = self._call(stop, kwargs)
        prompt = self._prompt(messages)
        if isinstance(llm, StreamingLLM):
            # The stream is the same generation as complete(), and it counts the tokens.
            chunks = list(llm.stream(prompt, **options))
            message = self._message("".join(c.text for c in chunks), name, chunks)
        else:
            message = self._message(llm.complete(prompt, **options), name, None)
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        llm, name, options = self._call(stop, kwargs)
        if isinstance(llm, StreamingLLM):
            # Local generation holds a CPU or GPU: run it off the event loop.
            return await asyncio.to_thread(self._generate, messages, stop, None, **kwargs)
        text = await llm.acomplete(self._prompt(messages), **options)
        return ChatResult(generations=[ChatGeneration(message=self._message(text, name, None))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        llm, name, options = self._call(stop, kwargs)
        prompt = self._prompt(messages)
        if not isinstance(llm, StreamingLLM):
            # A core LLM that cannot stream: its whole reply as the one (last) chunk.
            text = llm.complete(prompt, **options)
            chunk = ChatGenerationChunk(
                message=AIMessageChunk(
                    content=text,
                    response_metadata={"model_name": name, "model_provider": "ctx_rag"},
                    chunk_position="last",
                )
            )
            if run_manager:
                run_manager.on_llm_new_token(text, chunk=chunk)
            yield chunk
            return
        for piece in llm.stream(prompt, **options):
            last = piece.finish_reason is not None
            metadata: dict[str, Any] = {}
            if last:
                metadata = {
                    "model_name": name,
                    "model_provider": "ctx_rag",
                    "finish_reason": piece.finish_reason,
                }
            chunk = ChatGenerationChunk(
                message=AIMessageChunk(
                    content=piece.text,
                    usage_metadata=_usage([piece]),
                    response_metadata=metadata,
                    chunk_position="last" if last else None,
                )
            )
            if run_manager:
                run_manager.on_llm_new_token(piece.text, chunk=chunk)
            yield chunk


def _usage(chunks: Sequence[CompletionChunk]) -> UsageMetadata:
    """Token counts summed over ``chunks``, as LangChain reports usage."""
    given = sum(c.input_tokens for c in chunks)
    generated = sum(c.output_tokens for c in chunks)
    # The token-detail keys are optional at run time (no cache or audio tokens here).
    usage = {"input_tokens": given, "output_tokens": generated, "total_tokens": given + generated}
    return cast(UsageMetadata, usage)
