"""``reference``: dense masked attention in plain torch; the ground truth.

Builds the full ``(T, T)`` mask from [`attention_rule`][ctx_core.incontext.segments.attention_rule],
computes every logit, masks, soft-maxes in float32 (float64 for float64 inputs) and
multiplies by the values. Memory grows with ``H x T x T``: use it to check other backends
and on short prompts, not on a hundred candidates on a CPU.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from ctx_core.incontext.backends.base import (
    AttentionBackend,
    check_attention_inputs,
    expand_kv,
    score_dtype,
    softcap_logits,
)

if TYPE_CHECKING:
    import torch

    from ctx_core.incontext.segments import SegmentStructure

__all__ = ["ReferenceBackend", "dense_attention"]


class ReferenceBackend(AttentionBackend):
    """Dense masked attention (exact by definition).

    Args:
        max_elements: Refuse prompts whose logit matrix (``H x T x T``) has more entries
            than this (default 2**31, about 8 GiB in float32), with an error naming a
            memory-efficient backend instead.

    Examples:
        >>> import torch
        >>> from ctx_core.incontext.segments import SegmentStructure
        >>> s = SegmentStructure(2, (2, 2), (1,), query_offset=10)
        >>> q = k = v = torch.randn(1, 2, s.total_length, 4)
        >>> ReferenceBackend().attend(q, k, v, s, scaling=0.5).shape
        torch.Size([1, 7, 2, 4])
    """

    name: ClassVar[str] = "reference"

    def __init__(self, max_elements: int = 2**31) -> None:
        self.max_elements = max_elements

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
        check_attention_inputs(query, key, structure)
        _, heads, length, _ = query.shape
        if heads * length * length > self.max_elements:
            raise ValueError(
                f"the reference backend would build a {heads}x{length}x{length} logit matrix; "
                "use backend='sdpa' (exact, memory-efficient) for prompts this long"
            )
        return dense_attention(
            query, key, value, structure,
            scaling=scaling, sliding_window=sliding_window, softcap=softcap,
        ).to(query.dtype)  # fmt: skip


def dense_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    structure: SegmentStructure,
    *,
    scaling: float,
    sliding_window: int | None = None,
    softcap: float | None = None,
    max_elements: int | None = None,
) -> torch.Tensor:
    """Dense masked attention ``(1, T, H, D)`` in float32 (float64 for float64 inputs).

    The reference arithmetic: mask from the segment rule, ``-inf`` outside it, softmax,
    values. With ``max_elements`` the query rows go in chunks whose logits stay under that
    many entries (the GPU kernel checks use this on long prompts); without it all rows go
    at once and the full mask is cached on ``structure``.
    """
    import torch

    heads, length = query.shape[1], query.shape[2]
    dtype = score_dtype(query.dtype)
    keys = expand_kv(key[0], heads).to(dtype)
    values = expand_kv(value[0], heads).to(dtype)
    out = torch.empty(1, length, heads, value.shape[-1], dtype=dtype, device=query.device)
    rows = length if max_elements is None else max(1, max_elements // max(1, heads * length))
    for start in range(0, length, rows):
        stop = min(length, start + rows)
        if stop - start == length:
            mask = structure.cached(
                ("reference-mask", sliding_window, str(query.device)),
                lambda: structure.dense_mask(window=sliding_window, device=query.device),
            )
        else:
            mask = structure.dense_mask(
                window=sliding_window, device=query.device, rows=range(start, stop)
            )
        logits = torch.matmul(query[0, :, start:stop].to(dtype), keys.transpose(-1, -2)) * scaling
        if softcap is not None:
            logits = softcap_logits(logits, softcap)
        logits = logits.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(logits, dim=-1)
        out[0, start:stop] = torch.matmul(weights, values).transpose(0, 1)
    return out
