"""The active-context tools as LangChain tools, and a toolkit bound to one working context.

Each tool is a ``BaseTool`` with a pydantic v2 ``args_schema`` built from the core
tool spec; it delegates to [`ctx_core.context.ContextTools`][ctx_core.context.tools.ContextTools] and answers with
the core's JSON result as content (``response_format="content_and_artifact"``: the
result dict is the artifact). Errors come back as a result with ``"ok": false``,
never as an exception, so an agent can read them and retry.

Examples:
    >>> from ctx_core.context import WorkingContext
    >>> from langchain_ctx.context_tools import ContextToolkit
    >>> ctx = WorkingContext([("user", "bird: kea; bird: emu")])
    >>> tools = {t.name: t for t in ContextToolkit(context=ctx).get_tools()}
    >>> '"snippet": "bird: emu"' in tools["search_context"].invoke(
    ...     {"query": "bird:", "newest_first": True, "max_results": 1})
    True
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForToolRun, CallbackManagerForToolRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
)
from langchain_core.tools import BaseTool, BaseToolkit
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    SerializationInfo,
)

from ctx_core.context import TOOL_NAMES, ContextTools, ToolSpec, WorkingContext
from ctx_core.context.schema import args_model
from ctx_core.context.tools import format_tool_result
from ctx_core.context.working import RenderedContext
from ctx_core.embeddings import Embedder
from ctx_core.errors import ConfigError
from ctx_core.llm import LLM
from langchain_ctx._config import Component, CtxSerializable, rebuild_field, write_field
from langchain_ctx.llm import LangChainLLM

__all__ = [
    "ContextTool",
    "ContextToolkit",
    "FoldFragmentTool",
    "FragmentContextTool",
    "GetSearchDetailTool",
    "ListFragmentsTool",
    "RestoreFragmentTool",
    "SearchContextTool",
    "SummarizeFragmentTool",
    "UndoLastOperationTool",
    "args_schema_for",
    "core_embedder",
    "core_llm",
    "messages_to_context",
    "rendered_to_messages",
]

_ROLE_OF_TYPE = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}


def args_schema_for(spec: ToolSpec) -> type[BaseModel]:
    """A pydantic v2 model of a core tool's arguments (same names, types, limits, enums)."""
    model: type[BaseModel] = args_model(spec, "Input")
    return model


def _context_config(context: WorkingContext, info: SerializationInfo) -> Any:
    """An empty context as its settings; one holding messages as the object itself in
    Python mode, and a ``ConfigError`` in JSON mode (a config carries no messages)."""
    if isinstance(context, WorkingContext) and context.messages:
        if not info.mode_is_json():
            return context
        raise ConfigError(
            f"context holds {len(context.messages)} messages, which a config does not carry; "
            "pass the WorkingContext itself"
        )
    return write_field(context, info)


def core_llm(llm: Any, argument: str = "llm") -> LLM | None:
    """The core LLM a tool's ``llm`` argument names.

    A LangChain chat model is wrapped in a [`LangChainLLM`][langchain_ctx.llm.LangChainLLM];
    a string is a model id, local path or alias (``"smollm2"``) loaded as a
    [`TransformersLLM`][ctx_core.llm.transformers_llm.TransformersLLM]; a core LLM is used as
    it is.

    Raises:
        TypeError: ``llm`` is none of these; the message names ``argument``.
    """
    if isinstance(llm, BaseChatModel):  # first: the core LLM protocol is structural
        return LangChainLLM(llm)
    if llm is None or isinstance(llm, LLM):
        return llm
    if isinstance(llm, str):
        from ctx_core.llm import TransformersLLM

        return TransformersLLM(llm)
    raise TypeError(
        f"{argument} must be a ctx_core LLM, a LangChain chat model or a model id, "
        f"got {type(llm).__name__}"
    )


def core_embedder(embedder: Any, argument: str = "embedder") -> Embedder | None:
    """The core embedder an ``embedder`` argument names (a string: a model id or path).

    Raises:
        TypeError: ``embedder`` is neither a ctx_core ``Embedder``, a model id nor ``None``.
    """
    if embedder is None or isinstance(embedder, Embedder):
        return embedder
    if isinstance(embedder, str):
        return Embedder(embedder)
    raise TypeError(
        f"{argument} must be a ctx_core Embedder or a model id, got {type(embedder).__name__}"
    )


