"""Structurization: organize a text as scope -> aspects -> descriptions (after StruXGPT).

Examples:
    >>> from ctx_core.structure import HeuristicStructurizer, render
    >>> s = HeuristicStructurizer().structurize("Cats purr. Cats nap.")
    >>> print(render(s, "retrieval"))
    Cats purr.
    **Nap**: Cats purr. Cats nap.
"""

from ctx_core.structure.base import (
    BaseStructurizer,
    Structurizer,
    original_text,
    structure_from_metadata,
)
from ctx_core.structure.heuristic import HeuristicStructurizer
from ctx_core.structure.llm import LLMStructurizer
from ctx_core.structure.render import render
from ctx_core.structure.tree import Aspect, Structure, StructureError

__all__ = [
    "Aspect",
    "BaseStructurizer",
    "HeuristicStructurizer",
    "LLMStructurizer",
    "Structure",
    "StructureError",
    "Structurizer",
    "original_text",
    "render",
    "structure_from_metadata",
]
