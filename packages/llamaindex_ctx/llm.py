"""LLMs across the boundary, both ways.

* :class:`LlamaIndexLLM` wraps any LlamaIndex ``LLM`` as a core ``LLM``.
* :class:`CtxLLM` exposes a core ``LLM`` (e.g. the offline ``TransformersLLM``)
  as a LlamaIndex LLM, so query engines can run with no network.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.bridge.pydantic import ConfigDict, Field
from llama_index.core.llms import LLM as LlamaLLM
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.custom import CustomLLM

from ctx_core.llm import LLM, BaseLLM, Prompt
from ctx_core.llm.base import cut_at_stop, to_messages
from llamaindex_ctx._config import Component, JsonConfig

__all__ = ["CtxLLM", "LlamaIndexLLM"]

_CORE_ROLES = {"system", "user", "assistant", "tool"}


class LlamaIndexLLM(BaseLLM):
    """A LlamaIndex LLM as a core :class:`~ctx_core.llm.LLM`.

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


class CtxLLM(JsonConfig, CustomLLM):
    """A core :class:`~ctx_core.llm.LLM` as a LlamaIndex LLM (chat and completion).

    ``llm`` takes the core LLM or its ``config()`` dict; ``to_dict`` writes its config
    (e.g. a ``TransformersLLM`` by model id), and an LLM without one (a wrapped
    framework model) raises ``ConfigError``.

    Examples:
        >>> from ctx_core.llm import TransformersLLM
        >>> llm = CtxLLM(TransformersLLM("smollm2"))  # doctest: +SKIP
        >>> llm.complete("What is the capital of France?").text  # doctest: +SKIP
        'The capital of France is Paris.'
    """

    model_config = ConfigDict(extra="forbid")

    llm: Component = Field(description="A ctx_core LLM or its config.")
    max_tokens: int = Field(default=256, ge=1)
    temperature: float = Field(default=0.0, ge=0.0)
    context_window: int = Field(default=4096, ge=1)
    model_name: str = Field(default="ctx-core")

    def __init__(self, llm: LLM | dict[str, Any], **kwargs: Any) -> None:
        super().__init__(llm=llm, **kwargs)

    def model_post_init(self, context: Any, /) -> None:
        llm = self.llm
        if not isinstance(llm, LLM):
            raise TypeError(f"llm must be a ctx_core LLM, got {type(llm).__name__}")
        if "model_name" not in self.model_fields_set:
            self.model_name = str(getattr(llm, "model_name", type(llm).__name__))
        if "context_window" not in self.model_fields_set and getattr(llm, "max_length", None):
            self.context_window = int(llm.max_length)  # type: ignore[attr-defined]

    @property
    def _llm(self) -> Any:
        return self.llm

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

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text=self._llm.complete(prompt, **self._options(kwargs)))

    @llm_completion_callback()
    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        return CompletionResponse(text=await self._llm.acomplete(prompt, **self._options(kwargs)))

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        text = self._llm.complete(prompt, **self._options(kwargs))

        def one_chunk() -> CompletionResponseGen:
            yield CompletionResponse(text=text, delta=text)

        return one_chunk()

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        text = self._llm.complete(self._prompt(messages), **self._options(kwargs))
        return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text))

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        text = await self._llm.acomplete(self._prompt(messages), **self._options(kwargs))
        return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text))
