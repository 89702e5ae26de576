"""The working context: a conversation whose spans can be folded, summarized and restored.

The messages are kept exactly as they arrived and are never reordered or removed
(new ones may be appended). Fragments are spans of them with a display state;
[`WorkingContext.render`][ctx_core.context.working.WorkingContext.render] builds the messages the LLM sees now. Every
fragment operation is recorded and can be undone, and the original is always
recoverable byte for byte with [`WorkingContext.original`][ctx_core.context.working.WorkingContext.original].

Examples:
    >>> from ctx_core.context import WorkingContext
    >>> ctx = WorkingContext([("user", "Intro. The secret code is 4912. Outro.")])
    >>> frag = ctx.fragment_by_markers("The secret", "4912.")
    >>> _ = ctx.fold(frag.id)
    >>> ctx.render().messages[0]["content"].startswith("Intro. [folded fragment")
    True
    >>> _ = ctx.undo()
    >>> ctx.render().messages == ctx.original()
    True
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ctx_core._registry import Configurable, config_value
from ctx_core.context.fragments import (
    ContextMessage,
    Fragment,
    FragmentState,
    Position,
    short_id,
)
from ctx_core.context.segments import window_spans
from ctx_core.tokens import TokenCounter, default_counter

__all__ = ["Operation", "RenderedContext", "WorkingContext"]

logger = logging.getLogger(__name__)

FOLD_MARKER = "[folded fragment {id}{label}: {tokens} tokens hidden]"
FOLD_RUN_MARKER = "[{n} folded fragments {ids}: {tokens} tokens hidden]"
SUMMARY_MARKER = "[summary of fragment {id} ({tokens} tokens): {summary}]"
SHOWN_OPEN = "[fragment {id}]"
SHOWN_CLOSE = "[/fragment {id}]"

MessageLike = ContextMessage | Mapping[str, Any] | tuple[str, str]


@dataclass(frozen=True)
class Operation:
    """One recorded change to the fragments, with what is needed to undo it.

    Attributes:
        kind: ``"fragment"``, ``"summarize"``, ``"fold"``, ``"restore"`` or ``"remove"``.
        fragment_ids: The fragments it touched.
        description: One line saying what it did.
        before: The fragments as they were before it (restored by [`WorkingContext.undo`][ctx_core.context.working.WorkingContext.undo]).
    """

    kind: str
    fragment_ids: tuple[str, ...]
    description: str
    before: Mapping[str, Fragment] = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class RenderedContext:
    """The messages the LLM sees now, with token counts.

    Attributes:
        messages: Chat messages ``{"role", "content"}``, one per original message, in order.
        tokens: Tokens of each rendered message.
        original_tokens: Tokens of each original message.
    """

    messages: list[dict[str, str]]
    tokens: list[int]
    original_tokens: list[int]

    @property
    def total_tokens(self) -> int:
        """Tokens the LLM reads now (message contents only, no chat template)."""
        return sum(self.tokens)

    @property
    def original_total_tokens(self) -> int:
        """Tokens of the original messages."""
        return sum(self.original_tokens)

    def text(self) -> str:
        """The rendered messages as plain text, one ``role: content`` block each."""
        return "\n\n".join(f"{m['role']}: {m['content']}" for m in self.messages)


class WorkingContext(Configurable):
    """An append-only conversation with foldable, summarizable fragments.

    Args:
        messages: Initial messages: [`ContextMessage`][ctx_core.context.fragments.ContextMessage], ``{"role", "content"}``
            mappings (``"text"`` is accepted for ``"content"``) or ``(role, text)`` pairs.
        counter: Token counter for [`render`][ctx_core.context.working.WorkingContext.render] (default: the shared ``cl100k_base`` one).

    Examples:
        >>> ctx = WorkingContext.from_text("one two three")
        >>> len(ctx), ctx.messages[0].role
        (1, 'user')
    """

    def __init__(
        self, messages: Iterable[MessageLike] = (), *, counter: TokenCounter | None = None
    ) -> None:
        self._messages: list[ContextMessage] = []
        self._fragments: dict[str, Fragment] = {}
        self._history: list[Operation] = []
        self._counter = counter
        self._counter_given = counter is not None
        self._token_cache: dict[int, int] = {}
        self.hits: dict[str, Any] = {}
        """Search hits by id (filled by the search tools; kept so details can be fetched later)."""
        self.cache: dict[str, Any] = {}
        """Scratch space for tools (e.g. embeddings of messages, which never change)."""
        for i, message in enumerate(messages):
            self.append(message, argument=f"messages[{i}]")

    def config(self) -> dict[str, Any]:
        """The settings (the token counter when one was given); never the messages or fragments.

        ``WorkingContext.from_config(ctx.config())`` is an empty context with the same settings.
        """
        return {
            "type": "WorkingContext",
            "counter": config_value(self._counter, "counter") if self._counter_given else None,
        }

    @classmethod
    def from_text(cls, text: str, role: str = "user", **kwargs: Any) -> WorkingContext:
        """A context of one message."""
        return cls([ContextMessage(role, text)], **kwargs)

    # -- messages -----------------------------------------------------------

    def append(
        self,
        message: MessageLike | str,
        text: str | None = None,
        *,
        metadata: Mapping[str, Any] | None = None,
        argument: str = "message",
    ) -> int:
        """Append a message and return its index; existing messages never change.

        Call as ``append(ContextMessage(...))``, ``append({"role", "content"})``,
        ``append((role, text))`` or ``append(role, text)``.
        """
        if isinstance(message, str):
            if text is None:
                raise TypeError("append(role, text) needs the text")
            item = ContextMessage(message, text, metadata or {})
        elif text is not None:
            raise TypeError("text is given only with a role string: append(role, text)")
        else:
            item = self._coerce(message, argument)
            if metadata:
                item = ContextMessage(item.role, item.text, {**item.metadata, **metadata})
        self._messages.append(item)
        return len(self._messages) - 1

    @staticmethod
    def _coerce(message: MessageLike, argument: str) -> ContextMessage:
        if isinstance(message, ContextMessage):
            return message
        if isinstance(message, tuple):
            if len(message) != 2:
                raise TypeError(f"{argument} must be a (role, text) pair")
            return ContextMessage(message[0], message[1])
        if isinstance(message, Mapping):
            if "role" not in message or ("content" not in message and "text" not in message):
                raise TypeError(f"{argument} must have 'role' and 'content'")
            content = message["content"] if "content" in message else message["text"]
            return ContextMessage(message["role"], content, message.get("metadata") or {})
        raise TypeError(
            f"{argument} must be a ContextMessage, a mapping or a (role, text) pair, "
            f"got {type(message).__name__}"
        )

    @property
    def messages(self) -> tuple[ContextMessage, ...]:
        """The original messages, in order."""
        return tuple(self._messages)

    def __len__(self) -> int:
        return len(self._messages)

    def original(self) -> list[dict[str, str]]:
        """The original messages as chat messages, exactly as they arrived."""
        return [m.to_dict() for m in self._messages]

    @property
    def counter(self) -> TokenCounter:
        """The token counter used for renders and windows."""
        if self._counter is None:
            self._counter = default_counter()
        return self._counter

    # -- fragments ----------------------------------------------------------

    @property
    def fragments(self) -> list[Fragment]:
        """All fragments, in the order of the conversation."""
        return sorted(self._fragments.values(), key=lambda f: f.start)

    def fragment(self, fragment_id: str) -> Fragment:
        """The fragment with this id; ``KeyError`` naming the known ids otherwise."""
        try:
            return self._fragments[fragment_id]
        except KeyError:
            known = ", ".join(f.id for f in self.fragments[:20]) or "none yet"
            raise KeyError(f"no fragment {fragment_id!r} (known ids: {known})") from None

    def fragment_at(self, position: Position) -> Fragment | None:
        """The fragment containing ``position``, if any."""
        for frag in self._fragments.values():
            if frag.start <= position < frag.end:
                return frag
        return None

    def text_between(self, start: Position, end: Position) -> list[tuple[int, str]]:
        """The original text of ``[start, end)`` as ``(message index, text)`` slices."""
        self._check_span(start, end)
        slices = []
        for index in range(start[0], end[0] + 1):
            text = self._messages[index].text
            s = start[1] if index == start[0] else 0
            e = end[1] if index == end[0] else len(text)
            slices.append((index, text[s:e]))
        return slices

    def fragment_text(self, fragment_id: str) -> str:
        """The original text of a fragment (slices of several messages joined by a blank line)."""
        frag = self.fragment(fragment_id)
        return "\n\n".join(text for _, text in self.text_between(frag.start, frag.end))

    def fragment_tokens(self, fragment_id: str) -> int:
        """Tokens of a fragment's original text."""
        frag = self.fragment(fragment_id)
        return sum(self.counter.count(t) for _, t in self.text_between(frag.start, frag.end))

    def add_fragment(self, start: Position, end: Position, *, label: str = "") -> Fragment:
        """Make ``[start, end)`` a fragment (shown) and return it.

        Raises:
            ValueError: The span is empty, out of range or overlaps an existing fragment.
        """
        frag = self._new_fragment(start, end, label, taken=set())
        self._record("fragment", (frag.id,), f"created fragment {frag.id}")
        self._fragments[frag.id] = frag
        return frag

    def fragment_by_markers(
        self,
        start_marker: str,
        end_marker: str,
        *,
        message: int | None = None,
        include_markers: bool = True,
    ) -> Fragment:
        """Make a fragment from the first ``start_marker`` to the next ``end_marker`` after it.

        The first occurrence whose span is still free (not inside a fragment) is used; the
        span may run across messages unless ``message`` limits the search to one.

        Args:
            start_marker: Text where the fragment starts.
            end_marker: Text where it ends (searched after the start marker).
            message: Only look inside this message index.
            include_markers: Whether the markers themselves belong to the fragment.

        Raises:
            ValueError: A marker is empty or not found, or no free span exists.
        """
        if not start_marker:
            raise ValueError("start_marker must not be empty")
        if not end_marker:
            raise ValueError("end_marker must not be empty")
        indices = self._message_indices(message)
        found_start = False
        for index in indices:
            text = self._messages[index].text
            at = text.find(start_marker)
            while at != -1:
                found_start = True
                after = (index, at + len(start_marker))
                found = self._find_after(end_marker, after, indices)
                if found is None:
                    break
                end_index, end_at = found
                if include_markers:
                    span = ((index, at), (end_index, end_at + len(end_marker)))
                else:
                    span = (after, (end_index, end_at))
                if span[0] < span[1] and not self._overlapping(*span):
                    label = " ".join(start_marker.split())[:40]
                    return self.add_fragment(span[0], span[1], label=label)
                at = text.find(start_marker, at + 1)
        where = f"message {message}" if message is not None else "the context"
        if not found_start:
            raise ValueError(f"start_marker {start_marker!r} not found in {where}")
        raise ValueError(
            f"no free span from {start_marker!r} to {end_marker!r} in {where} "
            "(end marker missing after it, or the span overlaps an existing fragment)"
        )

    def fragment_by_window(
        self,
        window_tokens: int,
        *,
        message: int | None = None,
        include_tool_traffic: bool = False,
    ) -> list[Fragment]:
        """Cut the text not yet in a fragment into fragments of at most ``window_tokens`` tokens.

        Cuts fall between clauses or words (see [`window_spans`][ctx_core.context.segments.window_spans]);
        fragments never cross messages. One operation, undone as a whole.

        Args:
            window_tokens: Largest fragment in tokens (>= 1).
            message: Only cut this message (default: every message except system
                messages and agent tool traffic).
            include_tool_traffic: Also cut an agent's tool calls and results.

        Raises:
            ValueError: ``window_tokens`` < 1, a bad message index, or nothing left to cut.
        """
        if not isinstance(window_tokens, int) or window_tokens < 1:
            raise ValueError(f"window_tokens must be an integer >= 1, got {window_tokens!r}")
        if message is not None:
            indices = self._message_indices(message)
        else:
            indices = [
                i
                for i, m in enumerate(self._messages)
                if m.role != "system" and (include_tool_traffic or not m.is_tool_traffic)
            ]
        created: list[Fragment] = []
        taken: set[str] = set()
        for index in indices:
            text = self._messages[index].text
            for s, e in self._free_ranges(index):
                for a, b in window_spans(text, window_tokens, self.counter.count, s, e):
                    if not text[a:b].strip():
                        continue
                    frag = self._new_fragment((index, a), (index, b), "", taken)
                    taken.add(frag.id)
                    created.append(frag)
        if not created:
            raise ValueError("nothing left to fragment: all text is already in fragments")
        ids = tuple(f.id for f in created)
        self._record("fragment", ids, f"created {len(ids)} fragments of <= {window_tokens} tokens")
        for frag in created:
            self._fragments[frag.id] = frag
        return created

    def summarize(self, fragment_id: str, summary: str, *, focus: str | None = None) -> Fragment:
        """Show ``summary`` in place of a fragment (the original text is kept)."""
        if not isinstance(summary, str) or not summary.strip():
            raise ValueError("summary must be a non-empty string")
        frag = self.fragment(fragment_id)
        new = frag.with_state(FragmentState.SUMMARIZED, summary=summary.strip(), focus=focus)
        self._record("summarize", (frag.id,), f"summarized fragment {frag.id}")
        self._fragments[frag.id] = new
        return new

    def fold(self, fragment_id: str) -> Fragment:
        """Hide a fragment behind a one-line marker."""
        frag = self.fragment(fragment_id)
        if frag.state is FragmentState.FOLDED:
            raise ValueError(f"fragment {frag.id} is already folded")
        self._record("fold", (frag.id,), f"folded fragment {frag.id}")
        self._fragments[frag.id] = frag.with_state(FragmentState.FOLDED)
        return self._fragments[frag.id]

    def fold_all(self, fragment_ids: Sequence[str] | None = None) -> list[Fragment]:
        """Fold several fragments (default: every fragment) in one operation."""
        ids = [f.id for f in self.fragments] if fragment_ids is None else list(fragment_ids)
        frags = [self.fragment(i) for i in ids]
        self._record("fold", tuple(ids), f"folded {len(ids)} fragments")
        for frag in frags:
            self._fragments[frag.id] = frag.with_state(FragmentState.FOLDED)
        return [self._fragments[i] for i in ids]

    def restore_all(self, fragment_ids: Sequence[str] | None = None) -> list[Fragment]:
        """Show several fragments (default: every fragment) again, in one operation."""
        ids = [f.id for f in self.fragments] if fragment_ids is None else list(fragment_ids)
        frags = [self.fragment(i) for i in ids]
        self._record("restore", tuple(ids), f"restored {len(ids)} fragments")
        for frag in frags:
            self._fragments[frag.id] = frag.with_state(FragmentState.SHOWN)
        return [self._fragments[i] for i in ids]

    def restore(self, fragment_id: str) -> Fragment:
        """Show a fragment's original text again (its summary, if any, is kept)."""
        frag = self.fragment(fragment_id)
        if frag.state is FragmentState.SHOWN:
            raise ValueError(f"fragment {frag.id} is already shown")
        self._record("restore", (frag.id,), f"restored fragment {frag.id}")
        self._fragments[frag.id] = frag.with_state(FragmentState.SHOWN)
        return self._fragments[frag.id]

    def remove_fragment(self, fragment_id: str) -> Fragment:
        """Forget a fragment (its text is shown as plain text again)."""
        frag = self.fragment(fragment_id)
        self._record("remove", (frag.id,), f"removed fragment {frag.id}")
        del self._fragments[frag.id]
        return frag

    # -- history ------------------------------------------------------------

    @property
    def history(self) -> list[Operation]:
        """The operations not undone, oldest first."""
        return list(self._history)

    def undo(self) -> Operation:
        """Undo the latest operation and return it.

        Raises:
            ValueError: Nothing to undo.
        """
        if not self._history:
            raise ValueError("nothing to undo")
        op = self._history.pop()
        self._fragments = dict(op.before)
        return op

    def _record(self, kind: str, ids: tuple[str, ...], description: str) -> None:
        self._history.append(Operation(kind, ids, description, dict(self._fragments)))

    # -- rendering ----------------------------------------------------------

    def render(self, *, show_ids: bool = False) -> RenderedContext:
        """The messages the LLM sees now.

        Folded fragments become a one-line marker, summarized ones their summary;
        a fragment across messages leaves its marker in its first message and the
        later parts empty. Message count and order never change.

        Args:
            show_ids: Also wrap shown fragments in ``[fragment id]...[/fragment id]``
                so a model can see where they are.
        """
        by_message: dict[int, list[Fragment]] = {}
        for frag in self.fragments:
            if frag.state is FragmentState.SHOWN and not show_ids:
                continue
            for index in range(frag.start[0], frag.end[0] + 1):
                by_message.setdefault(index, []).append(frag)
        messages, tokens, original_tokens = [], [], []
        for index, message in enumerate(self._messages):
            content = self._render_message(index, by_message.get(index, []))
            messages.append({"role": message.role, "content": content})
            original_tokens.append(self._original_tokens(index))
            tokens.append(
                original_tokens[-1] if content == message.text else self.counter.count(content)
            )
        return RenderedContext(messages, tokens, original_tokens)

    def _render_message(self, index: int, frags: list[Fragment]) -> str:
        text = self._messages[index].text
        if not frags:
            return text
        parts: list[str] = []
        cursor = 0
        run: list[Fragment] = []  # adjacent folded fragments of this message, shown as one marker

        def flush() -> None:
            if run:
                parts.append(self._fold_marker(run))
                run.clear()

        for frag in frags:
            s = frag.start[1] if frag.start[0] == index else 0
            e = frag.end[1] if frag.end[0] == index else len(text)
            single = frag.start[0] == frag.end[0]
            if frag.state is FragmentState.FOLDED and single and run and not text[cursor:s].strip():
                run.append(frag)  # only whitespace since the previous folded one: same marker
                cursor = e
                continue
            flush()
            parts.append(text[cursor:s])
            first = frag.start[0] == index
            last = frag.end[0] == index
            if frag.state is FragmentState.SHOWN:
                parts.append(
                    (SHOWN_OPEN.format(id=frag.id) if first else "")
                    + text[s:e]
                    + (SHOWN_CLOSE.format(id=frag.id) if last else "")
                )
            elif frag.state is FragmentState.SUMMARIZED:
                if first:
                    parts.append(
                        SUMMARY_MARKER.format(
                            id=frag.id, tokens=self.fragment_tokens(frag.id), summary=frag.summary
                        )
                    )
            elif first:
                run.append(frag)
            cursor = e
        flush()
        parts.append(text[cursor:])
        return "".join(parts)

    def _fold_marker(self, run: list[Fragment]) -> str:
        tokens = sum(self.fragment_tokens(f.id) for f in run)
        if len(run) == 1:
            label = f" ({run[0].label})" if run[0].label else ""
            return FOLD_MARKER.format(id=run[0].id, tokens=tokens, label=label)
        ids = ", ".join(f.id for f in run) if len(run) <= 4 else f"{run[0].id} ... {run[-1].id}"
        return FOLD_RUN_MARKER.format(n=len(run), ids=ids, tokens=tokens)

    def _original_tokens(self, index: int) -> int:
        if index not in self._token_cache:
            self._token_cache[index] = self.counter.count(self._messages[index].text)
        return self._token_cache[index]

    def original_tokens(self) -> int:
        """Tokens of all original messages."""
        return sum(self._original_tokens(i) for i in range(len(self._messages)))

    # -- helpers ------------------------------------------------------------

    def _message_indices(self, message: int | None) -> list[int]:
        if message is None:
            return list(range(len(self._messages)))
        if isinstance(message, bool) or not isinstance(message, int):
            raise TypeError(f"message must be an integer index, got {message!r}")
        if not 0 <= message < len(self._messages):
            raise ValueError(
                f"message {message} out of range: the context has {len(self._messages)} messages "
                f"(0..{len(self._messages) - 1})"
            )
        return [message]

    def _check_span(self, start: Position, end: Position) -> None:
        for name, (index, offset) in (("start", start), ("end", end)):
            if not 0 <= index < len(self._messages):
                raise ValueError(f"{name} message {index} out of range")
            if not 0 <= offset <= len(self._messages[index].text):
                raise ValueError(f"{name} offset {offset} outside message {index}")
        if not start < end:
            raise ValueError(f"empty span: start {start} is not before end {end}")

    def _overlapping(self, start: Position, end: Position) -> Fragment | None:
        for frag in self._fragments.values():
            if frag.overlaps(start, end):
                return frag
        return None

    def _new_fragment(
        self, start: Position, end: Position, label: str, taken: set[str]
    ) -> Fragment:
        start, end = (int(start[0]), int(start[1])), (int(end[0]), int(end[1]))
        self._check_span(start, end)
        other = self._overlapping(start, end)
        if other is not None:
            raise ValueError(f"span {start}-{end} overlaps fragment {other.id}")
        seed = f"{start[0]}:{start[1]}:{end[0]}:{end[1]}"
        fid, salt = short_id(seed), 0
        while fid in self._fragments or fid in taken:
            salt += 1
            fid = short_id(f"{seed}#{salt}")
        return Fragment(fid, start, end, label=label)

    def _find_after(self, marker: str, after: Position, indices: list[int]) -> Position | None:
        for index in indices:
            if index < after[0]:
                continue
            text = self._messages[index].text
            at = text.find(marker, after[1] if index == after[0] else 0)
            if at != -1:
                return (index, at)
        return None

    def _free_ranges(self, index: int) -> Iterator[tuple[int, int]]:
        """Character ranges of message ``index`` not covered by any fragment."""
        length = len(self._messages[index].text)
        covered = []
        for frag in self._fragments.values():
            if frag.start[0] <= index <= frag.end[0]:
                s = frag.start[1] if frag.start[0] == index else 0
                e = frag.end[1] if frag.end[0] == index else length
                covered.append((s, e))
        cursor = 0
        for s, e in sorted(covered):
            if s > cursor:
                yield cursor, s
            cursor = max(cursor, e)
        if cursor < length:
            yield cursor, length
