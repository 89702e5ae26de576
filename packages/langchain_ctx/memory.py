"""``MemoryRetriever``: a LangChain retriever over a ctx_core document-memory index."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import BeforeValidator, ConfigDict, Field, PlainSerializer, SerializationInfo

from ctx_core.embeddings import Embedder
from ctx_core.errors import ConfigError
from ctx_core.memory import MemoryIndex
from ctx_core.memory.base import MemoryExtractorLike
from ctx_core.memory.model import LAYERS
from ctx_core.types import stable_id
from langchain_ctx._config import CtxSerializable, rebuild_field, write_field
from langchain_ctx.convert import to_document

__all__ = ["MemoryRetriever"]


def _index_config(index: MemoryIndex | None, info: SerializationInfo) -> Any:
    """An empty index as its settings (``config()``); one holding memories as the object
    itself in Python mode, and a ``ConfigError`` in JSON mode (a config has no rows)."""
    if index is not None and len(index):
        if not info.mode_is_json():
            return index
        raise ConfigError(
            f"index holds {len(index)} memories, which a config does not carry; save it "
            "with index.save(path) and rebuild with MemoryIndex.load(path)"
        )
    return write_field(index, info)


class MemoryRetriever(BaseRetriever, CtxSerializable):
    """Retrieve scenario chunks from document memories (outline, chunks, core contents).

    Each document returned is a chunk of one of the memorized documents: its
    ``metadata`` holds the source document's metadata plus ``doc_id``, ``chunk_index``,
    ``start``/``end`` offsets, ``heading``, ``core_content``, ``memory_layers`` (which of
    the three layers found it) and ``relevance_score``. ``Document.id`` is
    ``f"{doc_id}#{chunk_index}"``.

    Attributes:
        index: The [`MemoryIndex`][ctx_core.memory.MemoryIndex] searched, or the ``config()``
            of an empty one; default: a new empty index over ``model``. ``model_dump`` writes an empty index's settings; an index holding
            memories raises ``ConfigError`` (save it with ``index.save(path)`` instead).
        model: Embedding model id or path of a new index (default: packaged MiniLM).
        k: How many chunks to return; ``invoke(query, k=...)`` overrides it.
        layers: Layers to search (default: ``("chunk", "outline", "core")``).

    Examples:
        >>> from langchain_core.documents import Document
        >>> from langchain_ctx import MemoryRetriever
        >>> retriever = MemoryRetriever.from_documents(
        ...     [Document("Paris is the capital of France.", id="fr"), Document("Bananas are yellow.", id="ba")],
        ...     k=1,
        ... )
        >>> [d.id for d in retriever.invoke("What is the capital of France?")]
        ['fr#0']
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    index: Annotated[
        MemoryIndex | None,
        BeforeValidator(rebuild_field),
        PlainSerializer(_index_config, when_used="always"),
    ] = None
    model: str | None = Field(
        default=None, description="Embedding model id or path of a new index."
    )
    k: int = Field(default=4, ge=1)
    layers: tuple[str, ...] = Field(default=LAYERS)

    def model_post_init(self, context: Any, /) -> None:
        if self.index is None:
            # ``model`` is shorthand for a new index over it; the index's config names it.
            self.index = MemoryIndex(self.model)
            self.model = None
        elif self.model is not None:
            raise ValueError(
                f"model={self.model!r} names the embedding model of a new index; "
                "the index given already has its embedder"
            )

    def _index(self) -> MemoryIndex:
        if self.index is None:  # pragma: no cover - model_post_init always sets it
            raise RuntimeError("MemoryRetriever has no index")
        return self.index

    @classmethod
    def from_documents(
        cls,
        documents: Sequence[Document],
        *,
        extractor: MemoryExtractorLike | None = None,
        embedder: Embedder | str | None = None,
        show_progress: bool | None = None,
        **kwargs: Any,
    ) -> MemoryRetriever:
        """Memorize LangChain documents into a new in-memory index and retrieve from it.

        Args:
            documents: The documents; each ``Document.id`` (or an id derived from the
                text) becomes the memory's ``doc_id``.
            extractor: A ctx_core memory extractor (default: the heuristic one).
            embedder: Embedder of the index (default: packaged MiniLM).
            show_progress: Progress bar over documents.
            **kwargs: Other fields (``k``, ``layers``, ``callbacks``, ...).
        """
        index = MemoryIndex(embedder)
        retriever = cls(index=index, **kwargs)
        retriever.add_documents(documents, extractor=extractor, show_progress=show_progress)
        return retriever

    def add_documents(
        self,
        documents: Sequence[Document],
        *,
        extractor: MemoryExtractorLike | None = None,
        replace: bool = False,
        show_progress: bool | None = None,
    ) -> list[str]:
        """Memorize more documents into the index (others are not re-embedded).

        Returns:
            The doc ids used.

        Raises:
            TypeError: an item is not a ``Document``.
            ValueError: two documents share an id, or a document is empty or binary.
        """
        for i, document in enumerate(documents):
            if not isinstance(document, Document):
                raise TypeError(f"documents[{i}] must be a Document, got {type(document).__name__}")
        ids = [d.id or stable_id(d.page_content, d.metadata) for d in documents]
        return self._index().add_texts(
            [d.page_content for d in documents],
            ids=ids,
            metadatas=[dict(d.metadata) for d in documents],
            extractor=extractor,
            replace=replace,
            show_progress=show_progress,
        )

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        passages = self._index().search(query, k=self.k if k is None else k, layers=self.layers)
        return [to_document(p) for p in passages]

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        k: int | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        passages = await self._index().asearch(
            query, k=self.k if k is None else k, layers=self.layers
        )
        return [to_document(p) for p in passages]
