"""The in-context block-sparse ranker (BlockRank layout, ICR-style zero-shot scoring).

=====================================  ==========================================================
module                                 what it holds
=====================================  ==========================================================
[`segments`][ctx_core.incontext.segments]    segments, position ids, the attention rule
[`layout`][ctx_core.incontext.layout]      prompt wording and per-block tokenization
[`backends`][ctx_core.incontext.backends]    attention backends: ``reference``, ``sdpa``, ``flex``
[`engine`][ctx_core.incontext.engine]      transformers integration; stops at the scoring layer
[`norm_mlp`][ctx_core.incontext.norm_mlp]    the engine's options: compiled norms/MLP, MLP in chunks
[`fp8`][ctx_core.incontext.fp8]         FP8 (e4m3) matrix products: ``precision="fp8"``
[`scoring`][ctx_core.incontext.scoring]     attention mass -> scores, passes, calibration, length
[`passes`][ctx_core.incontext.passes]      splitting long candidate lists into passes
[`states`][ctx_core.incontext.states]      [`DocumentStateCache`][ctx_core.incontext.states.DocumentStateCache]: candidates' states, reused
[`cached`][ctx_core.incontext.cached]      the cached query path (query blocks over cached states)
[`ranker`][ctx_core.incontext.ranker]      [`InContextRanker`][ctx_core.incontext.ranker.InContextRanker], a core scorer
[`testing`][ctx_core.incontext.testing]     the ``triton`` kernels' oracle and correctness checks
=====================================  ==========================================================

Names are imported lazily, so ``import ctx_core.incontext`` needs no torch.

Examples:
    >>> from ctx_core.incontext import InContextRanker
    >>> from ctx_core.incontext.segments import SegmentStructure
    >>> SegmentStructure(3, (2, 2), (1,), query_offset=50).position_ids().tolist()
    [0, 1, 2, 3, 4, 3, 4, 50]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ctx_core.incontext.backends import AttentionBackend, backend_names, get_backend
    from ctx_core.incontext.engine import InContextEngine
    from ctx_core.incontext.layout import PromptTemplate
    from ctx_core.incontext.ranker import InContextRanker, InContextScores
    from ctx_core.incontext.states import DocumentStateCache

__all__ = [
    "AttentionBackend",
    "DocumentStateCache",
    "InContextEngine",
    "InContextRanker",
    "InContextScores",
    "PromptTemplate",
    "backend_names",
    "get_backend",
]

_LAZY = {
    "AttentionBackend": "ctx_core.incontext.backends",
    "backend_names": "ctx_core.incontext.backends",
    "get_backend": "ctx_core.incontext.backends",
    "DocumentStateCache": "ctx_core.incontext.states",
    "InContextEngine": "ctx_core.incontext.engine",
    "PromptTemplate": "ctx_core.incontext.layout",
    "InContextRanker": "ctx_core.incontext.ranker",
    "InContextScores": "ctx_core.incontext.ranker",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ctx_core.incontext' has no attribute {name!r}")
