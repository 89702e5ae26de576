"""Structurization: organize a text as scope -> aspects -> descriptions (after StruXGPT).

Examples:
    >>> from ctx_core.structure import HeuristicStructurizer, render
    >>> s = HeuristicStructurizer().structurize("Cats purr. Cats nap.")
    >>> print(render(s, "retrieval"))
    Cats.
    **Purr and nap**: Cats purr. Cats nap.
"""

from ctx_core.structure.base import (
    FORMAT_KEY,
    ORIGINAL_KEY,
    STRUCTURE_KEY,
    BaseStructurizer,
    Structurizer,
    original_text,
    structure_from_metadata,
)
from ctx_core.structure.heuristic import HeuristicStructurizer
from ctx_core.structure.render import FORMATS, Part, render, render_parts
from ctx_core.structure.sentences import Sentence, split_sentences
from ctx_core.structure.tree import Aspect, Structure, StructureError

__all__ = [
    "FORMATS",
    "FORMAT_KEY",
    "ORIGINAL_KEY",
    "STRUCTURE_KEY",
    "Aspect",
    "BaseStructurizer",
    "HeuristicStructurizer",
    "Part",
    "Sentence",
    "Structure",
    "StructureError",
    "Structurizer",
    "original_text",
    "render",
    "render_parts",
    "split_sentences",
    "structure_from_metadata",
]
