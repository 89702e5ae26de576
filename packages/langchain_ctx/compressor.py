"""A LangChain document compressor over any core reranker."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence

from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from pydantic import ConfigDict, Field, StrictInt

from ctx_core.rerank import PassageReranker
from langchain_ctx._config import CtxSerializable
from langchain_ctx.convert import documents_to_passages, passages_to_documents

__all__ = ["CtxDocumentCompressor"]


class CtxDocumentCompressor(BaseDocumentCompressor, CtxSerializable):
    """Base of this package's compressors: convert, delegate to a core reranker, convert back.

    Subclasses say which core reranker to use in [`core_reranker`][langchain_ctx.compressor.CtxDocumentCompressor.core_reranker].
    Scores land in ``metadata["relevance_score"]``; every document is a copy.
    Round-trips through ``model_dump``/``model_validate`` and ``dumpd``/``load``
    (core components are written as their configs, see `langchain_ctx._config`).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    top_n: StrictInt | None = Field(
        default=3, ge=1, description="How many documents to keep (None: all)."
    )

    @abstractmethod
    def core_reranker(self) -> PassageReranker:
        """The framework-neutral reranker doing the work."""

    def compress_documents(
        self,
        documents: Sequence[Document],
        query: str,
        callbacks: Callbacks | None = None,
    ) -> Sequence[Document]:
        """Rerank ``documents`` for ``query`` and keep the best ``top_n``."""
        return self.rerank_documents(documents, query)

    async def acompress_documents(
        self,
        documents: Sequence[Document],
        query: str,
        callbacks: Callbacks | None = None,
    ) -> Sequence[Document]:
        """Async twin of [`compress_documents`][langchain_ctx.compressor.CtxDocumentCompressor.compress_documents]."""
        return await self.arerank_documents(documents, query)

    def rerank_documents(
        self, documents: Sequence[Document], query: str, top_n: int | None = None
    ) -> list[Document]:
        """Like [`compress_documents`][langchain_ctx.compressor.CtxDocumentCompressor.compress_documents], with ``top_n`` overridable per call."""
        if not documents:
            return []
        passages = documents_to_passages(documents)
        kept = self.core_reranker().rerank(
            query, passages, top_n=self.top_n if top_n is None else top_n
        )
        return passages_to_documents(kept, documents)

    async def arerank_documents(
        self, documents: Sequence[Document], query: str, top_n: int | None = None
    ) -> list[Document]:
        """Async twin of [`rerank_documents`][langchain_ctx.compressor.CtxDocumentCompressor.rerank_documents]."""
        if not documents:
            return []
        passages = documents_to_passages(documents)
        kept = await self.core_reranker().arerank(
            query, passages, top_n=self.top_n if top_n is None else top_n
        )
        return passages_to_documents(kept, documents)
