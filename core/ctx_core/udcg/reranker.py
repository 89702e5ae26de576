"""The utility-and-distraction-aware reranker: keep what helps the reader, drop what distracts it."""

from __future__ import annotations

import asyncio
import math
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
from ctx_core.udcg.list_gate import ListGate
from ctx_core.udcg.metric import DEFAULT_IRRELEVANT_WEIGHT, DEFAULT_RELEVANT_WEIGHT
from ctx_core.udcg.signals import HybridSignals, RelevanceSignals, ScorerSignals
from ctx_core.udcg.utility import AbstentionUtility

__all__ = [
    "Decision",
    "DropRule",
    "UtilityDistractionReranker",
    "order_for_reader",
    "resolve_reranker_parts",
]

Order = Literal["best_first", "edges"]
Objective = Literal["expected_sum", "expected_mean", "expected_recall"]
_OBJECTIVES = ("expected_sum", "expected_mean", "expected_recall")

#: The default relevance signals' calibrator: ``HybridSignals()`` with
#: [`HYBRID_FEATURES`][ctx_core.udcg.signals.HYBRID_FEATURES], chosen by
#: leave-one-data-set-out over DL19, HotpotQA, CACM, Cranfield and NQ-open, then fitted on all five.
DEFAULT_CALIBRATOR = "hybrid-mixed"

#: The reranker's default objective (see [`DropRule`][ctx_core.udcg.DropRule]), chosen
#: with the calibrator by leave-one-data-set-out (``benchmarks/udcg_lodo.py``).
DEFAULT_OBJECTIVE: Objective = "expected_recall"

#: The smallest share ``p / sum(p)`` of the list's expected relevant passages that a kept
#: passage must carry under ``objective="expected_recall"`` (chosen with the objective).
DEFAULT_MIN_SHARE = 0.1

#: Under ``objective="expected_recall"``, the probability a kept passage other than the
#: best must exceed (chosen with the objective).
DEFAULT_MIN_PROBABILITY = 0.1


