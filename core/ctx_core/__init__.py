"""ctx_core: framework-neutral context engineering for RAG pipelines.

Nothing here imports LangChain or LlamaIndex; the adapters in ``langchain_ctx``
and ``llamaindex_ctx`` publish these components to each framework.

Examples:
    >>> from ctx_core import Passage, Reranker
    >>> Passage("some text", id="a").id
    'a'
"""

from ctx_core._registry import from_config
from ctx_core.errors import (
    ConfigError,
    CtxError,
    MissingDependencyError,
    ModelLoadError,
    RemoteServiceError,
)
from ctx_core.rerank import PassageReranker, Reranker
from ctx_core.types import Passage

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "CtxError",
    "MissingDependencyError",
    "ModelLoadError",
    "Passage",
    "PassageReranker",
    "RemoteServiceError",
    "Reranker",
    "__version__",
    "from_config",
]
