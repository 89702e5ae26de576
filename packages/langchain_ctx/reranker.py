"""``ContextReranker``: rerank LangChain documents with any core scorer."""

from __future__ import annotations

from typing import Any

from pydantic import Field, PrivateAttr

from ctx_core.rerank import Reranker
from ctx_core.scoring import Scorer
from ctx_core.scoring.registry import resolve_scorer
from langchain_ctx._config import Component
from langchain_ctx.compressor import CtxDocumentCompressor

__all__ = ["ContextReranker"]


class ContextReranker(CtxDocumentCompressor):
    """Reranks documents with a core scorer; use it in a ``ContextualCompressionRetriever``.

    Attributes:
        scorer: Any core scorer, its ``config()`` dict, or a scorer's short name
            (``"embedding"``, ``"cross-encoder"``, ``"bm25"``, ``"cohere"``,
            ``"incontext"``); default: ``EmbeddingScorer`` over the packaged MiniLM.
            ``model_dump`` writes its config (or the name).
        model: Model id or path for a scorer given by name (or the default one), e.g.
            ``ContextReranker(model="BAAI/bge-small-en-v1.5")`` or
            ``ContextReranker(scorer="cross-encoder", model="cross-encoder/ms-marco-MiniLM-L-6-v2")``.
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
        default=None,
        description="A ctx_core scorer, its config or a scorer name; default: EmbeddingScorer().",
    )
    model: str | None = Field(
        default=None, description="Model id or path of a scorer given by name (or the default)."
    )
    score_threshold: float | None = Field(
        default=None, description="Minimum score to keep a document."
    )
    _scorer: Scorer = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        self._scorer = resolve_scorer(self.scorer, self.model)

    def core_reranker(self) -> Reranker:
        """A core [`Reranker`][ctx_core.rerank.Reranker] with this compressor's settings."""
        return Reranker(self._scorer, score_threshold=self.score_threshold)
