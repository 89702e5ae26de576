"""The distraction-aware reranker as a method of the evaluation harness (``ctx eval rerank --method udcg``)."""

from __future__ import annotations

from typing import Any, Literal

from ctx_core.types import Passage
from ctx_core.udcg.reranker import UtilityDistractionReranker
from ctx_core.udcg.signals import HybridSignals

__all__ = ["UDCGMethod"]


class UDCGMethod:
    """``UtilityDistractionReranker`` configured from command-line options.

    Args:
        calibrator: Shipped calibrator name or JSON path (default ``hybrid-hotpotqa``).
        utility: Reader model for utilities (alias, id or path); none by default.
        token_budget: Most tokens kept.
        max_passages: Most passages kept.
        order: ``best_first`` or ``edges``.
        allow_empty: Allow an empty context.

    Examples:
        >>> method = UDCGMethod()
        >>> method.name
        'udcg'
    """

    name = "udcg"

    def __init__(
        self,
        calibrator: str = "hybrid-hotpotqa",
        utility: str | None = None,
        token_budget: int | None = None,
        max_passages: int | None = None,
        order: Literal["best_first", "edges"] = "best_first",
        allow_empty: bool = True,
    ) -> None:
        from ctx_core.udcg.utility import AbstentionUtility

        self.options: dict[str, Any] = {
            "calibrator": calibrator,
            "utility": utility,
            "token_budget": token_budget,
            "max_passages": max_passages,
            "order": order,
            "allow_empty": allow_empty,
        }
        self.reranker = UtilityDistractionReranker(
            HybridSignals(),
            AbstentionUtility(utility) if utility else None,
            calibrator,
            token_budget=token_budget,
            max_passages=max_passages,
            order=order,
            allow_empty=allow_empty,
        )

    def rerank(self, query: str, candidates: list[Passage]) -> list[Passage]:
        """The kept passages in reading order."""
        return self.reranker.rerank(query, candidates)

    def config(self) -> dict[str, Any]:
        """Options and the reranker's full settings."""
        return {"name": self.name, **self.options, "reranker": self.reranker.config()}
