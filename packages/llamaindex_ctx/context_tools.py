"""The active-context tools as a LlamaIndex ``BaseToolSpec`` (-> ``FunctionTool``\\ s).

[`ContextToolSpec`][llamaindex_ctx.context_tools.ContextToolSpec] binds the core tools to one
[`ctx_core.context.WorkingContext`][ctx_core.context.working.WorkingContext]; ``to_tool_list()`` gives one
``FunctionTool`` per tool, with the core's description and a pydantic schema of
its arguments, usable by any LlamaIndex agent (``FunctionAgent``, ``ReActAgent``).
Each tool answers with the core's JSON result; errors come back as a result with
``"ok": false``, never as an exception.

Examples:
    >>> from ctx_core.context import WorkingContext
    >>> from llamaindex_ctx.context_tools import ContextToolSpec
    >>> spec = ContextToolSpec(WorkingContext([("user", "bird: kea; bird: emu")]))
    >>> tools = {t.metadata.name: t for t in spec.to_tool_list()}
    >>> out = tools["search_context"].call(query="bird:", newest_first=True, max_results=1)
    >>> '"snippet": "bird: emu"' in out.content
    True
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from llama_index.core.bridge.pydantic import BaseModel
from llama_index.core.tools.tool_spec.base import SPEC_FUNCTION_TYPE, BaseToolSpec
from llama_index.core.tools.types import ToolMetadata

from ctx_core._registry import rebuild
from ctx_core.context import ContextTools, ToolSpec, WorkingContext
from ctx_core.context.schema import args_model
from ctx_core.context.tools import format_tool_result
from ctx_core.errors import ConfigError
from llamaindex_ctx._config import PlainConfig, write_value
from llamaindex_ctx.settings import core_embedder, core_llm

__all__ = ["ContextToolSpec", "fn_schema_for"]


def fn_schema_for(spec: ToolSpec) -> type[BaseModel]:
    """A pydantic v2 model of a core tool's arguments (same names, types, limits, enums)."""
    model: type[BaseModel] = args_model(spec, "Args")
    return model


