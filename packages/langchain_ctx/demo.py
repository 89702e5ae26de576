"""LangChain sections of ``ctx demo`` (registered through the ``ctx_rag.demo`` entry points)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from langchain_core.vectorstores import InMemoryVectorStore

from langchain_ctx.convert import documents_to_passages, to_document
from langchain_ctx.embeddings import CtxEmbeddings
from langchain_ctx.retriever import RerankingRetriever
from langchain_ctx.udcg import UDCGReranker

if TYPE_CHECKING:
    from ctx_core.demo import DemoContext


def rerank_section(ctx: DemoContext) -> None:
    """Vector retrieval over the book, then ``UDCGReranker`` drops the likely distractors."""
    ctx.heading("LangChain: InMemoryVectorStore (MiniLM) -> RerankingRetriever(UDCGReranker)")
    store = InMemoryVectorStore(CtxEmbeddings())
    store.add_documents([to_document(p) for p in ctx.corpus])
    base = store.as_retriever(search_kwargs={"k": 8})
    reranker = UDCGReranker(token_budget=800)
    retriever = RerankingRetriever(base_retriever=base, reranker=reranker, k=4)
    for question in ctx.questions:
        kept = retriever.invoke(question)
        ctx.line(f"\nQ: {question}  -> kept {len(kept)} of 8 retrieved")
        passages = documents_to_passages(kept)
        ctx.show_passages([p.with_score(p.metadata["relevance_probability"]) for p in passages])
        decisions = reranker.core_reranker().explain(
            question, documents_to_passages(base.invoke(question))
        )
        dropped = [d for d in decisions if not d.kept]
        ctx.line(
            "  dropped: "
            + (
                ", ".join(
                    f"{d.passage.id} (p={d.relevance_probability:.2f}, {d.reason})" for d in dropped
                )
                or "none"
            )
        )
