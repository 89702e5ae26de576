"""Search over the original text of a working context: exact, regex or semantic.

Searches always read the original messages, so text inside folded or summarized
fragments is found too; each hit says which fragment holds it and in what state.
Hits get short stable ids (``"h"`` + 5 hex digits, from their position) and are
kept on the context so their surroundings can be fetched later.

Examples:
    >>> from ctx_core.context import WorkingContext
    >>> from ctx_core.context.search import search_context
    >>> ctx = WorkingContext([("user", "bird: kea; bird: emu; fruit: fig")])
    >>> [ctx.messages[0].text[h.start:h.end] for h in search_context(ctx, "bird:")]
    ['bird:', 'bird:']
    >>> search_context(ctx, "bird:", newest_first=True, max_results=1)[0].start
    11
"""

from __future__ import annotations

import bisect
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ctx_core.context.fragments import short_id
from ctx_core.context.segments import clause_spans

if TYPE_CHECKING:
    from ctx_core.context.working import WorkingContext
    from ctx_core.embeddings import Embedder

__all__ = [
    "MODES",
    "SCOPES",
    "SearchHit",
    "default_embedder",
    "hit_detail",
    "hit_snippet",
    "search_context",
]

logger = logging.getLogger(__name__)

MODES = ("exact", "regex", "semantic")
SCOPES = ("all", "user", "assistant")
MAX_RESULTS = 50

_EMBEDDER: Embedder | None = None


def default_embedder() -> Embedder:
    """The shared default embedder (packaged all-MiniLM-L6-v2), loaded on first use."""
    global _EMBEDDER
    if _EMBEDDER is None:
        from ctx_core.embeddings import Embedder

        _EMBEDDER = Embedder()
    return _EMBEDDER


@dataclass(frozen=True)
class SearchHit:
    """One match in the original text.

    Attributes:
        id: ``"h"`` + 5 hex digits, derived from the position (stable across searches).
        message: Index of the message holding the match.
        role: That message's role.
        start: Character offset where the match starts in the message.
        end: Character offset where it ends (exclusive).
        mode: ``"exact"``, ``"regex"`` or ``"semantic"``.
        query: What was searched for.
        score: Cosine similarity for semantic hits, else ``None``.
    """

    id: str
    message: int
    role: str
    start: int
    end: int
    mode: str
    query: str
    score: float | None = None


def _scope_indices(context: WorkingContext, scope: str, include_tool_traffic: bool) -> list[int]:
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {list(SCOPES)}, got {scope!r}")
    return [
        i
        for i, m in enumerate(context.messages)
        if (scope == "all" or m.role == scope) and (include_tool_traffic or not m.is_tool_traffic)
    ]


def _register(context: WorkingContext, message: int, start: int, end: int, **kw: Any) -> SearchHit:
    seed = f"{message}:{start}:{end}"
    hid, salt = short_id(seed, prefix="h"), 0
    while hid in context.hits:
        old = context.hits[hid]
        if (old.message, old.start, old.end) == (message, start, end):
            break
        salt += 1
        hid = short_id(f"{seed}#{salt}", prefix="h")
    hit = SearchHit(hid, message, context.messages[message].role, start, end, **kw)
    context.hits[hid] = hit
    return hit


