"""Core data types shared by every capability.

A [`Passage`][ctx_core.types.Passage] is the unit every scorer, reranker and structurizer works on.
Its ``id`` is stable: it comes out of every step exactly as it went in, so the
adapters can map results back to the caller's own documents and nodes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["Passage", "ensure_passages", "stable_id", "validate_query", "validate_top_n"]


def stable_id(text: str, metadata: Mapping[str, Any] | None = None) -> str:
    """Derive a short, deterministic id from a passage's text (and source, if any).

    Examples:
        >>> stable_id("Paris is the capital of France.")
        'p-557be7eca214f188'
    """
    digest = hashlib.sha256(text.encode("utf-8"))
    source = (metadata or {}).get("source")
    if source is not None:
        digest.update(b"\x00" + str(source).encode("utf-8"))
    return "p-" + digest.hexdigest()[:16]


@dataclass(frozen=True)
class Passage:
    """A piece of text the reader LLM may get to read.

    Args:
        text: The passage text. Kept byte for byte.
        id: A stable identifier. When omitted, one is derived from the text
            (and ``metadata["source"]``) with [`stable_id`][ctx_core.types.stable_id].
        metadata: Free-form metadata. Components add their own keys to a copy;
            they never remove or change the caller's keys.
        score: The latest score given to the passage (retrieval or rerank), if any.

    Examples:
        >>> p = Passage("Paris is the capital of France.", id="doc-1")
        >>> p.with_score(0.9).score
        0.9
    """

    text: str
    id: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    score: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise TypeError(f"Passage text must be a str, got {type(self.text).__name__}")
        if not isinstance(self.id, str):
            raise TypeError(f"Passage id must be a str, got {type(self.id).__name__}")
        if not isinstance(self.metadata, dict):
            raise TypeError(f"Passage metadata must be a dict, got {type(self.metadata).__name__}")
        if not self.id:
            object.__setattr__(self, "id", stable_id(self.text, self.metadata))

    def with_score(self, score: float | None) -> Passage:
        """Return a copy with a new score."""
        return replace(self, score=None if score is None else float(score))

    def with_metadata(self, **extra: Any) -> Passage:
        """Return a copy whose metadata has ``extra`` added (the caller's keys are kept)."""
        return replace(self, metadata={**self.metadata, **extra})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``id``, ``text``, ``metadata``, ``score``)."""
        return {"id": self.id, "text": self.text, "metadata": self.metadata, "score": self.score}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Passage:
        """Build a passage from a dict with ``text`` and optional ``id``, ``metadata``, ``score``."""
        if "text" not in data:
            raise ValueError(f"passage record has no 'text' field: keys are {sorted(data)}")
        score = data.get("score")
        return cls(
            text=data["text"],
            id=str(data.get("id") or ""),
            metadata=dict(data.get("metadata") or {}),
            score=None if score is None else float(score),
        )


def validate_query(query: object, argument: str = "query") -> str:
    """Return ``query`` if it is a non-empty string, else raise naming ``argument``."""
    if not isinstance(query, str):
        raise TypeError(f"{argument} must be a str, got {type(query).__name__}")
    if not query.strip():
        raise ValueError(f"{argument} must be a non-empty string")
    return query


def validate_top_n(value: object, argument: str = "top_n") -> int | None:
    """Return ``value`` if it is ``None`` or an ``int`` >= 1, else raise naming ``argument``.

    ``0`` is an error rather than "the default" (a per-call ``0`` used to be replaced
    by the component's own setting); ``bool`` and ``float`` are not counts.

    Examples:
        >>> validate_top_n(3), validate_top_n(None)
        (3, None)
        >>> validate_top_n(0)
        Traceback (most recent call last):
        ...
        ValueError: top_n must be >= 1 or None (keep all), got 0
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{argument} must be an int >= 1 or None, got {value!r}")
    if value < 1:
        raise ValueError(f"{argument} must be >= 1 or None (keep all), got {value}")
    return value


def ensure_passages(
    passages: Iterable[Passage | str] | None, argument: str = "passages"
) -> list[Passage]:
    """Validate a list of passages (plain strings are wrapped) and reject duplicate ids.

    Raises:
        TypeError: ``passages`` is not a sequence of [`Passage`][ctx_core.types.Passage] or ``str``.
        ValueError: two passages share an id (the duplicates are named).
    """
    if passages is None:
        raise TypeError(f"{argument} must be a sequence of Passage or str, got None")
    if isinstance(passages, (str, bytes, Passage)):
        raise TypeError(
            f"{argument} must be a sequence of passages, not a single {type(passages).__name__}"
        )
    result: list[Passage] = []
    for i, item in enumerate(passages):
        if isinstance(item, Passage):
            result.append(item)
        elif isinstance(item, str):
            result.append(Passage(item))
        else:
            raise TypeError(f"{argument}[{i}] must be a Passage or str, got {type(item).__name__}")
    _reject_duplicate_ids(result, argument)
    return result


def _reject_duplicate_ids(passages: Sequence[Passage], argument: str) -> None:
    seen: set[str] = set()
    duplicates: list[str] = []
    for p in passages:
        if p.id in seen and p.id not in duplicates:
            duplicates.append(p.id)
        seen.add(p.id)
    if duplicates:
        shown = ", ".join(repr(d) for d in duplicates[:5])
        more = f" and {len(duplicates) - 5} more" if len(duplicates) > 5 else ""
        raise ValueError(f"{argument} contains duplicate ids: {shown}{more}")
