"""Scorers by short name (kind ``"scorer"`` of :mod:`ctx_core._registry`), for the CLI and the evaluation harness.

Examples:
    >>> from ctx_core.scoring.registry import build_scorer, scorer_names
    >>> "embedding" in scorer_names()
    True
    >>> build_scorer("embedding").name
    'embedding'
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ctx_core import _registry
from ctx_core.scoring.base import Scorer

__all__ = ["build_scorer", "register_scorer", "scorer_names"]


def register_scorer(name: str, factory: str | Callable[..., Scorer]) -> None:
    """Make a scorer available by name (``factory`` may be ``"module:attribute"``, imported lazily)."""
    _registry.register("scorer", name, factory)


def scorer_names() -> list[str]:
    """Names :func:`build_scorer` accepts."""
    return _registry.names("scorer")


def build_scorer(name: str, **options: Any) -> Scorer:
    """Build the scorer registered as ``name`` with keyword ``options`` (``None`` values dropped).

    Raises:
        ValueError: unknown name, or an option the scorer does not take.
    """
    scorer: Scorer = _registry.build(
        "scorer", name, **{k: v for k, v in options.items() if v is not None}
    )
    return scorer
