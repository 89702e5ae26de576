"""``RerankingRetriever``: any LangChain retriever followed by one of our rerankers."""

from __future__ import annotations

from typing import Annotated, Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import BeforeValidator, ConfigDict, Field, PlainSerializer, StrictInt

from langchain_ctx._config import CtxSerializable, lc_object, revive
from langchain_ctx.compressor import CtxDocumentCompressor

__all__ = ["RerankingRetriever"]


class RerankingRetriever(BaseRetriever, CtxSerializable):
    """Retrieve with ``base_retriever``, rerank with ``reranker``, return the best ``k``.

    Attributes:
        base_retriever: Any LangChain retriever (it should return more than ``k``).
        reranker: One of this package's rerankers (e.g. ``ContextReranker``).
        k: How many documents to return; ``invoke(query, k=...)`` overrides it.

    ``model_dump`` writes the reranker and the base retriever in LangChain's ``dumpd``
    form (and ``model_validate`` reads it back). For a base retriever LangChain cannot
    serialize (most vector-store retrievers) ``model_dump`` raises ``ConfigError`` and
    ``load`` refuses the ``dumpd`` form; dump without it and rebuild with the object:
    ``model_validate({**r.model_dump(exclude={"base_retriever"}), "base_retriever": b})``.

    Examples:
        >>> from langchain_core.vectorstores import InMemoryVectorStore
        >>> from langchain_ctx import ContextReranker, CtxEmbeddings, RerankingRetriever
        >>> store = InMemoryVectorStore.from_texts(
        ...     ["Paris is in France.", "Rome is in Italy.", "Bananas are yellow."], CtxEmbeddings()
        ... )
        >>> retriever = RerankingRetriever(
        ...     base_retriever=store.as_retriever(search_kwargs={"k": 3}), reranker=ContextReranker(), k=1
        ... )
        >>> retriever.invoke("Which country is Paris in?")[0].page_content
        'Paris is in France.'
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    base_retriever: Annotated[
        BaseRetriever,
        BeforeValidator(revive),
        PlainSerializer(lambda value: lc_object(value, "base_retriever"), when_used="always"),
    ]
    reranker: Annotated[
        CtxDocumentCompressor,
        BeforeValidator(revive),
        PlainSerializer(lambda value: lc_object(value, "reranker"), when_used="always"),
    ]
    k: StrictInt = Field(default=4, ge=1)

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        candidates = self.base_retriever.invoke(
            query, config={"callbacks": run_manager.get_child()}, **kwargs
        )
        return self.reranker.rerank_documents(candidates, query, top_n=self.k if k is None else k)

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        k: int | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        candidates = await self.base_retriever.ainvoke(
            query, config={"callbacks": run_manager.get_child()}, **kwargs
        )
        return await self.reranker.arerank_documents(
            candidates, query, top_n=self.k if k is None else k
        )
