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
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ctx_core.context.fragments import short_id
from ctx_core.context.segments import clause_spans

if TYPE_CHECKING:
    from ctx_core.context.working import WorkingContext
    from ctx_core.embeddings import Embedder

try:  # The third-party ``regex`` engine can stop a match after a time limit; ``re`` cannot.
    import regex as _regex
except ImportError:  # pragma: no cover - exercised by monkeypatching in the tests
    _regex = None

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
#: Seconds a regex search may take over all messages before it is abandoned.
REGEX_TIMEOUT_S = 1.0
#: Longest regular expression accepted from an agent.
MAX_PATTERN_CHARS = 1000

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
    regex_timeout: float = REGEX_TIMEOUT_S,
) -> list[SearchHit]:
    """Find ``query`` in the original messages.

    The regex comes from an agent (an LLM, or a passage injected into its prompt), so
    it must not be able to hang the caller: with the ``regex`` package installed the
    whole search is abandoned after ``regex_timeout`` seconds; without it, constructs
    that can backtrack exponentially on Python's ``re`` (a repetition holding another
    repetition or an alternation, and backreferences) are refused.

    Args:
        context: The working context.
        query: Text (exact), a Python regular expression (regex) or a description (semantic).
        scope: ``"all"``, ``"user"`` or ``"assistant"`` messages.
        mode: ``"exact"``, ``"regex"`` or ``"semantic"``.
        max_results: At most this many hits (1-50).
        newest_first: For exact and regex, list the latest matches first (semantic hits
            are ordered by similarity).
        case_sensitive: For exact and regex.
        embedder: For semantic mode (default: [`default_embedder`][ctx_core.context.search.default_embedder]).
        include_tool_traffic: Also search an agent's own tool calls and results.
        regex_timeout: Seconds a regex search may take in all (regex mode).

    Raises:
        ValueError: Empty query, bad mode/scope/max_results, an invalid regex, or a regex
            that took longer than ``regex_timeout`` (or is refused as risky without ``regex``).
    """
    if not isinstance(query, str) or not query.strip():
        raise ValueError("query must be a non-empty string")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
    if isinstance(max_results, bool) or not isinstance(max_results, int):
        raise TypeError(f"max_results must be an integer, got {max_results!r}")
    if not 1 <= max_results <= MAX_RESULTS:
        raise ValueError(f"max_results must be between 1 and {MAX_RESULTS}, got {max_results}")
    if isinstance(regex_timeout, bool) or not isinstance(regex_timeout, (int, float)):
        raise TypeError(f"regex_timeout must be a number of seconds, got {regex_timeout!r}")
    if not 0 < regex_timeout < float("inf"):
        raise ValueError(f"regex_timeout must be a finite number > 0, got {regex_timeout!r}")
    indices = _scope_indices(context, scope, include_tool_traffic)
    if mode == "semantic":
        return _semantic(context, query, indices, max_results, embedder or default_embedder())
    if mode == "regex":
        finditer = _regex_finditer(query, case_sensitive, regex_timeout)
    else:
        literal = re.compile(re.escape(query), 0 if case_sensitive else re.IGNORECASE)
        finditer = literal.finditer
    order = reversed(indices) if newest_first else iter(indices)
    hits: list[SearchHit] = []
    for index in order:
        spans = [
            (m.start(), m.end())
            for m in finditer(context.messages[index].text)
            if m.end() > m.start()
        ]
        if newest_first:
            spans.reverse()
        for s, e in spans:
            hits.append(_register(context, index, s, e, mode=mode, query=query))
            if len(hits) >= max_results:
                return hits
    return hits


def _regex_finditer(query: str, case_sensitive: bool, timeout: float) -> Any:
    """A ``finditer(text)`` for an agent's regex that cannot run for more than ``timeout`` s in all."""
    if len(query) > MAX_PATTERN_CHARS:
        raise ValueError(
            f"regular expression too long ({len(query)} characters, at most {MAX_PATTERN_CHARS})"
        )
    if _regex is None:
        try:
            pattern = re.compile(query, 0 if case_sensitive else re.IGNORECASE)
        except re.error as err:
            raise ValueError(f"invalid regular expression {query!r}: {err}") from err
        _refuse_backtracking(query)
        return pattern.finditer
    regex = _regex
    try:
        # V0: the ``re``-compatible syntax the tool describes to the agent.
        compiled = regex.compile(query, regex.V0 | (0 if case_sensitive else regex.IGNORECASE))
    except regex.error as err:
        raise ValueError(f"invalid regular expression {query!r}: {err}") from err
    deadline = time.monotonic() + timeout

    def finditer(text: str) -> list[Any]:
        # One deadline for the whole search, shared by every message searched.
        left = deadline - time.monotonic()
        try:
            if left <= 0:
                raise TimeoutError
            return list(compiled.finditer(text, timeout=left))
        except TimeoutError as err:
            raise ValueError(
                f"regular expression {query!r} took longer than {timeout:g}s and was stopped; "
                "use a simpler pattern (avoid nested repetition such as (a+)+)"
            ) from err

    return finditer


def _refuse_backtracking(query: str) -> None:
    """Refuse what can backtrack exponentially on ``re``: no time limit is possible there."""
    import importlib

    sre_parse: Any
    try:
        sre_parse = importlib.import_module("re._parser")
    except ImportError:  # Python 3.10
        sre_parse = importlib.import_module("sre_parse")

    repeats = {
        sre_parse.MAX_REPEAT,
        sre_parse.MIN_REPEAT,
        getattr(sre_parse, "POSSESSIVE_REPEAT", None),
    }

    def walk(items: Any, inside_repeat: bool) -> None:
        for op, arg in items:
            if op in (sre_parse.GROUPREF, getattr(sre_parse, "GROUPREF_EXISTS", None)):
                raise ValueError(
                    f"regular expression {query!r} refused: backreferences are not allowed "
                    "(install the 'regex' package for time-limited matching)"
                )
            if op in repeats:
                _low, high, body = arg
                if inside_repeat and high > 1:
                    raise ValueError(
                        f"regular expression {query!r} refused: nested repetition can run for "
                        "ever (install the 'regex' package for time-limited matching)"
                    )
                walk(body, inside_repeat or high > 1)
            elif op is sre_parse.BRANCH:
                if inside_repeat:
                    raise ValueError(
                        f"regular expression {query!r} refused: alternation inside a repetition "
                        "can run for ever (install the 'regex' package for time-limited matching)"
                    )
                for branch in arg[1]:
                    walk(branch, inside_repeat)
            elif op is sre_parse.SUBPATTERN:
                walk(arg[-1], inside_repeat)
            elif op in (sre_parse.ASSERT, sre_parse.ASSERT_NOT):
                walk(arg[1], inside_repeat)

    walk(sre_parse.parse(query), False)


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
