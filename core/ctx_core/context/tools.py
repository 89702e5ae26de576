"""The context-management tools, as plain methods with JSON schemas.

[`ContextTools`][ctx_core.context.tools.ContextTools] binds the tools to one [`WorkingContext`][ctx_core.context.working.WorkingContext].
Every tool takes JSON-ready keyword arguments and returns a JSON-ready dict with
``"ok": True`` and its data, or ``"ok": False`` and an ``"error"`` an LLM can read
and act on: a tool never raises. [`ContextTools.specs`][ctx_core.context.tools.ContextTools.specs] gives each tool's
name, description and JSON schema, for any function-calling format.

Examples:
    >>> from ctx_core.context import ContextTools, WorkingContext
    >>> ctx = WorkingContext([("user", "bird: kea; fruit: fig; bird: emu")])
    >>> tools = ContextTools(ctx)
    >>> tools.search_context("bird:", newest_first=True, max_results=1)["hits"][0]["snippet"]
    'bird: emu'
    >>> tools.fold_fragment("nope")["ok"]
    False
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ctx_core.context.fragments import Fragment, FragmentState
from ctx_core.context.search import (
    MAX_RESULTS,
    MODES,
    SCOPES,
    hit_detail,
    hit_snippet,
    search_context,
)
from ctx_core.context.working import WorkingContext
from ctx_core.llm.base import LLM

if TYPE_CHECKING:
    from ctx_core.embeddings import Embedder

__all__ = ["TOOL_NAMES", "ContextTools", "ToolParam", "ToolSpec", "format_tool_result"]

logger = logging.getLogger(__name__)

_JSON_TYPES: dict[str, type] = {"string": str, "integer": int, "boolean": bool}

SUMMARY_PROMPT = (
    "Summarize the text below in at most {words} words. Keep every name, number, key and "
    "value that a later question could ask about; when a key takes several values, keep "
    "its latest one.{focus}\n\nText:\n{text}\n\nSummary:"
)


@dataclass(frozen=True)
class ToolParam:
    """One argument of a tool.

    Attributes:
        name: Argument name.
        type: JSON type: ``"string"``, ``"integer"`` or ``"boolean"``.
        description: What it means, for the LLM.
        required: Whether it must be given.
        default: Its value when left out.
        enum: The allowed values, if limited.
        minimum: Smallest allowed integer.
        maximum: Largest allowed integer.
    """

    name: str
    type: str
    description: str
    required: bool = False
    default: Any = None
    enum: tuple[str, ...] | None = None
    minimum: int | None = None
    maximum: int | None = None

    def json_schema(self) -> dict[str, Any]:
        """This argument's JSON schema."""
        schema: dict[str, Any] = {"type": self.type, "description": self.description}
        if self.enum is not None:
            schema["enum"] = list(self.enum)
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        if not self.required and self.default is not None:
            schema["default"] = self.default
        return schema


