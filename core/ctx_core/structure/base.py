"""What every structurizer offers, and how structures travel with passages.

A structurizer turns text into a [`Structure`][ctx_core.structure.tree.Structure]. The
passage helpers render that structure as the passage's new text and keep the
rest in metadata:

=========================  ==========================================================
``metadata["structure"]``  the structure as JSON (without the source: see below)
``metadata["original_text"]``  the text before structurization, byte for byte
``metadata["structure_format"]``  the format the text was rendered in
=========================  ==========================================================

The id and every other metadata key stay as they were. A passage that already
carries a structure is structurized again from its ``original_text``, so applying
a structurizer twice gives the same result as applying it once.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol, runtime_checkable

from ctx_core.progress import progress
from ctx_core.structure.render import FORMATS, render
from ctx_core.structure.sentences import Sentence, split_sentences
from ctx_core.structure.tree import Structure
from ctx_core.types import Passage, ensure_passages

__all__ = [
    "FORMAT_KEY",
    "ORIGINAL_KEY",
    "STRUCTURE_KEY",
    "BaseStructurizer",
    "Structurizer",
    "original_text",
    "structure_from_metadata",
]

logger = logging.getLogger(__name__)

STRUCTURE_KEY = "structure"
ORIGINAL_KEY = "original_text"
FORMAT_KEY = "structure_format"


@runtime_checkable
class Structurizer(Protocol):
    """Anything that structurizes text."""

    def structurize(self, text: str) -> Structure:
        """The structure of ``text``."""
        ...

    async def astructurize(self, text: str) -> Structure:
        """Async twin of [`structurize`][ctx_core.structure.base.Structurizer.structurize]."""
        ...


def validate_text(text: object, argument: str = "text") -> list[Sentence]:
    """The sentences of ``text``; raises naming ``argument`` when it is not a str or has none."""
    if not isinstance(text, str):
        raise TypeError(f"{argument} must be a str, got {type(text).__name__}")
    sentences = split_sentences(text)
    if not sentences:
        raise ValueError(f"{argument} must contain some text, got {text!r}")
    return sentences


def validate_format(format: object) -> str:
    """``format`` when it is one of `ctx_core.structure.render.FORMATS`, else a ValueError."""
    if format not in FORMATS:
        raise ValueError(f"format must be one of {list(FORMATS)}, got {format!r}")
    return str(format)


def original_text(passage: Passage) -> str:
    """The text a passage had before any structurization (its ``text`` when it has none)."""
    if STRUCTURE_KEY in passage.metadata and isinstance(passage.metadata.get(ORIGINAL_KEY), str):
        return str(passage.metadata[ORIGINAL_KEY])
    return passage.text


def structure_from_metadata(metadata: Mapping[str, Any]) -> Structure:
    """Rebuild the structure a structurized passage, document or node carries in its metadata.

    Raises:
        KeyError: The metadata has no structure.
    """
    if STRUCTURE_KEY not in metadata:
        raise KeyError(f"metadata has no {STRUCTURE_KEY!r} key: was it structurized?")
    data = metadata[STRUCTURE_KEY]
    source = metadata.get(ORIGINAL_KEY)
    if isinstance(data, str):
        return Structure.from_json(data, source=source)
    return Structure.from_dict(data, source=source)


class BaseStructurizer(ABC):
    """Base class: implement [`structurize_sentences`][ctx_core.structure.base.BaseStructurizer.structurize_sentences]; the rest comes for free.

    Subclasses get text validation, async (a worker thread unless overridden),
    batches with a progress bar, and the passage helpers.
    """

    #: Short name recorded in ``Structure.metadata["structurizer"]``.
    name = "base"

    def structurize(self, text: str) -> Structure:
        """The structure of ``text``.

        Raises:
            TypeError: ``text`` is not a str.
            ValueError: ``text`` is empty or blank.
        """
        sentences = validate_text(text)
        return self.structurize_sentences(text, sentences)

    async def astructurize(self, text: str) -> Structure:
        """Async twin of [`structurize`][ctx_core.structure.base.BaseStructurizer.structurize] (runs it in a worker thread)."""
        validate_text(text)
        return await asyncio.to_thread(self.structurize, text)

    @abstractmethod
    def structurize_sentences(self, source: str, sentences: Sequence[Sentence]) -> Structure:
        """Structure a run of sentences of ``source``.

        The result's ``sentences`` are exactly ``sentences`` (indices are positions in
        that list), so a caller can structure part of a long text and shift the
        indices. ``sentences`` is never empty.
        """

    def structurize_many(
        self, texts: Sequence[str], *, show_progress: bool | None = None
    ) -> list[Structure]:
        """Structure several texts (subclasses may batch model calls)."""
        for i, text in enumerate(texts):
            validate_text(text, f"texts[{i}]")
        return [
            self.structurize(text)
            for text in progress(texts, desc="structurizing", show=show_progress, unit="text")
        ]

    async def astructurize_many(self, texts: Sequence[str]) -> list[Structure]:
        """Async twin of [`structurize_many`][ctx_core.structure.base.BaseStructurizer.structurize_many] (the whole batch in one worker thread)."""
        return await asyncio.to_thread(self.structurize_many, texts)

    # -- passages ------------------------------------------------------------

    def structurize_passage(self, passage: Passage, *, format: str = "reading") -> Passage:
        """A copy of ``passage`` whose text is its rendered structure (see the module docs).

        A blank passage is returned unchanged.
        """
        return self.structurize_passages([passage], format=format)[0]

    def structurize_passages(
        self,
        passages: Sequence[Passage | str],
        *,
        format: str = "reading",
        show_progress: bool | None = None,
    ) -> list[Passage]:
        """Structurize each passage (see [`structurize_passage`][ctx_core.structure.base.BaseStructurizer.structurize_passage]), in one batch."""
        validate_format(format)
        items = ensure_passages(passages)
        sources = [original_text(p) for p in items]
        todo = [i for i, s in enumerate(sources) if s.strip()]
        structures = self.structurize_many([sources[i] for i in todo], show_progress=show_progress)
        result = list(items)
        for i, structure in zip(todo, structures, strict=True):
            result[i] = attach_structure(items[i], structure, format)
        return result

    async def astructurize_passages(
        self, passages: Sequence[Passage | str], *, format: str = "reading"
    ) -> list[Passage]:
        """Async twin of [`structurize_passages`][ctx_core.structure.base.BaseStructurizer.structurize_passages]."""
        validate_format(format)
        items = ensure_passages(passages)
        sources = [original_text(p) for p in items]
        todo = [i for i, s in enumerate(sources) if s.strip()]
        structures = await self.astructurize_many([sources[i] for i in todo])
        result = list(items)
        for i, structure in zip(todo, structures, strict=True):
            result[i] = attach_structure(items[i], structure, format)
        return result


def attach_structure(passage: Passage, structure: Structure, format: str) -> Passage:
    """A copy of ``passage`` with ``structure`` rendered as its text and stored in its metadata."""
    return replace(
        passage,
        text=render(structure, format),
        metadata={
            **passage.metadata,
            STRUCTURE_KEY: structure.to_json(include_source=False),
            ORIGINAL_KEY: structure.source,
            FORMAT_KEY: format,
        },
    )
