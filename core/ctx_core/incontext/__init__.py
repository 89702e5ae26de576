"""The in-context block-sparse ranker (BlockRank layout, ICR-style zero-shot scoring).

=====================================  ==========================================================
module                                 what it holds
=====================================  ==========================================================
:mod:`~ctx_core.incontext.segments`    segments, position ids, the attention rule
:mod:`~ctx_core.incontext.layout`      prompt wording and per-block tokenization
:mod:`~ctx_core.incontext.backends`    attention backends: ``reference``, ``sdpa``, ``flex``
:mod:`~ctx_core.incontext.engine`      transformers integration; stops at the scoring layer
:mod:`~ctx_core.incontext.norm_mlp`    the engine's options: compiled norms/MLP, MLP in chunks
:mod:`~ctx_core.incontext.scoring`     attention mass -> scores, passes, calibration, length
:mod:`~ctx_core.incontext.passes`      splitting long candidate lists into passes
:mod:`~ctx_core.incontext.ranker`      :class:`InContextRanker`, a core scorer
:mod:`~ctx_core.incontext.testing`     the ``triton`` kernels' oracle and correctness checks
=====================================  ==========================================================

Names are imported lazily, so ``import ctx_core.incontext`` needs no torch.

Examples:
    >>> from ctx_core.incontext import InContextRanker, SegmentStructure
    >>> SegmentStructure(3, (2, 2), (1,), query_offset=50).position_ids().tolist()
    [0, 1, 2, 3, 4, 3, 4, 50]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ctx_core.incontext.backends import (
        AttentionBackend,
        backend_names,
        get_backend,
        register_backend,
    )
    from ctx_core.incontext.engine import (
        ATTENTION_NAME,
        SUPPORTED_MODEL_TYPES,
        EngineOutput,
        InContextEngine,
        default_scoring_layer,
        register_incontext_attention,
    )
    from ctx_core.incontext.layout import PromptBuilder, PromptTemplate, RankingPrompt
    from ctx_core.incontext.passes import plan_passes
    from ctx_core.incontext.ranker import InContextRanker, InContextScores
    from ctx_core.incontext.scoring import combine_passes, scores_from_logmass
    from ctx_core.incontext.segments import SegmentKind, SegmentStructure, attention_rule

__all__ = [
    "ATTENTION_NAME",
    "SUPPORTED_MODEL_TYPES",
    "AttentionBackend",
    "EngineOutput",
    "InContextEngine",
    "InContextRanker",
    "InContextScores",
    "PromptBuilder",
    "PromptTemplate",
    "RankingPrompt",
    "SegmentKind",
    "SegmentStructure",
    "attention_rule",
    "backend_names",
    "combine_passes",
    "default_scoring_layer",
    "get_backend",
    "plan_passes",
    "register_backend",
    "register_incontext_attention",
    "scores_from_logmass",
]

_LAZY = {
    "AttentionBackend": "ctx_core.incontext.backends",
    "backend_names": "ctx_core.incontext.backends",
    "get_backend": "ctx_core.incontext.backends",
    "register_backend": "ctx_core.incontext.backends",
    "ATTENTION_NAME": "ctx_core.incontext.engine",
    "SUPPORTED_MODEL_TYPES": "ctx_core.incontext.engine",
    "EngineOutput": "ctx_core.incontext.engine",
    "InContextEngine": "ctx_core.incontext.engine",
    "default_scoring_layer": "ctx_core.incontext.engine",
    "register_incontext_attention": "ctx_core.incontext.engine",
    "PromptBuilder": "ctx_core.incontext.layout",
    "PromptTemplate": "ctx_core.incontext.layout",
    "RankingPrompt": "ctx_core.incontext.layout",
    "plan_passes": "ctx_core.incontext.passes",
    "InContextRanker": "ctx_core.incontext.ranker",
    "InContextScores": "ctx_core.incontext.ranker",
    "combine_passes": "ctx_core.incontext.scoring",
    "scores_from_logmass": "ctx_core.incontext.scoring",
    "SegmentKind": "ctx_core.incontext.segments",
    "SegmentStructure": "ctx_core.incontext.segments",
    "attention_rule": "ctx_core.incontext.segments",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ctx_core.incontext' has no attribute {name!r}")
