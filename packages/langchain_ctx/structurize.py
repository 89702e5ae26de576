"""Structurization as a LangChain document transformer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from langchain_core.documents import BaseDocumentTransformer, Document
from langchain_core.language_models import BaseChatModel
from pydantic import BeforeValidator, ConfigDict, Field, PlainSerializer

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
            :class:`~ctx_core.structure.HeuristicStructurizer` (MiniLM topic segmentation).
            A LangChain chat model is taken too, as ``LLMStructurizer(LangChainLLM(chat_model))``.
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
        BaseStructurizer,
        BeforeValidator(rebuild_field),
        BeforeValidator(_from_chat_model),
        PlainSerializer(write_field, when_used="always"),
    ] = Field(default_factory=HeuristicStructurizer)
    format: Literal["reading", "outline", "retrieval", "markdown", "json"] = "retrieval"

    def transform_documents(
        self, documents: Sequence[Document], **kwargs: Any
    ) -> Sequence[Document]:
        """Structurize ``documents`` (keyword ``format=...`` overrides the field for this call)."""
        format = validate_format(kwargs.get("format", self.format))
        if not documents:
            return []
        passages = documents_to_passages(documents)
        done = self.structurizer.structurize_passages(passages, format=format)
        return [_copy(d, p.text, p.metadata) for d, p in zip(documents, done, strict=True)]

    async def atransform_documents(
        self, documents: Sequence[Document], **kwargs: Any
    ) -> Sequence[Document]:
        """Async twin of :meth:`transform_documents` (native async for LLM structurizers)."""
        format = validate_format(kwargs.get("format", self.format))
        if not documents:
            return []
        passages = documents_to_passages(documents)
        done = await self.structurizer.astructurize_passages(passages, format=format)
        return [_copy(d, p.text, p.metadata) for d, p in zip(documents, done, strict=True)]


def _copy(document: Document, text: str, metadata: dict[str, Any]) -> Document:
    return document.model_copy(update={"page_content": text, "metadata": dict(metadata)})
