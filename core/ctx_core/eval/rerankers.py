"""Core rerankers as methods of the rerank task: ``udcg`` and ``incontext``.

[`udcg_method`][ctx_core.eval.rerankers.udcg_method] builds a [`UtilityDistractionReranker`][ctx_core.udcg.reranker.UtilityDistractionReranker] from
command-line options and wraps it as a method (name, options, the reranker's config).

[`InContextMethod`][ctx_core.eval.rerankers.InContextMethod] scores with [`InContextRanker`][ctx_core.incontext.ranker.InContextRanker].
Every forward pass computes the query block and its content-free twin together, so the
calibrated and the uncalibrated ranking (and any head subset or length normalization) come
from the same pass. Passes are memoized per process: ``--method incontext --method
incontext:calibrate=false`` costs one set of forward passes.

The method's ``config()`` reports, besides its options, the cost of the forward passes
(``forward_cpu_seconds_per_query``, ``forward_seconds_per_query``, ``tokens_per_query``,
``passes_per_query``), measured around the model calls only.

Examples:
    >>> method = InContextMethod(model="smollm2", calibrate=False)  # doctest: +SKIP
    >>> method.config()["calibrate"]  # doctest: +SKIP
    False
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Literal

from ctx_core.eval.methods import RerankerMethod
from ctx_core.incontext.ranker import InContextRanker, InContextScores
from ctx_core.incontext.scoring import (
    LengthNormalization,
    icr_scores,
    normalize_length,
    scores_from_logmass,
)
from ctx_core.models import DEFAULT_LLM
from ctx_core.rerank import apply_scores
from ctx_core.types import Passage
from ctx_core.udcg.reranker import DEFAULT_CALIBRATOR

__all__ = ["InContextMethod", "UDCGMethod", "udcg_method"]

_RANKERS: dict[str, InContextRanker] = {}
_PASSES: OrderedDict[tuple[str, str, tuple[tuple[str, str], ...]], InContextScores] = OrderedDict()
_LOCK = threading.Lock()
_MAX_MEMO = 5000


def _ranker(model: str | None, options: dict[str, Any]) -> tuple[str, InContextRanker]:
    key = json.dumps({"model": model, **options}, sort_keys=True, default=str)
    with _LOCK:
        if key not in _RANKERS:
            _RANKERS[key] = InContextRanker(model, calibrate=True, **options)
        return key, _RANKERS[key]


class InContextMethod:
    """Sorts candidates by [`InContextRanker`][ctx_core.incontext.ranker.InContextRanker] scores.

    Args:
        model: Model id, path or alias (default: SmolLM2).
        calibrate: Subtract the content-free query's scores.
        heads: Query heads to average over (default: all).
        length_normalization: ``"none"``, ``"length"`` or ``"sqrt"``.
        with_title: Score ``"<title>: <text>"`` when a passage has ``metadata["title"]``.
        use_layers: Score from these of the ranker's scoring layers only (default: all of
            them). With ``scoring_layer=[5, 11]`` one pass serves ``use_layers=[5]``,
            ``use_layers=[11]`` and their average.
        aggregation: ``"candidates"`` (default, BlockRank-style): per layer, head and signal
            token a softmax over candidate tokens, averaged. ``"sequence"`` (the ICR paper's):
            attention probabilities over the whole sequence each signal token sees, summed
            over the ranker's scoring layers, all heads (or ``heads``), signal tokens and
            each candidate's tokens (see ``ctx_core.incontext.scoring.icr_scores``); needs
            one pass per query and no ``use_layers``.
        masked_calibration: With ``aggregation="sequence"`` and ``calibrate``: drop each
            candidate's tokens whose calibrated score is below mean - 2 std before summing
            (the ICR paper's default). ``False``: plain subtraction.
        icr: The ICR paper's defaults in one switch: ``scoring_layer="all"``,
            ``aggregation="sequence"``, ``calibrate=True``, ``masked_calibration=True``
            (options given explicitly win, except that ``scoring_layer`` must then be
            ``"all"``).
        **options: Any other [`InContextRanker`][ctx_core.incontext.ranker.InContextRanker] option
            (``scoring_layer``, ``signal_tokens``, ``attention``, ``dtype``, ``backend``,
            ``query_offset``, ``max_pass_tokens``, ...).
    """

    def __init__(
        self,
        model: str | None = DEFAULT_LLM,
        *,
        calibrate: bool = True,
        heads: Sequence[int] | None = None,
        length_normalization: LengthNormalization = "none",
        with_title: bool = False,
        use_layers: Sequence[int] | None = None,
        aggregation: Literal["candidates", "sequence"] | None = None,
        masked_calibration: bool | None = None,
        icr: bool = False,
        **options: Any,
    ) -> None:
        if "calibrate" in options or "length_normalization" in options:
            raise ValueError("pass calibrate and length_normalization as method options")
        if icr:
            if options.setdefault("scoring_layer", "all") != "all":
                raise ValueError("icr=true reads every layer: leave scoring_layer out or 'all'")
            aggregation = "sequence" if aggregation is None else aggregation
            masked_calibration = True if masked_calibration is None else masked_calibration
        aggregation = "candidates" if aggregation is None else aggregation
        masked_calibration = bool(masked_calibration)
        if aggregation not in ("candidates", "sequence"):
            raise ValueError(f"aggregation must be 'candidates' or 'sequence', got {aggregation!r}")
        if aggregation == "sequence" and use_layers is not None:
            raise ValueError(
                "aggregation='sequence' sums the ranker's scoring layers; choose them with "
                "scoring_layer, not use_layers"
            )
        if masked_calibration and (aggregation != "sequence" or not calibrate):
            raise ValueError("masked_calibration needs aggregation='sequence' and calibrate=true")
        if length_normalization not in ("none", "length", "sqrt"):
            raise ValueError(
                f"length_normalization must be none, length or sqrt, got {length_normalization!r}"
            )
        self.name = "incontext"
        self.model = model
        self.calibrate = bool(calibrate)
        self.heads = None if heads is None else [int(h) for h in heads]
        self.length_normalization: LengthNormalization = length_normalization
        self.with_title = bool(with_title)
        self.use_layers = None if use_layers is None else [int(i) for i in use_layers]
        self.aggregation: Literal["candidates", "sequence"] = aggregation
        self.masked_calibration = masked_calibration
        self.icr = bool(icr)
        if self.use_layers is not None and not self.use_layers:
            raise ValueError("use_layers must name at least one layer")
        self.options = dict(options)
        self._key, self.ranker = _ranker(model, self.options)
        self._costs: list[tuple[float, float, int, int]] = []

    def _details(self, query: str, passages: list[Passage]) -> InContextScores:
        memo_key = (self._key, query, tuple((p.id, p.text) for p in passages))
        tokens = self.aggregation == "sequence"
        with _LOCK:
            found = _PASSES.get(memo_key)
        if found is None or (tokens and found.token_mass is None):
            # A pass memoized without per-token attention is run again with it (and
            # replaces the entry, which then serves both kinds of method).
            found = self.ranker.explain(query, passages, token_mass=tokens)
            with _LOCK:
                _PASSES[memo_key] = found
                while len(_PASSES) > _MAX_MEMO:
                    _PASSES.popitem(last=False)
        return found

    def scores(self, query: str, candidates: list[Passage]) -> list[float]:
        """The method's score for each candidate, in input order."""
        view = [self._view(p) for p in candidates] if self.with_title else candidates
        details = self._details(query, view)
        self._costs.append((details.cpu_seconds, details.seconds, details.tokens, details.passes))
        if self.aggregation == "sequence":
            assert details.token_mass is not None
            scores = icr_scores(
                details.token_mass,
                details.calibration_token_mass if self.calibrate else None,
                heads=self.heads,
                masked=self.masked_calibration,
            )
            scores = normalize_length(scores, details.token_counts, self.length_normalization)
            return [float(x) for x in scores]
        logmass, calibration = details.logmass, details.calibration_logmass
        if self.use_layers is not None:
            missing = [i for i in self.use_layers if i not in details.layers]
            if missing:
                raise ValueError(
                    f"use_layers {missing} were not scored; the ranker scores layers {details.layers}"
                )
            pick = [details.layers.index(i) for i in self.use_layers]
            logmass, calibration = logmass[pick], calibration[pick]
        scores = scores_from_logmass(logmass, self.heads)
        if self.calibrate:
            scores = scores - scores_from_logmass(calibration, self.heads)
        scores = normalize_length(scores, details.token_counts, self.length_normalization)
        return [float(x) for x in scores]

    def rerank(self, query: str, candidates: list[Passage]) -> list[Passage]:
        """All candidates, best first, each carrying its score."""
        if not candidates:
            return []
        scores = self.scores(query, candidates)
        scored = apply_scores(candidates, scores)
        order = sorted(range(len(scored)), key=lambda i: -scores[i])
        return [scored[i] for i in order]

    @staticmethod
    def _view(passage: Passage) -> Passage:
        title = passage.metadata.get("title")
        return Passage(f"{title}: {passage.text}", id=passage.id) if title else passage

    def config(self) -> dict[str, Any]:
        """Options, resolved layers and backend, and the forward passes' cost per query."""
        ranker = self.ranker
        config: dict[str, Any] = {
            "name": self.name,
            "scorer": "InContextRanker",
            "model": self.model,
            "calibrate": self.calibrate,
            "heads": self.heads,
            "length_normalization": self.length_normalization,
            "with_title": self.with_title,
            "use_layers": self.use_layers,
            "aggregation": self.aggregation,
            "masked_calibration": self.masked_calibration,
            "icr": self.icr,
            **self.options,
            "signal_tokens": ranker.signal_tokens,
            "attention": ranker.attention,
            "query_offset": ranker.query_offset,
            "max_block_tokens": ranker.max_block_tokens,
        }
        if ranker._engine is not None:
            config["layers"] = ranker.layers
            config["backend"] = ranker.engine.backend.name
            config["dtype"] = str(ranker.engine.model.dtype).replace("torch.", "")
        if self._costs:
            n = len(self._costs)
            config["forward_cpu_seconds_per_query"] = round(sum(c[0] for c in self._costs) / n, 3)
            config["forward_seconds_per_query"] = round(sum(c[1] for c in self._costs) / n, 3)
            config["tokens_per_query"] = round(sum(c[2] for c in self._costs) / n, 1)
            config["passes_per_query"] = round(sum(c[3] for c in self._costs) / n, 2)
            config["cost_note"] = (
                "forward-pass cost measured when the pass ran; memoized passes shared by "
                "several methods in one process report the same cost"
            )
        return config


def udcg_method(
    calibrator: str = DEFAULT_CALIBRATOR,
    utility: str | None = None,
    token_budget: int | None = None,
    max_passages: int | None = None,
    order: Literal["best_first", "edges"] = "best_first",
    allow_empty: bool = True,
    device: str | None = None,
) -> RerankerMethod:
    """``UtilityDistractionReranker`` configured from command-line options, as a method.

    The relevance signals are the ones the calibrator reads: ``HybridSignals`` columns
    (``dense``, ``feedback``, ...) for ``hybrid-*`` calibrators, the ``score`` column of a
    plain [`EmbeddingScorer`][ctx_core.scoring.embedding.EmbeddingScorer] for ``minilm-*`` ones (and for any
    calibrator file that reads ``score`` only). Both use the packaged MiniLM; its embedding
    cache is the one the ``embedding`` method uses, so texts are embedded once per run.

    Args:
        calibrator: Shipped calibrator name (``hybrid-mixed``, ``hybrid-hotpotqa``,
            ``minilm-hotpotqa``, ``minilm-dl19``) or JSON path. Default ``hybrid-mixed``,
            fitted on DL19, HotpotQA, CACM, Cranfield and NQ-open: a run on those is
            in-sample, which the config's ``calibrator_fitted_on`` says.
        utility: Reader model for utilities (alias, id or path); none by default.
        token_budget: Most tokens kept.
        max_passages: Most passages kept.
        order: ``best_first`` or ``edges``.
        allow_empty: Allow an empty context.
        device: Device of the embedder and the utility model (default: CUDA when available).

    Examples:
        >>> method = udcg_method()
        >>> method.name, method.config()["calibrator"]
        ('udcg', 'hybrid-mixed')
        >>> udcg_method("minilm-dl19").config()["reranker"]["relevance"]["type"]
        'EmbeddingScorer'
    """
    from ctx_core.embeddings import Embedder
    from ctx_core.scoring.embedding import EmbeddingScorer
    from ctx_core.udcg.calibration import load_calibrator
    from ctx_core.udcg.reranker import UtilityDistractionReranker
    from ctx_core.udcg.signals import HybridSignals
    from ctx_core.udcg.utility import AbstentionUtility

    columns = set(getattr(load_calibrator(calibrator), "columns", ()))
    relevance: Any
    if columns <= {"score"}:
        relevance = EmbeddingScorer(device=device)
    else:
        relevance = HybridSignals(Embedder(device=device))
    reader: Any = None
    if utility:
        from ctx_core.llm import TransformersLLM

        reader = AbstentionUtility(TransformersLLM(utility, device=device))
    reranker = UtilityDistractionReranker(
        relevance,
        reader,
        calibrator,
        token_budget=token_budget,
        max_passages=max_passages,
        order=order,
        allow_empty=allow_empty,
    )
    options = {
        "calibrator": calibrator,
        "calibrator_fitted_on": getattr(reranker.calibrator, "info", {}).get("datasets"),
        "utility": utility,
        "token_budget": token_budget,
        "max_passages": max_passages,
        "order": order,
        "allow_empty": allow_empty,
        **({"device": device} if device else {}),
    }
    return UDCGMethod(reranker, name="udcg", options=options)


class UDCGMethod(RerankerMethod):
    """The UDCG reranker as a method that also records why each candidate was kept or dropped.

    ``rerank`` runs the reranker's ``explain`` once and returns exactly what its ``rerank``
    would (the kept passages in reader order); [`query_details`][ctx_core.eval.rerankers.UDCGMethod.query_details] then gives the rerank
    task every candidate's decision for that query, which goes into the result file's
    ``per_query`` rows and the HTML report.
    """

    def __init__(self, reranker: Any, *, name: str, options: dict[str, Any] | None = None) -> None:
        super().__init__(reranker, name=name, options=options)
        self._last = threading.local()  # one query's decisions per calling thread

    def rerank(self, query: str, candidates: list[Passage]) -> list[Passage]:
        """The kept passages, in reader order; every candidate's decision is remembered."""
        from ctx_core.udcg.reranker import order_for_reader

        decisions = self.reranker.explain(query, candidates)
        self._last.decisions = [
            {
                "id": d.passage.id,
                "kept": d.kept,
                "reason": d.reason,
                "relevance_probability": round(d.relevance_probability, 4),
                "utility": round(d.utility, 4),
                "expected_gain": round(d.expected_gain, 4),
                "tokens": d.tokens,
            }
            for d in decisions
        ]
        return order_for_reader([d.passage for d in decisions if d.kept], self.reranker.order)

    def query_details(self) -> dict[str, Any]:
        """Per-query fields of the last ``rerank`` call: ``decisions``, one per candidate."""
        return {"decisions": list(getattr(self._last, "decisions", []))}
