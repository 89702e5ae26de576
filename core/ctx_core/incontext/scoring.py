"""From scoring-layer attention to one relevance score per candidate.

For one query block, a pass gives ``logmass[layer][h, s, c]``: the log of the attention mass
that signal token ``s`` in head ``h`` puts on candidate ``c``'s tokens (logits to candidate
tokens only). The score of a candidate is the softmax of it over candidates (= softmax over
all candidate tokens, summed per candidate), averaged over the chosen heads, the signal
tokens and the scoring layers. Scores of one query sum to 1.

**Several passes.** When the candidates do not fit in one pass, every pass also carries the
same *anchor* candidates (the first ones in input order). In each pass and for each
``(layer, head, signal)`` the log masses are shifted so that the anchors' total mass is 1
(``m - logsumexp(m[anchors])``); the shifted values of all passes then share one scale and
one softmax over all candidates turns them into scores. A candidate's block states never
depend on the other candidates (block sparsity), so only the signal tokens' queries differ
between passes; the anchor shift removes the per-pass normalisation. With a single pass the
shift cancels in the softmax, so one pass and the general formula agree exactly.

**Calibration** (ICR): the content-free query block gives scores of its own; the calibrated
score is ``score(query) - score(content-free)``.

**ICR's own scoring** (Chen et al., "Attention in Large Language Models Yields Efficient
Zero-Shot Re-Rankers"): [`icr_scores`][ctx_core.incontext.scoring.icr_scores] reads attention probabilities taken over the
whole sequence a signal token sees (not renormalised over candidates), sums them over all
layers, heads and signal tokens and over each candidate's tokens, and calibrates per
token: with ``masked=True`` (the paper's default, "masked N/A calibration") a candidate's
tokens whose calibrated score ``query - content-free`` is below ``mean - 2 std`` of that
candidate's calibrated scores are dropped before summing.

**Length.** Longer blocks collect more attention mass. ``length_normalization="length"``
divides a candidate's (calibrated) score by its token count, ``"sqrt"`` by the square root.

Examples:
    >>> import torch
    >>> m = torch.log(torch.tensor([[[[1.0, 3.0]]]], dtype=torch.float64))  # 1 layer, head, signal; 2 candidates
    >>> scores_from_logmass(m).tolist()
    [0.25, 0.75]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import torch

__all__ = [
    "LengthNormalization",
    "PassLogmass",
    "combine_passes",
    "icr_scores",
    "normalize_length",
    "scores_from_logmass",
]

LengthNormalization = Literal["none", "length", "sqrt"]


@dataclass
class PassLogmass:
    """Log masses of one pass.

    Attributes:
        candidates: Index (into the full candidate list) of each candidate of the pass.
        logmass: ``(layers, H, S, n)`` for the pass's ``n`` candidates.
    """

    candidates: list[int]
    logmass: torch.Tensor


def combine_passes(
    passes: Sequence[PassLogmass], num_candidates: int, anchors: Sequence[int] = ()
) -> torch.Tensor:
    """Log masses of all candidates on one scale, ``(layers, H, S, N)``.

    Args:
        passes: One entry per pass; every candidate must appear in at least one pass.
        num_candidates: ``N``.
        anchors: Candidates present in every pass (needed when there is more than one pass).

    A candidate seen in several passes (the anchors) gets the mean of its shifted values.
    """
    import torch

    if not passes:
        raise ValueError("passes must not be empty")
    if len(passes) > 1 and not anchors:
        raise ValueError("several passes need at least one anchor candidate")
    first = passes[0].logmass
    total = torch.zeros(*first.shape[:-1], num_candidates, dtype=first.dtype, device=first.device)
    count = torch.zeros(num_candidates, dtype=first.dtype, device=first.device)
    for p in passes:
        if p.logmass.shape[-1] != len(p.candidates):
            raise ValueError("a pass's logmass does not match its candidate list")
        values = p.logmass
        if len(passes) > 1:
            where = {c: i for i, c in enumerate(p.candidates)}
            missing = [a for a in anchors if a not in where]
            if missing:
                raise ValueError(f"anchor candidates {missing} missing from a pass")
            idx = torch.tensor([where[a] for a in anchors], device=values.device)
            values = values - torch.logsumexp(values.index_select(-1, idx), dim=-1, keepdim=True)
        index = torch.tensor(p.candidates, device=values.device)
        total = total.index_add(-1, index, values)
        count = count.index_add(0, index, torch.ones_like(index, dtype=count.dtype))
    if bool((count == 0).any()):
        raise ValueError("some candidates appear in no pass")
    return total / count


def scores_from_logmass(logmass: torch.Tensor, heads: Sequence[int] | None = None) -> torch.Tensor:
    """Scores ``(N,)``: softmax over candidates, mean over layers, heads and signal tokens.

    Args:
        logmass: ``(layers, H, S, N)`` (or ``(H, S, N)``).
        heads: Query heads to average over (default: all).
    """
    import torch

    if logmass.dim() == 3:
        logmass = logmass.unsqueeze(0)
    probs = torch.softmax(logmass, dim=-1)
    if heads is not None:
        index = torch.tensor(list(heads), device=probs.device)
        if index.numel() == 0:
            raise ValueError("heads must name at least one head")
        if int(index.min()) < 0 or int(index.max()) >= probs.shape[1]:
            raise ValueError(f"heads must be in 0..{probs.shape[1] - 1}, got {list(heads)}")
        probs = probs.index_select(1, index)
    return probs.mean(dim=(0, 1, 2))


def normalize_length(
    scores: torch.Tensor, token_counts: Sequence[int], how: LengthNormalization = "none"
) -> torch.Tensor:
    """Divide scores by the candidates' token counts (``"length"``) or their square roots."""
    import torch

    if how == "none":
        return scores
    counts = torch.tensor(list(token_counts), dtype=scores.dtype, device=scores.device)
    if how == "length":
        return scores / counts
    if how == "sqrt":
        return scores / counts.sqrt()
    raise ValueError(f"length_normalization must be 'none', 'length' or 'sqrt', got {how!r}")


