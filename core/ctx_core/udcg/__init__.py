"""Utility-and-distraction-aware reranking (UDCG).

A passage that is related to the question but useless to the reader actively hurts
it, so it is dropped, not merely ranked low.

Examples:
    >>> from ctx_core.udcg import UtilityDistractionReranker, udcg
    >>> round(udcg([1.0, 0.9], [True, False]), 3)  # sigmoid((1.0 - 0.9 / 3) / 2)
    0.587
"""

from ctx_core.udcg.calibration import Calibrator, LogisticCalibrator, load_calibrator
from ctx_core.udcg.fit import fit_calibrator
from ctx_core.udcg.list_gate import ListGate
from ctx_core.udcg.metric import udcg, udcg_of_passages
from ctx_core.udcg.reranker import Decision, DropRule, UtilityDistractionReranker
from ctx_core.udcg.signals import HybridSignals, RelevanceSignals, ScorerSignals
from ctx_core.udcg.utility import AbstentionUtility

__all__ = [
    "AbstentionUtility",
    "Calibrator",
    "Decision",
    "DropRule",
    "HybridSignals",
    "ListGate",
    "LogisticCalibrator",
    "RelevanceSignals",
    "ScorerSignals",
    "UtilityDistractionReranker",
    "fit_calibrator",
    "load_calibrator",
    "udcg",
    "udcg_of_passages",
]