class ContextToolSpec(PlainConfig, BaseToolSpec):
    """The context tools bound to one working context, as LlamaIndex tools.

    Args:
        context: The ``WorkingContext`` the tools act on, or the ``config()`` of an empty
            one (default: a new empty context).
        llm: Writes summaries for ``summarize_fragment``: a core ``LLM`` or its config,
            any LlamaIndex LLM, or a local model's id, path or alias (``"smollm2"``)
            (default: ``Settings.llm`` when you have set one).
        embedder: For semantic search: a core ``Embedder`` or its config, a LlamaIndex
            embedding model, or an embedding model id or path (default:
            ``Settings.embed_model`` when you have set one, else the packaged MiniLM).
        tool_names: Offer only these tools (default: all).

    ``to_dict``/``from_dict`` (and ``to_json``/``from_json``) round-trip: an empty
    context as its settings, a model given by name as that name, a core LLM or embedder
    as its config, and nothing for a default read from ``Settings`` (rebuilt, it reads
    ``Settings`` again). A context holding messages or a model with no config (a
    LlamaIndex LLM) makes ``to_json`` raise ``ConfigError`` (``to_dict`` keeps the
    object). An unknown argument is an error.

    Examples:
        >>> spec = ContextToolSpec(tool_names=["list_fragments"], embedder="all-MiniLM-L6-v2")
        >>> spec.to_dict()
        {'context': {'type': 'WorkingContext', 'counter': None}, 'llm': None, 'embedder': 'all-MiniLM-L6-v2', 'tool_names': ['list_fragments'], 'class_name': 'ContextToolSpec'}
        >>> [t.metadata.name for t in ContextToolSpec.from_dict(spec.to_dict()).to_tool_list()]
        ['list_fragments']
    """

    def __init__(
        self,
        context: WorkingContext | dict[str, Any] | None = None,
        *,
        llm: Any = None,
        embedder: Any = None,
        tool_names: Sequence[str] | None = None,
    ) -> None:
        context = rebuild(context, "context")
        if context is None:
            context = WorkingContext()
        if not isinstance(context, WorkingContext):
            raise TypeError(f"context must be a WorkingContext, got {type(context).__name__}")
        if isinstance(tool_names, str):
            raise TypeError("tool_names must be a sequence of tool names, not one string")
        specs = ContextTools.specs(tool_names)  # unknown names fail here
        self._given = {
            "llm": rebuild(llm, "llm"),
            "embedder": rebuild(embedder, "embedder"),
            "tool_names": None if tool_names is None else list(tool_names),
        }
        self.tools = ContextTools(
            context,
            llm=core_llm(self._given["llm"]),
            embedder=core_embedder(self._given["embedder"]),
        )
        self.context = context
        self.spec_functions = [(s.name, f"a{s.name}") for s in specs]

    def _arguments(self, json_mode: bool) -> dict[str, Any]:
        context: Any = self.context
        if context.messages:
            if json_mode:
                raise ConfigError(
                    f"context holds {len(context.messages)} messages, which a config does not "
                    "carry; pass the WorkingContext itself"
                )
        else:
            context = write_value(context, "context", json_mode=json_mode)
        return {
            "context": context,
            "llm": write_value(self._given["llm"], "llm", json_mode=json_mode),
            "embedder": write_value(self._given["embedder"], "embedder", json_mode=json_mode),
            "tool_names": self._given["tool_names"],
        }

    # -- metadata from the core specs ------------------------------------------

    def get_fn_schema_from_fn_name(
        self, fn_name: str, spec_functions: list[SPEC_FUNCTION_TYPE] | None = None
    ) -> type[BaseModel] | None:
        """The pydantic schema of a tool's arguments."""
        return fn_schema_for(ContextTools.spec(fn_name))

    def get_metadata_from_fn_name(
        self, fn_name: str, spec_functions: list[SPEC_FUNCTION_TYPE] | None = None
    ) -> ToolMetadata | None:
        """Name, description and schema of a tool, from the core spec."""
        spec = ContextTools.spec(fn_name)
        return ToolMetadata(
            name=spec.name, description=spec.description, fn_schema=fn_schema_for(spec)
        )

    def _call(self, tool: str, /, **kwargs: Any) -> str:
        # Unknown arguments reach the core, which reports them as an error result.
        arguments = {k: v for k, v in kwargs.items() if v is not None}
        return format_tool_result(self.tools.call(tool, arguments))

    async def _acall(self, tool: str, /, **kwargs: Any) -> str:
        return await asyncio.to_thread(self._call, tool, **kwargs)

    # -- the tools -------------------------------------------------------------

    def fragment_context(
        self,
        start_marker: str | None = None,
        end_marker: str | None = None,
        window_tokens: int | None = None,
        message: int | None = None,
        **extra: Any,
    ) -> str:
        """Split the context into fragments, by start/end markers or by token window."""
        return self._call(
            "fragment_context",
            **extra,
            start_marker=start_marker,
            end_marker=end_marker,
            window_tokens=window_tokens,
            message=message,
        )

    async def afragment_context(
        self,
        start_marker: str | None = None,
        end_marker: str | None = None,
        window_tokens: int | None = None,
        message: int | None = None,
        **extra: Any,
    ) -> str:
        """Async twin of [`fragment_context`][llamaindex_ctx.context_tools.ContextToolSpec.fragment_context]."""
        return await self._acall(
            "fragment_context",
            **extra,
            start_marker=start_marker,
            end_marker=end_marker,
            window_tokens=window_tokens,
            message=message,
        )

    def summarize_fragment(self, fragment_id: str, focus: str = "", **extra: Any) -> str:
        """Replace a fragment by an LLM-written summary (the original is kept)."""
        return self._call("summarize_fragment", **extra, fragment_id=fragment_id, focus=focus)

    async def asummarize_fragment(self, fragment_id: str, focus: str = "", **extra: Any) -> str:
        """Async twin of [`summarize_fragment`][llamaindex_ctx.context_tools.ContextToolSpec.summarize_fragment]."""
        return await self._acall(
            "summarize_fragment", **extra, fragment_id=fragment_id, focus=focus
        )

    def fold_fragment(self, fragment_id: str, **extra: Any) -> str:
        """Hide a fragment behind a one-line marker."""
        return self._call("fold_fragment", **extra, fragment_id=fragment_id)

    async def afold_fragment(self, fragment_id: str, **extra: Any) -> str:
        """Async twin of [`fold_fragment`][llamaindex_ctx.context_tools.ContextToolSpec.fold_fragment]."""
        return await self._acall("fold_fragment", **extra, fragment_id=fragment_id)

    def restore_fragment(self, fragment_id: str, **extra: Any) -> str:
        """Show a folded or summarized fragment's original text again."""
        return self._call("restore_fragment", **extra, fragment_id=fragment_id)

    async def arestore_fragment(self, fragment_id: str, **extra: Any) -> str:
        """Async twin of [`restore_fragment`][llamaindex_ctx.context_tools.ContextToolSpec.restore_fragment]."""
        return await self._acall("restore_fragment", **extra, fragment_id=fragment_id)

    def search_context(
        self,
        query: str,
        scope: str = "all",
        mode: str = "exact",
        max_results: int = 10,
        window: int = 80,
        newest_first: bool = False,
        **extra: Any,
    ) -> str:
        """Search the whole original context (folded parts included)."""
        return self._call(
            "search_context",
            **extra,
            query=query,
            scope=scope,
            mode=mode,
            max_results=max_results,
            window=window,
            newest_first=newest_first,
        )

    async def asearch_context(
        self,
        query: str,
        scope: str = "all",
        mode: str = "exact",
        max_results: int = 10,
        window: int = 80,
        newest_first: bool = False,
        **extra: Any,
    ) -> str:
        """Async twin of [`search_context`][llamaindex_ctx.context_tools.ContextToolSpec.search_context]."""
        return await self._acall(
            "search_context",
            **extra,
            query=query,
            scope=scope,
            mode=mode,
            max_results=max_results,
            window=window,
            newest_first=newest_first,
        )

    def get_search_detail(self, hit_id: str, window: int = 300, **extra: Any) -> str:
        """Read the original text around a search hit (or a fragment's original text)."""
        return self._call("get_search_detail", **extra, hit_id=hit_id, window=window)

    async def aget_search_detail(self, hit_id: str, window: int = 300, **extra: Any) -> str:
        """Async twin of [`get_search_detail`][llamaindex_ctx.context_tools.ContextToolSpec.get_search_detail]."""
        return await self._acall("get_search_detail", **extra, hit_id=hit_id, window=window)

    def list_fragments(self, **extra: Any) -> str:
        """List the fragments with their states and sizes, and the context's size."""
        return self._call("list_fragments", **extra)

    async def alist_fragments(self, **extra: Any) -> str:
        """Async twin of [`list_fragments`][llamaindex_ctx.context_tools.ContextToolSpec.list_fragments]."""
        return await self._acall("list_fragments", **extra)

    def undo_last_operation(self, **extra: Any) -> str:
        """Undo the latest fragment operation."""
        return self._call("undo_last_operation", **extra)

    async def aundo_last_operation(self, **extra: Any) -> str:
        """Async twin of [`undo_last_operation`][llamaindex_ctx.context_tools.ContextToolSpec.undo_last_operation]."""
        return await self._acall("undo_last_operation", **extra)
