"""Scorers by name, for the CLI and the evaluation harness.

Examples:
    >>> from ctx_core.scoring.registry import build_scorer, scorer_names
    >>> "embedding" in scorer_names()
    True
    >>> build_scorer("embedding").name
    'embedding'
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from ctx_core.scoring.base import Scorer

__all__ = ["build_scorer", "register_scorer", "scorer_names"]

_FACTORIES: dict[str, str | Callable[..., Scorer]] = {
    "embedding": "ctx_core.scoring.embedding:EmbeddingScorer",
    "bm25": "ctx_core.scoring.bm25:BM25Scorer",
    "cross-encoder": "ctx_core.scoring.cross_encoder:CrossEncoderScorer",
    "cohere": "ctx_core.scoring.cohere:CohereScorer",
    "incontext": "ctx_core.incontext.ranker:InContextRanker",
}


def register_scorer(name: str, factory: str | Callable[..., Scorer]) -> None:
    """Make a scorer available by name (``factory`` may be ``"module:attribute"``, imported lazily)."""
    _FACTORIES[name] = factory


def scorer_names() -> list[str]:
    """Names :func:`build_scorer` accepts."""
    return sorted(_FACTORIES)


def build_scorer(name: str, **options: Any) -> Scorer:
    """Build the scorer registered as ``name`` with keyword ``options`` (``None`` values dropped)."""
    if name not in _FACTORIES:
        raise ValueError(f"unknown scorer {name!r}; choose one of {', '.join(scorer_names())}")
    factory = _FACTORIES[name]
    if isinstance(factory, str):
        module, attribute = factory.split(":")
        factory = getattr(importlib.import_module(module), attribute)
    return factory(**{k: v for k, v in options.items() if v is not None})
