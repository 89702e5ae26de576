"""The document-memory section of ``ctx demo``: the heuristic extractor over the book, then ask."""

from __future__ import annotations

import textwrap
import time

from ctx_core.demo.book import load_demo_chapters
from ctx_core.demo.section import DemoContext
from ctx_core.memory.heuristic import HeuristicMemoryExtractor
from ctx_core.memory.index import MemoryIndex

__all__ = ["DEMO_CHAPTERS", "memory_section"]

#: Chapters memorized in the demo (each one document); the demo questions are about them.
#: The other chapters are left out to keep the section to seconds of CPU.
DEMO_CHAPTERS = ("I", "IV")


def memory_section(ctx: DemoContext) -> None:
    """Memorize two chapters without an LLM, index the three layers, ask the questions."""
    ctx.heading("Document memory (MoM): HeuristicMemoryExtractor -> MemoryIndex (three layers)")
    started = time.perf_counter()
    texts = load_demo_chapters()
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
