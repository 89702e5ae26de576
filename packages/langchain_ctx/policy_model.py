"""The core scripted policy as a LangChain tool-calling chat model, for reproducible agents.

`ScriptedPolicyChatModel` plays the deciding model of a LangChain agent
(``create_agent``) with a core `ctx_core.context.ScriptedPolicy`: on each
call it emits the script's next context-tool call, and once the script is done it
hands the conversation it was given (tool calls written in the core agent's
``<tool_call>`` format, tool results as tool messages) to a ``reader`` model that
writes the answer. The policy decides; the reader answers from what the agent shows
it. It keeps no state: the step it is at is replayed from the tool calls and results
after the latest user message, so it can serve any number of conversations.

It separates what the tools and the middleware achieve from what a model achieves
by driving them, as the scripted method of the context benchmark does.

Examples:
    >>> from langchain.agents import create_agent
    >>> from langchain_core.language_models import GenericFakeChatModel
    >>> from langchain_core.messages import AIMessage, HumanMessage
    >>> from ctx_core.context import ScriptedPolicy, WorkingContext
    >>> from langchain_ctx import ContextToolkit
    >>> ctx = WorkingContext([("user", "bird: kea; fruit: fig; bird: emu")])
    >>> model = ScriptedPolicyChatModel(
    ...     policy=ScriptedPolicy.last_update(["bird"], window_tokens=None),
    ...     reader=GenericFakeChatModel(messages=iter([AIMessage("emu")])),
    ... )
    >>> agent = create_agent(model, ContextToolkit(context=ctx).get_tools())
    >>> out = agent.invoke({"messages": [HumanMessage("Latest bird?")]})
    >>> [m.type for m in out["messages"]], out["messages"][-1].content
    (['human', 'ai', 'tool', 'ai'], 'emu')
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, ToolCall, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field

from ctx_core.context import ScriptedPolicy
from ctx_core.context.agent import call_text
from ctx_core.context.policy import question_last
from ctx_core.llm import LLM
from langchain_ctx.llm import LangChainLLM

__all__ = ["ScriptedPolicyChatModel"]

_ROLE_OF_TYPE = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}


def _result(message: ToolMessage) -> dict[str, Any]:
    """The core result dict of a context-tool message (its artifact, else its JSON content)."""
    if isinstance(message.artifact, dict):
        return message.artifact
    try:
        data = json.loads(message.text)
    except json.JSONDecodeError:
        return {"ok": False, "error": message.text}
    return data if isinstance(data, dict) else {"ok": False, "error": message.text}


def _tool_name(tool: Any) -> str:
    if isinstance(tool, BaseTool):
        return tool.name
    return str(convert_to_openai_tool(tool)["function"]["name"])


class ScriptedPolicyChatModel(BaseChatModel):
    """A chat model whose tool calls follow a core ``ScriptedPolicy``; a reader answers.

    Attributes:
        policy: The script of context-tool calls (``ScriptedPolicy``).
        reader: Writes the final answer once the script is done: a LangChain chat model
            or a core ``LLM`` (e.g. the packaged SmolLM2 ``TransformersLLM``).
        answer_max_tokens: Generation limit of the reader's answer.
        bound_tools: Names of the tools bound with ``bind_tools`` (``None``: not bound).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    policy: ScriptedPolicy = Field(description="The core scripted policy to follow.")
    reader: Any = Field(description="A LangChain chat model or a core LLM that answers.")
    answer_max_tokens: int = Field(default=64, ge=1)
    bound_tools: tuple[str, ...] | None = None

    def model_post_init(self, context: Any, /) -> None:
        if not isinstance(self.policy, ScriptedPolicy):
            raise TypeError(f"policy must be a ScriptedPolicy, got {type(self.policy).__name__}")
        if not isinstance(self.reader, BaseChatModel | LLM):
            raise TypeError(
                "reader must be a LangChain chat model or a ctx_core LLM, "
                f"got {type(self.reader).__name__}"
            )

    @property
    def _llm_type(self) -> str:
        return "ctx-scripted-policy"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"policy": repr(self.policy), "reader": repr(self.reader)}

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """The same model, knowing which tools the agent offers (the script is checked
        against them)."""
        return self.model_copy(update={"bound_tools": tuple(_tool_name(t) for t in tools)})

    # -- the script ----------------------------------------------------------------

    def next_step(self, messages: Sequence[BaseMessage]) -> tuple[str, dict[str, Any]] | None:
        """The script's next tool call after ``messages``, or ``None`` when it is done.

        Replays the policy over the tool calls and results that follow the latest user
        message.

        Raises:
            ValueError: The conversation's tool calls are not the script's.
        """
        start = max((i for i, m in enumerate(messages) if m.type == "human"), default=-1) + 1
        results = {m.tool_call_id: m for m in messages[start:] if isinstance(m, ToolMessage)}
        done = []
        for message in messages[start:]:
            if isinstance(message, AIMessage):
                for call in message.tool_calls:
                    result = results.get(call["id"] or "")
                    if result is None:
                        raise ValueError(f"tool call {call['id']!r} has no result yet")
                    done.append((call["name"], _result(result)))
        return self.policy.next_call(done)

    def _reader_prompt(self, messages: Sequence[BaseMessage]) -> list[dict[str, str]]:
        """The conversation for the reader: tool calls in the ``<tool_call>`` text format,
        and the latest user message (the question) moved after this turn's tool traffic,
        where the context benchmark's reader reads it, so the reader answers it instead of
        continuing the tool calls."""
        prompt = []
        for message in messages:
            role = _ROLE_OF_TYPE.get(message.type, "user")
            text = str(message.text)
            if isinstance(message, AIMessage) and message.tool_calls:
                calls = "".join(call_text(c["name"], c["args"]) for c in message.tool_calls)
                text = f"{text}\n{calls}".strip()
            prompt.append({"role": role, "content": text})
        return question_last(prompt)

    def _reply(self, messages: list[BaseMessage]) -> tuple[AIMessage | None, list[dict[str, str]]]:
        step = self.next_step(messages)
        if step is None:
            return None, self._reader_prompt(messages)
        name, arguments = step
        if self.bound_tools is not None and name not in self.bound_tools:
            raise ValueError(
                f"the script calls {name!r}, which the agent does not offer "
                f"(bound tools: {list(self.bound_tools)})"
            )
        call = ToolCall(
            name=name, args=arguments, id=f"call-{len(messages)}-{name}", type="tool_call"
        )
        return AIMessage("", tool_calls=[call]), []

    def _reader(self, prompt: list[dict[str, str]]) -> tuple[LLM, list[dict[str, str]]]:
        """The reader as a core LLM, and the prompt in the form it takes."""
        if not isinstance(self.reader, BaseChatModel):
            return self.reader, prompt
        # A chat model takes a tool message only with the id of a matching tool call;
        # tool results go to it as user messages, as rendered_to_messages writes them.
        plain = [
            {"role": "user", "content": f"[tool result] {m['content']}"}
            if m["role"] == "tool"
            else m
            for m in prompt
        ]
        return LangChainLLM(self.reader), plain

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        message, prompt = self._reply(messages)
        if message is None:
            reader, prompt = self._reader(prompt)
            text = reader.complete(prompt, max_tokens=self.answer_max_tokens).strip()
            message = AIMessage(text)
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        message, prompt = self._reply(messages)
        if message is None:
            reader, prompt = self._reader(prompt)
            reply = await reader.acomplete(prompt, max_tokens=self.answer_max_tokens)
            message = AIMessage(reply.strip())
        return ChatResult(generations=[ChatGeneration(message=message)])