@dataclass(frozen=True)
class Decision:
    """Why a passage was kept or dropped.

    Attributes:
        passage: The passage (a copy carrying the scores in its metadata).
        kept: Whether it is in the context.
        reason: ``"kept"``, ``"likely distractor"`` (expected gain <= 0),
            ``"unrelated list"`` (the list gate, or the best passage's probability below
            ``empty_below``, says the list is not about the query: nothing is kept),
            ``"small share of the list"`` (below ``min_share``), ``"beyond the mean-optimal context"``
            (objective ``"expected_mean"``), ``"over token budget"`` or
            ``"over max_passages"``.
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


@dataclass(frozen=True)
class DropRule:
    """Which passages of one candidate list to keep, given their expected gains.

    A passage's expected gain is ``g = u * (w_rel * p + w_irr * (1 - p))``: its expected
    term in UDCG, from its relevance probability ``p`` and reader utility ``u``.

    - ``objective="expected_sum"`` keeps every passage with ``g > 0`` (the sum of the
      expected terms is largest). It is what a reader that reads every passage wants.
    - ``objective="expected_mean"`` keeps the best-``m`` prefix that maximizes the
      (plug-in) expected UDCG, ``sigmoid(mean(g[:m]))``, or ``empty_value`` for ``m = 0``.
      UDCG is a mean, so this keeps one passage, or none under the 0.5 convention when
      even the best has ``g <= 0``: measured side by side with the sum rule in the docs.
    - ``empty_below``: when set, the best passage is kept whatever its gain unless its
      probability is below ``empty_below``, and then nothing is kept (an unrelated list).
      ``None``: the context is empty exactly when no passage has ``g > 0``. A list-level
      decision ([`ListGate`][ctx_core.udcg.list_gate.ListGate]) passed to
      [`reasons`][ctx_core.udcg.reranker.DropRule.reasons] as ``unrelated`` takes its place.
    - ``objective="expected_recall"`` keeps the best passage and every other passage whose
      share of the list's expected relevant passages, ``p / sum(p)``, is above
      ``min_share`` (default `DEFAULT_MIN_SHARE`):
      its expected contribution to the list's recall, and whose probability is above
      ``min_probability`` (the reranker's default
      `DEFAULT_MIN_PROBABILITY`; a short
      list's weak passages can carry a fair share of a small total). A list with many likely-relevant
      passages keeps its best ones only (at most ``1 / min_share``), a list with one clear
      answer keeps that one, which is what keeps the reranker above top-k in recall at the
      same mean context size on every held-out data set (see the docs). It is the
      reranker's default. A dropped passage's reason is ``"likely distractor"`` when its
      gain is not positive, else ``"small share of the list"``; without a list-level rule
      (no ``empty_below``, no gate) the context is empty when no passage has ``g > 0``.
    - ``min_share`` with ``objective="expected_sum"``: a passage other than the best is
      dropped unless both ``g > 0`` and its share is above ``min_share``.

    Args:
        relevant_weight: ``w_rel`` (> 0).
        irrelevant_weight: ``w_irr`` (< 0: a distractor costs).
        objective: ``"expected_sum"``, ``"expected_mean"`` or ``"expected_recall"``.
        allow_empty: Allow an empty context at all; otherwise the best passage is kept.
        empty_below: Probability of the best passage below which the list is unrelated.
        empty_value: UDCG of an empty context for ``"expected_mean"`` (the reference: 0).
        min_share: Smallest share ``p / sum(p)`` of a kept passage (``None``: no limit,
            or ``DEFAULT_MIN_SHARE`` with ``"expected_recall"``).
        min_probability: With ``"expected_recall"``, the probability a kept passage other
            than the best must exceed as well (``DropRule`` default 0: no floor; the
            reranker's default ``DEFAULT_MIN_PROBABILITY``).

    Examples:
        >>> rule = DropRule()
        >>> rule.reasons([0.9, 0.3, 0.1], [1.0, 1.0, 1.0])
        ['kept', 'kept', 'likely distractor']
        >>> DropRule(objective="expected_mean").reasons([0.9, 0.3, 0.1], [1.0, 1.0, 1.0])
        ['kept', 'beyond the mean-optimal context', 'beyond the mean-optimal context']
        >>> DropRule(empty_below=0.05).reasons([0.2, 0.1], [1.0, 1.0])
        ['kept', 'likely distractor']
        >>> DropRule(empty_below=0.05).reasons([0.04, 0.01], [1.0, 1.0])
        ['unrelated list', 'unrelated list']
        >>> DropRule(objective="expected_recall").reasons([0.9, 0.3, 0.2, 0.1], [1.0] * 4)
        ['kept', 'kept', 'kept', 'likely distractor']
        >>> DropRule(objective="expected_recall").reasons([0.9] * 4 + [0.3], [1.0] * 5)[-1]
        'small share of the list'
        >>> DropRule(min_share=0.25).reasons([0.9, 0.8, 0.7, 0.6], [1.0] * 4)
        ['kept', 'kept', 'small share of the list', 'small share of the list']
        >>> DropRule().reasons([0.2, 0.1], [1.0, 1.0], unrelated=False)
        ['kept', 'likely distractor']
    """

    relevant_weight: float = DEFAULT_RELEVANT_WEIGHT
    irrelevant_weight: float = DEFAULT_IRRELEVANT_WEIGHT
    objective: Objective = "expected_sum"
    allow_empty: bool = True
    empty_below: float | None = None
    empty_value: float = 0.0
    min_share: float | None = None
    min_probability: float = 0.0

    def __post_init__(self) -> None:
        if not self.relevant_weight > 0:
            raise ValueError(f"relevant_weight must be > 0, got {self.relevant_weight}")
        if not self.irrelevant_weight < 0:
            raise ValueError(
                f"irrelevant_weight must be < 0 (a distractor must cost), got {self.irrelevant_weight}"
            )
        if self.objective not in _OBJECTIVES:
            raise ValueError(f"objective must be one of {_OBJECTIVES}, got {self.objective!r}")
        if self.empty_below is not None and not 0.0 <= self.empty_below <= 1.0:
            raise ValueError(f"empty_below must be in [0, 1] or None, got {self.empty_below}")
        if not 0.0 <= self.min_probability < 1.0:
            raise ValueError(f"min_probability must be in [0, 1), got {self.min_probability}")
        if self.min_share is not None and not 0.0 <= self.min_share < 1.0:
            raise ValueError(f"min_share must be in [0, 1) or None, got {self.min_share}")

    @property
    def probability_threshold(self) -> float:
        """The relevance probability above which a passage's expected gain is positive."""
        return -self.irrelevant_weight / (self.relevant_weight - self.irrelevant_weight)

    def gain(self, probability: float, utility: float = 1.0) -> float:
        """Expected UDCG term of one passage."""
        return utility * (
            self.relevant_weight * probability + self.irrelevant_weight * (1.0 - probability)
        )

    def reasons(
        self,
        probabilities: Sequence[float],
        utilities: Sequence[float],
        *,
        unrelated: bool | None = None,
    ) -> list[str]:
        """Keep or drop, per passage, for passages given best first (by expected gain).

        Args:
            probabilities: Relevance probabilities, best first.
            utilities: Reader utilities, aligned.
            unrelated: A list-level decision (e.g. [`ListGate`][ctx_core.udcg.list_gate.ListGate])
                that replaces ``empty_below``: ``True`` empties the list (when
                ``allow_empty``), ``False`` keeps the best passage. ``None``: use ``empty_below``.

        Returns ``"kept"``, ``"likely distractor"``, ``"unrelated list"``,
        ``"small share of the list"`` or ``"beyond the mean-optimal context"`` for each;
        budgets are applied by the caller.
        """
        gains = [self.gain(p, u) for p, u in zip(probabilities, utilities, strict=True)]
        if not gains:
            return []
        if unrelated is None:
            unrelated = self.empty_below is not None and probabilities[0] < self.empty_below
            decided = self.empty_below is not None
        else:
            decided = True
        if self.allow_empty and unrelated:
            return ["unrelated list"] * len(gains)
        keep_best = not self.allow_empty or decided
        if self.objective == "expected_recall":
            if not keep_best and gains[0] <= 0:
                # No list-level rule: as for the sum, empty exactly when nothing can help.
                return ["likely distractor"] * len(gains)
            share = self.min_share if self.min_share is not None else DEFAULT_MIN_SHARE
            floor = self.min_probability
            total = float(sum(probabilities))
            return [
                "kept"
                if i == 0 or (p > share * total and p > floor)
                else ("likely distractor" if g <= 0 or p <= floor else "small share of the list")
                for i, (p, g) in enumerate(zip(probabilities, gains, strict=True))
            ]
        if self.objective == "expected_sum":
            total = float(sum(probabilities))
            out = []
            for i, (g, p) in enumerate(zip(gains, probabilities, strict=True)):
                if i == 0 and keep_best:
                    out.append("kept")
                elif g <= 0:
                    out.append("likely distractor")
                elif i > 0 and self.min_share is not None and not p > self.min_share * total:
                    out.append("small share of the list")
                else:
                    out.append("kept")
            return out
        best_value, best_m = (-math.inf, 1) if keep_best else (self.empty_value, 0)
        total = 0.0
        for m, g in enumerate(gains, start=1):
            total += g
            value = 1.0 / (1.0 + math.exp(-total / m))
            if value > best_value:
                best_value, best_m = value, m
        return [
            "kept" if i < best_m else "beyond the mean-optimal context" for i in range(len(gains))
        ]


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
    with the UDCG weights ``w_rel = 1`` and ``w_irr = -1/3``. The
    [`DropRule`][ctx_core.udcg.DropRule] decides what is kept: by default
    (``objective="expected_recall"``) the best passage and every passage that carries more
    than ``min_share`` of the list's expected relevant passages and has a probability above
    ``min_probability``, unless the list as a whole
    looks unrelated to the query (the calibrator's [`ListGate`][ctx_core.udcg.ListGate]):
    then the context is empty, because retrieval can hurt. ``objective="expected_sum"``
    keeps every passage with ``g > 0`` instead (the expected *sum* of UDCG terms is largest).
    The kept passages are limited by the token budget and ``max_passages``, then ordered
    for the reader.

    The default signals and calibrator were chosen by leave-one-data-set-out over five
    data sets (``benchmarks/udcg_lodo.py``; the docs' UDCG page has the tables): the MiniLM
    cosine, a feedback hop from the best passage, in-list BM25 and, where passages have a
    ``metadata["title"]``, the title links (without titles those columns are 0).

    Args:
        relevance: Any core scorer, or a [`RelevanceSignals`][ctx_core.udcg.RelevanceSignals]
            set (default: [`HybridSignals`][ctx_core.udcg.HybridSignals] over the packaged
            MiniLM).
        utility: An [`AbstentionUtility`][ctx_core.udcg.AbstentionUtility] for the reader
            LLM, or ``None`` to treat every passage's utility as 1 (the offline default:
            the packaged 135M reader cannot judge utility, see the docs).
        calibrator: Maps one query's signals to relevance probabilities; a
            [`LogisticCalibrator`][ctx_core.udcg.LogisticCalibrator], its parameters
            (its ``to_dict()``), a path, or a shipped name. Default:
            ``"hybrid-mixed"`` for the default signals; required otherwise (fit one on your
            labelled queries with ``ctx udcg fit`` or
            [`fit_calibrator`][ctx_core.udcg.fit_calibrator]).
        token_budget: Most tokens of kept passages (``None``: no limit).
        max_passages: Most passages kept (``None``: no limit).
        order: ``"best_first"`` or ``"edges"``.
        allow_empty: Allow an empty context at all; otherwise the best passage is kept.
        relevant_weight: ``w_rel``.
        irrelevant_weight: ``w_irr`` (negative: a distractor costs).
        objective: ``"expected_recall"`` (default), ``"expected_sum"`` or
            ``"expected_mean"`` (maximize the expected UDCG itself, a mean: keeps one
            passage); see [`DropRule`][ctx_core.udcg.DropRule].
        empty_below: When nothing is kept: ``"calibrator"`` (default) uses the
            calibrator's list gate ([`ListGate`][ctx_core.udcg.list_gate.ListGate]: is the
            list about the query at all?) when it has one, else its fitted ``empty_below``
            (a probability of the best passage); a number is such a probability; ``None``
            empties the context exactly when no passage has ``g > 0``.
        min_share: Drop a passage (other than the best) whose share ``p / sum(p)`` of
            the list's expected relevant passages is not above this. ``None``: ``0.1``
            (``DEFAULT_MIN_SHARE``) with ``"expected_recall"``, no limit otherwise.
        min_probability: With ``"expected_recall"``, the probability a kept passage other
            than the best must exceed (default ``0.1``).
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
        objective: Objective = DEFAULT_OBJECTIVE,
        empty_below: float | Literal["calibrator"] | None = "calibrator",
        min_share: float | None = None,
        min_probability: float = DEFAULT_MIN_PROBABILITY,
        counter: TokenCounter | None = None,
    ) -> None:
        if token_budget is not None and token_budget < 1:
            raise ValueError(f"token_budget must be >= 1 or None, got {token_budget}")
        if isinstance(empty_below, str) and empty_below != "calibrator":
            raise ValueError(
                f"empty_below must be a probability, None or 'calibrator', got {empty_below!r}"
            )
        validate_top_n(max_passages, "max_passages")
        order_for_reader([], order)  # validates ``order``
        if relevance is None:
            relevance = HybridSignals()
            calibrator = calibrator if calibrator is not None else DEFAULT_CALIBRATOR
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
        gate = getattr(calibrator, "list_gate", None) if empty_below == "calibrator" else None
        if gate is not None:
            missing = sorted(set(gate.columns) - set(self.signals.columns))
            if missing:
                raise ValueError(
                    f"the calibrator's list gate reads signal columns {missing} that the "
                    f"relevance signals {list(self.signals.columns)} do not provide"
                )
            threshold = None  # the gate decides
        elif empty_below == "calibrator":
            threshold = getattr(calibrator, "empty_below", None)
        else:
            threshold = empty_below
        rule = DropRule(
            relevant_weight,
            irrelevant_weight,
            objective,
            allow_empty,
            threshold,
            min_share=min_share,
            min_probability=min_probability,
        )
        self.list_gate: ListGate | None = gate
        self.relevance = relevance
        self.utility = utility
        self.calibrator = calibrator
        self.token_budget = token_budget
        self.max_passages = max_passages
        self.order: Order = order
        self.rule = rule
        self.allow_empty = allow_empty
        self.relevant_weight = relevant_weight
        self.irrelevant_weight = irrelevant_weight
        self.objective: Objective = objective
        self.empty_below = empty_below
        self.min_share = min_share
        self.min_probability = min_probability
        self._counter_arg = counter
        self.counter = counter or default_counter()

    @property
    def probability_threshold(self) -> float:
        """The relevance probability above which the expected gain is positive."""
        return self.rule.probability_threshold

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
            "objective": self.objective,
            "empty_below": self.empty_below,
            "min_share": self.min_share,
            "min_probability": self.min_probability,
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
        """Async twin of [`explain`][ctx_core.udcg.reranker.UtilityDistractionReranker.explain]; relevance and utility run concurrently."""
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
        """Async twin of [`rerank`][ctx_core.udcg.reranker.UtilityDistractionReranker.rerank]."""
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
            gain = self.rule.gain(prob, u)
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
        unrelated = None if self.list_gate is None else self.list_gate.unrelated(signals)
        verdicts = self.rule.reasons(
            [row[2] for row in rows], [row[3] for row in rows], unrelated=unrelated
        )
        decisions: list[Decision] = []
        used_tokens = kept_count = 0
        for index, ((passage, score, prob, u, gain, own), reason) in enumerate(
            zip(rows, verdicts, strict=True)
        ):
            tokens = self.counter.count(passage.text)
            forced = index == 0 and not self.allow_empty  # stays even over the budget
            if reason != "kept":
                pass
            elif max_passages is not None and kept_count >= max_passages:
                reason = "over max_passages"
            elif (
                self.token_budget is not None
                and used_tokens + tokens > self.token_budget
                and not forced
            ):
                reason = "over token budget"
            else:
                used_tokens += tokens
                kept_count += 1
            decisions.append(
                Decision(passage, reason == "kept", reason, score, prob, u, gain, tokens, own)
            )
        return sorted(decisions, key=lambda d: not d.kept)


def resolve_reranker_parts(
    model: str | None, relevance: Any, utility: Any, calibrator: Any
) -> tuple[Any, Any, Any]:
    """The reranker's relevance, utility and calibrator, with names built into components.

    How the adapters take ``model=`` / ``relevance=`` / ``utility=`` by name: a scorer's
    short name is built with ``model``; ``model`` alone names the embedding model of the
    default ``HybridSignals`` (with the shipped calibrator when it is the default
    MiniLM); a utility given as a model id or alias becomes an ``AbstentionUtility``.

    Raises:
        ValueError: ``model`` given beside a relevance object that has its own model.

    Examples:
        >>> relevance, utility, calibrator = resolve_reranker_parts("minilm", None, None, None)
        >>> type(relevance).__name__, utility, calibrator
        ('HybridSignals', None, 'hybrid-mixed')
    """
    from ctx_core.models import resolve_embedder
    from ctx_core.scoring.registry import resolve_scorer

    if isinstance(relevance, str):
        relevance = resolve_scorer(relevance, model)
    elif model is not None:
        if relevance is not None:
            raise ValueError(
                f"model={model!r} names the embedding model of the default relevance signals; "
                f"the {type(relevance).__name__} given as relevance already has its model"
            )
        relevance = HybridSignals(model)
        if calibrator is None and resolve_embedder(model) == resolve_embedder(None):
            calibrator = DEFAULT_CALIBRATOR  # the default signals' own calibrator
    if isinstance(utility, str):
        utility = AbstentionUtility(utility)
    return relevance, utility, calibrator