def icr_scores(
    token_mass: Sequence[torch.Tensor],
    calibration_token_mass: Sequence[torch.Tensor] | None = None,
    *,
    heads: Sequence[int] | None = None,
    masked: bool = True,
) -> torch.Tensor:
    """ICR scores ``(N,)`` from per-token attention, summed over heads and tokens.

    Args:
        token_mass: Per candidate, ``(H, n_tokens)`` attention probabilities of the query
            block's signal tokens (softmax over the whole visible sequence), already summed
            over signal tokens and layers (``InContextScores.token_mass``).
        calibration_token_mass: The same for the content-free block; ``None``: no
            calibration (the paper's "query_last" variant).
        heads: Heads to sum over (default: all).
        masked: Drop tokens whose calibrated score is below ``mean - 2 std`` (standard
            deviation with Bessel's correction) of the candidate's calibrated scores
            before summing (the paper's default); ``False``: subtract and sum every token.
            (The paper's code keeps scores strictly above the threshold; ties, which
            happen only when every token scores the same, are kept here.)

    Examples:
        >>> import torch
        >>> q = [torch.full((1, 10), 0.1), torch.full((1, 2), 0.1)]
        >>> na = [torch.tensor([[0.0] * 9 + [1.1]]), torch.zeros(1, 2)]
        >>> [round(x, 3) for x in icr_scores(q, na, masked=False).tolist()]  # 9 x 0.1 - 1.0
        [-0.1, 0.2]
        >>> [round(x, 3) for x in icr_scores(q, na, masked=True).tolist()]  # the -1.0 token dropped
        [0.9, 0.2]
    """
    import torch

    if not token_mass:
        raise ValueError("token_mass must hold one entry per candidate")
    if calibration_token_mass is not None and len(calibration_token_mass) != len(token_mass):
        raise ValueError("calibration_token_mass must hold one entry per candidate")
    if masked and calibration_token_mass is None:
        raise ValueError("masked calibration needs calibration_token_mass")

    def per_token(mass: torch.Tensor) -> torch.Tensor:
        if heads is None:
            return mass.sum(0)
        index = torch.tensor(list(heads), device=mass.device)
        if index.numel() == 0 or int(index.min()) < 0 or int(index.max()) >= mass.shape[0]:
            raise ValueError(f"heads must be in 0..{mass.shape[0] - 1}, got {list(heads)}")
        return mass.index_select(0, index).sum(0)

    scores = []
    for i, mass in enumerate(token_mass):
        value = per_token(mass)
        if calibration_token_mass is not None:
            value = value - per_token(calibration_token_mass[i])
            if masked and value.numel() > 1:
                threshold = value.mean() - 2 * value.std()
                value = value * (value >= threshold)
        scores.append(value.sum())
    return torch.stack(scores)
