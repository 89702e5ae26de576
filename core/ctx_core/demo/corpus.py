"""The first ``ctx demo`` section: what the book is and what the demo asks."""

from __future__ import annotations

from ctx_core.demo.section import DemoContext

__all__ = ["corpus_section"]


def corpus_section(ctx: DemoContext) -> None:
    """Name the book, its chapters and size, and the questions."""
    ctx.heading("Corpus")
    words = sum(len(p.text.split()) for p in ctx.corpus)
    chapters = list(dict.fromkeys(p.metadata["chapter"] for p in ctx.corpus))
    ctx.line(
        f"The Murder of Roger Ackroyd (Agatha Christie, 1926; public domain), chapters "
        f"{', '.join(chapters)}: {len(ctx.corpus)} chunks, {words} words."
    )
    ctx.line("Questions: " + " | ".join(ctx.questions))
