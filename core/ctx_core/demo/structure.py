"""The ``ctx demo`` section on structurization: retrieved chunks as scope, aspects, sentences."""

from __future__ import annotations

import textwrap

from ctx_core.demo.section import DemoContext
from ctx_core.scoring import EmbeddingScorer
from ctx_core.structure.heuristic import HeuristicStructurizer
from ctx_core.structure.render import render

__all__ = ["structure_section"]


def structure_section(ctx: DemoContext) -> None:
    """Retrieve two chunks for the first question and show them structurized for the reader."""
    ctx.heading("Structurization: retrieved context as scope -> aspects -> original sentences")
    question = ctx.questions[0]
    scorer = EmbeddingScorer()
    scores = scorer.score(question, ctx.corpus)
    ranked = sorted(zip(scores, ctx.corpus, strict=True), key=lambda pair: -pair[0])[:2]
    structurizer = HeuristicStructurizer(scorer.embedder)
    ctx.line(
        f"Q: {question}  -> top 2 chunks (MiniLM), structurized offline (HeuristicStructurizer)"
    )
    for score, passage in ranked:
        structure = structurizer.structurize(passage.text)
        kept = structure.sentence_order() == list(range(len(structure.sentences)))
        ctx.line(
            f"\n[{passage.id}] score={score:.3f}: {len(structure.sentences)} sentences -> "
            f"{len(structure.aspects)} aspects ({structure.metadata['method']}); "
            f"every sentence kept once: {kept}"
        )
        for line in render(structure, "reading").splitlines():
            ctx.line(
                textwrap.fill(line, ctx.width - 4, initial_indent="  ", subsequent_indent="       ")
            )
