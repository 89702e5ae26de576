"""Bi-encoder relevance: cosine similarity of query and passage embeddings."""

from __future__ import annotations

from typing import Any

from ctx_core._registry import Configurable
from ctx_core.embeddings import Embedder
from ctx_core.scoring.base import BaseScorer
from ctx_core.types import Passage

__all__ = ["EmbeddingScorer"]


class EmbeddingScorer(BaseScorer, Configurable):
    """Scores passages by cosine similarity with the query (default model: packaged MiniLM).

    Args:
        model: Hugging Face id or local path of a sentence-transformers model, or an
            [`Embedder`][ctx_core.embeddings.Embedder] to share.
        device: Device for the model (default: CUDA when available).
        batch_size: Passages per forward pass.
        show_progress: Progress bar (``None``: on a terminal, once embedding has run a
            couple of seconds).
        backend: ``"torch"``, ``"onnx"``, ``"onnx-int8"`` or ``"auto"`` (see
            [`Embedder`][ctx_core.embeddings.Embedder]); ignored when ``model`` is an
            ``Embedder``.
        threads: Threads of an ONNX session (default: the cores this process may use).

    Examples:
        >>> from ctx_core.scoring import EmbeddingScorer
        >>> scorer = EmbeddingScorer()
        >>> a, b = scorer.score("capital of France", ["Paris is the capital of France.", "Bananas are yellow."])
        >>> a > b
        True
    """

    name = "embedding"

    def __init__(
        self,
        model: str | Embedder | None = None,
        *,
        device: str | None = None,
        batch_size: int = 32,
        show_progress: bool | None = None,
        backend: str = "auto",
        threads: int | None = None,
    ) -> None:
        if isinstance(model, Embedder):
            self.embedder = model
        else:
            self.embedder = Embedder(
                model,
                device=device,
                batch_size=batch_size,
                show_progress=show_progress,
                backend=backend,
                threads=threads,
            )
        self.model_name = self.embedder.model_name
        self.device = device
        self.batch_size = self.embedder.batch_size
        self.backend = self.embedder.backend
        self.threads = self.embedder.threads

    def config(self) -> dict[str, Any]:
        """The model by id or path, the device asked for and the batch size."""
        return {
            "type": "EmbeddingScorer",
            "model": self.model_name,
            "device": self.device,
            "batch_size": self.batch_size,
            "backend": self.backend,
            "threads": self.threads,
        }

    def _score(self, query: str, passages: list[Passage]) -> list[float]:
        q = self.embedder.embed_query(query)
        docs = self.embedder.embed([p.text for p in passages], ids=[p.id for p in passages])
        return [float(x) for x in docs @ q]
