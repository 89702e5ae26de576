"""LlamaIndex adapters for ctx_core: convert, delegate to the core, convert back.

Examples:
    >>> from llamaindex_ctx import ContextRerankPostprocessor, CtxEmbedding
"""

from llamaindex_ctx.convert import nodes_to_passages, passages_to_nodes, to_node, to_passage
from llamaindex_ctx.embeddings import CtxEmbedding
from llamaindex_ctx.llm import CtxLLM, LlamaIndexLLM
from llamaindex_ctx.memory import MemoryExtractTransform, MemoryRetriever
from llamaindex_ctx.postprocessor import CtxRerankPostprocessor
from llamaindex_ctx.reranker import ContextRerankPostprocessor
from llamaindex_ctx.structurize import StructurizePostprocessor, StructurizeTransform

__all__ = [
    "ContextRerankPostprocessor",
    "CtxEmbedding",
    "CtxLLM",
    "CtxRerankPostprocessor",
    "LlamaIndexLLM",
    "MemoryExtractTransform",
    "MemoryRetriever",
    "StructurizePostprocessor",
    "StructurizeTransform",
    "nodes_to_passages",
    "passages_to_nodes",
    "to_node",
    "to_passage",
]
