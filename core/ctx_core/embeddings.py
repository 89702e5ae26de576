"""Sentence embeddings with a bi-encoder (default: the packaged all-MiniLM-L6-v2).

Examples:
    >>> from ctx_core.embeddings import Embedder
    >>> embedder = Embedder()
    >>> vectors = embedder.embed(["a cat", "a dog"])
    >>> vectors.shape
    (2, 384)
"""

from __future__ import annotations

import inspect
import logging
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from ctx_core._registry import Configurable
from ctx_core.models import DEFAULT_EMBEDDER, load_sentence_transformer
from ctx_core.progress import AUTO_PROGRESS_THRESHOLD, progress

__all__ = ["Embedder", "embedder_config"]

logger = logging.getLogger(__name__)


class Embedder(Configurable):
    """Unit-normalized embeddings from a sentence-transformers model.

    Args:
        model: Hugging Face id or local path (default: packaged all-MiniLM-L6-v2).
        device: ``"cpu"``, ``"cuda"``, ... (default: CUDA when available).
        batch_size: Texts per forward pass.
        query_prefix: Prepended to queries (some models, e.g. E5, expect ``"query: "``).
        document_prefix: Prepended to documents (e.g. ``"passage: "``).
        show_progress: Show a progress bar (``None``: only for long lists).
        cache_size: How many embeddings to remember by text (0: none), so passages seen
            again (the same chunk retrieved for several queries) are not re-encoded.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        device: str | None = None,
        batch_size: int = 32,
        query_prefix: str = "",
        document_prefix: str = "",
        show_progress: bool | None = None,
        cache_size: int = 4096,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model_name = model or DEFAULT_EMBEDDER
        self.model = load_sentence_transformer(model, device)
        self.device = device
        self.batch_size = batch_size
        self.query_prefix = query_prefix
        self.document_prefix = document_prefix
        self.show_progress = show_progress
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def config(self) -> dict[str, Any]:
        """The model by id or path and the settings (see :func:`embedder_config`)."""
        return {
            "type": "Embedder",
            "model": self.model_name,
            "device": self.device,
            "batch_size": self.batch_size,
            "query_prefix": self.query_prefix,
            "document_prefix": self.document_prefix,
            "show_progress": self.show_progress,
            "cache_size": self.cache_size,
        }

    @property
    def dimension(self) -> int:
        """Length of each embedding vector."""
        # sentence-transformers 6 renamed the method; keep working with older releases.
        getter = getattr(self.model, "get_embedding_dimension", None)
        if getter is None:
            getter = self.model.get_sentence_embedding_dimension
        return int(getter())

    @property
    def max_tokens(self) -> int:
        """Longest input the model reads; longer texts are truncated (with a warning)."""
        return int(self.model.max_seq_length)

    def embed(self, texts: Sequence[str], *, ids: Sequence[str] | None = None) -> np.ndarray:
        """Embed documents; returns a float32 array of shape ``(len(texts), dimension)``."""
        return self._cached([self.document_prefix + t for t in texts], ids)

    def embed_query(self, query: str) -> np.ndarray:
        """Embed one query; returns a vector of length ``dimension``."""
        return self._cached([self.query_prefix + query], ["query"])[0]

    def cached_vectors(self) -> dict[str, np.ndarray]:
        """A copy of the embedding cache (text as encoded, prefix included -> vector)."""
        return dict(self._cache)

    def warm_cache(self, vectors: dict[str, np.ndarray]) -> None:
        """Add embeddings computed earlier (e.g. saved from :meth:`cached_vectors`) to the cache."""
        for text, vector in vectors.items():
            self._cache[text] = np.asarray(vector, dtype=np.float32)
        while self.cache_size > 0 and len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def _cached(self, texts: list[str], ids: Sequence[str] | None) -> np.ndarray:
        missing = [i for i, t in enumerate(texts) if t not in self._cache]
        if missing:
            fresh = [texts[i] for i in missing]
            self._warn_if_truncated(fresh, [ids[i] for i in missing] if ids is not None else None)
            vectors = self._encode(fresh)
        else:
            vectors = np.zeros((0, self.dimension), dtype=np.float32)
        found = {texts[i]: vectors[n] for n, i in enumerate(missing)}
        out = (
            np.stack([found[t] if t in found else self._cache[t] for t in texts])
            if texts
            else vectors
        )
        if self.cache_size > 0:
            for text, vector in found.items():
                self._cache[text] = vector
                if len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return np.asarray(out, dtype=np.float32)

    def _encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        chunks = [texts[i : i + self.batch_size] for i in range(0, len(texts), self.batch_size)]
        parts = [
            self.model.encode(
                chunk,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            for chunk in progress(
                chunks, desc="embedding", show=self._show(len(texts)), unit="batch"
            )
        ]
        return np.asarray(np.concatenate(parts), dtype=np.float32)

    def _show(self, n: int) -> bool:
        if self.show_progress is not None:
            return self.show_progress
        return n >= AUTO_PROGRESS_THRESHOLD

    def _warn_if_truncated(self, texts: list[str], ids: Sequence[str] | None) -> None:
        tokenizer: Any = self.model.tokenizer
        limit = self.max_tokens
        lengths = [
            len(x) for x in tokenizer(texts, add_special_tokens=True, verbose=False)["input_ids"]
        ]
        over = [i for i, n in enumerate(lengths) if n > limit]
        if over:
            names = [ids[i] if ids is not None else f"#{i}" for i in over[:5]]
            logger.warning(
                "%d text(s) longer than the embedder's %d tokens are truncated: %s%s",
                len(over),
                limit,
                ", ".join(names),
                " ..." if len(over) > 5 else "",
            )


def embedder_config(embedder: Embedder | str | None) -> str | dict[str, Any]:
    """An embedder as component configs record it: its model name, or its whole config.

    The model name alone when the other settings are the defaults (so configs read
    ``"embedder": "all-MiniLM-L6-v2"``), else :meth:`Embedder.config`. A name is
    recorded as it is; ``None`` as :data:`~ctx_core.models.DEFAULT_EMBEDDER`.

    Examples:
        >>> embedder_config(None)
        'all-MiniLM-L6-v2'
        >>> embedder_config(Embedder(batch_size=8))["batch_size"]
        8
    """
    if embedder is None or isinstance(embedder, str):
        return embedder or DEFAULT_EMBEDDER
    config = embedder.config()
    defaults = {
        name: p.default
        for name, p in inspect.signature(Embedder).parameters.items()
        if name != "model"
    }
    if all(config[name] == default for name, default in defaults.items()):
        return embedder.model_name
    return config
