"""Structurization: organize a text as scope -> aspects -> descriptions (after StruXGPT).

Examples:
    >>> from ctx_core.structure import HeuristicStructurizer, render
    >>> s = HeuristicStructurizer().structurize("Cats purr. Cats nap.")
    >>> print(render(s, "retrieval"))
    Cats purr.
    **Nap**: Cats purr. Cats nap.
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
from ctx_core.structure.llm import LLMStructurizer
from ctx_core.structure.parse import ParsedStructure, StructureParseError, parse_structure
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
    "LLMStructurizer",
    "ParsedStructure",
    "Part",
    "Sentence",
    "Structure",
    "StructureError",
    "StructureParseError",
    "Structurizer",
    "original_text",
    "parse_structure",
    "render",
    "render_parts",
    "split_sentences",
    "structure_from_metadata",
]
