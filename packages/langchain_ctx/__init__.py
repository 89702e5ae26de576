"""LangChain adapters for ctx_core: convert, delegate to the core, convert back.

Examples:
    >>> from langchain_ctx import ContextReranker, RerankingRetriever
"""

from langchain_ctx.compressor import CtxDocumentCompressor
from langchain_ctx.context_tools import ContextTool, ContextToolkit
from langchain_ctx.embeddings import CtxEmbeddings
from langchain_ctx.incontext import InContextReranker
from langchain_ctx.llm import CtxChatModel, LangChainLLM, LangChainScoringLLM
from langchain_ctx.memory import MemoryRetriever
from langchain_ctx.middleware import ActiveContextMiddleware
from langchain_ctx.policy_model import ScriptedPolicyChatModel
from langchain_ctx.reranker import ContextReranker
from langchain_ctx.retriever import RerankingRetriever
from langchain_ctx.structurize import StructurizeTransformer
from langchain_ctx.udcg import UDCGReranker

__all__ = [
    "ActiveContextMiddleware",
    "ContextReranker",
    "ContextTool",
    "ContextToolkit",
    "CtxChatModel",
    "CtxDocumentCompressor",
    "CtxEmbeddings",
    "InContextReranker",
    "LangChainLLM",
    "LangChainScoringLLM",
    "MemoryRetriever",
    "RerankingRetriever",
    "ScriptedPolicyChatModel",
    "StructurizeTransformer",
    "UDCGReranker",
]
