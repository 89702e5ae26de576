"""Relevance scorers behind one protocol.

| scorer | what it uses | extra |
|---|---|---|
| `EmbeddingScorer` | bi-encoder cosine (default: packaged MiniLM) | `local` |
| `BM25Scorer` | Okapi BM25 over the candidate list | - |
| `CrossEncoderScorer` | sentence-transformers `CrossEncoder` | `local` |
| `CohereScorer` | Cohere's hosted rerank API | `cohere` |

Each is imported lazily, so ``import ctx_core.scoring`` needs no optional package.

Examples:
    >>> from ctx_core.scoring import EmbeddingScorer, Scorer
    >>> isinstance(EmbeddingScorer(), Scorer)
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ctx_core.scoring.base import BaseScorer, Scorer

if TYPE_CHECKING:
    from ctx_core.scoring.bm25 import BM25Scorer
    from ctx_core.scoring.cohere import CohereScorer
    from ctx_core.scoring.cross_encoder import CrossEncoderScorer
    from ctx_core.scoring.embedding import EmbeddingScorer

__all__ = [
    "BM25Scorer",
    "BaseScorer",
    "CohereScorer",
    "CrossEncoderScorer",
    "EmbeddingScorer",
    "Scorer",
]

_LAZY = {
    "BM25Scorer": "ctx_core.scoring.bm25",
    "CohereScorer": "ctx_core.scoring.cohere",
    "CrossEncoderScorer": "ctx_core.scoring.cross_encoder",
    "EmbeddingScorer": "ctx_core.scoring.embedding",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ctx_core.scoring' has no attribute {name!r}")
