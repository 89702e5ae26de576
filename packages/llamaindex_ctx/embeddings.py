"""``CtxEmbedding``: the core embedder (default: packaged MiniLM) as a LlamaIndex embedding model."""

from __future__ import annotations

import asyncio
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import ConfigDict, Field, PrivateAttr

from ctx_core.embeddings import Embedder
from llamaindex_ctx._config import JsonConfig

__all__ = ["CtxEmbedding"]


def _settings(embedder: Embedder) -> dict[str, Any]:
    """A shared embedder's options: its config without the type and the model."""
    return {k: v for k, v in embedder.config().items() if k not in ("type", "model")}


class CtxEmbedding(JsonConfig, BaseEmbedding):
    """LlamaIndex embeddings backed by :class:`ctx_core.embeddings.Embedder`; works offline.

    Args:
        model: Hugging Face id or local path (default: packaged all-MiniLM-L6-v2),
            or an ``Embedder`` to share; the ``model_name`` field holds its id.
        options: Other :class:`~ctx_core.embeddings.Embedder` keyword options
            (``batch_size``, ``device``, ...).
        **kwargs: ``BaseEmbedding`` fields (``embed_batch_size``, ``callback_manager``, ...).

    ``to_dict`` writes ``model_name`` and ``options`` (for a shared ``Embedder``: its
    settings), so ``from_dict`` loads the same model.

    Examples:
        >>> from llamaindex_ctx import CtxEmbedding
        >>> embedding = CtxEmbedding(options={"batch_size": 8})
        >>> len(embedding.get_query_embedding("hello"))
        384
        >>> CtxEmbedding.from_dict(embedding.to_dict()).options
        {'batch_size': 8}
    """

    model_config = ConfigDict(extra="forbid")

    options: dict[str, Any] = Field(
        default_factory=dict, description="Other Embedder keyword options."
    )
    _embedder: Embedder = PrivateAttr()

    def __init__(
        self,
        model: str | Embedder | None = None,
        *,
        options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        options = dict(options or {})
        if isinstance(model, Embedder):
            embedder = model
            options = {**_settings(model), **options}
        else:
            # from_dict passes the id back as model_name.
            embedder = Embedder(model or kwargs.get("model_name"), **options)
        kwargs["model_name"] = embedder.model_name
        # The base pydantic __init__ does not list this class's fields.
        super().__init__(options=options, **kwargs)  # type: ignore[call-arg]
        self._embedder = embedder

    @property
    def embedder(self) -> Embedder:
        """The core embedder doing the work."""
        return self._embedder

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
