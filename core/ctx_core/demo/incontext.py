"""The ``ctx demo`` section of the in-context ranker (SmolLM2, one pass per question)."""

from __future__ import annotations

from ctx_core.demo.section import DemoContext

__all__ = ["incontext_section"]

#: Candidates per question handed to the in-context ranker (MiniLM's best).
CANDIDATES = 6


def incontext_section(ctx: DemoContext) -> None:
    """MiniLM retrieves candidates; the in-context ranker reorders them in one forward pass."""
    from ctx_core.embeddings import Embedder
    from ctx_core.incontext import InContextRanker

    ctx.heading(
        f"In-context ranker: MiniLM top-{CANDIDATES} -> one block-sparse SmolLM2 pass per question"
    )
    embedder = Embedder()
    corpus = embedder.embed([p.text for p in ctx.corpus], ids=[p.id for p in ctx.corpus])
    ranker = InContextRanker("smollm2", max_block_tokens=128)
    for question in ctx.questions:
        similarity = [float(x) for x in corpus @ embedder.embed_query(question)]
        order = sorted(range(len(ctx.corpus)), key=lambda i: -similarity[i])[:CANDIDATES]
        candidates = [ctx.corpus[i] for i in order]
        details = ranker.explain(question, candidates)
        ranked = sorted(range(len(candidates)), key=lambda i: -details.scores[i])
        ctx.line(
            f"\nQ: {question}\n  {details.tokens} tokens in {details.passes} pass, stopped in layer "
            f"{details.layers[0]} of {ranker.engine.num_layers}, {details.cpu_seconds:.1f}s CPU; "
            f"MiniLM rank -> in-context rank:"
        )
        ctx.line(
            "  " + ", ".join(f"{i + 1}->{ranked.index(i) + 1}" for i in range(len(candidates)))
        )
        ctx.show_passages(
            [candidates[i].with_score(details.scores[i]) for i in ranked[:3]], snippet=140
        )