class ContextTool(BaseTool):
    """One core context tool (chosen by ``name``) as a LangChain tool.

    Attributes:
        name: The core tool's name (see ``ctx_core.context.TOOL_NAMES``).
        context: The ``WorkingContext`` the tool acts on.
        llm: Writes summaries for ``summarize_fragment``: a core ``LLM``, any
            LangChain chat model, or a local model's id or alias (``"smollm2"``).
        embedder: A core ``Embedder`` or an embedding model id for semantic search
            (default: packaged MiniLM).

    An unknown argument is an error.

    Examples:
        >>> from ctx_core.context import WorkingContext
        >>> tool = ContextTool(name="list_fragments", context=WorkingContext([("user", "hi")]))
        >>> tool.invoke({})
        '{"ok": true, "tool": "list_fragments", "count": 0, "fragments": [], "context_tokens": 1, "original_tokens": 1}'
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    name: str
    description: str = ""
    context: Any = Field(description="The ctx_core WorkingContext the tool acts on.")
    llm: Any = Field(default=None, description="Summarizer: a core LLM or a LangChain chat model.")
    embedder: Any = Field(default=None, description="Embedder for semantic search.")
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"
    _tools: ContextTools = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        if self.name not in TOOL_NAMES:
            raise ValueError(f"name must be one of {list(TOOL_NAMES)}, got {self.name!r}")
        if not isinstance(self.context, WorkingContext):
            raise TypeError(f"context must be a WorkingContext, got {type(self.context).__name__}")
        spec = ContextTools.spec(self.name)
        if not self.description:
            self.description = spec.description
        if self.args_schema is None:
            self.args_schema = args_schema_for(spec)
        self._tools = ContextTools(
            self.context, llm=core_llm(self.llm), embedder=core_embedder(self.embedder)
        )

    @property
    def context_tools(self) -> ContextTools:
        """The core tools this tool delegates to."""
        return self._tools

    def _run(
        self, run_manager: CallbackManagerForToolRun | None = None, **kwargs: Any
    ) -> tuple[str, dict[str, Any]]:
        result = self._tools.call(self.name, kwargs)
        return format_tool_result(result), result

    async def _arun(
        self, run_manager: AsyncCallbackManagerForToolRun | None = None, **kwargs: Any
    ) -> tuple[str, dict[str, Any]]:
        result = await asyncio.to_thread(self._tools.call, self.name, kwargs)
        return format_tool_result(result), result


def _fixed(tool_name: str, class_name: str) -> type[ContextTool]:
    spec = ContextTools.spec(tool_name)
    namespace = {
        "__annotations__": {"name": str, "description": str, "args_schema": Any},
        "name": tool_name,
        "description": spec.description,
        "args_schema": args_schema_for(spec),
        "__doc__": f"``{tool_name}`` as a LangChain tool: {spec.description}",
        "__module__": __name__,
    }
    return type(class_name, (ContextTool,), namespace)


FragmentContextTool = _fixed("fragment_context", "FragmentContextTool")
SummarizeFragmentTool = _fixed("summarize_fragment", "SummarizeFragmentTool")
FoldFragmentTool = _fixed("fold_fragment", "FoldFragmentTool")
RestoreFragmentTool = _fixed("restore_fragment", "RestoreFragmentTool")
SearchContextTool = _fixed("search_context", "SearchContextTool")
GetSearchDetailTool = _fixed("get_search_detail", "GetSearchDetailTool")
ListFragmentsTool = _fixed("list_fragments", "ListFragmentsTool")
UndoLastOperationTool = _fixed("undo_last_operation", "UndoLastOperationTool")


class ContextToolkit(BaseToolkit, CtxSerializable):
    """All context tools bound to one ``WorkingContext``, for a LangChain agent.

    Attributes:
        context: The working context every tool acts on, or the ``config()`` of an empty
            one (default: a new empty context).
        llm: Writes summaries (optional): a core ``LLM`` or its config, a LangChain chat
            model, or a local model's id, path or alias (``"smollm2"``: a
            ``TransformersLLM``, loaded once and shared by the tools).
        embedder: For semantic search: a core ``Embedder`` or its config, or an embedding
            model id or path (default: packaged MiniLM).
        tool_names: Offer only these tools (default: all).

    ``model_dump_json`` and LangChain's ``dumpd`` write an empty context's settings, a
    model given by name as that name and a core LLM or embedder as its config, so
    ``model_validate_json`` and ``load`` rebuild the same toolkit. A context holding
    messages or an object with no config (a LangChain chat model) is never written as a
    default: ``model_dump_json`` raises ``ConfigError`` and ``dumpd`` gives LangChain's
    ``not_implemented`` form (a Python-mode ``model_dump`` keeps such objects). An
    unknown argument is an error.

    Examples:
        >>> from ctx_core.context import WorkingContext
        >>> kit = ContextToolkit(context=WorkingContext([("user", "hi")]))
        >>> [t.name for t in kit.get_tools()][:3]
        ['fragment_context', 'summarize_fragment', 'fold_fragment']
        >>> ContextToolkit(tool_names=["list_fragments"]).model_dump_json()
        '{"context":{"type":"WorkingContext","counter":null},"llm":null,"embedder":null,"tool_names":["list_fragments"]}'
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    context: Annotated[
        Any, BeforeValidator(rebuild_field), PlainSerializer(_context_config, when_used="always")
    ] = None
    llm: Component = None
    embedder: Component = None
    tool_names: list[str] | None = None
    _llm: LLM | None = PrivateAttr(default=None)
    _embedder: Embedder | None = PrivateAttr(default=None)

    def model_post_init(self, context: Any, /) -> None:
        if self.context is None:
            self.context = WorkingContext()
        if not isinstance(self.context, WorkingContext):
            raise TypeError(f"context must be a WorkingContext, got {type(self.context).__name__}")
        ContextTools.specs(self.tool_names)  # unknown names fail here
        # Resolved once: every tool shares one loaded model.
        self._llm = core_llm(self.llm)
        self._embedder = core_embedder(self.embedder)

    @property
    def core_llm(self) -> LLM | None:
        """The core LLM writing summaries (``None``: summaries are not offered)."""
        return self._llm

    def get_tools(self) -> list[BaseTool]:
        """One tool per core tool, sharing the context (and its search hits) and the models."""
        return [
            ContextTool(
                name=spec.name, context=self.context, llm=self._llm, embedder=self._embedder
            )
            for spec in ContextTools.specs(self.tool_names)
        ]


