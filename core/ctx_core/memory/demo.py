"""The document-memory section of ``ctx demo``: the heuristic extractor over the book, then ask."""

from __future__ import annotations

import re
import textwrap
import time

from ctx_core.demo import DemoContext, load_demo_book
from ctx_core.memory.heuristic import HeuristicMemoryExtractor
from ctx_core.memory.index import MemoryIndex

__all__ = ["DEMO_CHAPTERS", "memory_section"]

#: Chapters memorized in the demo (each one document); the demo questions are about them.
#: The other chapters are left out to keep the section to seconds of CPU.
DEMO_CHAPTERS = ("I", "IV")

_CHAPTER = re.compile(r"^\s*CHAPTER ([IVXLC]+)\s*$", re.MULTILINE)


def chapters() -> dict[str, str]:
    """The book's chapters by Roman numeral, each from its ``CHAPTER`` line on."""
    book = load_demo_book()
    marks = list(_CHAPTER.finditer(book))
    return {
        m.group(1): book[m.start() : marks[i + 1].start() if i + 1 < len(marks) else len(book)]
        for i, m in enumerate(marks)
    }


def memory_section(ctx: DemoContext) -> None:
    """Memorize two chapters without an LLM, index the three layers, ask the questions."""
    ctx.heading("Document memory (MoM): HeuristicMemoryExtractor -> MemoryIndex (three layers)")
    started = time.perf_counter()
    texts = chapters()
    extractor = HeuristicMemoryExtractor()
    index = MemoryIndex(extractor.embedder)
    ids = index.add_texts(
        [texts[c] for c in DEMO_CHAPTERS],
        ids=[f"ackroyd-ch{c}" for c in DEMO_CHAPTERS],
        metadatas=[{"chapter": c} for c in DEMO_CHAPTERS],
        extractor=extractor,
    )
    ctx.line(
        f"Chapters {', '.join(DEMO_CHAPTERS)} memorized in {time.perf_counter() - started:.1f}s:"
    )
    for doc_id in ids:
        memory = index.get(doc_id)
        exact = "".join(memory.chunk_texts()) == memory.source
        ctx.line(
            f"  {doc_id}: {len(memory.chunks)} scenario chunks (tiling the text "
            f"{'exactly' if exact else 'NOT exactly'}), outline: "
            + " | ".join(e.title for e in memory.outline)
        )
    for question in ctx.questions:
        ctx.line(f"\nQ: {question}")
        for rank, hit in enumerate(index.search(question, k=3), start=1):
            layers = "+".join(hit.metadata["memory_layers"])
            ctx.line(f"  {rank}. [{hit.id}] score={hit.score:.3f} found via {layers}")
            core = textwrap.shorten(
                hit.metadata["core_content"], ctx.width - 22, placeholder=" ..."
            )
            ctx.line(f"      core content: {core}")
