"""Structurization as a batch transform (see [`ctx_core.structure`][ctx_core.structure]).

Examples:
    >>> from ctx_core.batch import StructurizeTransform
    >>> transform = StructurizeTransform()
    >>> [row] = transform.process([{"id": "d1", "text": "Cats purr. Cats nap."}])
    >>> row["structured"]["id"], row["structured"]["metadata"]["original_text"]
    ('d1', 'Cats purr. Cats nap.')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from ctx_core.batch.documents import DocumentFields, document_of
from ctx_core.batch.transforms import BatchTransform
from ctx_core.types import Passage

__all__ = ["STRUCTURIZERS", "StructurizeTransform", "build_structurizer"]

#: Structurizers by name.
STRUCTURIZERS = ("heuristic", "llm")


def build_structurizer(name: str, options: Mapping[str, Any] | None = None) -> Any:
    """A [`HeuristicStructurizer`][ctx_core.structure.heuristic.HeuristicStructurizer] or
    [`LLMStructurizer`][ctx_core.structure.llm.LLMStructurizer] built from plain options.

    For ``"llm"``, ``options["llm"]`` names the model (alias, Hugging Face id or path;
    default ``"smollm2"``).

    Raises:
        ValueError: ``name`` is not one of `STRUCTURIZERS`.
    """
    from ctx_core.structure import HeuristicStructurizer, LLMStructurizer

    if name == "heuristic":
        return HeuristicStructurizer(**dict(options or {}))
    if name == "llm":
        return LLMStructurizer(**dict(options or {}))
    raise ValueError(f"structurizer must be one of {', '.join(STRUCTURIZERS)}, got {name!r}")


class StructurizeTransform(BatchTransform):
    """Structurize the text of each document row (scope -> aspects -> descriptions).

    Output field (default ``"structured"``): the passage that
    ``structurizer.structurize_passages(passages, format=format)`` returns for the
    row: ``id``, the rendered ``text``, and ``metadata`` holding the row's metadata
    plus the structure (JSON), the original text and the format. The rows of one
    batch go to the structurizer in one call (an LLM structurizer batches their
    prompts), exactly as a single process calling ``structurize_passages`` on the
    same rows would. A row with a blank text comes out with its passage unchanged.

    Args:
        structurizer: ``"heuristic"`` (no LLM; MiniLM topic segmentation when a text
            has no headings or lists) or ``"llm"``.
        structurizer_options: Keyword arguments of the structurizer (plain data, e.g.
            ``{"llm": "smollm2", "chunk_tokens": 1024}``).
        format: Rendering of the new text (see `ctx_core.structure.render.FORMATS`).
        text_field: Row field holding the text.
        id_field: Row field holding the id (optional in a row).
        metadata_field: Row field holding the metadata (optional in a row).
        output_field: Row field the structurized passage is written to.
    """

    name = "structurize"

    def __init__(
        self,
        structurizer: str = "heuristic",
        structurizer_options: Mapping[str, Any] | None = None,
        *,
        format: str = "reading",
        text_field: str = "text",
        id_field: str = "id",
        metadata_field: str = "metadata",
        output_field: str = "structured",
    ) -> None:
        from ctx_core.structure.render import FORMATS

        if format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
        self.fields = DocumentFields(text_field, id_field, metadata_field)
        self._config = {
            "structurizer": structurizer,
            "structurizer_options": dict(structurizer_options or {}),
            "format": format,
            **self.fields.config(),
            "output_field": output_field,
        }
        self.structurizer = build_structurizer(structurizer, structurizer_options)
        self.format = format
        self.output_field = output_field

    def process(self, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Structurize the rows of one batch in one call of the structurizer."""
        passages = []
        for record in records:
            text, doc_id, metadata = document_of(record, self.fields)
            passages.append(Passage(text, id=doc_id or "", metadata=metadata))
        # Rows may repeat a document (same text, hence the same derived id): the
        # structurizer sees positional ids, and each passage gets its own id back.
        stand_ins = [replace(p, id=f"row-{i}") for i, p in enumerate(passages)]
        done = self.structurizer.structurize_passages(stand_ins, format=self.format)
        return [
            {**record, self.output_field: replace(out, id=passage.id).to_dict()}
            for record, passage, out in zip(records, passages, done, strict=True)
        ]

    def process_record(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Structurize one row (a batch of one)."""
        return self.process([record])[0]
