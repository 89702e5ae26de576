"""Sentence embeddings with a bi-encoder (default: the packaged all-MiniLM-L6-v2).

Examples:
    >>> from ctx_core.embeddings import Embedder
    >>> embedder = Embedder()
    >>> vectors = embedder.embed(["a cat", "a dog"])
    >>> vectors.shape
    (2, 384)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from ctx_core.models import load_sentence_transformer
from ctx_core.progress import AUTO_PROGRESS_THRESHOLD, progress

__all__ = ["Embedder"]

logger = logging.getLogger(__name__)


class Embedder:
    """Unit-normalized embeddings from a sentence-transformers model.

    Args:
        model: Hugging Face id or local path (default: packaged all-MiniLM-L6-v2).
        device: ``"cpu"``, ``"cuda"``, ... (default: CUDA when available).
        batch_size: Texts per forward pass.
        query_prefix: Prepended to queries (some models, e.g. E5, expect ``"query: "``).
        document_prefix: Prepended to documents (e.g. ``"passage: "``).
        show_progress: Show a progress bar (``None``: only for long lists).
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
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model_name = model or "all-MiniLM-L6-v2"
        self.model = load_sentence_transformer(model, device)
        self.batch_size = batch_size
        self.query_prefix = query_prefix
        self.document_prefix = document_prefix
        self.show_progress = show_progress

    @property
    def dimension(self) -> int:
        """Length of each embedding vector."""
        return int(self.model.get_sentence_embedding_dimension())

    @property
    def max_tokens(self) -> int:
        """Longest input the model reads; longer texts are truncated (with a warning)."""
        return int(self.model.max_seq_length)

    def embed(self, texts: Sequence[str], *, ids: Sequence[str] | None = None) -> np.ndarray:
        """Embed documents; returns a float32 array of shape ``(len(texts), dimension)``."""
        texts = [self.document_prefix + t for t in texts]
        self._warn_if_truncated(texts, ids)
        return self._encode(texts)

    def embed_query(self, query: str) -> np.ndarray:
        """Embed one query; returns a vector of length ``dimension``."""
        text = self.query_prefix + query
        self._warn_if_truncated([text], ["query"])
        return self._encode([text])[0]

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
