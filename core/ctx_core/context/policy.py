"""A scripted policy: the same context tools, called in a fixed order without an LLM deciding.

It separates the quality of the tools from the quality of the model that drives
them: fragment the long messages, fold everything, run a fixed list of searches
(e.g. the newest mention of each key), optionally read each hit's surroundings.
Every call and result is appended to the context exactly as an agent's would be,
so a reader LLM then answers from a short context of markers and hits.

Examples:
    >>> from ctx_core.context import ContextTools, WorkingContext
    >>> from ctx_core.context.policy import ScriptedPolicy
    >>> ctx = WorkingContext([("user", "bird: kea; fruit: fig; bird: emu; fruit: lime")])
    >>> records = ScriptedPolicy.last_update(["bird"], window_tokens=4).run(ContextTools(ctx))
    >>> [r.name for r in records]
    ['fragment_context', 'fold_fragment', 'search_context']
    >>> records[-1].result["hits"][0]["snippet"]
    'bird: emu;'
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ctx_core.context.agent import ToolCallRecord, call_text, record_tool_call
from ctx_core.context.tools import ContextTools, format_tool_result

__all__ = ["ScriptedPolicy", "question_last"]


@dataclass
class ScriptedPolicy:
    """Fragment, fold, then search, with fixed arguments.

    Attributes:
        searches: Arguments of each ``search_context`` call, in order.
        window_tokens: Size of the fragments cut from the long messages (``None``: do not
            fragment or fold).
        detail_window: When set, call ``get_search_detail`` with this window on every hit.
        record: Append the search (and detail) calls and results to the context, as an
            agent's would be, so a reader LLM sees the hits.
        record_bookkeeping: Also append the fragment and fold calls and their results.
        formatter: How results are written into the context.
        restore_hits: After each search, restore the folded or summarized fragments that
            hold its hits (one ``restore_fragment`` call), so the reader sees their
            original text again, byte for byte.
    """

    searches: Sequence[Mapping[str, Any]] = field(default_factory=list)
    window_tokens: int | None = 200
    detail_window: int | None = None
    record: bool = True
    record_bookkeeping: bool = False
    formatter: Callable[[Mapping[str, Any]], str] = format_tool_result
    restore_hits: bool = False

    @classmethod
    def last_update(
        cls,
        keys: Sequence[str],
        *,
        pattern: str = "{key}:",
        window: int = 80,
        window_tokens: int | None = 200,
        **options: Any,
    ) -> ScriptedPolicy:
        """Search the newest mention of each key (e.g. ``"bird:"``), one hit each.

        The snippet of a hit is its clause (``"bird: emu;"``), cut to ``window`` characters
        on each side of the match.

        ``options`` set the other fields (``record_bookkeeping``, ``formatter``, ...).
        """
        searches = [
            {
                "query": pattern.format(key=key),
                "newest_first": True,
                "max_results": 1,
                "window": window,
            }
            for key in keys
        ]
        return cls(searches=searches, window_tokens=window_tokens, **options)

    @classmethod
    def search_terms(
        cls,
        queries: Sequence[str],
        *,
        mode: str = "exact",
        max_results: int = 10,
        window: int = 80,
        window_tokens: int | None = 200,
        detail_window: int | None = None,
        **options: Any,
    ) -> ScriptedPolicy:
        """One search per query, in ``mode`` (``options`` set the other fields)."""
        searches = [
            {"query": q, "mode": mode, "max_results": max_results, "window": window}
            for q in queries
        ]
        return cls(
            searches=searches, window_tokens=window_tokens, detail_window=detail_window, **options
        )

    def steps(self) -> Generator[tuple[str, dict[str, Any]], Mapping[str, Any], None]:
        """The script as a generator of ``(tool name, arguments)``; send each call's result back.

        This is the script without a context of its own: `run` drives it with
        `ContextTools`, and an agent framework can drive it one model call at a
        time (each yielded step becomes a tool call; its result is sent back).

        Examples:
            >>> plan = ScriptedPolicy.search_terms(["kea"], window_tokens=None).steps()
            >>> next(plan)[0]
            'search_context'
            >>> plan.send({"ok": True, "hits": []})
            Traceback (most recent call last):
            ...
            StopIteration
        """
        if self.window_tokens is not None:
            made = yield "fragment_context", {"window_tokens": self.window_tokens}
            if made.get("ok"):
                yield "fold_fragment", {"fragment_id": "all"}
        for arguments in self.searches:
            found = yield "search_context", dict(arguments)
            if not found.get("ok"):
                continue
            hits = list(found.get("hits", []))
            if self.detail_window is not None:
                for hit in hits:
                    yield (
                        "get_search_detail",
                        {"hit_id": hit["hit_id"], "window": self.detail_window},
                    )
            if self.restore_hits:
                hidden = [
                    hit["fragment_id"]
                    for hit in hits
                    if hit.get("fragment_id") and hit.get("fragment_state") != "shown"
                ]
                if hidden:
                    yield "restore_fragment", {"fragment_id": ",".join(dict.fromkeys(hidden))}

    def next_call(
        self, done: Sequence[tuple[str, Mapping[str, Any]]] = ()
    ) -> tuple[str, dict[str, Any]] | None:
        """The script's next call after the calls ``done`` (each its name and result), or ``None``.

        This replays `steps`, so a caller that keeps no state (a chat model given the
        conversation so far) can follow the script.

        Raises:
            ValueError: ``done`` is not the script's calls (a name differs, or the script
                ended before them).

        Examples:
            >>> policy = ScriptedPolicy.last_update(["bird"], window_tokens=None)
            >>> policy.next_call()
            ('search_context', {'query': 'bird:', 'newest_first': True, 'max_results': 1, 'window': 80})
            >>> policy.next_call([("search_context", {"ok": True, "hits": []})]) is None
            True
        """
        plan = self.steps()
        step: tuple[str, dict[str, Any]] | None
        try:
            step = next(plan)
        except StopIteration:
            step = None
        for position, (name, result) in enumerate(done):
            if step is None:
                raise ValueError(f"the script has {position} calls but {len(done)} were made")
            if name != step[0]:
                raise ValueError(f"call {position} is {name!r} where the script calls {step[0]!r}")
            try:
                step = plan.send(result)
            except StopIteration:
                step = None
        return step

    def run(self, tools: ContextTools) -> list[ToolCallRecord]:
        """Run the script on ``tools.context``; the records of every call, in order."""
        records: list[ToolCallRecord] = []
        plan = self.steps()
        try:
            name, arguments = next(plan)
            while True:
                record = ToolCallRecord(name, dict(arguments), tools.call(name, arguments))
                records.append(record)
                bookkeeping = name in ("fragment_context", "fold_fragment")
                if self.record and (self.record_bookkeeping or not bookkeeping):
                    record_tool_call(
                        tools.context, call_text(name, arguments), record, self.formatter
                    )
                name, arguments = plan.send(record.result)
        except StopIteration:
            pass
        return records


def question_last(prompt: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    """``prompt`` with its latest user message moved to the end (after the tool traffic).

    A reader answering after a scripted policy's tool calls reads the question last, as
    in the context benchmark (where the policy runs before the question is asked);
    otherwise a small model tends to continue the pattern of tool calls.

    Examples:
        >>> question_last([{"role": "user", "content": "doc"}, {"role": "user", "content": "q?"},
        ...     {"role": "assistant", "content": "<tool_call>...</tool_call>"},
        ...     {"role": "tool", "content": "hits"}])[-1]
        {'role': 'user', 'content': 'q?'}
    """
    messages = [dict(m) for m in prompt]
    users = [i for i, m in enumerate(messages) if m["role"] == "user"]
    if users and users[-1] < len(messages) - 1:
        messages.append(messages.pop(users[-1]))
    return messages
