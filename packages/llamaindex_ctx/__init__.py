"""LlamaIndex adapters for ctx_core: convert, delegate to the core, convert back.

Examples:
    >>> from llamaindex_ctx import ContextRerankPostprocessor, CtxEmbedding
"""

from llamaindex_ctx.context_tools import ContextToolSpec
from llamaindex_ctx.convert import nodes_to_passages, passages_to_nodes, to_node, to_passage
from llamaindex_ctx.embeddings import CtxEmbedding
from llamaindex_ctx.incontext import InContextRerankPostprocessor
from llamaindex_ctx.llm import CtxLLM, LlamaIndexLLM
from llamaindex_ctx.memory import MemoryExtractTransform, MemoryRetriever
from llamaindex_ctx.postprocessor import CtxRerankPostprocessor
from llamaindex_ctx.reranker import ContextRerankPostprocessor
from llamaindex_ctx.structurize import StructurizePostprocessor, StructurizeTransform
from llamaindex_ctx.udcg import UDCGPostprocessor

__all__ = [
    "ContextRerankPostprocessor",
    "ContextToolSpec",
    "CtxEmbedding",
    "CtxLLM",
    "CtxRerankPostprocessor",
    "InContextRerankPostprocessor",
    "LlamaIndexLLM",
    "MemoryExtractTransform",
    "MemoryRetriever",
    "StructurizePostprocessor",
    "StructurizeTransform",
    "UDCGPostprocessor",
    "nodes_to_passages",
    "passages_to_nodes",
    "to_node",
    "to_passage",
]
