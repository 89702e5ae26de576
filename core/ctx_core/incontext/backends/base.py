"""The attention-backend interface of the in-context ranker.

A backend computes, for one prompt (batch size 1), the attention of every token under the
[`attention_rule`][ctx_core.incontext.segments.attention_rule] and, at the scoring layer, the
per-candidate attention mass of the signal tokens. Tensors follow transformers' layout:

* ``query``: ``(1, H, T, D)`` after rotary embedding (and q-norm, e.g. Gemma3);
* ``key`` / ``value``: ``(1, H_kv, T, D)``, not expanded for grouped-query attention:
  query head ``h`` reads key head ``h // (H // H_kv)``;
* output of [`AttentionBackend.attend`][ctx_core.incontext.backends.base.AttentionBackend.attend]: ``(1, T, H, D)`` (what the model's ``o_proj``
  expects after a reshape).

[`AttentionBackend.candidate_logmass`][ctx_core.incontext.backends.base.AttentionBackend.candidate_logmass] returns, for each head ``h``, signal row ``s``
and candidate ``c``, ``log sum_{t in c} exp(logit[h, s, t])`` over the candidate's tokens,
in float32 (float64 for float64 inputs). A softmax of it over candidates equals the softmax
over all candidate tokens summed per candidate; it is additive-shift invariant and
differentiable (the fine-tuning objective trains on it).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import torch

    from ctx_core.incontext.cached import QueryLayout
    from ctx_core.incontext.segments import SegmentStructure
    from ctx_core.incontext.states import PoolView

__all__ = [
    "AttentionBackend",
    "check_attention_inputs",
    "expand_kv",
    "score_dtype",
    "segment_logsumexp",
]


def score_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 for half-precision inputs, otherwise the input's own float type."""
    import torch

    return torch.float64 if dtype == torch.float64 else torch.float32


def check_attention_inputs(
    query: torch.Tensor, key: torch.Tensor, structure: SegmentStructure
) -> None:
    """Raise ``ValueError`` unless ``query``/``key`` fit one prompt laid out as ``structure``."""
    batch, heads, length, _ = query.shape
    if batch != 1:
        raise ValueError(f"the in-context ranker runs one prompt per pass, got batch {batch}")
    if length != structure.total_length:
        raise ValueError(
            f"query has {length} tokens but the structure describes {structure.total_length}"
        )
    if heads % key.shape[1]:
        raise ValueError(f"{heads} query heads cannot share {key.shape[1]} key heads")


def expand_kv(key: torch.Tensor, num_heads: int) -> torch.Tensor:
    """Repeat key/value heads ``(..., H_kv, T, D) -> (..., H, T, D)`` for grouped-query attention."""
    groups = num_heads // key.shape[-3]
    if groups == 1:
        return key
    if num_heads % key.shape[-3]:
        raise ValueError(f"{num_heads} query heads cannot share {key.shape[-3]} key heads")
    return key.repeat_interleave(groups, dim=-3)


def segment_logsumexp(
    logits: torch.Tensor, segment: torch.Tensor, num_segments: int
) -> torch.Tensor:
    """``log sum exp`` of ``logits[..., t]`` over the tokens ``t`` of each segment.

    Args:
        logits: ``(..., Tc)``.
        segment: ``(Tc,)`` segment number of each token, in ``0 .. num_segments-1``.
        num_segments: Output size of the last dimension.

    Returns:
        ``(..., num_segments)``; ``-inf`` for a segment without tokens. Differentiable.
    """
    import torch

    lead = logits.shape[:-1]
    index = segment.expand(*lead, -1)
    with torch.no_grad():
        peak = torch.full(
            (*lead, num_segments), float("-inf"), dtype=logits.dtype, device=logits.device
        )
        peak = peak.scatter_reduce(-1, index, logits, reduce="amax", include_self=True)
        safe_peak = torch.where(torch.isfinite(peak), peak, torch.zeros_like(peak))
    shifted = torch.exp(logits - safe_peak.gather(-1, index))
    total = torch.zeros((*lead, num_segments), dtype=logits.dtype, device=logits.device)
    total = total.index_add(-1, segment, shifted)
    return torch.log(total) + safe_peak


