"""LLMs across the boundary, both ways.

* :class:`LangChainLLM` wraps any LangChain ``BaseChatModel`` as a core ``LLM``, so
  core components (structurizers, memory extractors, agents) can use it.
* :class:`CtxChatModel` exposes a core ``LLM`` (e.g. the offline
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

from ctx_core.llm import LLM, BaseLLM, CompletionChunk, Prompt, StreamingLLM, TransformersLLM
from ctx_core.llm.base import to_messages
from ctx_core.models import DEFAULT_LLM
from langchain_ctx._config import Component, CtxSerializable

__all__ = ["CtxChatModel", "LangChainLLM"]

_ROLE_OF_TYPE = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}


class LangChainLLM(BaseLLM):
    """A LangChain chat model as a core :class:`~ctx_core.llm.LLM`.

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


class CtxChatModel(BaseChatModel, CtxSerializable):
    """A core :class:`~ctx_core.llm.LLM` as a LangChain chat model.

    Build it by name (``model="smollm2"``, any Hugging Face id or local path: a
    :class:`~ctx_core.llm.TransformersLLM`) or around a core LLM (``llm=``, the object or
    its ``config()`` dict); with neither it loads the packaged SmolLM2. ``model_dump``
    and ``dumpd`` write the name or the LLM's config; an LLM without one (a wrapped
    framework model) raises ``ConfigError`` instead.

    When the core LLM streams (:class:`~ctx_core.llm.StreamingLLM`, e.g.
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
