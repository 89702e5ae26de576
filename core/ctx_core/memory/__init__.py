"""Document memories (MoM): outline, scenario chunks, core contents, and a three-layer index.

After "MoM: Mixtures of Scenario-Aware Document Memories for Retrieval-Augmented
Generation Systems" (2025). A :class:`DocumentMemory` holds a document's outline, its
scenario chunks (spans that tile the source exactly) and a core content per chunk.
:class:`HeuristicMemoryExtractor` builds one without an LLM (the offline default);
:class:`MemoryExtractor` has an LLM write several candidates and keeps the best.
:class:`MemoryIndex` embeds three layers per document and searches them together.

Examples:
    >>> from ctx_core.memory import MemoryIndex
    >>> index = MemoryIndex()
    >>> index.add_texts(["Paris is the capital of France."], ids=["paris"])
    ['paris']
    >>> index.search("capital of France", k=1)[0].id
    'paris#0'
"""

from ctx_core.memory.anchors import (
    AnchorMatch,
    ParsedMemory,
    ParsedScenario,
    RecoveredSpan,
    find_anchor,
    parse_memory_reply,
    recover_spans,
)
from ctx_core.memory.base import MemoryExtractorLike, check_document
from ctx_core.memory.extractor import DEFAULT_PATHS, MemoryExtractor, link_outline
from ctx_core.memory.heuristic import HeuristicMemoryExtractor
from ctx_core.memory.index import MemoryIndex, layer_rows
from ctx_core.memory.model import (
    LAYERS,
    MEMORY_FORMAT_VERSION,
    DocumentMemory,
    LayerRow,
    OutlineEntry,
    ScenarioChunk,
)
from ctx_core.memory.selection import (
    EmbeddingJudge,
    LogprobJudge,
    reciprocal_rank_fusion,
)
from ctx_core.memory.store import SCHEMA_VERSION, MemoryIndexError

__all__ = [
    "DEFAULT_PATHS",
    "LAYERS",
    "MEMORY_FORMAT_VERSION",
    "SCHEMA_VERSION",
    "AnchorMatch",
    "DocumentMemory",
    "EmbeddingJudge",
    "HeuristicMemoryExtractor",
    "LayerRow",
    "LogprobJudge",
    "MemoryExtractor",
    "MemoryExtractorLike",
    "MemoryIndex",
    "MemoryIndexError",
    "OutlineEntry",
    "ParsedMemory",
    "ParsedScenario",
    "RecoveredSpan",
    "ScenarioChunk",
    "check_document",
    "find_anchor",
    "layer_rows",
    "link_outline",
    "parse_memory_reply",
    "reciprocal_rank_fusion",
    "recover_spans",
]
