"""The core scripted policy as a LlamaIndex function-calling LLM, for reproducible agents.

`ScriptedPolicyLLM` plays the deciding LLM of a ``FunctionAgent`` with a core
`ctx_core.context.ScriptedPolicy`: each call returns the script's next
context-tool call (a ``ToolCallBlock``), and once the script is done a ``reader``
writes the answer from the messages the agent gave it (tool calls in the core agent's
``<tool_call>`` text format, the question moved after them). It keeps no state: the step is replayed from the tool
calls and results after the latest user message. The LangChain counterpart is
``langchain_ctx.ScriptedPolicyChatModel``.

Examples:
    >>> import asyncio
    >>> from llama_index.core.agent.workflow import FunctionAgent
    >>> from llama_index.core.llms import MockLLM
    >>> from ctx_core.context import ScriptedPolicy, WorkingContext
    >>> from llamaindex_ctx import ContextToolSpec
    >>> ctx = WorkingContext([("user", "bird: kea; fruit: fig; bird: emu")])
    >>> llm = ScriptedPolicyLLM(
    ...     policy=ScriptedPolicy.last_update(["bird"], window_tokens=None), reader=MockLLM()
    ... )
    >>> agent = FunctionAgent(tools=ContextToolSpec(ctx).to_tool_list(), llm=llm)
    >>> async def ask(question):
    ...     return await agent.run(user_msg=question)
    >>> answer = asyncio.run(ask("Latest bird?"))
    >>> [call.tool_name for call in answer.tool_calls]
    ['search_context']
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Generator, Sequence
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
    TextBlock,
    ToolCallBlock,
)
from llama_index.core.bridge.pydantic import ConfigDict, Field
from llama_index.core.llms import LLM as LlamaLLM
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import ToolSelection
from llama_index.core.tools.types import BaseTool

from ctx_core.context import ScriptedPolicy
from ctx_core.context.agent import call_text
from ctx_core.context.policy import question_last
from ctx_core.llm import LLM
from llamaindex_ctx.llm import LlamaIndexLLM

__all__ = ["ScriptedPolicyLLM"]


def _role(message: ChatMessage) -> str:
    return message.role.value if hasattr(message.role, "value") else str(message.role)


def _text(message: ChatMessage) -> str:
    return "".join(block.text for block in message.blocks if isinstance(block, TextBlock))


def _result(message: ChatMessage) -> dict[str, Any]:
    try:
        data = json.loads(_text(message))
    except json.JSONDecodeError:
        return {"ok": False, "error": _text(message)}
    return data if isinstance(data, dict) else {"ok": False, "error": _text(message)}


class ScriptedPolicyLLM(FunctionCallingLLM):
    """A function-calling LLM whose tool calls follow a core ``ScriptedPolicy``; a reader answers.

    Attributes:
        policy: The script of context-tool calls.
        reader: Writes the answer once the script is done: a LlamaIndex LLM or a core
            ``LLM`` (e.g. the packaged SmolLM2 ``TransformersLLM``).
        answer_max_tokens: Generation limit of the reader's answer (core readers).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    policy: Any = Field(description="The core ScriptedPolicy to follow.")
    reader: Any = Field(description="A LlamaIndex LLM or a core LLM that answers.")
    answer_max_tokens: int = Field(default=64, ge=1)

    def model_post_init(self, context: Any, /) -> None:
        super().model_post_init(context)
        if not isinstance(self.policy, ScriptedPolicy):
            raise TypeError(f"policy must be a ScriptedPolicy, got {type(self.policy).__name__}")
        if not isinstance(self.reader, LlamaLLM | LLM):
            raise TypeError(
                f"reader must be a LlamaIndex LLM or a ctx_core LLM, got {type(self.reader).__name__}"
            )

    @classmethod
    def class_name(cls) -> str:
        """Get class name."""
        return "ScriptedPolicyLLM"

    @property
    def metadata(self) -> LLMMetadata:
        """A chat model that calls functions."""
        return LLMMetadata(
            is_chat_model=True, is_function_calling_model=True, model_name="scripted-policy"
        )

    # -- the script ----------------------------------------------------------------

    def next_step(self, messages: Sequence[ChatMessage]) -> tuple[str, dict[str, Any]] | None:
        """The script's next tool call after ``messages``, or ``None`` when it is done."""
        start = max((i for i, m in enumerate(messages) if _role(m) == "user"), default=-1) + 1
        results = {
            m.additional_kwargs.get("tool_call_id"): m
            for m in messages[start:]
            if _role(m) == "tool"
        }
        done = []
        for message in messages[start:]:
            for block in message.blocks:
                if isinstance(block, ToolCallBlock):
                    result = results.get(block.tool_call_id)
                    if result is None:
                        raise ValueError(f"tool call {block.tool_call_id!r} has no result yet")
                    done.append((block.tool_name, _result(result)))
        return self.policy.next_call(done)

    def _reader_call(self, messages: Sequence[ChatMessage]) -> tuple[LLM, list[dict[str, str]]]:
        prompt = []
        for message in messages:
            role = _role(message)
            text = _text(message)
            calls = [b for b in message.blocks if isinstance(b, ToolCallBlock)]
            if calls:
                written = "".join(
                    call_text(c.tool_name, c.tool_kwargs if isinstance(c.tool_kwargs, dict) else {})
                    for c in calls
                )
                text = f"{text}\n{written}".strip()
            prompt.append({"role": role, "content": text})
        prompt = question_last(prompt)
        if isinstance(self.reader, LlamaLLM):
            # a framework LLM takes a tool message only after a matching tool call: tool
            # results go to it as user messages
            plain = [
                {"role": "user", "content": f"[tool result] {m['content']}"}
                if m["role"] == "tool"
                else m
                for m in prompt
            ]
            return LlamaIndexLLM(self.reader), plain
        return self.reader, prompt

    def _step_message(self, messages: Sequence[ChatMessage]) -> ChatMessage | None:
        step = self.next_step(messages)
        if step is None:
            return None
        name, arguments = step
        block = ToolCallBlock(
            tool_call_id=f"call-{len(messages)}-{name}", tool_name=name, tool_kwargs=arguments
        )
        return ChatMessage(role=MessageRole.ASSISTANT, blocks=[block])

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """The next scripted tool call, or the reader's answer."""
        message = self._step_message(messages)
        if message is None:
            reader, prompt = self._reader_call(messages)
            text = reader.complete(prompt, max_tokens=self.answer_max_tokens).strip()
            message = ChatMessage(role=MessageRole.ASSISTANT, content=text)
        return ChatResponse(message=message, delta=message.content or "")

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """Async twin of `chat` (the reader's ``acomplete``)."""
        message = self._step_message(messages)
        if message is None:
            reader, prompt = self._reader_call(messages)
            text = (await reader.acomplete(prompt, max_tokens=self.answer_max_tokens)).strip()
            message = ChatMessage(role=MessageRole.ASSISTANT, content=text)
        return ChatResponse(message=message, delta=message.content or "")

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        """`chat` as a stream of one response."""
        response = self.chat(messages, **kwargs)

        def gen() -> Generator[ChatResponse, None, None]:
            yield response

        return gen()

    @llm_chat_callback()
    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        """`achat` as a stream of one response."""
        response = await self.achat(messages, **kwargs)

        async def gen() -> AsyncGenerator[ChatResponse, None]:
            yield response

        return gen()

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        """The chat reply to ``prompt`` as one user message."""
        reply = self.chat([ChatMessage(role=MessageRole.USER, content=prompt)])
        return CompletionResponse(text=reply.message.content or "")

    @llm_completion_callback()
    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        """Async twin of `complete`."""
        reply = await self.achat([ChatMessage(role=MessageRole.USER, content=prompt)])
        return CompletionResponse(text=reply.message.content or "")

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        """`complete` as a stream of one response."""
        response = self.complete(prompt)

        def gen() -> Generator[CompletionResponse, None, None]:
            yield response

        return gen()

    @llm_completion_callback()
    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        """`acomplete` as a stream of one response."""
        response = await self.acomplete(prompt)

        async def gen() -> AsyncGenerator[CompletionResponse, None]:
            yield response

        return gen()

    # -- function calling ----------------------------------------------------------

    def _prepare_chat_with_tools(
        self,
        tools: Sequence[BaseTool],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        messages = list(chat_history or [])
        if isinstance(user_msg, str):
            messages.append(ChatMessage(role=MessageRole.USER, content=user_msg))
        elif user_msg is not None:
            messages.append(user_msg)
        offered = {tool.metadata.name for tool in tools}
        step = self.next_step(messages)
        if step is not None and step[0] not in offered:
            raise ValueError(
                f"the script calls {step[0]!r}, which the agent does not offer "
                f"(tools: {sorted(n for n in offered if n)})"
            )
        return {"messages": messages}

    def get_tool_calls_from_response(
        self, response: ChatResponse, error_on_no_tool_call: bool = True, **kwargs: Any
    ) -> list[ToolSelection]:
        """The tool calls of a reply (its ``ToolCallBlock``\\ s)."""
        calls = [
            ToolSelection(
                tool_id=block.tool_call_id or "",
                tool_name=block.tool_name,
                tool_kwargs=dict(block.tool_kwargs) if isinstance(block.tool_kwargs, dict) else {},
            )
            for block in response.message.blocks
            if isinstance(block, ToolCallBlock)
        ]
        if not calls and error_on_no_tool_call:
            raise ValueError("the reply has no tool call")
        return calls
