"""LlamaIndex adapters for ctx_core: convert, delegate to the core, convert back.

Examples:
    >>> from llamaindex_ctx import ContextRerankPostprocessor, CtxEmbedding
"""

import warnings
from typing import Any

from llamaindex_ctx.context_memory import ActiveContextMemory
from llamaindex_ctx.context_tools import ContextToolSpec
from llamaindex_ctx.embeddings import CtxEmbedding
from llamaindex_ctx.incontext import InContextRerankPostprocessor
from llamaindex_ctx.llm import CtxLLM, LlamaIndexLLM, LlamaIndexScoringLLM
from llamaindex_ctx.memory import MemoryExtractTransform, MemoryRetriever
from llamaindex_ctx.policy_llm import ScriptedPolicyLLM
from llamaindex_ctx.postprocessor import CtxRerankPostprocessor
from llamaindex_ctx.reranker import ContextRerankPostprocessor
from llamaindex_ctx.structurize import StructurizePostprocessor, StructurizeTransform
from llamaindex_ctx.udcg import UDCGRerankPostprocessor

__all__ = [
    "ActiveContextMemory",
    "ContextRerankPostprocessor",
    "ContextToolSpec",
    "CtxEmbedding",
    "CtxLLM",
    "CtxRerankPostprocessor",
    "InContextRerankPostprocessor",
    "LlamaIndexLLM",
    "LlamaIndexScoringLLM",
    "MemoryExtractTransform",
    "MemoryRetriever",
    "ScriptedPolicyLLM",
    "StructurizePostprocessor",
    "StructurizeTransform",
    "UDCGRerankPostprocessor",
]

# Names this package published before the adapter naming rule (docs/architecture.md).
_RENAMED = {"UDCGPostprocessor": "UDCGRerankPostprocessor"}


def __getattr__(name: str) -> Any:
    if name in _RENAMED:
        warnings.warn(
            f"llamaindex_ctx.{name} is now {_RENAMED[name]}; the old name will be removed",
            DeprecationWarning,
            stacklevel=2,
        )
        return globals()[_RENAMED[name]]
    raise AttributeError(f"module 'llamaindex_ctx' has no attribute {name!r}")
