"""What every memory extractor shares: the base class and the check of a document's text.

[`MemoryExtractorLike`][ctx_core.memory.base.MemoryExtractorLike] is the base of
[`HeuristicMemoryExtractor`][ctx_core.memory.heuristic.HeuristicMemoryExtractor] and
[`MemoryExtractor`][ctx_core.memory.extractor.MemoryExtractor]: a subclass writes ``extract`` for one
document and inherits ``extract_many``, which checks its arguments and names the
document that failed. Both extractors first pass the document through
[`check_document`][ctx_core.memory.base.check_document].

Examples:
    >>> from ctx_core.memory.base import MemoryExtractorLike, check_document
    >>> check_document("Plain text.")
    'Plain text.'
    >>> check_document("Café".encode("utf-8"))
    'Café'
    >>> check_document(b"\\xff\\xfe binary")
    Traceback (most recent call last):
    ...
    ValueError: document is not valid UTF-8 text (byte 0xff at offset 0); decode it to str first
    >>> from ctx_core.memory import DocumentMemory, OutlineEntry, ScenarioChunk
    >>> class WholeText(MemoryExtractorLike):  # one chunk per document
    ...     name = "whole"
    ...     def extract(self, document, *, doc_id=None, metadata=None):
    ...         text = check_document(document)
    ...         return DocumentMemory(doc_id or "", text, [OutlineEntry("All")],
    ...                               [ScenarioChunk(0, len(text), text, 0)])
    >>> [m.doc_id for m in WholeText().extract_many(["Cats purr.", "Dogs bark."], ids=["a", "b"])]
    ['a', 'b']
    >>> WholeText().extract_many(["Cats purr.", "   "], ids=["a", "b"])
    Traceback (most recent call last):
    ...
    ValueError: documents['b']: document is empty (no text besides whitespace)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ctx_core.memory.model import DocumentMemory
from ctx_core.progress import progress

__all__ = ["MemoryExtractorLike", "check_document"]

# Share of control characters (other than tab, newline, carriage return, form feed)
# above which a text is taken for binary data.
_MAX_CONTROL_SHARE = 0.05
_ALLOWED_CONTROLS = {"\t", "\n", "\r", "\f", "\v"}


def check_document(document: object, argument: str = "document") -> str:
    """Return ``document`` as a ``str`` fit for memory extraction, or raise a clear error.

    ``bytes`` are decoded as strict UTF-8. Text is never changed: no stripping, no
    normalization, so chunk offsets point into exactly what the caller gave.

    Raises:
        TypeError: ``document`` is neither ``str`` nor ``bytes``.
        ValueError: it is empty or whitespace only, not valid UTF-8, or binary data
            (NUL bytes, many control characters, unpaired surrogates).
    """
    if isinstance(document, (bytes, bytearray, memoryview)):
        raw = bytes(document)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ValueError(
                f"{argument} is not valid UTF-8 text (byte 0x{raw[err.start]:02x} at offset "
                f"{err.start}); decode it to str first"
            ) from err
    elif isinstance(document, str):
        text = document
    else:
        raise TypeError(f"{argument} must be a str or UTF-8 bytes, got {type(document).__name__}")
    if not text.strip():
        raise ValueError(f"{argument} is empty (no text besides whitespace)")
    if "\x00" in text:
        raise ValueError(f"{argument} looks like binary data (it contains NUL characters)")
    controls = sum(1 for ch in text if ch < " " and ch not in _ALLOWED_CONTROLS)
    if controls > _MAX_CONTROL_SHARE * len(text):
        raise ValueError(
            f"{argument} looks like binary data ({controls} control characters in "
            f"{len(text)}); give text"
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(
            f"{argument} is not valid text: unpaired surrogate at offset {err.start} "
            "(was it decoded with errors='surrogateescape'?)"
        ) from err
    return text


class MemoryExtractorLike:
    """What every memory extractor offers: ``extract`` one document, ``extract_many``."""

    name = "extractor"

    def extract(
        self,
        document: str | bytes,
        *,
        doc_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> DocumentMemory:  # pragma: no cover - interface
        """Build the memory of one document."""
        raise NotImplementedError

    def extract_many(
        self,
        documents: Sequence[str | bytes],
        *,
        ids: Sequence[str] | None = None,
        metadatas: Sequence[Mapping[str, Any]] | None = None,
        show_progress: bool | None = None,
    ) -> list[DocumentMemory]:
        """Build the memories of several documents, with a progress bar over documents.

        Raises:
            ValueError: ``ids`` or ``metadatas`` differ in length from ``documents``, or a
                document is bad (the message names its position).
        """
        if isinstance(documents, (str, bytes)):
            raise TypeError("documents must be a sequence of documents, not a single one")
        documents = list(documents)
        for name, values in (("ids", ids), ("metadatas", metadatas)):
            if values is not None and len(values) != len(documents):
                raise ValueError(f"{name} has {len(values)} entries for {len(documents)} documents")
        if ids is not None and len(set(ids)) != len(ids):
            raise ValueError("ids contains duplicates")
        memories = []
        for i, document in enumerate(
            progress(documents, desc=f"memories ({self.name})", show=show_progress, unit="doc")
        ):
            try:
                memories.append(
                    self.extract(
                        document,
                        doc_id=ids[i] if ids is not None else None,
                        metadata=metadatas[i] if metadatas is not None else None,
                    )
                )
            except ValueError as err:
                label = ids[i] if ids is not None else i
                raise ValueError(f"documents[{label!r}]: {err}") from err
        return memories
