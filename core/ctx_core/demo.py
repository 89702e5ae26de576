"""The end-to-end demo behind ``ctx demo``, on a public-domain book that ships in the package.

The demo is a list of *sections*, each a function of a :class:`DemoContext`.
Core sections live here; framework sections are plugged in by the adapter
packages through the ``ctx_rag.demo`` entry-point group, so the core never
imports a framework. Sections run in the order of their names.
"""

from __future__ import annotations

import logging
import re
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata, resources
from typing import TextIO

from ctx_core.chunking import chunk_text
from ctx_core.types import Passage

__all__ = [
    "DEMO_QUESTIONS",
    "DemoContext",
    "demo_sections",
    "load_demo_book",
    "load_demo_corpus",
    "run_demo",
]

logger = logging.getLogger(__name__)

BOOK_FILE = "roger_ackroyd_ch1-4.txt"

DEMO_QUESTIONS = [
    "How did Mrs. Ferrars die?",
    "Who was found murdered at Fernly Park?",
]

_CHAPTER = re.compile(r"^\s*CHAPTER ([IVXLC]+)\s*$", re.MULTILINE)

Section = Callable[["DemoContext"], None]


def load_demo_book() -> str:
    """The vendored book text (chapters I-IV of *The Murder of Roger Ackroyd*)."""
    return (resources.files("ctx_core") / "data" / "demo" / BOOK_FILE).read_text(encoding="utf-8")


def load_demo_corpus(max_words: int = 120) -> list[Passage]:
    """The demo book as paragraph chunks, each with its ``chapter`` in metadata."""
    book = load_demo_book()
    chapters = list(_CHAPTER.finditer(book))
    passages: list[Passage] = []
    for i, match in enumerate(chapters):
        stop = chapters[i + 1].start() if i + 1 < len(chapters) else len(book)
        body = book[match.end() : stop]
        passages.extend(
            chunk_text(
                body,
                max_words=max_words,
                source=f"ackroyd-ch{match.group(1)}",
                metadata={"chapter": match.group(1), "book": "The Murder of Roger Ackroyd"},
            )
        )
    return passages


@dataclass
class DemoContext:
    """What every demo section gets: the corpus, the questions and somewhere to print."""

    corpus: list[Passage]
    questions: list[str]
    out: TextIO = field(default_factory=lambda: sys.stdout)
    width: int = 100

    def heading(self, title: str) -> None:
        """Print a section heading."""
        self.out.write(f"\n{'=' * self.width}\n{title}\n{'=' * self.width}\n")

    def line(self, text: str = "") -> None:
        """Print one line."""
        self.out.write(text + "\n")

    def show_passages(self, passages: Sequence[Passage], *, snippet: int = 160) -> None:
        """Print passages with their id, score and the start of their text."""
        if not passages:
            self.line("    (no passage kept)")
        for rank, p in enumerate(passages, start=1):
            score = "" if p.score is None else f" score={p.score:.3f}"
            text = textwrap.shorten(" ".join(p.text.split()), snippet, placeholder=" ...")
            self.line(f"  {rank}. [{p.id}]{score}")
            self.line(textwrap.indent(textwrap.fill(text, self.width - 6), "      "))


def _core_corpus_section(ctx: DemoContext) -> None:
    ctx.heading("Corpus")
    words = sum(len(p.text.split()) for p in ctx.corpus)
    chapters = list(dict.fromkeys(p.metadata["chapter"] for p in ctx.corpus))
    ctx.line(
        f"The Murder of Roger Ackroyd (Agatha Christie, 1926; public domain), chapters "
        f"{', '.join(chapters)}: {len(ctx.corpus)} chunks, {words} words."
    )
    ctx.line("Questions: " + " | ".join(ctx.questions))


def _memory_section(ctx: DemoContext) -> None:
    from ctx_core.memory.demo import memory_section

    memory_section(ctx)


CORE_SECTIONS: dict[str, Section] = {
    "00-corpus": _core_corpus_section,
    "30-document-memory": _memory_section,
}


def demo_sections() -> list[tuple[str, Section]]:
    """Core sections plus those plugged in through the ``ctx_rag.demo`` entry points, by name."""
    sections: dict[str, Section] = dict(CORE_SECTIONS)
    for entry in metadata.entry_points(group="ctx_rag.demo"):
        try:
            sections[entry.name] = entry.load()
        except ImportError as err:
            logger.warning("demo section %s skipped: %s", entry.name, err)
    return sorted(sections.items())


def run_demo(
    out: TextIO | None = None,
    *,
    questions: Sequence[str] | None = None,
    only: Sequence[str] | None = None,
) -> list[str]:
    """Run the demo sections in order and return the names of those that ran.

    Args:
        out: Where to print (default: stdout).
        questions: Override the demo questions.
        only: Run only sections whose name contains one of these strings.
    """
    ctx = DemoContext(
        corpus=load_demo_corpus(),
        questions=list(questions or DEMO_QUESTIONS),
        out=out or sys.stdout,
    )
    ran = []
    for name, section in demo_sections():
        if only and not any(part in name for part in only):
            continue
        started = time.perf_counter()
        section(ctx)
        ctx.line(f"\n  [{name}: {time.perf_counter() - started:.1f}s]")
        ran.append(name)
    return ran
