"""``CtxEmbeddings``: the core embedder (default: packaged MiniLM) as LangChain ``Embeddings``."""

from __future__ import annotations

import asyncio

from langchain_core.embeddings import Embeddings

from ctx_core.embeddings import Embedder

__all__ = ["CtxEmbeddings"]


class CtxEmbeddings(Embeddings):
    """LangChain embeddings backed by :class:`ctx_core.embeddings.Embedder`; works offline.

    Args:
        model: Hugging Face id or local path (default: packaged all-MiniLM-L6-v2),
            or an ``Embedder`` to share.

    Examples:
        >>> from langchain_ctx import CtxEmbeddings
        >>> len(CtxEmbeddings().embed_query("hello"))
        384
    """

    def __init__(self, model: str | Embedder | None = None, **embedder_options: object) -> None:
        self.embedder = (
            model if isinstance(model, Embedder) else Embedder(model, **embedder_options)
        )  # type: ignore[arg-type]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed documents."""
        return self.embedder.embed(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        """Embed a query."""
        return self.embedder.embed_query(text).tolist()

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed documents in a worker thread."""
        return await asyncio.to_thread(self.embed_documents, texts)

    async def aembed_query(self, text: str) -> list[float]:
        """Embed a query in a worker thread."""
        return await asyncio.to_thread(self.embed_query, text)
