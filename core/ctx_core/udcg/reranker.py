"""The utility-and-distraction-aware reranker: keep what helps the reader, drop what distracts it."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ctx_core._registry import Configurable, config_value
from ctx_core.errors import ConfigError
from ctx_core.scoring.base import Scorer, finite_scores
from ctx_core.tokens import TokenCounter, default_counter
from ctx_core.types import Passage, ensure_passages, validate_query, validate_top_n
from ctx_core.udcg.calibration import Calibrator, LogisticCalibrator, load_calibrator
from ctx_core.udcg.metric import DEFAULT_IRRELEVANT_WEIGHT, DEFAULT_RELEVANT_WEIGHT
from ctx_core.udcg.signals import HybridSignals, RelevanceSignals, ScorerSignals
from ctx_core.udcg.utility import AbstentionUtility

__all__ = ["Decision", "UtilityDistractionReranker", "order_for_reader"]

Order = Literal["best_first", "edges"]


@dataclass(frozen=True)
class Decision:
    """Why a passage was kept or dropped.

    Attributes:
        passage: The passage (a copy carrying the scores in its metadata).
        kept: Whether it is in the context.
        reason: ``"kept"``, ``"likely distractor"`` (expected gain <= 0),
            ``"over token budget"`` or ``"over max_passages"``.
        relevance_score: The primary relevance signal (the scorer's raw score).
        relevance_probability: Calibrated probability that the passage is relevant.
        utility: Reader utility ``1 - p(NO-RESPONSE)`` (1.0 when no utility model is used).
        expected_gain: ``utility * (w_rel * p + w_irr * (1 - p))``.
        tokens: Token count of the passage.
        signals: Every relevance signal of the passage, by column name.
    """

    passage: Passage
    kept: bool
    reason: str
    relevance_score: float
    relevance_probability: float
    utility: float
    expected_gain: float
    tokens: int
    signals: dict[str, float]


def order_for_reader(passages: Sequence[Passage], order: Order) -> list[Passage]:
    """Order best-first passages for the reader.

    ``"best_first"`` keeps them as they are; ``"edges"`` puts the best at both ends and
    the weakest in the middle (as LangChain's ``LongContextReorder``), because readers
    use the start and end of a long context best.

    Examples:
        >>> ps = [Passage(str(i), id=str(i)) for i in range(1, 6)]
        >>> [p.id for p in order_for_reader(ps, "edges")]
        ['1', '3', '5', '4', '2']
    """
    if order == "best_first":
        return list(passages)
    if order == "edges":
        front = list(passages[0::2])
        back = list(passages[1::2])
        return front + back[::-1]
    raise ValueError(f"order must be 'best_first' or 'edges', got {order!r}")


class UtilityDistractionReranker(Configurable):
    """Rerank by expected contribution to the reader; drop likely distractors.

    For each passage: a relevance probability ``p`` (relevance signals through a
    calibrator), a reader utility ``u`` (optional), and the expected contribution
    ``g = u * (w_rel * p + w_irr * (1 - p))`` - the expected UDCG term of the passage,
    with the UDCG weights ``w_rel = 1`` and ``w_irr = -1/3``. A passage with ``g <= 0``
    is more likely to distract than to help and is dropped; when nothing has positive
    ``g`` and ``allow_empty`` is set, the context is empty, because retrieval can hurt.
    The rest are kept by highest ``g`` under the token budget and ``max_passages``,
    then ordered for the reader.

    Args:
        relevance: Any core scorer, or a :class:`~ctx_core.udcg.RelevanceSignals` set
            (default: :class:`~ctx_core.udcg.HybridSignals` over the packaged MiniLM).
        utility: An :class:`~ctx_core.udcg.AbstentionUtility` for the reader LLM, or
            ``None`` to treat every passage's utility as 1 (the offline default: the
            packaged 135M reader cannot judge utility, see the docs).
        calibrator: Maps one query's scores to relevance probabilities; a
            :class:`~ctx_core.udcg.LogisticCalibrator`, its parameters
            (:meth:`~ctx_core.udcg.LogisticCalibrator.to_dict`), a path, or a shipped name.
            Default: ``"hybrid-hotpotqa"`` for the default signals; required otherwise.
        token_budget: Most tokens of kept passages (``None``: no limit).
        max_passages: Most passages kept (``None``: no limit).
        order: ``"best_first"`` or ``"edges"``.
        allow_empty: Allow an empty context when every passage looks harmful;
            otherwise the single best passage is kept.
        relevant_weight: ``w_rel``.
        irrelevant_weight: ``w_irr`` (negative: a distractor costs).
        counter: Token counter for the budget (default: tiktoken ``cl100k_base``).

    Examples:
        >>> reranker = UtilityDistractionReranker()
        >>> kept = reranker.rerank("Who wrote Hamlet?", [
        ...     Passage("Hamlet is a tragedy written by William Shakespeare.", id="a"),
        ...     Passage("The Thames flows through London.", id="b"),
        ... ])
        >>> [p.id for p in kept]
        ['a']
    """

    def __init__(
        self,
        relevance: Scorer | RelevanceSignals | None = None,
        utility: AbstentionUtility | None = None,
        calibrator: Calibrator | Mapping[str, Any] | str | Path | None = None,
        *,
        token_budget: int | None = None,
        max_passages: int | None = None,
        order: Order = "best_first",
        allow_empty: bool = True,
        relevant_weight: float = DEFAULT_RELEVANT_WEIGHT,
        irrelevant_weight: float = DEFAULT_IRRELEVANT_WEIGHT,
        counter: TokenCounter | None = None,
    ) -> None:
        if relevant_weight <= 0:
            raise ValueError(f"relevant_weight must be > 0, got {relevant_weight}")
        if irrelevant_weight >= 0:
            raise ValueError(
                f"irrelevant_weight must be < 0 (a distractor must cost), got {irrelevant_weight}"
            )
        if token_budget is not None and token_budget < 1:
            raise ValueError(f"token_budget must be >= 1 or None, got {token_budget}")
        validate_top_n(max_passages, "max_passages")
        order_for_reader([], order)  # validates ``order``
        if relevance is None:
            relevance = HybridSignals()
            calibrator = calibrator if calibrator is not None else "hybrid-hotpotqa"
        if calibrator is None:
            raise ValueError(
                "calibrator is required with a custom relevance scorer: fit one with "
                "ctx_core.udcg.fit_calibrator(scorer, labelled_queries) or pass a shipped name"
            )
        # A name or path is what config() records; parameters are recorded inline.
        self.calibrator_source = str(calibrator) if isinstance(calibrator, (str, Path)) else None
        if isinstance(calibrator, (str, Path)):
            calibrator = load_calibrator(calibrator)
        elif isinstance(calibrator, Mapping):
            calibrator = LogisticCalibrator.from_dict(calibrator)
        self.signals: RelevanceSignals = (
            relevance if isinstance(relevance, RelevanceSignals) else ScorerSignals(relevance)
        )
        missing = sorted(set(getattr(calibrator, "columns", ())) - set(self.signals.columns))
        if missing:
            raise ValueError(
                f"calibrator reads signal columns {missing} that the relevance signals "
                f"{list(self.signals.columns)} do not provide"
            )
        self.relevance = relevance
        self.utility = utility
        self.calibrator = calibrator
        self.token_budget = token_budget
        self.max_passages = max_passages
        self.order: Order = order
        self.allow_empty = allow_empty
        self.relevant_weight = relevant_weight
        self.irrelevant_weight = irrelevant_weight
        self._counter_arg = counter
        self.counter = counter or default_counter()

    @property
    def probability_threshold(self) -> float:
        """The relevance probability above which the expected gain is positive."""
        return -self.irrelevant_weight / (self.relevant_weight - self.irrelevant_weight)

    def config(self) -> dict[str, Any]:
        """The relevance signals, utility and calibrator as configs, and the settings.

        The calibrator appears as the shipped name or path it was loaded from, or
        else as its fitted parameters.

        Raises:
            ConfigError: the relevance scorer, the utility's reader or the calibrator
                has no config (e.g. a live model object in place of a model id).
        """
        if self.calibrator_source is not None:
            calibrator: Any = self.calibrator_source
        elif isinstance(self.calibrator, LogisticCalibrator):
            calibrator = self.calibrator.to_dict()
        else:
            raise ConfigError(
                f"calibrator {type(self.calibrator).__name__} has no config; pass a shipped "
                "name, a path or a LogisticCalibrator"
            )
        return {
            "type": "UtilityDistractionReranker",
            "relevance": config_value(self.relevance, "relevance"),
            "utility": config_value(self.utility, "utility"),
            "calibrator": calibrator,
            "token_budget": self.token_budget,
            "max_passages": self.max_passages,
            "order": self.order,
            "allow_empty": self.allow_empty,
            "relevant_weight": self.relevant_weight,
            "irrelevant_weight": self.irrelevant_weight,
            "counter": config_value(self._counter_arg, "counter"),
        }

    # -- the decision -----------------------------------------------------

    def explain(
        self, query: str, passages: Sequence[Passage | str], top_n: int | None = None
    ) -> list[Decision]:
        """Every passage with its scores and why it was kept or dropped: kept ones first, best first.

        Args:
            query: The question.
            passages: The candidates.
            top_n: Overrides ``max_passages`` for this call.
        """
        query, items, limit = self._validate(query, passages, top_n)
        if not items:
            return []
        signals = self.signals.signals(query, items)
        utilities = self.utility.utilities(query, items) if self.utility else [1.0] * len(items)
        return self._decide(items, signals, utilities, limit)

    async def aexplain(
        self, query: str, passages: Sequence[Passage | str], top_n: int | None = None
    ) -> list[Decision]:
        """Async twin of :meth:`explain`; relevance and utility run concurrently."""
        query, items, limit = self._validate(query, passages, top_n)
        if not items:
            return []
        if self.utility is not None:
            signals, utilities = await asyncio.gather(
                self.signals.asignals(query, items), self.utility.autilities(query, items)
            )
        else:
            signals, utilities = await self.signals.asignals(query, items), [1.0] * len(items)
        return self._decide(items, signals, utilities, limit)

    def rerank(
        self, query: str, passages: Sequence[Passage | str], top_n: int | None = None
    ) -> list[Passage]:
        """The passages worth reading, in reader order (``top_n`` overrides ``max_passages``).

        Each kept passage is a copy whose metadata gains ``relevance_score``,
        ``relevance_probability``, ``utility`` and ``expected_gain`` (its ``score``);
        a previous score is kept as ``retrieval_score``.
        """
        return self._kept(self.explain(query, passages, top_n))

    async def arerank(
        self, query: str, passages: Sequence[Passage | str], top_n: int | None = None
    ) -> list[Passage]:
        """Async twin of :meth:`rerank`."""
        return self._kept(await self.aexplain(query, passages, top_n))

    def _validate(
        self, query: str, passages: Sequence[Passage | str], top_n: int | None
    ) -> tuple[str, list[Passage], int | None]:
        validate_top_n(top_n)
        limit = top_n if top_n is not None else self.max_passages
        return validate_query(query), ensure_passages(passages), limit

    def _kept(self, decisions: list[Decision]) -> list[Passage]:
        return order_for_reader([d.passage for d in decisions if d.kept], self.order)

    def _decide(
        self,
        passages: list[Passage],
        signals: dict[str, list[float]],
        utilities: Sequence[float],
        max_passages: int | None,
    ) -> list[Decision]:
        # Named before the calibrator sees it: a NaN would otherwise reach the sort.
        scores = finite_scores(signals[self.signals.primary], self.relevance)
        probabilities = self.calibrator.probabilities(signals)
        rows = []
        for index, (p, s, prob, u) in enumerate(
            zip(passages, scores, probabilities, utilities, strict=True)
        ):
            gain = u * (self.relevant_weight * prob + self.irrelevant_weight * (1.0 - prob))
            extra = {} if p.score is None else {"retrieval_score": p.score}
            scored = p.with_metadata(
                relevance_score=float(s),
                relevance_probability=float(prob),
                utility=float(u),
                expected_gain=float(gain),
                **extra,
            ).with_score(gain)
            own = {name: float(column[index]) for name, column in signals.items()}
            rows.append((scored, float(s), float(prob), float(u), float(gain), own))
        rows.sort(key=lambda row: -row[4])  # stable: ties keep input order
        decisions: list[Decision] = []
        used_tokens = kept_count = 0
        for index, (passage, score, prob, u, gain, own) in enumerate(rows):
            tokens = self.counter.count(passage.text)
            forced = index == 0 and not self.allow_empty
            if gain <= 0 and not forced:
                reason = "likely distractor"
            elif max_passages is not None and kept_count >= max_passages:
                reason = "over max_passages"
            elif (
                self.token_budget is not None
                and used_tokens + tokens > self.token_budget
                and not forced
            ):
                reason = "over token budget"
            else:
                reason = "kept"
                used_tokens += tokens
                kept_count += 1
            decisions.append(
                Decision(passage, reason == "kept", reason, score, prob, u, gain, tokens, own)
            )
        return sorted(decisions, key=lambda d: not d.kept)