@dataclass(frozen=True)
class ToolSpec:
    """A tool's name, description and arguments.

    Attributes:
        name: The tool's name (also the [`ContextTools`][ctx_core.context.tools.ContextTools] method name).
        description: What it does and when to use it, written for an LLM.
        params: Its arguments.
    """

    name: str
    description: str
    params: tuple[ToolParam, ...] = field(default_factory=tuple)

    def json_schema(self) -> dict[str, Any]:
        """JSON schema of the arguments object."""
        return {
            "type": "object",
            "properties": {p.name: p.json_schema() for p in self.params},
            "required": [p.name for p in self.params if p.required],
            "additionalProperties": False,
        }

    def to_openai(self) -> dict[str, Any]:
        """The OpenAI-style function definition ``{"type": "function", "function": {...}}``."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.json_schema(),
            },
        }

    def signature(self) -> str:
        """A one-line call signature, e.g. ``fold_fragment(fragment_id)``."""
        parts = [p.name if p.required else f"{p.name}={json.dumps(p.default)}" for p in self.params]
        return f"{self.name}({', '.join(parts)})"


_FRAGMENT_ID = ToolParam(
    "fragment_id",
    "string",
    "A fragment id (6 characters, e.g. 'a1b2c3'), several ids separated by commas, or 'all'.",
    required=True,
)

SPECS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "fragment_context",
        "Split the context into fragments you can later fold, summarize or restore. Either give "
        "start_marker and end_marker (the fragment runs from the first start_marker to the next "
        "end_marker, both included), or give window_tokens to cut all text not yet in a fragment "
        "into pieces of about that many tokens. Returns the new fragment ids.",
        (
            ToolParam("start_marker", "string", "Text where the fragment starts."),
            ToolParam("end_marker", "string", "Text where the fragment ends."),
            ToolParam(
                "window_tokens",
                "integer",
                "Instead of markers: cut into fragments of at most this many tokens.",
                minimum=1,
            ),
            ToolParam(
                "message",
                "integer",
                "Only fragment this message (its index, 0 = first); default: all messages.",
                minimum=0,
            ),
        ),
    ),
    ToolSpec(
        "summarize_fragment",
        "Replace a fragment by a short summary written by a language model; the original text "
        "is kept and restore_fragment brings it back. Use for long parts you may need the gist of.",
        (
            _FRAGMENT_ID,
            ToolParam(
                "focus",
                "string",
                "What the summary must keep (e.g. 'the latest value of bird').",
                default="",
            ),
        ),
    ),
    ToolSpec(
        "fold_fragment",
        "Hide a fragment behind a one-line marker, to shrink the context. Its text stays "
        "searchable and restore_fragment shows it again.",
        (_FRAGMENT_ID,),
    ),
    ToolSpec(
        "restore_fragment",
        "Show a folded or summarized fragment's original text again.",
        (_FRAGMENT_ID,),
    ),
    ToolSpec(
        "search_context",
        "Search the whole original context, including folded and summarized fragments. Returns "
        "hits with ids, positions and a snippet of surrounding text. Use newest_first=true to "
        "find the latest mention of something (e.g. the current value of a key).",
        (
            ToolParam("query", "string", "What to look for.", required=True),
            ToolParam(
                "scope",
                "string",
                "Which messages to search: 'all', 'user' or 'assistant'.",
                default="all",
                enum=SCOPES,
            ),
            ToolParam(
                "mode",
                "string",
                "'exact' text (case-insensitive), 'regex' (a Python regular expression) or "
                "'semantic' (closest in meaning, by sentence).",
                default="exact",
                enum=MODES,
            ),
            ToolParam(
                "max_results",
                "integer",
                f"Most hits to return (1-{MAX_RESULTS}).",
                default=10,
                minimum=1,
                maximum=MAX_RESULTS,
            ),
            ToolParam(
                "window",
                "integer",
                "The snippet shows the sentence or clause around a hit, at most this many "
                "characters on each side of it.",
                default=80,
                minimum=0,
                maximum=2000,
            ),
            ToolParam(
                "newest_first",
                "boolean",
                "List the latest matches first (exact and regex modes).",
                default=False,
            ),
        ),
    ),
    ToolSpec(
        "get_search_detail",
        "Read the original text around a search hit (or a fragment's original text).",
        (
            ToolParam(
                "hit_id",
                "string",
                "A hit id from search_context (e.g. 'h1a2b3') or a fragment id.",
                required=True,
            ),
            ToolParam(
                "window",
                "integer",
                "Characters to show on each side of the hit.",
                default=300,
                minimum=0,
                maximum=20000,
            ),
        ),
    ),
    ToolSpec(
        "list_fragments",
        "List the fragments with their ids, states, sizes and first words, and the context's "
        "current and original size in tokens.",
        (),
    ),
    ToolSpec(
        "undo_last_operation",
        "Undo the latest fragment, summarize, fold or restore operation.",
        (),
    ),
)

TOOL_NAMES: tuple[str, ...] = tuple(s.name for s in SPECS)


def format_tool_result(result: Mapping[str, Any], style: str = "json") -> str:
    """A tool result as the text an LLM reads: compact JSON, or plain ``"text"`` lines.

    Examples:
        >>> print(format_tool_result({"ok": True, "tool": "t", "count": 1,
        ...     "hits": [{"hit_id": "h12345", "snippet": "bird: emu;"}]}, style="text"))
        count: 1
        hits:
        - hit_id: h12345 | snippet: bird: emu;
        >>> format_tool_result({"ok": False, "tool": "t", "error": "t: no fragment 'x'"}, "text")
        "error: t: no fragment 'x'"
    """
    if style == "json":
        return json.dumps(result, ensure_ascii=False, separators=(", ", ": "))
    if style != "text":
        raise ValueError(f"style must be 'json' or 'text', got {style!r}")
    if not result.get("ok", True):
        return f"error: {result.get('error', 'unknown error')}"
    lines = []
    for key, value in result.items():
        if key in ("ok", "tool"):
            continue
        if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            lines.append(f"{key}:")
            for item in value:
                fields = [f"{k}: {_plain(v)}" for k, v in item.items() if v is not None]
                lines.append("- " + " | ".join(fields))
        else:
            lines.append(f"{key}: {_plain(value)}")
    return "\n".join(lines)


def _plain(value: Any) -> str:
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, list):
        return ", ".join(_plain(v) for v in value)
    return json.dumps(value, ensure_ascii=False)


class ContextTools:
    """The context tools bound to one working context.

    Args:
        context: The working context the tools act on.
        llm: Core LLM that writes summaries (``summarize_fragment`` reports an error without one).
        embedder: Embedder for semantic search (default: the packaged MiniLM, loaded on first use).
        summary_words: Length asked of summaries.
        summary_max_tokens: Generation limit for a summary.
        preview_chars: Length of the text previews in fragment listings.
    """

    def __init__(
        self,
        context: WorkingContext,
        *,
        llm: LLM | None = None,
        embedder: Embedder | None = None,
        summary_words: int = 60,
        summary_max_tokens: int = 128,
        preview_chars: int = 40,
    ) -> None:
        if not isinstance(context, WorkingContext):
            raise TypeError(f"context must be a WorkingContext, got {type(context).__name__}")
        if llm is not None and not isinstance(llm, LLM):
            raise TypeError(f"llm must be a ctx_core LLM, got {type(llm).__name__}")
        self.context = context
        self.llm = llm
        self.embedder = embedder
        self.summary_words = summary_words
        self.summary_max_tokens = summary_max_tokens
        self.preview_chars = preview_chars
        self._impl: dict[str, Callable[..., dict[str, Any]]] = {
            "fragment_context": self._fragment_context,
            "summarize_fragment": self._summarize_fragment,
            "fold_fragment": self._fold_fragment,
            "restore_fragment": self._restore_fragment,
            "search_context": self._search_context,
            "get_search_detail": self._get_search_detail,
            "list_fragments": self._list_fragments,
            "undo_last_operation": self._undo_last_operation,
        }

    # -- specs and dispatch ------------------------------------------------------

    @staticmethod
    def specs(names: Sequence[str] | None = None) -> list[ToolSpec]:
        """The tool specs, all or those named (in the order given)."""
        if names is None:
            return list(SPECS)
        by_name = {s.name: s for s in SPECS}
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise ValueError(f"unknown tool(s) {unknown}; known: {list(TOOL_NAMES)}")
        return [by_name[n] for n in names]

    @staticmethod
    def spec(name: str) -> ToolSpec:
        """The spec of one tool."""
        return ContextTools.specs([name])[0]

    def call(self, name: str, arguments: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Run tool ``name`` with JSON ``arguments``; errors come back as ``{"ok": False, ...}``."""
        if name not in self._impl:
            return _error(
                str(name), f"unknown tool {name!r}; available tools: {', '.join(TOOL_NAMES)}"
            )
        try:
            kwargs = _validate(self.spec(name), arguments)
        except ValueError as err:
            return _error(name, str(err))
        try:
            return {"ok": True, "tool": name, **self._impl[name](**kwargs)}
        except (ValueError, TypeError, KeyError) as err:
            message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
            return _error(name, str(message))
        except Exception as err:  # a tool result, never a crash (e.g. the summarizer failed)
            logger.warning("tool %s failed", name, exc_info=True)
            return _error(name, f"{type(err).__name__}: {err}")

    # -- the tools ---------------------------------------------------------------

    def fragment_context(
        self,
        start_marker: str | None = None,
        end_marker: str | None = None,
        window_tokens: int | None = None,
        message: int | None = None,
    ) -> dict[str, Any]:
        """Split the context into fragments, by markers or by token window.

        Args:
            start_marker: Text where the fragment starts (with ``end_marker``).
            end_marker: Text where it ends; the fragment runs from the first free
                ``start_marker`` to the next ``end_marker``, both included.
            window_tokens: Instead of markers: cut all text not yet in a fragment into
                fragments of at most this many tokens.
            message: Only fragment this message index.

        Returns:
            ``{"ok": True, "count": n, "fragments": [{"id", "tokens", "preview", ...}]}``.
        """
        return self.call(
            "fragment_context",
            _given(
                start_marker=start_marker,
                end_marker=end_marker,
                window_tokens=window_tokens,
                message=message,
            ),
        )

    def summarize_fragment(self, fragment_id: str, focus: str = "") -> dict[str, Any]:
        """Replace a fragment by an LLM-written summary (the original is kept).

        Args:
            fragment_id: A fragment id, several separated by commas, or ``"all"``.
            focus: What the summary must keep.
        """
        return self.call("summarize_fragment", {"fragment_id": fragment_id, "focus": focus})

    def fold_fragment(self, fragment_id: str) -> dict[str, Any]:
        """Hide a fragment behind a one-line marker.

        Args:
            fragment_id: A fragment id, several separated by commas, or ``"all"``.
        """
        return self.call("fold_fragment", {"fragment_id": fragment_id})

    def restore_fragment(self, fragment_id: str) -> dict[str, Any]:
        """Show a folded or summarized fragment's original text again.

        Args:
            fragment_id: A fragment id, several separated by commas, or ``"all"``.
        """
        return self.call("restore_fragment", {"fragment_id": fragment_id})

    def search_context(
        self,
        query: str,
        scope: str = "all",
        mode: str = "exact",
        max_results: int = 10,
        window: int = 80,
        newest_first: bool = False,
    ) -> dict[str, Any]:
        """Search the whole original context (folded parts included).

        Args:
            query: What to look for.
            scope: ``"all"``, ``"user"`` or ``"assistant"``.
            mode: ``"exact"``, ``"regex"`` or ``"semantic"``.
            max_results: Most hits to return (1-50).
            window: The snippet is the clause around a hit, cut to at most this many
                characters on each side.
            newest_first: List the latest matches first.

        Returns:
            ``{"ok": True, "count": n, "hits": [{"hit_id", "message", "start", "end",
            "fragment_id", "fragment_state", "snippet", ...}]}``.
        """
        return self.call(
            "search_context",
            {
                "query": query,
                "scope": scope,
                "mode": mode,
                "max_results": max_results,
                "window": window,
                "newest_first": newest_first,
            },
        )

    def get_search_detail(self, hit_id: str, window: int = 300) -> dict[str, Any]:
        """Read the original text around a search hit (or a fragment's original text).

        Args:
            hit_id: A hit id from ``search_context`` or a fragment id.
            window: Characters on each side of the hit.
        """
        return self.call("get_search_detail", {"hit_id": hit_id, "window": window})

    def list_fragments(self) -> dict[str, Any]:
        """List the fragments with their states and sizes, and the context's size."""
        return self.call("list_fragments", {})

    def undo_last_operation(self) -> dict[str, Any]:
        """Undo the latest fragment operation."""
        return self.call("undo_last_operation", {})

    # -- implementations (may raise; ``call`` turns errors into results) -------

    def _describe(self, frag: Fragment) -> dict[str, Any]:
        text = self.context.fragment_text(frag.id)
        preview = " ".join(text.split())
        if len(preview) > self.preview_chars:
            preview = preview[: self.preview_chars].rstrip() + "..."
        item: dict[str, Any] = {
            "id": frag.id,
            "state": frag.state.value,
            "message": frag.start[0],
            "tokens": self.context.fragment_tokens(frag.id),
            "preview": preview,
        }
        if frag.end[0] != frag.start[0]:
            item["end_message"] = frag.end[0]
        return item

    def _resolve_ids(self, fragment_id: str) -> list[str]:
        if fragment_id.strip().lower() == "all":
            ids = [f.id for f in self.context.fragments]
            if not ids:
                raise ValueError("there are no fragments yet: call fragment_context first")
            return ids
        ids = [part.strip() for part in fragment_id.split(",") if part.strip()]
        if not ids:
            raise ValueError("fragment_id is empty")
        for fid in ids:
            self.context.fragment(fid)  # KeyError naming the known ids
        return ids

    def _fragment_context(
        self,
        start_marker: str | None = None,
        end_marker: str | None = None,
        window_tokens: int | None = None,
        message: int | None = None,
    ) -> dict[str, Any]:
        markers = start_marker is not None or end_marker is not None
        if markers and window_tokens is not None:
            raise ValueError("give either start_marker and end_marker, or window_tokens, not both")
        if window_tokens is not None:
            frags = self.context.fragment_by_window(window_tokens, message=message)
        elif start_marker is None or end_marker is None:
            raise ValueError("give both start_marker and end_marker, or window_tokens")
        else:
            frags = [self.context.fragment_by_markers(start_marker, end_marker, message=message)]
        return {"count": len(frags), "fragments": [self._describe(f) for f in frags]}

    def _summarize_fragment(self, fragment_id: str, focus: str = "") -> dict[str, Any]:
        if self.llm is None:
            raise ValueError(
                "summarize_fragment is not available: no LLM was given to write summaries; "
                "use fold_fragment instead"
            )
        results = []
        for fid in self._resolve_ids(fragment_id):
            text = self.context.fragment_text(fid)
            prompt = SUMMARY_PROMPT.format(
                words=self.summary_words,
                focus=f" Focus on: {focus}." if focus else "",
                text=text,
            )
            summary = self.llm.complete(prompt, max_tokens=self.summary_max_tokens).strip()
            if not summary:
                raise ValueError(f"the summarizer returned an empty summary for fragment {fid}")
            frag = self.context.summarize(fid, summary, focus=focus or None)
            results.append({**self._describe(frag), "summary": summary})
        return {"count": len(results), "fragments": results}

    def _set_state(self, fragment_id: str, state: FragmentState) -> dict[str, Any]:
        ids = self._resolve_ids(fragment_id)
        before = self.context.render().total_tokens
        if len(ids) == 1:
            fid = ids[0]
            if state is FragmentState.FOLDED:
                self.context.fold(fid)
            else:
                self.context.restore(fid)
            changed = ids
        else:
            # Several at once: skip those already in the state; one undoable operation.
            changed = [i for i in ids if (self.context.fragment(i).state is not state)]
            if not changed:
                raise ValueError(f"all {len(ids)} fragments are already {state.value}")
            if state is FragmentState.FOLDED:
                self.context.fold_all(changed)
            else:
                self.context.restore_all(changed)
        after = self.context.render().total_tokens
        return {
            "fragment_ids": changed,
            "state": state.value,
            "context_tokens_before": before,
            "context_tokens_after": after,
        }

    def _fold_fragment(self, fragment_id: str) -> dict[str, Any]:
        return self._set_state(fragment_id, FragmentState.FOLDED)

    def _restore_fragment(self, fragment_id: str) -> dict[str, Any]:
        return self._set_state(fragment_id, FragmentState.SHOWN)

    def _where(self, message: int, offset: int) -> dict[str, Any]:
        frag = self.context.fragment_at((message, offset))
        if frag is None:
            return {"fragment_id": None, "fragment_state": None}
        return {"fragment_id": frag.id, "fragment_state": frag.state.value}

    def _search_context(
        self,
        query: str,
        scope: str = "all",
        mode: str = "exact",
        max_results: int = 10,
        window: int = 80,
        newest_first: bool = False,
    ) -> dict[str, Any]:
        hits = search_context(
            self.context,
            query,
            scope=scope,
            mode=mode,
            max_results=max_results,
            newest_first=newest_first,
            embedder=self.embedder,
        )
        items = []
        for hit in hits:
            item: dict[str, Any] = {
                "hit_id": hit.id,
                "message": hit.message,
                "role": hit.role,
                "start": hit.start,
                "end": hit.end,
                **self._where(hit.message, hit.start),
                "snippet": hit_snippet(self.context, hit, window),
            }
            if hit.score is not None:
                item["score"] = hit.score
            items.append(item)
        return {"query": query, "mode": mode, "count": len(items), "hits": items}

    def _get_search_detail(self, hit_id: str, window: int = 300) -> dict[str, Any]:
        hit = self.context.hits.get(hit_id)
        if hit is not None:
            return {
                "hit_id": hit.id,
                "message": hit.message,
                "role": hit.role,
                "start": hit.start,
                "end": hit.end,
                **self._where(hit.message, hit.start),
                **hit_detail(self.context, hit, window),
            }
        try:
            frag = self.context.fragment(hit_id)
        except KeyError:
            raise ValueError(
                f"no search hit or fragment {hit_id!r}: use a hit_id returned by search_context"
            ) from None
        text = self.context.fragment_text(frag.id)
        limit = max(2 * window, 1)
        return {
            **self._describe(frag),
            "text": text[:limit],
            "truncated": len(text) > limit,
        }

    def _list_fragments(self) -> dict[str, Any]:
        rendered = self.context.render()
        return {
            "count": len(self.context.fragments),
            "fragments": [self._describe(f) for f in self.context.fragments],
            "context_tokens": rendered.total_tokens,
            "original_tokens": rendered.original_total_tokens,
        }

    def _undo_last_operation(self) -> dict[str, Any]:
        op = self.context.undo()
        return {"undone": op.description, "kind": op.kind, "fragment_ids": list(op.fragment_ids)}


