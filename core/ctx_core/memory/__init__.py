"""Document memories (MoM): outline, scenario chunks, core contents, and a three-layer index.

After "MoM: Mixtures of Scenario-Aware Document Memories for Retrieval-Augmented
Generation Systems" (2025). A [`DocumentMemory`][ctx_core.memory.model.DocumentMemory] holds a document's outline, its
scenario chunks (spans that tile the source exactly) and a core content per chunk.
[`HeuristicMemoryExtractor`][ctx_core.memory.heuristic.HeuristicMemoryExtractor] builds one without an LLM (the offline default);
[`MemoryExtractor`][ctx_core.memory.extractor.MemoryExtractor] has an LLM write several candidates and keeps the best.
[`MemoryIndex`][ctx_core.memory.index.MemoryIndex] embeds three layers per document and searches them together.

Examples:
    >>> from ctx_core.memory import MemoryIndex
    >>> index = MemoryIndex()
    >>> index.add_texts(["Paris is the capital of France."], ids=["paris"])
    ['paris']
    >>> index.search("capital of France", k=1)[0].id
    'paris#0'
"""

from ctx_core.memory.extractor import MemoryExtractor
from ctx_core.memory.heuristic import HeuristicMemoryExtractor
from ctx_core.memory.index import MemoryIndex
from ctx_core.memory.model import DocumentMemory, OutlineEntry, ScenarioChunk
from ctx_core.memory.selection import EmbeddingJudge, LogprobJudge
from ctx_core.memory.store import MemoryIndexError

__all__ = [
    "DocumentMemory",
    "EmbeddingJudge",
    "HeuristicMemoryExtractor",
    "LogprobJudge",
    "MemoryExtractor",
    "MemoryIndex",
    "MemoryIndexError",
    "OutlineEntry",
    "ScenarioChunk",
]
