"""Messages and fragments of a working context.

A [`ContextMessage`][ctx_core.context.fragments.ContextMessage] is one message of the conversation, kept exactly as it
arrived. A [`Fragment`][ctx_core.context.fragments.Fragment] is a span of the conversation (inside one message or
across several) with a short stable id and a display state: shown, summarized
or folded.

Examples:
    >>> from ctx_core.context.fragments import ContextMessage, FragmentState
    >>> ContextMessage("user", "hello").role
    'user'
    >>> FragmentState("folded") is FragmentState.FOLDED
    True
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from types import MappingProxyType
from typing import Any

__all__ = [
    "ROLES",
    "TOOL_TRAFFIC",
    "ContextMessage",
    "Fragment",
    "FragmentState",
    "Position",
    "short_id",
]

ROLES = ("system", "user", "assistant", "tool")

#: ``metadata["agent"]`` values that mark an agent's own tool calls, tool results and
#: notices. Searching and window fragmentation skip these messages by default.
TOOL_TRAFFIC = ("tool_call", "tool_result", "notice")

#: A place in the conversation: (message index, character offset in that message).
Position = tuple[int, int]


def short_id(seed: str, length: int = 6, prefix: str = "") -> str:
    """A deterministic short hex id of ``seed`` (``prefix`` + hex digits, ``length`` in all).

    Examples:
        >>> short_id("0:0:0:5")
        '65e596'
        >>> len(short_id("x", prefix="h"))
        6
    """
    digits = length - len(prefix)
    if digits < 1:
        raise ValueError(f"length {length} leaves no room after prefix {prefix!r}")
    return prefix + hashlib.sha1(seed.encode("utf-8")).hexdigest()[:digits]


@dataclass(frozen=True)
class ContextMessage:
    """One message of the conversation, kept byte for byte.

    Attributes:
        role: ``"system"``, ``"user"``, ``"assistant"`` or ``"tool"``.
        text: The message text, never modified.
        metadata: Free-form annotations (e.g. ``{"agent": "tool_call"}`` on an
            agent's own tool traffic).
    """

    role: str
    text: str
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {list(ROLES)}, got {self.role!r}")
        if not isinstance(self.text, str):
            raise TypeError(f"text must be a str, got {type(self.text).__name__}")
        if not isinstance(self.metadata, Mapping):
            raise TypeError(f"metadata must be a mapping, got {type(self.metadata).__name__}")
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))

    @property
    def is_tool_traffic(self) -> bool:
        """Whether this message is an agent's own tool call, tool result or notice."""
        return self.metadata.get("agent") in TOOL_TRAFFIC

    def to_dict(self) -> dict[str, str]:
        """The message as a chat message ``{"role", "content"}``."""
        return {"role": self.role, "content": self.text}


class FragmentState(str, Enum):
    """How a fragment is shown to the LLM."""

    SHOWN = "shown"
    """The original text, unchanged."""
    SUMMARIZED = "summarized"
    """A summary stands in for the text (the original is kept)."""
    FOLDED = "folded"
    """A one-line marker stands in for the text (the original is kept)."""


@dataclass(frozen=True)
class Fragment:
    """A span of the conversation with a stable id and a display state.

    Attributes:
        id: Six hex characters, derived from the span, so the same span always
            gets the same id.
        start: Where the span starts: (message index, character offset).
        end: Where it ends, exclusive: (message index, character offset).
        state: Shown, summarized or folded.
        summary: The latest summary, kept beside the original (also after a restore).
        focus: What the summary was asked to focus on.
        label: A short free-form name (e.g. the marker that opened it).
    """

    id: str
    start: Position
    end: Position
    state: FragmentState = FragmentState.SHOWN
    summary: str | None = None
    focus: str | None = None
    label: str = ""

    def overlaps(self, start: Position, end: Position) -> bool:
        """Whether this fragment shares any character with ``[start, end)``."""
        return self.start < end and start < self.end

    def with_state(self, state: FragmentState, **changes: Any) -> Fragment:
        """A copy in ``state`` (and any other field changes)."""
        return replace(self, state=state, **changes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (positions as message/offset pairs)."""
        return {
            "id": self.id,
            "state": self.state.value,
            "start_message": self.start[0],
            "start": self.start[1],
            "end_message": self.end[0],
            "end": self.end[1],
            "label": self.label,
            "summary": self.summary,
        }