class AttentionBackend(ABC):
    """One way of computing the ranker's block-sparse attention.

    Subclasses implement [`attend`][ctx_core.incontext.backends.base.AttentionBackend.attend]; [`candidate_logmass`][ctx_core.incontext.backends.base.AttentionBackend.candidate_logmass] has a plain torch
    default that a fused kernel may replace. Backends are stateless apart from caches they
    keep on the [`SegmentStructure`][ctx_core.incontext.segments.SegmentStructure] (``structure.cached``).

    Attributes:
        name: Registry name (``reference``, ``sdpa``, ``flex``, ...).
        exact: Whether the backend computes the attention rule exactly (up to float
            rounding); approximate backends must say so.
    """

    name: ClassVar[str] = "base"
    exact: ClassVar[bool] = True

    def available(self, device: Any) -> bool:
        """Whether this backend can run on ``device`` in this environment."""
        return True

    @abstractmethod
    def attend(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        structure: SegmentStructure,
        *,
        scaling: float,
        sliding_window: int | None = None,
        softcap: float | None = None,
    ) -> torch.Tensor:
        """Attention output ``(1, T, H, D)`` for every token under the segment rule.

        Implementations start with [`check_attention_inputs`][ctx_core.incontext.backends.base.check_attention_inputs].
        """

    def candidate_logmass(
        self,
        query_rows: torch.Tensor,
        key: torch.Tensor,
        structure: SegmentStructure,
        *,
        scaling: float,
        softcap: float | None = None,
    ) -> torch.Tensor:
        """Per-candidate log attention mass ``(H, S, N)`` of the signal rows ``(1, H, S, D)``.

        The logits are ``scaling * q . k`` (soft-capped when ``softcap`` is set) from each
        signal row to each candidate token; the result is their ``logsumexp`` per candidate.
        Other segments (instruction, query blocks) are left out: the softmax that turns this
        into scores runs over candidate tokens only.
        """
        heads = query_rows.shape[1]
        dtype = score_dtype(query_rows.dtype)
        index = structure.candidate_token_index(key.device)
        keys = expand_kv(key[0].index_select(1, index), heads).to(dtype)  # (H, Tc, D)
        logits = torch_einsum("hsd,htd->hst", query_rows[0].to(dtype), keys) * scaling
        if softcap is not None:
            logits = softcap_logits(logits, softcap)
        return segment_logsumexp(
            logits, structure.candidate_of_token(key.device), structure.num_candidates
        )

    # -- the cached query path (see ctx_core.incontext.cached) ----------------------

    def attend_cached(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        view: PoolView,
        layer: int,
        layout: QueryLayout,
        *,
        scaling: float,
        sliding_window: int | None = None,
        softcap: float | None = None,
    ) -> torch.Tensor:
        """Attention ``(1, Tq, H, D)`` of query-segment tokens over a cached pool.

        ``query``/``key``/``value`` hold the query segments' tokens only; each token sees
        the pool's cached instruction and candidate states of ``layer`` and, causally, its
        own segment. The default is the dense reference arithmetic (float32, or float64):
        the pool is gathered into one tensor and every logit is computed.
        """
        import torch

        heads = query.shape[1]
        dtype = score_dtype(query.dtype)
        pool_k, pool_v = view.gathered(layer)
        if pool_v is None:
            raise ValueError(f"layer {layer} is the scoring layer: its values are not cached")
        keys = expand_kv(torch.cat([pool_k, key], dim=2)[0], heads).to(dtype)
        values = expand_kv(torch.cat([pool_v, value], dim=2)[0], heads).to(dtype)
        logits = torch.matmul(query[0].to(dtype), keys.transpose(-1, -2)) * scaling
        if softcap is not None:
            logits = softcap_logits(logits, softcap)
        mask = layout.dense_mask(view, sliding_window, query.device)
        weights = torch.softmax(logits.masked_fill(~mask, float("-inf")), dim=-1)
        return torch.matmul(weights, values).transpose(0, 1)[None].to(query.dtype)

    def cached_logmass(
        self,
        query_rows: torch.Tensor,
        view: PoolView,
        layer: int,
        *,
        scaling: float,
        softcap: float | None = None,
    ) -> torch.Tensor:
        """Per-candidate log mass ``(H, S, N)`` of signal rows over a cached pool's keys."""
        pool_k, _ = view.gathered(layer)
        structure = view.structure((1,), view.prefix_length)
        return AttentionBackend.candidate_logmass(
            self, query_rows, pool_k, structure, scaling=scaling, softcap=softcap
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def torch_einsum(equation: str, *operands: torch.Tensor) -> torch.Tensor:
    """``torch.einsum`` (imported lazily)."""
    import torch

    return torch.einsum(equation, *operands)


def softcap_logits(logits: torch.Tensor, softcap: float) -> torch.Tensor:
    """``softcap * tanh(logits / softcap)`` (Gemma2-style logit soft-capping)."""
    import torch

    return torch.tanh(logits / softcap) * softcap
