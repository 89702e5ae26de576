"""Conversions between LangChain ``Document`` and core ``Passage``.

Ids and metadata survive both ways. Results are always copies: the caller's
documents are never mutated.
"""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.documents import Document

from ctx_core.types import Passage

__all__ = ["documents_to_passages", "passages_to_documents", "to_document", "to_passage"]


def to_passage(document: Document, passage_id: str | None = None) -> Passage:
    """A passage with the document's text, id and (a copy of its) metadata."""
    return Passage(
        text=document.page_content,
        id=passage_id or document.id or "",
        metadata=dict(document.metadata),
    )


def to_document(passage: Passage) -> Document:
    """A new document from a passage (id, text and metadata kept)."""
    return Document(page_content=passage.text, metadata=dict(passage.metadata), id=passage.id)


def documents_to_passages(documents: Sequence[Document]) -> list[Passage]:
    """Passages for a batch of documents, with ids unique within the batch.

    A document's own ``id`` is used when it has one and it is not repeated;
    otherwise the passage id is derived from its position (``"#3"``), so
    [`passages_to_documents`][langchain_ctx.convert.passages_to_documents] can always find the original again.
    """
    passages = []
    seen: set[str] = set()
    for position, document in enumerate(documents):
        if not isinstance(document, Document):
            raise TypeError(
                f"documents[{position}] must be a Document, got {type(document).__name__}"
            )
        pid = document.id if document.id and document.id not in seen else f"#{position}"
        seen.add(pid)
        passages.append(to_passage(document, pid))
    return passages


def passages_to_documents(
    passages: Sequence[Passage], originals: Sequence[Document]
) -> list[Document]:
    """Copies of the original documents, in the passages' order, with metadata the core added.

    Keys the core added or rewrote (scores, explanations) are merged into a copy of
    each original document's metadata, replacing a stale value the document already
    carried (e.g. a ``relevance_score`` from an earlier rerank); the document's text
    and id stay as they were.
    """
    by_id = dict(zip((p.id for p in documents_to_passages(originals)), originals, strict=True))
    result = []
    for passage in passages:
        original = by_id[passage.id]
        # A value the core did not touch is the very object the caller's metadata holds.
        added = {
            k: v
            for k, v in passage.metadata.items()
            if k not in original.metadata or original.metadata[k] is not v
        }
        result.append(original.model_copy(update={"metadata": {**original.metadata, **added}}))
    return result
