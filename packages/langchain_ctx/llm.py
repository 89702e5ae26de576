"""LLMs across the boundary, both ways.

* :class:`LangChainLLM` wraps any LangChain ``BaseChatModel`` as a core ``LLM``, so
  core components (structurizers, memory extractors, agents) can use it.
* :class:`CtxChatModel` exposes a core ``LLM`` (e.g. the offline
  ``TransformersLLM``) as a LangChain chat model, for chains that must run offline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, convert_to_messages
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, Field

from ctx_core.llm import LLM, BaseLLM, Prompt
from ctx_core.llm.base import to_messages
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

    ``llm`` takes the core LLM or its ``config()`` dict; ``model_dump`` and ``dumpd``
    write its config (e.g. a ``TransformersLLM`` by model id), and an LLM without one
    (a wrapped framework model) raises ``ConfigError`` instead.

    Examples:
        >>> from ctx_core.llm import TransformersLLM
        >>> chat = CtxChatModel(llm=TransformersLLM("smollm2"))  # doctest: +SKIP
        >>> chat.invoke("What is the capital of France?").content  # doctest: +SKIP
        'The capital of France is Paris.'
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    llm: Component = Field(description="A ctx_core LLM (has complete/acomplete) or its config.")
    max_tokens: int = Field(default=256, ge=1)
    temperature: float = Field(default=0.0, ge=0.0)

    def model_post_init(self, context: Any, /) -> None:
        if not isinstance(self.llm, LLM):
            raise TypeError(f"llm must be a ctx_core LLM, got {type(self.llm).__name__}")

    @property
    def _llm_type(self) -> str:
        return "ctx-core"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "llm": repr(self.llm),
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
        }

    def _options(self, stop: list[str] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        return {
            "max_tokens": int(kwargs.get("max_tokens", self.max_tokens)),
            "temperature": float(kwargs.get("temperature", self.temperature)),
            "stop": stop,
        }

    @staticmethod
    def _prompt(messages: list[BaseMessage]) -> list[dict[str, str]]:
        return [{"role": _ROLE_OF_TYPE.get(m.type, "user"), "content": m.text} for m in messages]

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = self.llm.complete(self._prompt(messages), **self._options(stop, kwargs))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = await self.llm.acomplete(self._prompt(messages), **self._options(stop, kwargs))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])
