"""Document-memory extraction as a batch transform (see [`ctx_core.memory`][ctx_core.memory]).

Examples:
    >>> from ctx_core.batch import ExtractMemoriesTransform
    >>> transform = ExtractMemoriesTransform()
    >>> [row] = transform.process([{"id": "d1", "text": "Paris is the capital of France."}])
    >>> row["memory"]["doc_id"], len(row["memory"]["chunks"])
    ('d1', 1)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ctx_core.batch.documents import DocumentFields, document_of
from ctx_core.batch.transforms import BatchTransform
from ctx_core.models import DEFAULT_LLM

__all__ = ["EXTRACTORS", "ExtractMemoriesTransform", "build_extractor"]

#: Memory extractors by name.
EXTRACTORS = ("heuristic", "llm")


def build_extractor(
    name: str,
    options: Mapping[str, Any] | None = None,
    *,
    llm: str | None = None,
    llm_options: Mapping[str, Any] | None = None,
) -> Any:
    """A [`HeuristicMemoryExtractor`][ctx_core.memory.heuristic.HeuristicMemoryExtractor] or a
    [`MemoryExtractor`][ctx_core.memory.extractor.MemoryExtractor] over a local
    [`TransformersLLM`][ctx_core.llm.transformers_llm.TransformersLLM] named ``llm`` (default ``"smollm2"``).

    Raises:
        ValueError: ``name`` is not one of `EXTRACTORS`, or ``llm`` is given
            for the heuristic extractor.
    """
    from ctx_core.memory import HeuristicMemoryExtractor, MemoryExtractor

    if name == "heuristic":
        if llm is not None or llm_options:
            raise ValueError("llm and llm_options are only for the 'llm' extractor")
        return HeuristicMemoryExtractor(**dict(options or {}))
    if name == "llm":
        from ctx_core.llm import TransformersLLM

        model = TransformersLLM(llm or DEFAULT_LLM, **dict(llm_options or {}))
        return MemoryExtractor(model, **dict(options or {}))
    raise ValueError(f"extractor must be one of {', '.join(EXTRACTORS)}, got {name!r}")


class ExtractMemoriesTransform(BatchTransform):
    """Extract the document memory (outline, scenario chunks, core contents) of each row.

    Output field (default ``"memory"``): ``extractor.extract(text, doc_id=id,
    metadata=metadata).to_dict()``, the JSON form that
    [`from_dict`][ctx_core.memory.model.DocumentMemory.from_dict] reads back (e.g. to fill a
    [`MemoryIndex`][ctx_core.memory.index.MemoryIndex]). A row without an id gets the id the
    extractor derives from its text.

    Args:
        extractor: ``"heuristic"`` (no LLM) or ``"llm"`` (MoM extraction with candidate selection).
        extractor_options: Keyword arguments of the extractor (plain data, e.g.
            ``{"max_words": 150}``).
        llm: Model of the ``"llm"`` extractor (alias, Hugging Face id or path; default ``"smollm2"``).
        llm_options: Keyword arguments of its [`TransformersLLM`][ctx_core.llm.transformers_llm.TransformersLLM]
            (e.g. ``{"device": "cuda"}``).
        text_field: Row field holding the document text.
        id_field: Row field holding the document id (optional in a row).
        metadata_field: Row field holding the document metadata (optional in a row).
        output_field: Row field the memory is written to.
    """

    name = "extract_memories"

    def __init__(
        self,
        extractor: str = "heuristic",
        extractor_options: Mapping[str, Any] | None = None,
        *,
        llm: str | None = None,
        llm_options: Mapping[str, Any] | None = None,
        text_field: str = "text",
        id_field: str = "id",
        metadata_field: str = "metadata",
        output_field: str = "memory",
    ) -> None:
        self.fields = DocumentFields(text_field, id_field, metadata_field)
        self._config = {
            "extractor": extractor,
            "extractor_options": dict(extractor_options or {}),
            "llm": llm,
            "llm_options": dict(llm_options or {}),
            **self.fields.config(),
            "output_field": output_field,
        }
        self.extractor = build_extractor(
            extractor, extractor_options, llm=llm, llm_options=llm_options
        )
        # Load the embedder now (once per worker): the heuristic extractor records the
        # embedder's name in each memory's info only once it is loaded, so without this a
        # memory's info would depend on which documents the worker happened to see before.
        _ = self.extractor.embedder
        self.output_field = output_field

    def process_record(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """The memory of one document row."""
        text, doc_id, metadata = document_of(record, self.fields)
        try:
            memory = self.extractor.extract(text, doc_id=doc_id, metadata=metadata)
        except ValueError as err:
            raise ValueError(f"document {doc_id or '(no id)'}: {err}") from err
        return {**record, self.output_field: memory.to_dict()}