def search_context(
    context: WorkingContext,
    query: str,
    *,
    scope: str = "all",
    mode: str = "exact",
    max_results: int = 10,
    newest_first: bool = False,
    case_sensitive: bool = False,
    embedder: Embedder | None = None,
    include_tool_traffic: bool = False,
) -> list[SearchHit]:
    """Find ``query`` in the original messages.

    Args:
        context: The working context.
        query: Text (exact), a Python regular expression (regex) or a description (semantic).
        scope: ``"all"``, ``"user"`` or ``"assistant"`` messages.
        mode: ``"exact"``, ``"regex"`` or ``"semantic"``.
        max_results: At most this many hits (1-50).
        newest_first: For exact and regex, list the latest matches first (semantic hits
            are ordered by similarity).
        case_sensitive: For exact and regex.
        embedder: For semantic mode (default: :func:`default_embedder`).
        include_tool_traffic: Also search an agent's own tool calls and results.

    Raises:
        ValueError: Empty query, bad mode/scope/max_results, or an invalid regex.
    """
    if not isinstance(query, str) or not query.strip():
        raise ValueError("query must be a non-empty string")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
    if isinstance(max_results, bool) or not isinstance(max_results, int):
        raise TypeError(f"max_results must be an integer, got {max_results!r}")
    if not 1 <= max_results <= MAX_RESULTS:
        raise ValueError(f"max_results must be between 1 and {MAX_RESULTS}, got {max_results}")
    indices = _scope_indices(context, scope, include_tool_traffic)
    if mode == "semantic":
        return _semantic(context, query, indices, max_results, embedder or default_embedder())
    flags = 0 if case_sensitive else re.IGNORECASE
    pattern_text = query if mode == "regex" else re.escape(query)
    try:
        pattern = re.compile(pattern_text, flags)
    except re.error as err:
        raise ValueError(f"invalid regular expression {query!r}: {err}") from err
    order = reversed(indices) if newest_first else iter(indices)
    hits: list[SearchHit] = []
    for index in order:
        spans = [
            (m.start(), m.end())
            for m in pattern.finditer(context.messages[index].text)
            if m.end() > m.start()
        ]
        if newest_first:
            spans.reverse()
        for s, e in spans:
            hits.append(_register(context, index, s, e, mode=mode, query=query))
            if len(hits) >= max_results:
                return hits
    return hits


def _semantic(
    context: WorkingContext, query: str, indices: list[int], k: int, embedder: Embedder
) -> list[SearchHit]:
    units: list[tuple[int, int, int]] = []
    vectors = []
    for index in indices:
        key = f"semantic:{getattr(embedder, 'model_name', id(embedder))}:{index}"
        if key not in context.cache:
            text = context.messages[index].text
            spans = [(s, e) for s, e in clause_spans(text) if text[s:e].strip()]
            # Trailing whitespace is not part of a unit.
            spans = [(s, s + len(text[s:e].rstrip())) for s, e in spans]
            matrix = embedder.embed([text[s:e] for s, e in spans]) if spans else None
            context.cache[key] = (spans, matrix)
        spans, matrix = context.cache[key]
        if matrix is None:
            continue
        units.extend((index, s, e) for s, e in spans)
        vectors.append(matrix)
    if not units:
        return []
    scores = np.concatenate(vectors) @ embedder.embed_query(query)
    best = np.argsort(-scores, kind="stable")[:k]
    return [
        _register(
            context,
            units[i][0],
            units[i][1],
            units[i][2],
            mode="semantic",
            query=query,
            score=round(float(scores[i]), 4),
        )
        for i in best
    ]


def hit_snippet(context: WorkingContext, hit: SearchHit, window: int) -> str:
    """The clause (or sentence) around a hit, cut to at most ``window`` characters on each side."""
    if isinstance(window, bool) or not isinstance(window, int) or window < 0:
        raise ValueError(f"window must be an integer >= 0, got {window!r}")
    key = f"clauses:{hit.message}"
    if key not in context.cache:
        context.cache[key] = clause_spans(context.messages[hit.message].text)
    spans: list[tuple[int, int]] = context.cache[key]
    starts = [s for s, _ in spans]
    first = spans[max(bisect.bisect_right(starts, hit.start) - 1, 0)]
    last = spans[max(bisect.bisect_right(starts, max(hit.end - 1, hit.start)) - 1, 0)]
    text = context.messages[hit.message].text
    begin = max(first[0], hit.start - window)
    stop = min(last[1], hit.end + window)
    return text[begin:stop].strip()


def hit_detail(context: WorkingContext, hit: SearchHit, window: int) -> dict[str, Any]:
    """The original text around a hit: ``before``, ``match`` and ``after`` (``window`` chars each side)."""
    if isinstance(window, bool) or not isinstance(window, int) or window < 0:
        raise ValueError(f"window must be an integer >= 0, got {window!r}")
    text = context.messages[hit.message].text
    s, e = hit.start, hit.end
    return {
        "before": text[max(0, s - window) : s],
        "match": text[s:e],
        "after": text[e : e + window],
    }
