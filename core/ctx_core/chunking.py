"""Fixed-size chunking on paragraph boundaries: the plain baseline every smarter method is judged against.

Chunks are exact slices of the source (offsets in ``metadata["start"]`` and
``metadata["end"]``), so nothing is rewritten.

Examples:
    >>> from ctx_core.chunking import chunk_text
    >>> chunks = chunk_text("One two.\\n\\nThree four five.", max_words=3, source="doc")
    >>> [c.text for c in chunks]
    ['One two.', 'Three four five.']
    >>> chunks[1].id, chunks[1].metadata["start"]
    ('doc#1', 10)
"""

from __future__ import annotations

import re
from typing import Any

from ctx_core.types import Passage

__all__ = ["chunk_text"]

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")


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
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if max_words < 1:
        raise ValueError(f"max_words must be >= 1, got {max_words}")
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
