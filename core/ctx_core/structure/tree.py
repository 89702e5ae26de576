"""The structure tree: a scope, aspects with sub-aspects, and descriptions that are source sentences.

A [`Structure`][ctx_core.structure.tree.Structure] never holds rewritten text. Its descriptions are indices into
`Structure.sentences`, and every sentence is an exact slice of
`Structure.source`. A valid structure uses every sentence exactly once, in
reading order: walking the tree depth first (an aspect's own descriptions before
its sub-aspects) visits sentences ``0, 1, ..., n - 1``. So nothing can be invented
and nothing can be lost; only the headings (scope and aspect names) are new.

Examples:
    >>> from ctx_core.structure import Aspect, Structure
    >>> s = Structure.from_text_and_groups(
    ...     "Cats purr. Cats nap. Dogs bark. Dogs fetch.",
    ...     scope="pets",
    ...     groups=[("cats", [0, 1]), ("dogs", [2, 3])],
    ... )
    >>> [a.name for a in s.aspects], s.descriptions(s.aspects[1])
    (['cats', 'dogs'], ['Dogs bark.', 'Dogs fetch.'])
    >>> Structure.from_json(s.to_json()) == s
    True
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ctx_core.errors import CtxError
from ctx_core.structure.sentences import Sentence, split_sentences

__all__ = ["Aspect", "Structure", "StructureError"]

SCHEMA_VERSION = 1


class StructureError(CtxError, ValueError):
    """A structure breaks an invariant (a sentence lost, repeated or out of order, a bad offset)."""


@dataclass(frozen=True)
class Aspect:
    """One aspect of the scope: a name, its own descriptions and optional sub-aspects.

    Attributes:
        name: A short heading for the aspect (new text, the only kind a structure adds).
        sentences: Indices of the source sentences that describe this aspect directly
            (its descriptions), in reading order. They come before any sub-aspect's.
        subaspects: Finer aspects, in reading order.
        title: The first of ``sentences`` is a heading line of the source (``## Methods``)
            that titles this aspect: renderers write it as the aspect's heading instead
            of ``name`` (which then holds its text without Markdown markers).
    """

    name: str
    sentences: tuple[int, ...] = ()
    subaspects: tuple[Aspect, ...] = ()
    title: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise TypeError(f"Aspect name must be a str, got {type(self.name).__name__}")
        object.__setattr__(self, "sentences", tuple(int(i) for i in self.sentences))
        object.__setattr__(self, "subaspects", tuple(self.subaspects))

    def all_sentences(self) -> list[int]:
        """Every sentence under this aspect, its own first, then each sub-aspect's (depth first)."""
        result = list(self.sentences)
        for sub in self.subaspects:
            result.extend(sub.all_sentences())
        return result

    def span(self) -> tuple[int, int]:
        """``(first, last)`` sentence index under this aspect (``(-1, -1)`` when empty)."""
        indices = self.all_sentences()
        return (indices[0], indices[-1]) if indices else (-1, -1)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``name``, ``sentences``, ``subaspects``, and ``title`` when set)."""
        data: dict[str, Any] = {
            "name": self.name,
            "sentences": list(self.sentences),
            "subaspects": [sub.to_dict() for sub in self.subaspects],
        }
        if self.title:
            data["title"] = True
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Aspect:
        """Inverse of [`to_dict`][ctx_core.structure.tree.Aspect.to_dict]."""
        if "name" not in data:
            raise StructureError(f"aspect record has no 'name': keys are {sorted(data)}")
        return cls(
            name=str(data["name"]),
            sentences=tuple(int(i) for i in data.get("sentences", ())),
            subaspects=tuple(cls.from_dict(sub) for sub in data.get("subaspects", ())),
            title=bool(data.get("title", False)),
        )


@dataclass(frozen=True)
class Structure:
    """A text organized as scope -> aspects -> descriptions (source sentences).

    Attributes:
        scope: A noun phrase naming what the whole text is about.
        aspects: The top-level aspects, in reading order.
        sentences: The source split into sentences (exact slices with offsets).
        source: The original text.
        metadata: How the structure was made: ``structurizer`` (``"llm"`` or
            ``"heuristic"``), ``repairs`` made to an LLM answer, ``fallback`` reason, ...
    """

    scope: str
    aspects: tuple[Aspect, ...]
    sentences: tuple[Sentence, ...]
    source: str
    metadata: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "aspects", tuple(self.aspects))
        object.__setattr__(self, "sentences", tuple(self.sentences))

    # -- construction ------------------------------------------------------

    @classmethod
    def from_text_and_groups(
        cls,
        text: str,
        *,
        scope: str,
        groups: Sequence[tuple[str, Sequence[int]]],
        metadata: dict[str, Any] | None = None,
    ) -> Structure:
        """A flat structure over ``split_sentences(text)``: one aspect per ``(name, indices)`` group."""
        structure = cls(
            scope=scope,
            aspects=tuple(Aspect(name, tuple(indices)) for name, indices in groups),
            sentences=tuple(split_sentences(text)),
            source=text,
            metadata=dict(metadata or {}),
        )
        structure.validate()
        return structure

    def with_metadata(self, **extra: Any) -> Structure:
        """A copy with ``extra`` added to `metadata`."""
        return replace(self, metadata={**self.metadata, **extra})

    # -- reading -----------------------------------------------------------

    def descriptions(self, aspect: Aspect) -> list[str]:
        """The texts of ``aspect``'s own descriptions (exact source sentences, without its title)."""
        indices = aspect.sentences[1:] if aspect.title else aspect.sentences
        return [self.sentences[i].text for i in indices]

    def walk(self) -> Iterator[tuple[tuple[int, ...], Aspect]]:
        """Every aspect depth first, with its path of 1-based positions (``(2, 1)`` = aspect 2.1)."""

        def visit(
            aspects: Sequence[Aspect], prefix: tuple[int, ...]
        ) -> Iterator[tuple[tuple[int, ...], Aspect]]:
            for position, aspect in enumerate(aspects, start=1):
                path = (*prefix, position)
                yield path, aspect
                yield from visit(aspect.subaspects, path)

        yield from visit(self.aspects, ())

    def sentence_order(self) -> list[int]:
        """Sentence indices in the order a depth-first walk of the tree visits them."""
        order: list[int] = []
        for aspect in self.aspects:
            order.extend(aspect.all_sentences())
        return order

    def headings(self) -> list[str]:
        """The scope and every aspect name: the only text a structure adds to its source."""
        return [self.scope, *(aspect.name for _, aspect in self.walk())]

    @property
    def depth(self) -> int:
        """Number of aspect levels (1 for a flat structure, 0 when there is no aspect)."""
        return max((len(path) for path, _ in self.walk()), default=0)

    # -- invariants --------------------------------------------------------

    def validate(self) -> None:
        """Raise [`StructureError`][ctx_core.structure.tree.StructureError] unless every sentence is used once, in order, at its offsets.

        Checks: each sentence is an exact slice of `source`; the depth-first
        order of descriptions is ``0..n-1`` (so none is lost, repeated or moved);
        the scope and aspect names are non-empty single lines; no aspect is empty.
        """
        if not isinstance(self.scope, str) or not self.scope.strip() or "\n" in self.scope:
            raise StructureError(f"scope must be a non-empty single line, got {self.scope!r}")
        for i, sentence in enumerate(self.sentences):
            if self.source[sentence.start : sentence.end] != sentence.text:
                raise StructureError(
                    f"sentence {i} is not the source slice [{sentence.start}:{sentence.end}]"
                )
        for path, aspect in self.walk():
            label = ".".join(map(str, path))
            if not aspect.name.strip() or "\n" in aspect.name:
                raise StructureError(f"aspect {label} needs a non-empty single-line name")
            if not aspect.all_sentences():
                raise StructureError(f"aspect {label} ({aspect.name!r}) has no description")
            if aspect.title and (
                not aspect.sentences
                or not 0 <= aspect.sentences[0] < len(self.sentences)
                or self.sentences[aspect.sentences[0]].kind != "heading"
            ):
                raise StructureError(f"aspect {label} is titled but has no heading sentence first")
        order = self.sentence_order()
        expected = list(range(len(self.sentences)))
        if order != expected:
            seen = set(order)
            missing = [i for i in expected if i not in seen]
            repeated = sorted({i for i in order if order.count(i) > 1})
            unknown = sorted(i for i in seen if not 0 <= i < len(self.sentences))
            raise StructureError(
                "sentences must be used exactly once in reading order: "
                f"missing {missing[:10]}, repeated {repeated[:10]}, unknown {unknown[:10]}"
                + ("" if missing or repeated or unknown else ", out of order")
            )

    @property
    def is_valid(self) -> bool:
        """Whether [`validate`][ctx_core.structure.tree.Structure.validate] passes."""
        try:
            self.validate()
        except StructureError:
            return False
        return True

    # -- (de)serialization -------------------------------------------------

    def to_dict(self, *, include_source: bool = True) -> dict[str, Any]:
        """A JSON-ready dict.

        Args:
            include_source: Keep the source text (needed to rebuild the structure
                with [`from_dict`][ctx_core.structure.tree.Structure.from_dict]; sentences always carry their own text and offsets).
        """
        data: dict[str, Any] = {
            "version": SCHEMA_VERSION,
            "scope": self.scope,
            "aspects": [aspect.to_dict() for aspect in self.aspects],
            "sentences": [sentence.to_dict() for sentence in self.sentences],
            "metadata": self.metadata,
        }
        if include_source:
            data["source"] = self.source
        return data

    def to_json(self, *, indent: int | None = None, include_source: bool = True) -> str:
        """[`to_dict`][ctx_core.structure.tree.Structure.to_dict] as a JSON string (non-ASCII kept as is)."""
        return json.dumps(
            self.to_dict(include_source=include_source), ensure_ascii=False, indent=indent
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str | None = None) -> Structure:
        """Rebuild a structure from [`to_dict`][ctx_core.structure.tree.Structure.to_dict] output and validate it.

        Args:
            data: The dict.
            source: The source text, when ``data`` was written without it.
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"data must be a mapping, got {type(data).__name__}")
        for key in ("scope", "aspects", "sentences"):
            if key not in data:
                raise StructureError(f"structure record has no {key!r}: keys are {sorted(data)}")
        text = data.get("source", source)
        if text is None:
            raise StructureError("structure record has no 'source': pass source=...")
        sentences = tuple(
            Sentence(
                text=str(s["text"]),
                start=int(s["start"]),
                end=int(s["end"]),
                block=int(s.get("block", 0)),
                kind=str(s.get("kind", "text")),
                level=int(s.get("level", 0)),
            )
            for s in data["sentences"]
        )
        structure = cls(
            scope=str(data["scope"]),
            aspects=tuple(Aspect.from_dict(a) for a in data["aspects"]),
            sentences=sentences,
            source=str(text),
            metadata=dict(data.get("metadata") or {}),
        )
        structure.validate()
        return structure

    @classmethod
    def from_json(cls, text: str, source: str | None = None) -> Structure:
        """Inverse of [`to_json`][ctx_core.structure.tree.Structure.to_json]."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise StructureError(f"not valid structure JSON: {err.msg}") from err
        return cls.from_dict(data, source=source)
