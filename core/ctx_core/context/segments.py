"""Cutting text into clauses and token windows with exact character offsets.

Examples:
    >>> from ctx_core.context.segments import clause_spans
    >>> text = "bird: kea; fruit: fig. Next line"
    >>> [text[s:e] for s, e in clause_spans(text)]
    ['bird: kea; ', 'fruit: fig. ', 'Next line']
    >>> [t[s:e] for t in ["Mrs. Ferrars died. Then"] for s, e in clause_spans(t)]
    ['Mrs. Ferrars died. ', 'Then']
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["clause_spans", "window_spans"]

# A clause runs up to a separator (; . ! ? or a line break) that is followed by whitespace
# or the end of the text; the whitespace after it belongs to the clause.
_CLAUSE = re.compile(r"(?:[^;.!?\n]|[;.!?](?=\S))+(?:[;.!?]+(?=\s|$))?\s*|[;.!?\n]+\s*", re.DOTALL)
_WORD = re.compile(r"\S+\s*|\s+")
# A clause ending in one of these abbreviations continues into the next one.
_ABBREVIATION = re.compile(
    r"(?<!\w)(?:Mr|Mrs|Ms|Dr|St|Jr|Sr|Prof|Mt|No|vs|etc|e\.g|i\.e|[A-Z])\.[ \t]*$"
)


def clause_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Consecutive ``(start, end)`` spans covering ``text[start:end]``, one per clause.

    The spans tile the range exactly: joined, they give the original text back.
    """
    stop = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    joined = False
    for match in _CLAUSE.finditer(text, start, stop):
        if match.end() <= match.start():
            continue
        if joined:
            spans[-1] = (spans[-1][0], match.end())
        else:
            spans.append((match.start(), match.end()))
        joined = bool(_ABBREVIATION.search(text, spans[-1][0], spans[-1][1]))
    return spans


def window_spans(
    text: str,
    window_tokens: int,
    count: Callable[[str], int],
    start: int = 0,
    end: int | None = None,
) -> list[tuple[int, int]]:
    """Cut ``text[start:end]`` into consecutive spans of at most about ``window_tokens`` tokens.

    Cuts fall between clauses where possible, else between words; a single word
    longer than the window becomes a span of its own. The spans tile the range.

    Args:
        text: The text to cut.
        window_tokens: The largest span, in tokens of ``count``.
        count: Token counter, e.g. ``TokenCounter().count``.
        start: Where to start (character offset).
        end: Where to stop (default: the end of ``text``).
    """
    if window_tokens < 1:
        raise ValueError(f"window_tokens must be >= 1, got {window_tokens}")
    stop = len(text) if end is None else end
    pieces: list[tuple[int, int, int]] = []
    for s, e in clause_spans(text, start, stop):
        n = count(text[s:e])
        if n <= window_tokens:
            pieces.append((s, e, n))
            continue
        for word in _WORD.finditer(text, s, e):
            pieces.append((word.start(), word.end(), count(word.group())))
    spans: list[tuple[int, int]] = []
    cur_start: int | None = None
    cur_end = start
    cur_tokens = 0
    for s, e, n in pieces:
        if cur_start is not None and cur_tokens + n > window_tokens:
            spans.append((cur_start, cur_end))
            cur_start, cur_tokens = None, 0
        if cur_start is None:
            cur_start = s
        cur_end = e
        cur_tokens += n
    if cur_start is not None:
        spans.append((cur_start, cur_end))
    return spans
