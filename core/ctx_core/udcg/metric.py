"""The UDCG metric: utility- and distraction-aware cumulative gain of a context.

As defined by the reference implementation of "Redefining Retrieval Evaluation in the
Era of LLMs" (Trappolini et al.): each passage contributes its utility
``u = 1 - p(NO-RESPONSE)`` weighted ``+1`` when relevant and ``-1/3`` when not;
the mean over all passages goes through a sigmoid. An empty context scores 0.0, as in
the reference implementation (``empty_value=0.5``, ``sigmoid(0)``, is the other convention).

Examples:
    The reference repository's published example: two relevant passages the reader
    almost never abstains on, three distractors with p(NO-RESPONSE) 0.1318, 0.1813,
    0.0208. Its published 0.5554 was computed with the reference pipeline script's
    ``--irrelevant_weight -0.333``; the exact ``-1/3`` default gives 0.5553.

    >>> p = [2.086e-06, 1.341e-05, 0.1318359375, 0.1812744140625, 0.02081298828125]
    >>> labels = [True, True, False, False, False]
    >>> round(udcg([1 - x for x in p], labels, irrelevant_weight=-0.333), 4)
    0.5554
    >>> round(udcg([1 - x for x in p], labels), 4)
    0.5553
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from ctx_core.types import Passage

__all__ = ["PositionWeight", "udcg", "udcg_of_passages"]

#: ``weight(position, count)`` for the passage at 0-based ``position`` of ``count``.
PositionWeight = Callable[[int, int], float]

DEFAULT_RELEVANT_WEIGHT = 1.0
DEFAULT_IRRELEVANT_WEIGHT = -1.0 / 3.0


def udcg(
    utilities: Sequence[float],
    relevant: Sequence[bool],
    *,
    relevant_weight: float = DEFAULT_RELEVANT_WEIGHT,
    irrelevant_weight: float = DEFAULT_IRRELEVANT_WEIGHT,
    position_weight: PositionWeight | None = None,
    empty_value: float = 0.0,
) -> float:
    """UDCG of one context: ``sigmoid(mean_i(w_i * u_i))`` over all N passages.

    Args:
        utilities: Per passage, ``1 - p(NO-RESPONSE)`` from the reader LLM (in [0, 1]).
        relevant: Per passage, whether it is relevant (gold label).
        relevant_weight: Weight of a relevant passage (reference: ``1``).
        irrelevant_weight: Weight of an irrelevant passage (reference: ``-1/3``).
        position_weight: Optional discount ``f(position, N)`` multiplying each term, in
            the order the passages are given. The paper mentions an LLM-oriented positional
            discount without publishing its form; any function here is **our extension**.
            ``None`` (default) is exactly the reference metric.
        empty_value: The score of an empty context: ``0.0`` as the reference
            implementation scores it, or ``0.5`` (``sigmoid`` of an empty sum).

    Returns:
        A value in (0, 1) for a non-empty context, else ``empty_value``.

    Raises:
        ValueError: Lengths differ, a utility is outside [0, 1], or both weights are zero.
    """
    if len(utilities) != len(relevant):
        raise ValueError(
            f"utilities and relevant differ in length ({len(utilities)} vs {len(relevant)})"
        )
    if relevant_weight == 0 and irrelevant_weight == 0:
        raise ValueError(
            "relevant_weight and irrelevant_weight are both 0: every contribution would be zero"
        )
    for i, u in enumerate(utilities):
        if not 0.0 <= float(u) <= 1.0 or math.isnan(float(u)):
            raise ValueError(f"utilities[{i}] = {u!r} is outside [0, 1]")
    n = len(utilities)
    if n == 0:
        return float(empty_value)
    total = 0.0
    for i, (u, rel) in enumerate(zip(utilities, relevant, strict=True)):
        w = relevant_weight if rel else irrelevant_weight
        if position_weight is not None:
            w *= position_weight(i, n)
        total += w * float(u)
    return 1.0 / (1.0 + math.exp(-total / n))


def udcg_of_passages(
    passages: Sequence[Passage],
    utilities: Mapping[str, float],
    labels: Mapping[str, bool | int],
    **weights: float,
) -> float:
    """UDCG of a context given as passages, with utilities and labels looked up by passage id.

    A graded label counts as relevant when it is > 0.

    Raises:
        ValueError: Some passages have no label or no utility (their ids are named).
    """
    missing_labels = [p.id for p in passages if p.id not in labels]
    if missing_labels:
        raise ValueError(f"labels missing for passage ids: {', '.join(missing_labels[:10])}")
    missing_utilities = [p.id for p in passages if p.id not in utilities]
    if missing_utilities:
        raise ValueError(f"utilities missing for passage ids: {', '.join(missing_utilities[:10])}")
    return udcg(
        [utilities[p.id] for p in passages],
        [bool(labels[p.id] > 0) for p in passages],
        **weights,  # type: ignore[arg-type]
    )
