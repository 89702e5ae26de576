"""LangChain adapters for ctx_core: convert, delegate to the core, convert back.

Examples:
    >>> from langchain_ctx import ContextReranker, RerankingRetriever
"""

from langchain_ctx.compressor import CtxDocumentCompressor
from langchain_ctx.convert import (
    documents_to_passages,
    passages_to_documents,
    to_document,
    to_passage,
)
from langchain_ctx.embeddings import CtxEmbeddings
from langchain_ctx.llm import CtxChatModel, LangChainLLM
from langchain_ctx.memory import MemoryRetriever
from langchain_ctx.reranker import ContextReranker
from langchain_ctx.retriever import RerankingRetriever
from langchain_ctx.structurize import StructurizeTransformer

__all__ = [
    "ContextReranker",
    "CtxChatModel",
    "CtxDocumentCompressor",
    "CtxEmbeddings",
    "LangChainLLM",
    "MemoryRetriever",
    "RerankingRetriever",
    "StructurizeTransformer",
    "documents_to_passages",
    "passages_to_documents",
    "to_document",
    "to_passage",
]
