"""The demo's book: chapters I-IV of *The Murder of Roger Ackroyd*, vendored in the package.

Agatha Christie, 1926; public domain. The text lives in ``ctx_core/data/demo``.

Examples:
    >>> from ctx_core.demo.book import load_demo_chapters, load_demo_corpus
    >>> list(load_demo_chapters())
    ['I', 'II', 'III', 'IV']
    >>> corpus = load_demo_corpus()
    >>> corpus[0].id, corpus[0].metadata["chapter"]
    ('ackroyd-chI#0', 'I')
"""

from __future__ import annotations

import re
from importlib import resources

from ctx_core.chunking import chunk_text
from ctx_core.types import Passage

__all__ = [
    "BOOK_FILE",
    "DEMO_QUESTIONS",
    "load_demo_book",
    "load_demo_chapters",
    "load_demo_corpus",
]

#: The vendored text, under ``ctx_core/data/demo``.
BOOK_FILE = "roger_ackroyd_ch1-4.txt"

#: What the demo asks about the book.
DEMO_QUESTIONS = [
    "How did Mrs. Ferrars die?",
    "Who was found murdered at Fernly Park?",
]

_CHAPTER = re.compile(r"^\s*CHAPTER ([IVXLC]+)\s*$", re.MULTILINE)


def load_demo_book() -> str:
    """The vendored book text (chapters I-IV of *The Murder of Roger Ackroyd*)."""
    return (resources.files("ctx_core") / "data" / "demo" / BOOK_FILE).read_text(encoding="utf-8")


def _chapter_marks(book: str) -> list[tuple[re.Match[str], int]]:
    """Each ``CHAPTER`` line of ``book`` with the offset where its chapter stops."""
    marks = list(_CHAPTER.finditer(book))
    return [
        (mark, marks[i + 1].start() if i + 1 < len(marks) else len(book))
        for i, mark in enumerate(marks)
    ]


def load_demo_chapters() -> dict[str, str]:
    """The book's chapters by Roman numeral, each from its ``CHAPTER`` line on."""
    book = load_demo_book()
    return {mark.group(1): book[mark.start() : stop] for mark, stop in _chapter_marks(book)}


def load_demo_corpus(max_words: int = 120) -> list[Passage]:
    """The demo book as paragraph chunks, each with its ``chapter`` in metadata."""
    book = load_demo_book()
    passages: list[Passage] = []
    for mark, stop in _chapter_marks(book):
        passages.extend(
            chunk_text(
                book[mark.end() : stop],
                max_words=max_words,
                source=f"ackroyd-ch{mark.group(1)}",
                metadata={"chapter": mark.group(1), "book": "The Murder of Roger Ackroyd"},
            )
        )
    return passages
