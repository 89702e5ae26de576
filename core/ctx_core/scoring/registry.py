"""Scorers by short name (kind ``"scorer"`` of `ctx_core._registry`), for the CLI and the evaluation harness.

Examples:
    >>> from ctx_core.scoring.registry import build_scorer, scorer_names
    >>> "embedding" in scorer_names()
    True
    >>> build_scorer("embedding").name
    'embedding'
    >>> resolve_scorer("bm25").config()
    {'type': 'BM25Scorer', 'k1': 0.9, 'b': 0.4}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ctx_core import _registry
from ctx_core.scoring.base import Scorer

__all__ = ["build_scorer", "register_scorer", "resolve_scorer", "scorer_names"]


def register_scorer(name: str, factory: str | Callable[..., Scorer]) -> None:
    """Make a scorer available by name (``factory`` may be ``"module:attribute"``, imported lazily)."""
    _registry.register("scorer", name, factory)


def scorer_names() -> list[str]:
    """Names `build_scorer` accepts."""
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


def resolve_scorer(
    scorer: Scorer | str | None, model: str | None = None, *, default: str = "embedding"
) -> Scorer:
    """A scorer given as an object, or built from a short name and a model id.

    What the framework adapters run on their ``scorer=`` / ``model=`` arguments:
    ``None`` builds ``default`` (with ``model`` when given), a name builds that scorer
    with ``model``, and an object is used as it is.

    Raises:
        ValueError: unknown name; a scorer that takes no model given one (``bm25``);
            or ``model`` given beside a scorer object (which has its own model).
    """
    if scorer is None or isinstance(scorer, str):
        return build_scorer(scorer or default, model=model)
    if model is not None:
        raise ValueError(
            f"model={model!r} names the model of a scorer given by name; the "
            f"{type(scorer).__name__} given as scorer already has its model"
        )
    return scorer
