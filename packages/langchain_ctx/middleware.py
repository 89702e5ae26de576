"""Active context management as a LangChain agent middleware (``create_agent(middleware=[...])``).

`ActiveContextMiddleware` sits beside langchain's ``SummarizationMiddleware`` and
``ContextEditingMiddleware``. Before every model call it mirrors the agent's messages
into a core `ctx_core.context.WorkingContext` (append-only, byte for byte),
lets a `ctx_core.context.ContextBudget` fold (or summarize) the older parts
once the conversation exceeds its budget, and hands the model the rendered messages:
folded spans become one-line markers, everything else is the original message object
with only its text replaced. The agent's state is never rewritten, so the checkpointed
history stays exact.

The middleware also registers the context tools (``restore_fragment``,
``search_context``, ...) with the agent, bound to the same working context: the model
can search what was folded and restore it, and the next model call reads the
restored span exactly as it was.

One middleware instance holds one conversation (like a ``ContextToolkit`` bound to one
context): build a new middleware, and its agent, for each conversation.

Examples:
    >>> from langchain.agents import create_agent
    >>> from langchain_core.language_models import GenericFakeChatModel
    >>> from langchain_core.messages import AIMessage, HumanMessage
    >>> from ctx_core.context import ContextBudget
    >>> middleware = ActiveContextMiddleware(budget=ContextBudget(max_tokens=200))
    >>> class Fake(GenericFakeChatModel):
    ...     def bind_tools(self, tools, **kwargs):
    ...         return self
    >>> agent = create_agent(Fake(messages=iter([AIMessage("ok")])), middleware=[middleware])
    >>> log = " ".join(f"event {i}: ok;" for i in range(300))
    >>> out = agent.invoke({"messages": [HumanMessage(log), HumanMessage("Any errors?")]})
    >>> read = middleware.reads[-1]
    >>> read.context_tokens < 200 < read.original_tokens
    True
    >>> out["messages"][0].content == log  # the agent's state keeps the original
    True
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, ToolMessage

from ctx_core.context import TOOL_NAMES, ContextBudget, ContextTools, WorkingContext
from ctx_core.context.budget import ContextRead
from ctx_core.tokens import TokenCounter
from langchain_ctx.context_tools import ContextToolkit, core_embedder, core_llm

__all__ = ["DEFAULT_TOOL_NAMES", "ActiveContextMiddleware"]

#: The tools the middleware offers the model by default: find and bring back what was folded.
DEFAULT_TOOL_NAMES = (
    "search_context",
    "get_search_detail",
    "restore_fragment",
    "fold_fragment",
    "list_fragments",
)

_ROLE_OF_TYPE = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}


def _text(message: BaseMessage) -> str:
    return message.content if isinstance(message.content, str) else message.text


def _with_text(message: AnyMessage, text: str) -> AnyMessage:
    """A copy of ``message`` whose text is ``text`` (ids, tool calls, other blocks kept)."""
    if isinstance(message.content, str):
        return message.model_copy(update={"content": text})
    others = [
        block
        for block in message.content
        if not (isinstance(block, str) or (isinstance(block, dict) and block.get("type") == "text"))
    ]
    return message.model_copy(update={"content": [{"type": "text", "text": text}, *others]})


class ActiveContextMiddleware(AgentMiddleware):
    """Fold the agent's older messages for the model; restore and search tools bring them back.

    Args:
        budget: When and how to fold (default ``ContextBudget()``: fold the oldest 200-token
            windows once the conversation passes 4,000 tokens, never the current turn).
            ``None``: never fold automatically (the model folds with the tools).
        tool_names: Context tools to register with the agent (default
            `DEFAULT_TOOL_NAMES`; ``()`` for none).
        llm: Writes summaries (``budget.mode="summarize"`` and the ``summarize_fragment``
            tool): a core ``LLM``, any LangChain chat model, or a local model's id or
            alias (``"smollm2"``).
        embedder: A core ``Embedder`` or an embedding model id for semantic search
            (default: packaged MiniLM).
        counter: Token counter of a new context (default ``cl100k_base``).

    Attributes:
        context: The working context (originals, fragments, operations).
        reads: One ``ContextRead`` per model call, in order: tokens read with and without
            the middleware.
        budget_records: The budget's tool calls, in order.
    """

    def __init__(
        self,
        *,
        budget: ContextBudget | None = ContextBudget(),  # noqa: B008 - frozen, never mutated
        tool_names: Sequence[str] = DEFAULT_TOOL_NAMES,
        llm: Any = None,
        embedder: Any = None,
        counter: TokenCounter | None = None,
    ) -> None:
        super().__init__()
        if budget is not None and not isinstance(budget, ContextBudget):
            raise TypeError(f"budget must be a ContextBudget or None, got {type(budget).__name__}")
        if isinstance(tool_names, str):
            raise TypeError("tool_names must be a sequence of tool names, not one string")
        ContextTools.specs(list(tool_names))  # unknown names fail here, naming the known ones
        if budget is not None and budget.mode == "summarize" and llm is None:
            raise ValueError("budget.mode='summarize' needs an llm to write the summaries")
        self.context = WorkingContext(counter=counter)
        self.budget = budget
        self.tool_names = tuple(tool_names)
        llm, embedder = core_llm(llm), core_embedder(embedder)
        self.context_tools = ContextTools(self.context, llm=llm, embedder=embedder)
        self.tools = ContextToolkit(
            context=self.context, llm=llm, embedder=embedder, tool_names=list(tool_names)
        ).get_tools()
        self.reads: list[ContextRead] = []
        self.budget_records: list[Any] = []
        self._originals: list[BaseMessage] = []
        self._lock = threading.Lock()

    # -- conversation mirror ----------------------------------------------------

    def _metadata(self, message: BaseMessage) -> dict[str, Any]:
        """Mark the model's own context-tool traffic (search skips it, as in the core agent)."""
        ours = set(self.tool_names) | set(TOOL_NAMES)
        calls = message.tool_calls if isinstance(message, AIMessage) else []
        if calls and all(call["name"] in ours for call in calls):
            return {"agent": "tool_call"}
        if isinstance(message, ToolMessage) and message.name in ours:
            return {"agent": "tool_result"}
        return {}

    def _sync(self, messages: Sequence[AnyMessage]) -> None:
        """Append the messages the context does not hold yet; check the rest are unchanged."""
        held = len(self._originals)
        if len(self.context) != held:
            raise ValueError(
                "the working context was changed outside the middleware "
                f"({len(self.context)} messages, {held} mirrored)"
            )
        for i, message in enumerate(messages):
            if i < held:
                original = self._originals[i]
                if original.type != message.type or _text(original) != _text(message):
                    raise ValueError(
                        f"the agent's message {i} differs from the conversation this middleware "
                        "holds: one ActiveContextMiddleware serves one conversation (build a "
                        "new one, and its agent, for another)"
                    )
                continue
            role = _ROLE_OF_TYPE.get(message.type)
            if role is None:
                raise TypeError(f"messages[{i}] has unsupported type {message.type!r}")
            self.context.append(role, _text(message), metadata=self._metadata(message))
            self._originals.append(message)
        if len(messages) < held:
            raise ValueError(
                f"the agent sent {len(messages)} messages but this middleware holds a longer "
                f"conversation ({held}): build a new middleware, and its agent, for another"
            )

    # -- the hook ---------------------------------------------------------------

    def render_request(self, request: ModelRequest) -> ModelRequest:
        """The request with the messages the model should read now (and records a read)."""
        with self._lock:
            self._sync(request.messages)
            records = self.budget.apply(self.context_tools) if self.budget is not None else []
            self.budget_records.extend(records)
            rendered = self.context.render()
            messages = [
                original if content == kept.text else _with_text(original, content)
                for original, kept, content in zip(
                    request.messages,
                    self.context.messages,
                    (m["content"] for m in rendered.messages),
                    strict=True,
                )
            ]
            system = request.system_message
            self.reads.append(
                ContextRead.of(
                    self.context,
                    rendered,
                    system=system.text if system else "",
                    budget_calls=len(records),
                )
            )
        return request.override(messages=messages)

    def wrap_model_call(
        self,
        request: ModelRequest,
        handler: Callable[[ModelRequest], ModelResponse],
    ) -> ModelResponse | AIMessage:
        """Fold to the budget, then call the model on the rendered messages."""
        return handler(self.render_request(request))

    async def awrap_model_call(
        self,
        request: ModelRequest,
        handler: Callable[[ModelRequest], Awaitable[ModelResponse]],
    ) -> ModelResponse | AIMessage:
        """Async twin: the folding (token counts, summaries) runs in a thread."""
        return await handler(await asyncio.to_thread(self.render_request, request))
