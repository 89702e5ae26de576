"""``CtxEmbeddings``: the core embedder (default: packaged MiniLM) as LangChain ``Embeddings``."""

from __future__ import annotations

import asyncio
from contextvars import ContextVar
from typing import Any

from langchain_core.embeddings import Embeddings
from pydantic import ConfigDict, Field, PrivateAttr

from ctx_core.embeddings import Embedder
from langchain_ctx._config import CtxSerializable

__all__ = ["CtxEmbeddings"]


def _settings(embedder: Embedder) -> dict[str, Any]:
    """A shared embedder's options: its config without the type and the model."""
    return {k: v for k, v in embedder.config().items() if k not in ("type", "model")}


# The Embedder passed to __init__, for model_post_init (which pydantic runs inside __init__).
_shared_embedder: ContextVar[Embedder | None] = ContextVar("_shared_embedder", default=None)


class CtxEmbeddings(CtxSerializable, Embeddings):
    """LangChain embeddings backed by [`ctx_core.embeddings.Embedder`][ctx_core.embeddings.Embedder]; works offline.

    Args:
        model: Hugging Face id or local path (default: packaged all-MiniLM-L6-v2),
            or an ``Embedder`` to share.
        options: Other [`Embedder`][ctx_core.embeddings.Embedder] keyword options
            (``batch_size``, ``device``, ...); they may also be given as keywords.

    ``model_dump`` and ``dumpd`` write the model id and the options (for a shared
    ``Embedder``: its model and settings), so the embeddings rebuild the same model.

    Examples:
        >>> from langchain_ctx import CtxEmbeddings
        >>> embeddings = CtxEmbeddings(batch_size=8)
        >>> len(embeddings.embed_query("hello"))
        384
        >>> embeddings.model_dump()
        {'model': None, 'options': {'batch_size': 8}}
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    model: str | None = Field(default=None, description="Model id or path (default MiniLM).")
    options: dict[str, Any] = Field(
        default_factory=dict, description="Other Embedder keyword options."
    )
    _embedder: Embedder = PrivateAttr()

    def __init__(
        self,
        model: str | Embedder | None = None,
        *,
        options: dict[str, Any] | None = None,
        **embedder_options: Any,
    ) -> None:
        options = {**(options or {}), **embedder_options}
        shared = model if isinstance(model, Embedder) else None
        if shared is not None:
            model = shared.model_name
            options = {**_settings(shared), **options}
        token = _shared_embedder.set(shared)
        try:
            # The base pydantic __init__ does not list this class's fields.
            super().__init__(model=model, options=options)  # type: ignore[call-arg]
        finally:
            _shared_embedder.reset(token)

    def model_post_init(self, context: Any, /) -> None:
        # Also reached from model_validate, which does not call __init__.
        self._embedder = _shared_embedder.get() or Embedder(self.model, **self.options)

    @property
    def embedder(self) -> Embedder:
        """The core embedder doing the work."""
        return self._embedder

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
