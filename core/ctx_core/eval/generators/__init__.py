"""Synthetic long-context benchmark generators (seeded, deterministic).

* [`pi_llm`][ctx_core.eval.generators.pi_llm]: PI-LLM proactive-interference key tracking.
* [`multi_needle`][ctx_core.eval.generators.multi_needle]: kinship-chain needles in essays.

Both read their source data from the data folder at run time
([`resolve_data_dir`][ctx_core.eval.datasets.paths.resolve_data_dir]).

Examples:
    >>> from ctx_core.eval.generators import generate_pi_llm
    >>> generate_pi_llm(1, 2, seed=0, source={"bird": ["kea", "emu"]}).keys
    ['bird']
"""

from ctx_core.eval.generators.multi_needle import (
    KinshipNeedle,
    MultiNeedleTask,
    generate_multi_needle,
    score_multi_needle,
)
from ctx_core.eval.generators.pi_llm import PILLMTask, generate_pi_llm, score_pi_llm

__all__ = [
    "KinshipNeedle",
    "MultiNeedleTask",
    "PILLMTask",
    "generate_multi_needle",
    "generate_pi_llm",
    "score_multi_needle",
    "score_pi_llm",
]