def messages_to_context(messages: Sequence[BaseMessage]) -> WorkingContext:
    """A working context holding LangChain messages (text content, roles mapped)."""
    context = WorkingContext()
    for i, message in enumerate(messages):
        if not isinstance(message, BaseMessage):
            raise TypeError(f"messages[{i}] must be a BaseMessage, got {type(message).__name__}")
        role = _ROLE_OF_TYPE.get(message.type)
        if role is None:
            raise ValueError(f"messages[{i}] has unsupported type {message.type!r}")
        context.append(
            role, message.text, metadata={"message_id": message.id} if message.id else None
        )
    return context


def rendered_to_messages(rendered: RenderedContext | WorkingContext) -> list[BaseMessage]:
    """LangChain messages of what the model should read now (``WorkingContext.render()``).

    Tool results (role ``tool``) become human messages prefixed ``[tool result]``, which
    any chat model accepts (a ``ToolMessage`` needs the id of a matching tool call).
    """
    if isinstance(rendered, WorkingContext):
        rendered = rendered.render()
    out: list[BaseMessage] = []
    for m in rendered.messages:
        role, content = m["role"], m["content"]
        if role == "system":
            out.append(SystemMessage(content))
        elif role == "assistant":
            out.append(AIMessage(content))
        elif role == "tool":
            out.append(HumanMessage(f"[tool result] {content}"))
        else:
            out.append(HumanMessage(content))
    return out
