"""LangChain sections of ``ctx demo`` (registered through the ``ctx_rag.demo`` entry points)."""

from __future__ import annotations

from langchain_core.vectorstores import InMemoryVectorStore

from ctx_core.demo import DemoContext
from langchain_ctx.convert import documents_to_passages, to_document
from langchain_ctx.embeddings import CtxEmbeddings
from langchain_ctx.reranker import ContextReranker
from langchain_ctx.retriever import RerankingRetriever


def rerank_section(ctx: DemoContext) -> None:
    """Vector retrieval over the book, then ``ContextReranker`` keeps what clears its threshold."""
    ctx.heading("LangChain: InMemoryVectorStore (MiniLM) -> RerankingRetriever(ContextReranker)")
    store = InMemoryVectorStore(CtxEmbeddings())
    store.add_documents([to_document(p) for p in ctx.corpus])
    retriever = RerankingRetriever(
        base_retriever=store.as_retriever(search_kwargs={"k": 8}),
        reranker=ContextReranker(score_threshold=0.3),
        k=3,
    )
    for question in ctx.questions:
        documents = retriever.invoke(question)
        ctx.line(
            f"\nQ: {question}  -> kept {len(documents)} of 8 retrieved (relevance >= 0.3, at most 3)"
        )
        passages = documents_to_passages(documents)
        ctx.show_passages([p.with_score(p.metadata["relevance_score"]) for p in passages])
