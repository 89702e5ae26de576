"""Render a [`Structure`][ctx_core.structure.tree.Structure] as text for a reader or a retriever.

Five formats:

============  =====================================================================
``reading``   reading comprehension: ``This passage talks about {scope}:`` then
              ``1. {aspect}: {its sentences}`` (sub-aspects as ``1.1.``)
``outline``   numbered outline: the scope, aspects ``1.``, one description per line ``1.1.``
``retrieval`` for indexing: ``{scope}.`` then ``**{aspect}**: {its sentences}``
``markdown``  ``# scope``, ``## aspect`` (deeper levels ``###``...), paragraphs of sentences
``json``      [`Structure.to_json`][ctx_core.structure.tree.Structure.to_json] (exact sentences, offsets and the tree)
============  =====================================================================

Every format writes each source sentence exactly once, in reading order, and adds
nothing but headings (the scope and the aspect names) and fixed markup (numbers,
``**``, ``#``, colons, line breaks and the ``This passage talks about`` lead). A
heading line of the source that titles an aspect (``Aspect.title``) is written once,
as that aspect's heading, without its Markdown ``#`` markers.
With ``collapse_whitespace=True`` (the default) line breaks inside a sentence
(hard-wrapped text) become single spaces so lists stay on one line; the JSON
form always keeps the exact text. [`render_parts`][ctx_core.structure.render.render_parts] returns the same output
cut into labelled parts, which is how the tests check faithfulness.

Examples:
    >>> from ctx_core.structure import Structure, render
    >>> s = Structure.from_text_and_groups(
    ...     "Cats purr. Cats nap. Dogs bark.", scope="pets",
    ...     groups=[("Cats", [0, 1]), ("Dogs", [2])])
    >>> print(render(s, "reading"))
    This passage talks about pets:
    1. Cats: Cats purr. Cats nap.
    2. Dogs: Dogs bark.
    >>> print(render(s, "retrieval"))
    pets.
    **Cats**: Cats purr. Cats nap.
    **Dogs**: Dogs bark.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ctx_core.structure.sentences import heading_text
from ctx_core.structure.tree import Aspect, Structure

__all__ = ["FORMATS", "Format", "Part", "render", "render_parts"]

Format = Literal["reading", "outline", "retrieval", "markdown", "json"]
FORMATS: tuple[str, ...] = ("reading", "outline", "retrieval", "markdown", "json")

_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Part:
    """A piece of rendered text.

    Attributes:
        kind: ``"sentence"`` (a source sentence), ``"title"`` (a source heading line
            used as an aspect's heading), ``"heading"`` (the scope or a generated aspect
            name) or ``"markup"`` (numbering, separators, fixed words).
        text: The text written.
        index: For sentences and titles, the sentence index; else ``-1``.
    """

    kind: str
    text: str
    index: int = -1


def render(
    structure: Structure, format: str = "reading", *, collapse_whitespace: bool = True
) -> str:
    """Render ``structure`` in one of `FORMATS`.

    Args:
        structure: The structure.
        format: ``"reading"``, ``"outline"``, ``"retrieval"``, ``"markdown"`` or ``"json"``.
        collapse_whitespace: Write runs of white space inside a sentence as one space.

    Raises:
        ValueError: Unknown ``format``.
    """
    return "".join(
        part.text
        for part in render_parts(structure, format, collapse_whitespace=collapse_whitespace)
    )


def render_parts(
    structure: Structure, format: str = "reading", *, collapse_whitespace: bool = True
) -> list[Part]:
    """Like [`render`][ctx_core.structure.render.render], as a list of labelled [`Part`][ctx_core.structure.render.Part] objects."""
    if not isinstance(structure, Structure):
        raise TypeError(f"structure must be a Structure, got {type(structure).__name__}")
    if format not in FORMATS:
        raise ValueError(f"format must be one of {list(FORMATS)}, got {format!r}")
    if format == "json":
        return [Part("markup", structure.to_json(indent=2))]
    writer = _Writer(structure, collapse_whitespace)
    if format == "reading":
        writer.reading()
    elif format == "outline":
        writer.outline()
    elif format == "retrieval":
        writer.retrieval()
    else:
        writer.markdown()
    parts = writer.parts
    while parts and parts[-1].kind == "markup" and not parts[-1].text.strip():
        parts.pop()
    return parts


class _Writer:
    def __init__(self, structure: Structure, collapse: bool) -> None:
        self.structure = structure
        self.collapse = collapse
        self.parts: list[Part] = []

    def markup(self, text: str) -> None:
        self.parts.append(Part("markup", text))

    def heading(self, text: str) -> None:
        self.parts.append(Part("heading", text))

    def sentence(self, index: int) -> None:
        text = self.structure.sentences[index].text
        if self.collapse:
            text = _WHITESPACE.sub(" ", text)
        self.parts.append(Part("sentence", text, index))

    def name(self, aspect: Aspect) -> None:
        """The aspect's heading: its source title line when it has one, else its name."""
        if aspect.title:
            index = aspect.sentences[0]
            self.parts.append(
                Part("title", heading_text(self.structure.sentences[index].text), index)
            )
        else:
            self.heading(aspect.name)

    @staticmethod
    def own(aspect: Aspect) -> tuple[int, ...]:
        """The aspect's descriptions, without its title line."""
        return aspect.sentences[1:] if aspect.title else aspect.sentences

    def sentences(self, indices: Sequence[int], block_separator: str = " ") -> None:
        for position, index in enumerate(indices):
            if position:
                same_block = (
                    self.structure.sentences[index].block
                    == self.structure.sentences[indices[position - 1]].block
                )
                self.markup(" " if same_block else block_separator)
            self.sentence(index)

    # -- formats -------------------------------------------------------------

    def reading(self) -> None:
        self.markup("This passage talks about ")
        self.heading(self.structure.scope)
        self.markup(":\n")
        self._reading_aspects(self.structure.aspects, (), 0)

    def _reading_aspects(
        self, aspects: Sequence[Aspect], prefix: tuple[int, ...], depth: int
    ) -> None:
        for position, aspect in enumerate(aspects, start=1):
            path = (*prefix, position)
            self.markup("   " * depth + ".".join(map(str, path)) + ". ")
            self.name(aspect)
            if self.own(aspect):
                self.markup(": ")
                self.sentences(self.own(aspect))
            self.markup("\n")
            self._reading_aspects(aspect.subaspects, path, depth + 1)

    def outline(self) -> None:
        self.heading(self.structure.scope)
        self.markup("\n")
        self._outline_aspects(self.structure.aspects, (), 0)

    def _outline_aspects(
        self, aspects: Sequence[Aspect], prefix: tuple[int, ...], depth: int, first: int = 1
    ) -> None:
        # An aspect's own descriptions are numbered first, its sub-aspects after them.
        for position, aspect in enumerate(aspects, start=first):
            path = (*prefix, position)
            self.markup("   " * depth + ".".join(map(str, path)) + ". ")
            self.name(aspect)
            self.markup("\n")
            own = self.own(aspect)
            for number, index in enumerate(own, start=1):
                self.markup("   " * (depth + 1) + ".".join(map(str, (*path, number))) + ". ")
                self.sentence(index)
                self.markup("\n")
            self._outline_aspects(aspect.subaspects, path, depth + 1, len(own) + 1)

    def retrieval(self) -> None:
        self.heading(self.structure.scope)
        self.markup(".\n")
        for _, aspect in self.structure.walk():
            self.markup("**")
            self.name(aspect)
            self.markup("**")
            if self.own(aspect):
                self.markup(": ")
                self.sentences(self.own(aspect))
            self.markup("\n")

    def markdown(self) -> None:
        self.markup("# ")
        self.heading(self.structure.scope)
        self.markup("\n\n")
        for path, aspect in self.structure.walk():
            self.markup("#" * min(len(path) + 1, 6) + " ")
            self.name(aspect)
            self.markup("\n\n")
            if self.own(aspect):
                self.sentences(self.own(aspect), block_separator="\n\n")
                self.markup("\n\n")
