"""ctx_core: framework-neutral context engineering for RAG pipelines.

Nothing here imports LangChain or LlamaIndex; the adapters in ``langchain_ctx``
and ``llamaindex_ctx`` publish these components to each framework.

Examples:
    >>> from ctx_core import Passage, Reranker
    >>> Passage("some text", id="a").id
    'a'
"""

from ctx_core.errors import CtxError, MissingDependencyError, ModelLoadError, RemoteServiceError
from ctx_core.rerank import PassageReranker, Reranker, apply_scores
from ctx_core.types import Passage, ensure_passages, stable_id, validate_query

__version__ = "0.1.0"

__all__ = [
    "CtxError",
    "MissingDependencyError",
    "ModelLoadError",
    "Passage",
    "PassageReranker",
    "RemoteServiceError",
    "Reranker",
    "__version__",
    "apply_scores",
    "ensure_passages",
    "stable_id",
    "validate_query",
]
