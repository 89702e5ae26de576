"""The document-memory data model: an outline, scenario chunks that tile the source, core contents.

It also holds the rows a [`MemoryIndex`][ctx_core.memory.index.MemoryIndex] embeds per memory
([`LayerRow`][ctx_core.memory.model.LayerRow], `LAYERS`) and a memory as the index holds it
([`IndexedMemory`][ctx_core.memory.model.IndexedMemory]), shared by the index and its SQLite store.

A [`DocumentMemory`][ctx_core.memory.model.DocumentMemory] keeps the source text it was built from. Its chunks are
contiguous spans given by character offsets; together they *tile* the source: the
first starts at 0, each starts where the previous one ends, the last ends at
``len(source)``. Concatenating the chunk texts therefore returns the source byte for
byte, and nothing of the document is ever left out of the memory.

Examples:
    >>> from ctx_core.memory import DocumentMemory, OutlineEntry, ScenarioChunk
    >>> source = "Cats purr. Cats nap.\\n\\nDogs bark."
    >>> memory = DocumentMemory(
    ...     doc_id="pets",
    ...     source=source,
    ...     outline=[OutlineEntry("Cats"), OutlineEntry("Dogs")],
    ...     chunks=[
    ...         ScenarioChunk(0, 22, "Cats purr and nap.", 0),
    ...         ScenarioChunk(22, 32, "Dogs bark.", 1),
    ...     ],
    ... )
    >>> "".join(memory.chunk_texts()) == source
    True
    >>> memory.heading(1)
    'Dogs'
    >>> DocumentMemory.from_json(memory.to_json()) == memory
    True
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ctx_core.types import Passage, stable_id

__all__ = [
    "LAYERS",
    "MEMORY_FORMAT_VERSION",
    "DocumentMemory",
    "IndexedMemory",
    "LayerRow",
    "OutlineEntry",
    "ScenarioChunk",
]

#: Version of the JSON form written by [`DocumentMemory.to_dict`][ctx_core.memory.model.DocumentMemory.to_dict].
MEMORY_FORMAT_VERSION = 1

#: How a chunk's span was found (``ScenarioChunk.recovery``).
RECOVERY_KINDS = (
    "heading",  # heuristic: a section under a heading of the document
    "topic",  # heuristic: an embedding topic boundary
    "exact",  # LLM anchor found verbatim (whitespace may differ)
    "fuzzy",  # LLM anchor found by fuzzy matching
    "tail",  # start taken from the end of the previous chunk's tail anchor
    "uncovered",  # text no LLM anchor covered, segmented heuristically
)


@dataclass(frozen=True)
class OutlineEntry:
    """One heading of a document's outline.

    Args:
        title: The heading text.
        level: Nesting depth, 1 for top-level headings.
    """

    title: str
    level: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.title, str):
            raise TypeError(f"title must be a str, got {type(self.title).__name__}")
        if not isinstance(self.level, int) or self.level < 1:
            raise ValueError(f"level must be an int >= 1, got {self.level!r}")


@dataclass(frozen=True)
class ScenarioChunk:
    """One scenario memory: a contiguous span of the source and its core content.

    Args:
        start: Offset (in characters of the source string) where the span starts.
        end: Offset where it ends (exclusive).
        core_content: What the chunk is about, in a sentence or two.
        outline_index: Index of the chunk's heading in the memory's outline.
        recovery: How the span was found (``"heading"``, ``"topic"``, ``"exact"``,
            ``"fuzzy"``, ``"tail"`` or ``"uncovered"``).
    """

    start: int
    end: int
    core_content: str
    outline_index: int
    recovery: str = "topic"

    def __post_init__(self) -> None:
        for name in ("start", "end", "outline_index"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        if not isinstance(self.core_content, str):
            raise TypeError(f"core_content must be a str, got {type(self.core_content).__name__}")
        if self.recovery not in RECOVERY_KINDS:
            raise ValueError(f"recovery must be one of {RECOVERY_KINDS}, got {self.recovery!r}")


@dataclass
class DocumentMemory:
    """The memory of one document: outline, scenario chunks and their core contents.

    Args:
        doc_id: Identifier of the document (default: derived from the text).
        source: The document text, kept byte for byte.
        outline: Ordered headings.
        chunks: Spans tiling ``source``, in order, each linked to an outline entry.
        metadata: The caller's metadata for the document (copied into every chunk passage).
        info: How the memory was made (extractor name, selection scores, ...).

    Raises:
        ValueError: the chunks do not tile the source, or link to a missing outline entry.
    """

    doc_id: str
    source: str
    outline: list[OutlineEntry]
    chunks: list[ScenarioChunk]
    metadata: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.source, str):
            raise TypeError(f"source must be a str, got {type(self.source).__name__}")
        if not isinstance(self.doc_id, str):
            raise TypeError(f"doc_id must be a str, got {type(self.doc_id).__name__}")
        if not self.doc_id:
            self.doc_id = "m-" + stable_id(self.source)[2:]
        if not isinstance(self.metadata, dict):
            raise TypeError(f"metadata must be a dict, got {type(self.metadata).__name__}")
        self.outline = list(self.outline)
        self.chunks = list(self.chunks)
        self.validate()

    # -- invariants -------------------------------------------------------

    def validate(self) -> None:
        """Check the tiling invariant and the outline links; raise ``ValueError`` if broken."""
        if not self.source:
            raise ValueError(f"memory {self.doc_id!r}: source is empty")
        if not self.chunks:
            raise ValueError(f"memory {self.doc_id!r}: has no chunks")
        position = 0
        for i, chunk in enumerate(self.chunks):
            if chunk.start != position:
                kind = "gap" if chunk.start > position else "overlap"
                raise ValueError(
                    f"memory {self.doc_id!r}: chunks do not tile the source: {kind} before "
                    f"chunk {i} (starts at {chunk.start}, previous ends at {position})"
                )
            if chunk.end <= chunk.start:
                raise ValueError(
                    f"memory {self.doc_id!r}: chunk {i} is empty ({chunk.start}..{chunk.end})"
                )
            if not 0 <= chunk.outline_index < len(self.outline):
                raise ValueError(
                    f"memory {self.doc_id!r}: chunk {i} links to outline entry "
                    f"{chunk.outline_index}, but the outline has {len(self.outline)} entries"
                )
            position = chunk.end
        if position != len(self.source):
            raise ValueError(
                f"memory {self.doc_id!r}: chunks end at {position}, the source at {len(self.source)}"
            )

    # -- views ------------------------------------------------------------

    def chunk_text(self, index: int) -> str:
        """The exact source text of chunk ``index`` (whitespace included)."""
        chunk = self.chunks[index]
        return self.source[chunk.start : chunk.end]

    def chunk_texts(self) -> list[str]:
        """Exact texts of all chunks; ``"".join(...)`` equals the source."""
        return [self.source[c.start : c.end] for c in self.chunks]

    def heading(self, index: int) -> str:
        """Title of the outline entry chunk ``index`` belongs to."""
        return self.outline[self.chunks[index].outline_index].title

    def heading_path(self, index: int) -> list[str]:
        """Titles from the outline's top level down to chunk ``index``'s own heading.

        Examples:
            >>> from ctx_core.memory import DocumentMemory, OutlineEntry, ScenarioChunk
            >>> m = DocumentMemory("d", "ab", [OutlineEntry("Book"), OutlineEntry("Part", 2)],
            ...                    [ScenarioChunk(0, 2, "x", 1)])
            >>> m.heading_path(0)
            ['Book', 'Part']
        """
        position = self.chunks[index].outline_index
        entry = self.outline[position]
        path = [entry.title]
        level = entry.level
        for previous in reversed(self.outline[:position]):
            if previous.level < level:
                path.append(previous.title)
                level = previous.level
                if level == 1:
                    break
        return path[::-1]

    def core_contents(self) -> list[str]:
        """The core content of every chunk, in order."""
        return [c.core_content for c in self.chunks]

    def chunk_id(self, index: int) -> str:
        """Stable id of chunk ``index``: ``f"{doc_id}#{index}"``."""
        return f"{self.doc_id}#{index}"

    def passages(self) -> list[Passage]:
        """The chunks as passages (see [`passage`][ctx_core.memory.model.DocumentMemory.passage])."""
        return [self.passage(i) for i in range(len(self.chunks))]

    def passage(self, index: int, extra: Mapping[str, Any] | None = None) -> Passage:
        """Chunk ``index`` as a [`Passage`][ctx_core.types.Passage].

        The text is the chunk without its surrounding whitespace; ``metadata`` holds the
        document's metadata plus ``doc_id``, ``chunk_index``, ``start``/``end`` (offsets of
        that text in the source), ``heading`` (its outline entry), ``heading_path`` (the
        titles from the top of the outline down to it) and ``core_content``. The caller's metadata
        keys win when they clash with these names.
        """
        chunk = self.chunks[index]
        raw = self.source[chunk.start : chunk.end]
        lead = len(raw) - len(raw.lstrip())
        text = raw.strip() or raw
        start = chunk.start + (lead if raw.strip() else 0)
        ours: dict[str, Any] = {
            "doc_id": self.doc_id,
            "chunk_index": index,
            "start": start,
            "end": start + len(text),
            "heading": self.heading(index),
            "heading_path": self.heading_path(index),
            "core_content": chunk.core_content,
            **(extra or {}),
        }
        return Passage(text=text, id=self.chunk_id(index), metadata={**ours, **self.metadata})

    # -- serialization ----------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (see [`from_dict`][ctx_core.memory.model.DocumentMemory.from_dict])."""
        return {
            "format": "ctx-rag.document-memory",
            "version": MEMORY_FORMAT_VERSION,
            "doc_id": self.doc_id,
            "source": self.source,
            "outline": [{"title": e.title, "level": e.level} for e in self.outline],
            "chunks": [
                {
                    "start": c.start,
                    "end": c.end,
                    "core_content": c.core_content,
                    "outline_index": c.outline_index,
                    "recovery": c.recovery,
                }
                for c in self.chunks
            ],
            "metadata": self.metadata,
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DocumentMemory:
        """Rebuild a memory from [`to_dict`][ctx_core.memory.model.DocumentMemory.to_dict] output; the invariants are checked again.

        Raises:
            ValueError: a field is missing, the version is unknown or the chunks do not tile.
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"data must be a mapping, got {type(data).__name__}")
        version = data.get("version")
        if version != MEMORY_FORMAT_VERSION:
            raise ValueError(
                f"unsupported document-memory version {version!r} (this code reads "
                f"version {MEMORY_FORMAT_VERSION})"
            )
        missing = [k for k in ("doc_id", "source", "outline", "chunks") if k not in data]
        if missing:
            raise ValueError(f"document-memory record is missing {', '.join(missing)}")
        try:
            outline = [OutlineEntry(e["title"], int(e.get("level", 1))) for e in data["outline"]]
            chunks = [
                ScenarioChunk(
                    start=c["start"],
                    end=c["end"],
                    core_content=c["core_content"],
                    outline_index=c["outline_index"],
                    recovery=c.get("recovery", "topic"),
                )
                for c in data["chunks"]
            ]
        except (KeyError, TypeError) as err:
            raise ValueError(f"malformed document-memory record: {err!r}") from err
        return cls(
            doc_id=data["doc_id"],
            source=data["source"],
            outline=outline,
            chunks=chunks,
            metadata=dict(data.get("metadata") or {}),
            info=dict(data.get("info") or {}),
        )

    def to_json(self, *, indent: int | None = None) -> str:
        """The memory as a JSON string (unicode kept as is)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)

    @classmethod
    def from_json(cls, text: str | bytes) -> DocumentMemory:
        """Rebuild a memory from [`to_json`][ctx_core.memory.model.DocumentMemory.to_json] output.

        Raises:
            ValueError: the text is not JSON or not a valid memory.
        """
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"not a JSON document memory: {err.msg} at {err.pos}") from err
        return cls.from_dict(data)


#: The three layers of a memory index, in the order provenance lists them.
LAYERS = ("chunk", "outline", "core")


@dataclass(frozen=True)
class LayerRow:
    """One embedded row of a layer.

    Attributes:
        text: What was embedded.
        chunks: Indexes of the chunks a hit on this row expands to.
    """

    text: str
    chunks: tuple[int, ...]


@dataclass
class IndexedMemory:
    """A memory as a memory index holds it: its layer rows, their vectors, a fingerprint.

    Attributes:
        memory: The document memory.
        rows: The rows of each layer (keys: `LAYERS`).
        vectors: The embeddings of those rows, one matrix per layer, a row per row.
        fingerprint: Hash of what the rows depend on; saving skips unchanged memories.
    """

    memory: DocumentMemory
    rows: dict[str, list[LayerRow]]
    vectors: dict[str, np.ndarray]
    fingerprint: str
