"""Fixed-size chunking: the plain baselines every smarter method is judged against.

[`chunk_text`][ctx_core.chunking.chunk_text] packs whole paragraphs up to a word budget; [`chunk_words`][ctx_core.chunking.chunk_words] cuts
windows of a fixed number of words wherever they fall (mid-sentence, mid-paragraph), as
the fixed-size baselines of the chunking literature do. Chunks are exact slices of the
source (offsets in ``metadata["start"]`` and ``metadata["end"]``), so nothing is rewritten.

Examples:
    >>> from ctx_core.chunking import chunk_text
    >>> chunks = chunk_text("One two.\\n\\nThree four five.", max_words=3, source="doc")
    >>> [c.text for c in chunks]
    ['One two.', 'Three four five.']
    >>> chunks[1].id, chunks[1].metadata["start"]
    ('doc#1', 10)
    >>> [c.text for c in chunk_words("One two.\\n\\nThree four five.", max_words=2)]
    ['One two.', 'Three four', 'five.']
"""

from __future__ import annotations

import re
from typing import Any

from ctx_core.types import Passage

__all__ = ["chunk_text", "chunk_words"]

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
_WORD = re.compile(r"\S+")


def chunk_text(
    text: str,
    *,
    max_words: int = 120,
    source: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> list[Passage]:
    """Split ``text`` into chunks of whole paragraphs, each at most ``max_words`` words.

    A paragraph longer than ``max_words`` becomes a chunk of its own (never cut
    mid-paragraph). Leading and trailing whitespace between chunks is left out of
    the chunks; offsets point into ``text``.

    Args:
        text: The document.
        max_words: Word budget per chunk.
        source: Document name; chunk ids are ``f"{source}#{index}"`` when given.
        metadata: Copied into every chunk's metadata.
    """
    _check(text, max_words)
    spans = _paragraph_spans(text)
    chunks: list[tuple[int, int]] = []
    start = end = words = 0
    for p_start, p_end in spans:
        n = len(text[p_start:p_end].split())
        if words and words + n > max_words:
            chunks.append((start, end))
            words = 0
        if not words:
            start = p_start
        end, words = p_end, words + n
    if words:
        chunks.append((start, end))
    return _passages(text, chunks, source, metadata)


def chunk_words(
    text: str,
    *,
    max_words: int = 120,
    overlap: int = 0,
    source: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> list[Passage]:
    """Split ``text`` into windows of ``max_words`` words, ignoring sentences and paragraphs.

    A window runs from the start of its first word to the end of its last one, so the
    white space between windows is left out and every word is in at least one window.

    Args:
        text: The document.
        max_words: Words per window (the last window may be shorter).
        overlap: Words each window shares with the one before it (``< max_words``).
        source: Document name; chunk ids are ``f"{source}#{index}"`` when given.
        metadata: Copied into every chunk's metadata.
    """
    _check(text, max_words)
    if not 0 <= overlap < max_words:
        raise ValueError(f"overlap must be >= 0 and < max_words ({max_words}), got {overlap}")
    words = [m.span() for m in _WORD.finditer(text)]
    step = max_words - overlap
    starts = range(0, max(len(words) - overlap, 1), step) if words else range(0)
    chunks = [(words[i][0], words[min(i + max_words, len(words)) - 1][1]) for i in starts]
    return _passages(text, chunks, source, metadata)


def _check(text: str, max_words: int) -> None:
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if max_words < 1:
        raise ValueError(f"max_words must be >= 1, got {max_words}")


def _passages(
    text: str,
    chunks: list[tuple[int, int]],
    source: str | None,
    metadata: dict[str, Any] | None,
) -> list[Passage]:
    base = dict(metadata or {})
    if source is not None:
        base.setdefault("source", source)
    return [
        Passage(
            text=text[a:b],
            id=f"{source}#{i}" if source is not None else "",
            metadata={**base, "start": a, "end": b, "chunk_index": i},
        )
        for i, (a, b) in enumerate(chunks)
    ]


def _paragraph_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    position = 0
    for match in [*_PARAGRAPH_BREAK.finditer(text), None]:
        stop = match.start() if match else len(text)
        piece = text[position:stop]
        if piece.strip():
            lead = len(piece) - len(piece.lstrip())
            trail = len(piece.rstrip())
            spans.append((position + lead, position + trail))
        if match:
            position = match.end()
    return spans
