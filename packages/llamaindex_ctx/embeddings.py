"""``CtxEmbedding``: the core embedder (default: packaged MiniLM) as a LlamaIndex embedding model."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import ConfigDict, Field, PrivateAttr

from ctx_core.embeddings import DEFAULT_CACHE_BYTES, Embedder, _Vectors
from ctx_core.errors import ConfigError
from llamaindex_ctx._config import JsonConfig

__all__ = ["CtxEmbedding", "LlamaIndexEmbedder"]


def _settings(embedder: Embedder) -> dict[str, Any]:
    """A shared embedder's options: its config without the type and the model."""
    return {k: v for k, v in embedder.config().items() if k not in ("type", "model")}


class CtxEmbedding(JsonConfig, BaseEmbedding):
    """LlamaIndex embeddings backed by [`ctx_core.embeddings.Embedder`][ctx_core.embeddings.Embedder]; works offline.

    Args:
        model: Hugging Face id or local path (default: packaged all-MiniLM-L6-v2),
            or an ``Embedder`` to share; the ``model_name`` field holds its id.
        options: Other [`Embedder`][ctx_core.embeddings.Embedder] keyword options
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


class LlamaIndexEmbedder(Embedder):
    """A LlamaIndex embedding model as a core [`Embedder`][ctx_core.embeddings.Embedder].

    Core components that embed (the embedding scorer, the hybrid UDCG signals, the
    heuristic structurizer, memory indexes) then use the user's model, e.g.
    ``Settings.embed_model``. Vectors are unit-normalized like the core's; documents go
    through ``get_text_embedding_batch`` and queries through ``get_query_embedding``,
    with the core's cache in front. It has no config: a component holding it is written
    without it (``to_json`` says so) and rebuilt with the model passed again.

    Examples:
        >>> from llama_index.core.embeddings import MockEmbedding
        >>> embedder = LlamaIndexEmbedder(MockEmbedding(embed_dim=8))
        >>> embedder.embed(["a", "b"]).shape
        (2, 8)
    """

    def __init__(
        self,
        embed_model: BaseEmbedding,
        *,
        batch_size: int = 32,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> None:
        if not isinstance(embed_model, BaseEmbedding):
            raise TypeError(
                f"embed_model must be a llama_index BaseEmbedding, got {type(embed_model).__name__}"
            )
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        # The core Embedder's state, without loading a sentence-transformers model.
        self.embed_model = embed_model
        self.model_name = str(embed_model.model_name)
        self.model = None
        self.device = None
        self.batch_size = batch_size
        self.query_prefix = ""
        self.document_prefix = ""
        self.show_progress = False
        self.cache_bytes = cache_bytes
        self.cache_size = None
        self.backend = self.runtime = "llamaindex"
        self.threads = None
        self._lock_whole_encode = False
        self._vectors = _Vectors()  # its own cache: the framework model is not shared
        self._dimension: int | None = None

    def config(self) -> dict[str, Any]:
        """Refused: a framework model has no config.

        Raises:
            ConfigError: always; pass the LlamaIndex model itself when rebuilding.
        """
        raise ConfigError(
            f"a LlamaIndexEmbedder over {type(self.embed_model).__name__} has no config; "
            "pass the LlamaIndex embedding model itself when rebuilding"
        )

    @property
    def dimension(self) -> int:
        """Length of each vector (one embedding call the first time it is asked)."""
        if self._dimension is None:
            self._dimension = len(self.embed_model.get_text_embedding("dimension"))
        return self._dimension

    @property
    def max_tokens(self) -> int:
        """Not known for a framework model: texts are sent whole."""
        return 1 << 30

    def embed_query(self, query: str) -> np.ndarray:
        """The framework's query embedding of ``query``, unit-normalized."""
        vector = np.asarray(self.embed_model.get_query_embedding(query), dtype=np.float32)
        return _normalized(vector[None, :])[0]

    def _encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            vectors.extend(self.embed_model.get_text_embedding_batch(batch))
        array = np.asarray(vectors, dtype=np.float32)
        self._dimension = int(array.shape[1])
        return _normalized(array)

    def _warn_if_truncated(self, texts: list[str], ids: Any) -> None:
        """Nothing to check: the framework model truncates (or not) by its own rules."""


def _normalized(array: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return np.asarray(array / np.where(norms == 0, 1.0, norms), dtype=np.float32)
