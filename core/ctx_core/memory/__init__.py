"""Document memories (MoM): outline, scenario chunks, core contents, and a three-layer index.

After "MoM: Mixtures of Scenario-Aware Document Memories for Retrieval-Augmented
Generation Systems" (2025).
"""

from ctx_core.memory.anchors import ParsedMemory, ParsedScenario, parse_memory_reply, recover_spans
from ctx_core.memory.extractor import DEFAULT_PATHS, MemoryExtractor
from ctx_core.memory.heuristic import HeuristicMemoryExtractor, MemoryExtractorLike
from ctx_core.memory.model import (
    MEMORY_FORMAT_VERSION,
    DocumentMemory,
    OutlineEntry,
    ScenarioChunk,
)
from ctx_core.memory.source import check_document

__all__ = [
    "DEFAULT_PATHS",
    "MEMORY_FORMAT_VERSION",
    "MemoryExtractor",
    "ParsedMemory",
    "ParsedScenario",
    "parse_memory_reply",
    "recover_spans",
    "DocumentMemory",
    "HeuristicMemoryExtractor",
    "MemoryExtractorLike",
    "OutlineEntry",
    "ScenarioChunk",
    "check_document",
]
