"""Document rows: the input of the structurization and document-memory transforms.

A document row has a text field and, optionally, an id and a metadata object
(by default ``text``, ``id`` and ``metadata``, the fields of a passage record).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["DocumentFields", "document_of"]


class DocumentFields:
    """Where a row keeps its text, id and metadata.

    Args:
        text_field: Row field holding the text (required in every row).
        id_field: Row field holding the id (optional in a row; non-strings are turned into strings).
        metadata_field: Row field holding a metadata object (optional in a row).
    """

    def __init__(
        self, text_field: str = "text", id_field: str = "id", metadata_field: str = "metadata"
    ) -> None:
        for name, value in (
            ("text_field", text_field),
            ("id_field", id_field),
            ("metadata_field", metadata_field),
        ):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty string, got {value!r}")
        self.text_field = text_field
        self.id_field = id_field
        self.metadata_field = metadata_field

    def config(self) -> dict[str, str]:
        """The field names, for a job manifest."""
        return {
            "text_field": self.text_field,
            "id_field": self.id_field,
            "metadata_field": self.metadata_field,
        }


def document_of(
    record: Mapping[str, Any], fields: DocumentFields
) -> tuple[str, str | None, dict[str, Any]]:
    """``(text, id or None, metadata)`` of a document row.

    Raises:
        TypeError: the row is not a mapping, the text is not a string or the metadata
            not an object.
        ValueError: the row has no text field.
    """
    if not isinstance(record, Mapping):
        raise TypeError(f"each row must be a mapping, got {type(record).__name__}")
    if fields.text_field not in record:
        raise ValueError(f"row has no {fields.text_field!r} field: fields are {sorted(record)}")
    text = record[fields.text_field]
    if not isinstance(text, str):
        raise TypeError(f"row field {fields.text_field!r} must be a str, got {type(text).__name__}")
    raw_id = record.get(fields.id_field)
    doc_id = None if raw_id is None or raw_id == "" else str(raw_id)
    metadata = record.get(fields.metadata_field)
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, Mapping):
        raise TypeError(
            f"row field {fields.metadata_field!r} must be an object, got {type(metadata).__name__}"
        )
    return text, doc_id, dict(metadata)
