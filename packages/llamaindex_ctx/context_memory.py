"""Active context management as a LlamaIndex agent memory (``FunctionAgent(..., memory=...)``).

`ActiveContextMemory` is a ``BaseMemory`` for ``FunctionAgent`` and
``AgentWorkflow``: it stores the chat history, byte for byte, in a core
`ctx_core.context.WorkingContext`, and every ``get()`` (what the agent sends
the LLM, fetched again after each round of tool calls) lets a
`ctx_core.context.ContextBudget` fold (or summarize) the older parts once the
history exceeds its budget, then returns the rendered messages: folded spans become
one-line markers, everything else is the original ``ChatMessage`` with only its text
replaced. ``get_all()`` returns the history unfolded.

`ActiveContextMemory.tool_spec` gives the context tools bound to the same
working context: the agent can search what was folded and restore it, and the next
``get()`` shows the restored span exactly as it was.

Examples:
    >>> from ctx_core.context import ContextBudget
    >>> from llama_index.core.base.llms.types import ChatMessage
    >>> memory = ActiveContextMemory(budget=ContextBudget(max_tokens=200))
    >>> log = " ".join(f"event {i}: ok;" for i in range(300))
    >>> memory.put_messages([ChatMessage(role="user", content=log),
    ...                      ChatMessage(role="user", content="Any errors?")])
    >>> shown = memory.get()
    >>> memory.reads[-1].context_tokens < 200 < memory.reads[-1].original_tokens
    True
    >>> shown[1].content, memory.get_all()[0].content == log
    ('Any errors?', True)
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Annotated, Any

from llama_index.core.base.llms.types import ChatMessage, TextBlock, ToolCallBlock
from llama_index.core.bridge.pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    SerializationInfo,
    field_serializer,
)
from llama_index.core.memory.types import BaseMemory

from ctx_core.context import TOOL_NAMES, ContextBudget, ContextTools, WorkingContext
from ctx_core.context.budget import ContextRead
from ctx_core.embeddings import Embedder
from ctx_core.llm import LLM
from llamaindex_ctx._config import JsonConfig, rebuild_field, write_value
from llamaindex_ctx.context_tools import ContextToolSpec
from llamaindex_ctx.settings import core_embedder, core_llm

__all__ = ["DEFAULT_TOOL_NAMES", "ActiveContextMemory"]

#: The tools `ActiveContextMemory.tool_spec` offers by default: find and restore.
DEFAULT_TOOL_NAMES = (
    "search_context",
    "get_search_detail",
    "restore_fragment",
    "fold_fragment",
    "list_fragments",
)

_ROLES = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
    "model": "assistant",
    "chatbot": "assistant",
    "tool": "tool",
    "function": "tool",
}


def _role(message: ChatMessage) -> str:
    role = message.role.value if hasattr(message.role, "value") else str(message.role)
    if role not in _ROLES:
        raise ValueError(f"unsupported message role {role!r}")
    return _ROLES[role]


def _text(message: ChatMessage) -> str:
    return "".join(block.text for block in message.blocks if isinstance(block, TextBlock))


def _calls(message: ChatMessage) -> list[tuple[str, str]]:
    """``(tool call id, tool name)`` of each tool call in an assistant message."""
    return [
        (block.tool_call_id or "", block.tool_name)
        for block in message.blocks
        if isinstance(block, ToolCallBlock)
    ]


def _write_model(value: Any, info: SerializationInfo) -> Any:
    """A model given by name as the name, a core one as its config; a framework model is
    kept as the object (Python mode) or a ``ConfigError`` (JSON mode)."""
    return write_value(value, "a model field", json_mode=info.mode_is_json())


#: A model argument: a core LLM or embedder, its config, a framework model or a model id.
_Model = Annotated[
    Any, BeforeValidator(rebuild_field), PlainSerializer(_write_model, when_used="always")
]


def _with_text(message: ChatMessage, text: str) -> ChatMessage:
    """A copy of ``message`` whose text is ``text`` (tool calls, other blocks, kwargs kept)."""
    others = [block for block in message.blocks if not isinstance(block, TextBlock)]
    copy = message.model_copy(deep=True)
    copy.blocks = [TextBlock(text=text), *(b.model_copy(deep=True) for b in others)]
    return copy


class ActiveContextMemory(JsonConfig, BaseMemory):
    """A chat memory whose older messages are folded for the LLM and restorable by tools.

    Attributes:
        budget: When and how to fold (default ``ContextBudget()``: the oldest 200-token
            windows once the history passes 4,000 tokens, never the current turn).
            ``None``: never fold automatically (the agent folds with the tools).
        tool_names: Tools `tool_spec` offers (default `DEFAULT_TOOL_NAMES`).
        llm: Writes summaries (``budget.mode="summarize"``): a core ``LLM`` or its
            config, any LlamaIndex LLM, or a local model's id or alias (``"smollm2"``)
            (default: ``Settings.llm`` when you have set one).
        embedder: For semantic search: a core ``Embedder`` or its config, a LlamaIndex
            embedding model or an embedding model id (default: ``Settings.embed_model``
            when you have set one, else the packaged MiniLM).
        messages: A history to start from (``put`` one by one); ``to_dict`` writes the
            history held, exactly as it was put.
        reads: One ``ContextRead`` per ``get()``: tokens returned with and without folding.
        budget_records: The budget's tool calls, in order.

    ``to_dict``/``from_dict`` round-trip the settings and the history (which is how an
    ``AgentWorkflow``'s context stores its memory): the budget, the tool names, a model
    given by name as that name or a core one as its config (a default read from
    ``Settings`` is not written: rebuilt, it reads ``Settings`` again), and every message.
    Folds are not written: the next ``get()`` folds the history to the budget again.
    ``reads`` and ``budget_records`` are measurements of this instance, not written.
    A LlamaIndex LLM has no config: ``to_json`` raises ``ConfigError`` for it. An
    unknown argument is an error.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    budget: ContextBudget | None = Field(default_factory=ContextBudget)
    tool_names: tuple[str, ...] = DEFAULT_TOOL_NAMES
    llm: _Model = None
    embedder: _Model = None
    messages: list[ChatMessage] = Field(default_factory=list)
    reads: list[ContextRead] = Field(default_factory=list, exclude=True)
    budget_records: list[Any] = Field(default_factory=list, exclude=True)

    _llm: LLM | None = PrivateAttr(default=None)
    _embedder: Embedder | None = PrivateAttr(default=None)
    _context: WorkingContext = PrivateAttr()
    _tools: ContextTools = PrivateAttr()
    _specs: list[ContextToolSpec] = PrivateAttr(default_factory=list)
    _originals: list[ChatMessage] = PrivateAttr(default_factory=list)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    def model_post_init(self, context: Any, /) -> None:
        if self.budget is not None and not isinstance(self.budget, ContextBudget):
            raise TypeError(
                f"budget must be a ContextBudget or None, got {type(self.budget).__name__}"
            )
        if isinstance(self.tool_names, str):
            raise TypeError("tool_names must be a sequence of tool names, not one string")
        ContextTools.specs(list(self.tool_names))  # unknown names fail here
        self._llm = core_llm(self.llm)
        self._embedder = core_embedder(self.embedder)
        if self.budget is not None and self.budget.mode == "summarize" and self._llm is None:
            raise ValueError(
                "budget.mode='summarize' needs an llm to write the summaries "
                "(pass llm= or set Settings.llm)"
            )
        self._context = WorkingContext()
        self._tools = ContextTools(self._context, llm=self._llm, embedder=self._embedder)
        start, self.messages = list(self.messages), []
        for message in start:
            self.put(message)

    @field_serializer("messages")
    def _write_messages(self, messages: list[ChatMessage], info: SerializationInfo) -> Any:
        # The history held now (the field only seeds it).
        mode = "json" if info.mode_is_json() else "python"
        with self._lock:
            return [m.model_dump(mode=mode) for m in self._originals]

    @classmethod
    def class_name(cls) -> str:
        """Get class name."""
        return "ActiveContextMemory"

    @classmethod
    def from_defaults(cls, **kwargs: Any) -> ActiveContextMemory:
        """A memory with these settings (see the class arguments)."""
        return cls(**kwargs)

    @property
    def context(self) -> WorkingContext:
        """The working context holding the history (originals, fragments, operations)."""
        return self._context

    def tool_spec(self, tool_names: Sequence[str] | None = None) -> ContextToolSpec:
        """The context tools bound to this memory's working context (``.to_tool_list()``)."""
        names = list(self.tool_names if tool_names is None else tool_names)
        spec = ContextToolSpec(
            self._context, llm=self._llm, embedder=self._embedder, tool_names=names
        )
        self._specs.append(spec)
        return spec

    # -- storing ------------------------------------------------------------------

    def _metadata(self, message: ChatMessage) -> dict[str, Any]:
        """Mark the agent's own context-tool traffic (search skips it, as in the core agent)."""
        ours = set(TOOL_NAMES)
        calls = _calls(message)
        if calls and all(name in ours for _, name in calls):
            return {"agent": "tool_call"}
        call_id = message.additional_kwargs.get("tool_call_id")
        if _role(message) == "tool" and call_id:
            for earlier in reversed(self._originals):
                for cid, name in _calls(earlier):
                    if cid == call_id:
                        return {"agent": "tool_result"} if name in ours else {}
        return {}

    def put(self, message: ChatMessage) -> None:
        """Append a message (kept byte for byte)."""
        if not isinstance(message, ChatMessage):
            raise TypeError(f"message must be a ChatMessage, got {type(message).__name__}")
        with self._lock:
            self._context.append(_role(message), _text(message), metadata=self._metadata(message))
            self._originals.append(message.model_copy(deep=True))

    def set(self, messages: list[ChatMessage]) -> None:
        """Make ``messages`` the history; a history that extends the held one keeps its fragments."""
        held = self._originals
        same = len(messages) >= len(held) and all(
            _role(a) == _role(b) and _text(a) == _text(b)
            for a, b in zip(held, messages[: len(held)], strict=True)
        )
        if not same:
            self.reset()
        for message in messages[len(self._originals) :]:
            self.put(message)

    def reset(self) -> None:
        """Forget the history (tool specs from `tool_spec` follow the new context)."""
        with self._lock:
            self._context = WorkingContext(counter=self._context.counter)
            self._tools = ContextTools(self._context, llm=self._llm, embedder=self._embedder)
            for spec in self._specs:
                spec.context = self._context
                spec.tools.context = self._context
            self._originals = []
            self.reads = []
            self.budget_records = []

    # -- reading ------------------------------------------------------------------

    def get_all(self) -> list[ChatMessage]:
        """The whole history, unfolded, exactly as it was put."""
        with self._lock:
            return [m.model_copy(deep=True) for m in self._originals]

    def get(self, input: str | None = None, **kwargs: Any) -> list[ChatMessage]:
        """The history as the LLM should read it now: folded to the budget first."""
        with self._lock:
            records = self.budget.apply(self._tools) if self.budget is not None else []
            self.budget_records.extend(records)
            rendered = self._context.render()
            messages = [
                # copies: an agent may edit what it gets (e.g. to add its state prompt)
                original.model_copy(deep=True)
                if content == kept.text
                else _with_text(original, content)
                for original, kept, content in zip(
                    self._originals,
                    self._context.messages,
                    (m["content"] for m in rendered.messages),
                    strict=True,
                )
            ]
            self.reads.append(ContextRead.of(self._context, rendered, budget_calls=len(records)))
        return messages
