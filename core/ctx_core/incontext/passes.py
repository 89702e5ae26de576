"""Splitting a long candidate list into passes that fit one forward pass.

Examples:
    >>> plan_passes([50, 50, 50, 50], budget=1000)
    ([[0, 1, 2, 3]], [])
    >>> plan_passes([50, 50, 50, 50, 50], budget=160, anchors=1)
    ([[0, 1, 2], [0, 3, 4]], [0])
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["plan_passes"]


def plan_passes(
    lengths: Sequence[int],
    budget: int,
    *,
    max_candidates: int | None = None,
    anchors: int = 2,
) -> tuple[list[list[int]], list[int]]:
    """Group candidates into passes.

    Args:
        lengths: Token count of each candidate block, in input order.
        budget: Candidate tokens one pass may hold (instruction and query blocks excluded).
        max_candidates: At most this many candidates per pass (``None``: no limit).
        anchors: When more than one pass is needed, the first ``anchors`` candidates go into
            every pass so scores of different passes can be put on one scale.

    Returns:
        ``(passes, anchor_indices)``: candidate indices per pass (anchors first) and the
        anchors (empty when everything fits in one pass).

    Raises:
        ValueError: the budget cannot hold the anchors plus one more candidate.
    """
    n = len(lengths)
    limit = max_candidates if max_candidates is not None else n
    if limit < 1:
        raise ValueError(f"max_candidates must be >= 1, got {max_candidates}")
    if sum(lengths) <= budget and n <= limit:
        return [list(range(n))], []
    if anchors < 1:
        raise ValueError("the candidates need several passes: anchors must be >= 1")
    anchor_ids = list(range(min(anchors, n)))
    room = budget - sum(lengths[a] for a in anchor_ids)
    room_count = limit - len(anchor_ids)
    rest = list(range(len(anchor_ids), n))
    if room_count < 1 or (rest and room < max(lengths[i] for i in rest)):
        raise ValueError(
            f"a pass of {budget} candidate tokens / {limit} candidates cannot hold the "
            f"{len(anchor_ids)} anchor(s) and another candidate; raise the pass capacity "
            "or lower anchors"
        )
    passes: list[list[int]] = []
    current: list[int] = []
    used = 0
    for i in rest:
        if current and (used + lengths[i] > room or len(current) >= room_count):
            passes.append(anchor_ids + current)
            current, used = [], 0
        current.append(i)
        used += lengths[i]
    if current or not passes:
        passes.append(anchor_ids + current)
    return passes, anchor_ids
