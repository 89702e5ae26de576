"""``CtxEmbedding``: the core embedder (default: packaged MiniLM) as a LlamaIndex embedding model."""

from __future__ import annotations

import asyncio
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import PrivateAttr

from ctx_core.embeddings import Embedder

__all__ = ["CtxEmbedding"]


class CtxEmbedding(BaseEmbedding):
    """LlamaIndex embeddings backed by :class:`ctx_core.embeddings.Embedder`; works offline.

    Args:
        model: Hugging Face id or local path (default: packaged all-MiniLM-L6-v2),
            or an ``Embedder`` to share.

    Examples:
        >>> from llamaindex_ctx import CtxEmbedding
        >>> len(CtxEmbedding().get_query_embedding("hello"))
        384
    """

    _embedder: Embedder = PrivateAttr()

    def __init__(self, model: str | Embedder | None = None, **kwargs: Any) -> None:
        embedder = model if isinstance(model, Embedder) else Embedder(model)
        kwargs.setdefault("model_name", embedder.model_name)
        super().__init__(**kwargs)
        self._embedder = embedder

    @classmethod
    def class_name(cls) -> str:
        return "CtxEmbedding"

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._embedder.embed_query(query).tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return await asyncio.to_thread(self._get_query_embedding, query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._embedder.embed([text])[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._embedder.embed(texts).tolist()

    async def _aget_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self._get_text_embeddings, texts)
