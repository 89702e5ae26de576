"""Structurization as a LangChain document transformer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from langchain_core.documents import BaseDocumentTransformer, Document
from langchain_core.language_models import BaseChatModel
from pydantic import BeforeValidator, ConfigDict, Field, PlainSerializer, PrivateAttr

from ctx_core.structure import BaseStructurizer, HeuristicStructurizer, LLMStructurizer
from ctx_core.structure.base import validate_format
from langchain_ctx._config import CtxSerializable, rebuild_field, write_field
from langchain_ctx.convert import documents_to_passages
from langchain_ctx.llm import LangChainLLM

__all__ = ["StructurizeTransformer"]


def _from_chat_model(value: Any) -> Any:
    """A LangChain chat model becomes an LLM structurizer reading with it."""
    if isinstance(value, BaseChatModel):
        return LLMStructurizer(LangChainLLM(value))
    return value


class StructurizeTransformer(BaseDocumentTransformer, CtxSerializable):
    """Rewrite each document as its structure: scope, aspects and the original sentences.

    The rendered structure becomes ``page_content``; the original text goes to
    ``metadata["original_text"]``, the structure (JSON) to ``metadata["structure"]`` and
    the format to ``metadata["structure_format"]``. Ids and every other metadata key are
    kept; documents come back as copies, in order; blank documents are returned
    unchanged. Re-applying the transformer restructures from ``original_text``.

    Attributes:
        structurizer: Any core structurizer or its ``config()`` dict; default the offline
            [`HeuristicStructurizer`][ctx_core.structure.HeuristicStructurizer] (MiniLM
            topic segmentation); a LangChain chat model is taken too, as
            ``LLMStructurizer(LangChainLLM(chat_model))``.
        model: Embedding model id or path of the default heuristic structurizer.
        format: ``"retrieval"`` (default: ``**aspect**: sentences`` lines, for indexing),
            ``"reading"``, ``"outline"``, ``"markdown"`` or ``"json"``.

    Examples:
        >>> from langchain_core.documents import Document
        >>> from langchain_ctx import StructurizeTransformer
        >>> [doc] = StructurizeTransformer().transform_documents(
        ...     [Document("Cats purr. Cats nap.", id="d1")])
        >>> doc.id, doc.metadata["original_text"]
        ('d1', 'Cats purr. Cats nap.')
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    structurizer: Annotated[
        BaseStructurizer | None,
        BeforeValidator(rebuild_field),
        BeforeValidator(_from_chat_model),
        PlainSerializer(write_field, when_used="always"),
    ] = Field(default=None)
    model: str | None = Field(
        default=None, description="Embedding model id or path of the default structurizer."
    )
    format: Literal["reading", "outline", "retrieval", "markdown", "json"] = "retrieval"
    _structurizer: BaseStructurizer = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        if self.structurizer is not None and self.model is not None:
            raise ValueError(
                f"model={self.model!r} names the embedding model of the default structurizer; "
                f"the {type(self.structurizer).__name__} given already has its model"
            )
        self._structurizer = self.structurizer or HeuristicStructurizer(self.model)

    @property
    def core_structurizer(self) -> BaseStructurizer:
        """The core structurizer doing the work."""
        return self._structurizer

    def transform_documents(
        self, documents: Sequence[Document], **kwargs: Any
    ) -> Sequence[Document]:
        """Structurize ``documents`` (keyword ``format=...`` overrides the field for this call)."""
        format = validate_format(kwargs.get("format", self.format))
        if not documents:
            return []
        passages = documents_to_passages(documents)
        done = self._structurizer.structurize_passages(passages, format=format)
        return [_copy(d, p.text, p.metadata) for d, p in zip(documents, done, strict=True)]

    async def atransform_documents(
        self, documents: Sequence[Document], **kwargs: Any
    ) -> Sequence[Document]:
        """Async twin of [`transform_documents`][langchain_ctx.structurize.StructurizeTransformer.transform_documents] (native async for LLM structurizers)."""
        format = validate_format(kwargs.get("format", self.format))
        if not documents:
            return []
        passages = documents_to_passages(documents)
        done = await self._structurizer.astructurize_passages(passages, format=format)
        return [_copy(d, p.text, p.metadata) for d, p in zip(documents, done, strict=True)]


def _copy(document: Document, text: str, metadata: dict[str, Any]) -> Document:
    return document.model_copy(update={"page_content": text, "metadata": dict(metadata)})