def _error(tool: str, message: str) -> dict[str, Any]:
    return {"ok": False, "tool": tool, "error": f"{tool}: {message}"}


def _given(**kwargs: Any) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if v is not None}


def _coerce(param: ToolParam, value: Any) -> Any:
    expected = _JSON_TYPES[param.type]
    if param.type == "integer":
        if isinstance(value, bool):
            raise ValueError(f"{param.name} must be an integer, got {value!r}")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value.strip())
    elif param.type == "boolean" and isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "false"):
            value = lowered == "true"
    if not isinstance(value, expected):
        raise ValueError(f"{param.name} must be a {param.type}, got {value!r}")
    checked: Any = value
    if param.enum is not None and value not in param.enum:
        raise ValueError(f"{param.name} must be one of {list(param.enum)}, got {value!r}")
    if param.minimum is not None and checked < param.minimum:
        raise ValueError(f"{param.name} must be >= {param.minimum}, got {value}")
    if param.maximum is not None and checked > param.maximum:
        raise ValueError(f"{param.name} must be <= {param.maximum}, got {value}")
    return checked


def _validate(spec: ToolSpec, arguments: Mapping[str, Any] | None) -> dict[str, Any]:
    """Check ``arguments`` against ``spec``; the keyword arguments to call it with."""
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, Mapping):
        raise ValueError(f"arguments must be a JSON object, got {type(arguments).__name__}")
    params = {p.name: p for p in spec.params}
    unknown = [k for k in arguments if k not in params]
    if unknown:
        raise ValueError(
            f"unknown argument(s) {unknown}; {spec.name} takes {list(params) or 'no arguments'}"
        )
    kwargs: dict[str, Any] = {}
    for name, param in params.items():
        value = arguments.get(name)
        if value is None:
            if param.required:
                raise ValueError(f"missing required argument {name!r}: {param.description}")
            continue
        kwargs[name] = _coerce(param, value)
    return kwargs
