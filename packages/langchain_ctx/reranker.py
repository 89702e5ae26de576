"""``ContextReranker``: rerank LangChain documents with any core scorer."""

from __future__ import annotations

from typing import Any

from pydantic import Field, PrivateAttr

from ctx_core.rerank import Reranker
from ctx_core.scoring import EmbeddingScorer, Scorer
from langchain_ctx._config import Component
from langchain_ctx.compressor import CtxDocumentCompressor

__all__ = ["ContextReranker"]


class ContextReranker(CtxDocumentCompressor):
    """Reranks documents with a core scorer; use it in a ``ContextualCompressionRetriever``.

    Attributes:
        scorer: Any core scorer, or its ``config()`` dict (default: packaged MiniLM
            ``EmbeddingScorer``); ``model_dump`` writes its config.
        top_n: How many documents to keep (``None``: all).
        score_threshold: Drop documents scoring below this value.

    Examples:
        >>> from langchain_core.documents import Document
        >>> from langchain_ctx import ContextReranker
        >>> reranker = ContextReranker(top_n=1)
        >>> docs = [Document("Bananas are yellow."), Document("Paris is in France.")]
        >>> [d.page_content for d in reranker.compress_documents(docs, "Where is Paris?")]
        ['Paris is in France.']
    """

    scorer: Component = Field(
        default=None, description="A ctx_core scorer or its config; default: EmbeddingScorer()."
    )
    score_threshold: float | None = Field(
        default=None, description="Minimum score to keep a document."
    )
    _scorer: Scorer = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        self._scorer = self.scorer if self.scorer is not None else EmbeddingScorer()

    def core_reranker(self) -> Reranker:
        """A core :class:`~ctx_core.Reranker` with this compressor's settings."""
        return Reranker(self._scorer, score_threshold=self.score_threshold)
