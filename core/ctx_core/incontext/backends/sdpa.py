"""``sdpa``: exact block-sparse attention from a few batched SDPA calls; the CPU default.

The segment pattern splits into small dense problems that never touch a ``T x T`` matrix:

1. the instruction attends causally to itself (one causal SDPA);
2. candidates are batched, each as a row ``[instruction keys][its own keys]`` with a causal
   mask over its own part (padding masked), ``chunk`` candidates per call so memory stays
   bounded (``O(chunk x H x C x (L + C))``);
3. each query block attends to all keys before the first query block plus causally to
   itself.

With ``causal=True`` (the baseline) steps 1 and 2 are one causal SDPA over the whole prefix,
which is what ordinary causal attention costs. Sliding windows are applied in position ids.
Results equal the ``reference`` backend to float rounding.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from ctx_core.incontext.backends.base import (
    AttentionBackend,
    check_attention_inputs,
    expand_kv,
    score_dtype,
    softcap_logits,
)

if TYPE_CHECKING:
    import torch

    from ctx_core.incontext.cached import QueryLayout
    from ctx_core.incontext.segments import SegmentStructure
    from ctx_core.incontext.states import PoolView

__all__ = ["SdpaBackend"]


def _attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None,
    *,
    scaling: float,
    softcap: float | None,
    is_causal: bool = False,
) -> torch.Tensor:
    """Attention ``(B, H, Tq, D)`` x ``(B, Hkv, Tk, D)`` with an optional boolean mask."""
    import torch

    heads = query.shape[1]
    if softcap is None:
        return torch.nn.functional.scaled_dot_product_attention(
            query,
            expand_kv(key, heads),
            expand_kv(value, heads),
            attn_mask=mask,
            is_causal=is_causal and mask is None,
            scale=scaling,
        )
    dtype = score_dtype(query.dtype)
    logits = torch.matmul(query.to(dtype), expand_kv(key, heads).to(dtype).transpose(-1, -2))
    logits = softcap_logits(logits * scaling, softcap)
    if is_causal and mask is None:
        tq, tk = logits.shape[-2:]
        mask = torch.ones(tq, tk, dtype=torch.bool, device=query.device).tril(tk - tq)
    if mask is not None:
        logits = logits.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(logits, dim=-1)
    return torch.matmul(weights, expand_kv(value, heads).to(dtype)).to(query.dtype)


class SdpaBackend(AttentionBackend):
    """Exact, memory-efficient block-sparse attention built on ``scaled_dot_product_attention``.

    Args:
        max_chunk_elements: Upper bound on the logits of one batched candidate call
            (``chunk x H x C x (L + C)``); smaller values use less memory and more calls.

    Examples:
        >>> import torch
        >>> from ctx_core.incontext.backends.reference import ReferenceBackend
        >>> from ctx_core.incontext.segments import SegmentStructure
        >>> s = SegmentStructure(3, (2, 4, 1), (2,), query_offset=16)
        >>> q, k, v = (torch.randn(1, 2, s.total_length, 8) for _ in range(3))
        >>> fast = SdpaBackend().attend(q, k, v, s, scaling=0.3)
        >>> bool(torch.allclose(fast, ReferenceBackend().attend(q, k, v, s, scaling=0.3), atol=1e-6))
        True
    """

    name: ClassVar[str] = "sdpa"

    def __init__(self, max_chunk_elements: int = 2**25) -> None:
        if max_chunk_elements < 1:
            raise ValueError(f"max_chunk_elements must be >= 1, got {max_chunk_elements}")
        self.max_chunk_elements = max_chunk_elements

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
        import torch

        check_attention_inputs(query, key, structure)
        _, heads, length, _ = query.shape
        device = query.device
        positions = structure.position_ids(device)
        out = query.new_empty(1, length, heads, value.shape[-1])
        options: dict[str, Any] = {"scaling": scaling, "softcap": softcap}
        window = sliding_window

        def causal_run(start: int, stop: int) -> None:
            pos = positions[start:stop]
            mask = None
            if window is not None and int(pos[-1] - pos[0]) >= window:
                idx = torch.arange(stop - start, device=device)
                mask = (idx[None, :] <= idx[:, None]) & ((pos[:, None] - pos[None, :]) < window)
            res = _attention(
                query[:, :, start:stop],
                key[:, :, start:stop],
                value[:, :, start:stop],
                mask,
                is_causal=True,
                **options,
            )
            out[0, start:stop] = res[0].transpose(0, 1)

        prefix = structure.prefix_length
        L = structure.instruction_length
        if structure.causal:
            causal_run(0, prefix)
        else:
            causal_run(0, L)
            self._candidates(query, key, value, structure, out, positions, window, options)

        # Query blocks: every key before the first query block, then causally themselves.
        for j in range(len(structure.query_lengths)):
            start, stop = structure.query_span(j)
            n = stop - start
            keys = torch.cat([key[:, :, :prefix], key[:, :, start:stop]], dim=2)
            values = torch.cat([value[:, :, :prefix], value[:, :, start:stop]], dim=2)
            idx = torch.arange(n, device=device)
            own = idx[None, :] <= idx[:, None]
            mask = torch.cat([torch.ones(n, prefix, dtype=torch.bool, device=device), own], dim=1)
            if window is not None:
                pos_q = positions[start:stop]
                pos_k = torch.cat([positions[:prefix], pos_q])
                mask = mask & ((pos_q[:, None] - pos_k[None, :]) < window)
            res = _attention(query[:, :, start:stop], keys, values, mask, **options)
            out[0, start:stop] = res[0].transpose(0, 1)
        return out

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
        """One SDPA call per query segment over the gathered pool and the segment itself."""
        import torch

        pool_k, pool_v = view.gathered(layer)
        if pool_v is None:
            raise ValueError(f"layer {layer} is the scoring layer: its values are not cached")
        device = query.device
        heads = query.shape[1]
        out = query.new_empty(1, layout.total, heads, value.shape[-1])
        prefix = view.prefix_length
        full = layout.dense_mask(view, sliding_window, device)
        for j in range(len(layout.lengths)):
            start, stop = layout.span(j)
            keys = torch.cat([pool_k, key[:, :, start:stop]], dim=2)
            values = torch.cat([pool_v, value[:, :, start:stop]], dim=2)
            mask = torch.cat(
                [full[start:stop, :prefix], full[start:stop, prefix + start : prefix + stop]], dim=1
            )
            res = _attention(
                query[:, :, start:stop], keys, values, mask, scaling=scaling, softcap=softcap
            )
            out[0, start:stop] = res[0].transpose(0, 1)
        return out

    def _plan(
        self,
        structure: SegmentStructure,
        heads: int,
        window: int | None,
        device: torch.device,
    ) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Candidate groups as ``(index, valid, mask)``; built once per prompt and reused by every layer."""
        import torch

        n_cand = structure.num_candidates
        L = structure.instruction_length
        lengths = structure.candidate_lengths
        starts = structure.segment_starts[1 : 1 + n_cand]
        positions = structure.position_ids(device)
        instr_pos = positions[:L]
        # Group similar lengths together so padding stays small.
        order = sorted(range(n_cand), key=lambda i: lengths[i])
        plan = []
        begin = 0
        while begin < n_cand:
            width = lengths[order[begin]]
            group = [order[begin]]
            while begin + len(group) < n_cand:
                nxt = order[begin + len(group)]
                w = max(width, lengths[nxt])
                if (len(group) + 1) * heads * w * (L + w) > self.max_chunk_elements:
                    break
                group.append(nxt)
                width = w
            begin += len(group)
            size = len(group)
            span = torch.arange(width, device=device)
            lens = torch.tensor([lengths[i] for i in group], device=device)
            first = torch.tensor([starts[i] for i in group], device=device)
            valid = span[None, :] < lens[:, None]  # (G, C)
            index = torch.where(valid, first[:, None] + span[None, :], first[:, None])
            own = (span[None, :] <= span[:, None])[None] & valid[:, None, :]  # (G, C, C)
            instr = torch.ones(size, width, L, dtype=torch.bool, device=device)
            if window is not None:
                pos_q = positions[index]  # (G, C): every candidate starts at position L
                instr = instr & ((pos_q[:, :, None] - instr_pos[None, None, :]) < window)
                own = own & ((pos_q[:, :, None] - pos_q[:, None, :]) < window)
            mask = torch.cat([instr, own], dim=2)
            # Padding rows are discarded; let them see one key so no row is empty.
            mask[:, :, L] |= ~valid
            plan.append((index, valid, mask[:, None]))
        return plan

    def _candidates(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        structure: SegmentStructure,
        out: torch.Tensor,
        positions: torch.Tensor,
        window: int | None,
        options: dict[str, Any],
    ) -> None:
        import torch

        if structure.num_candidates == 0:
            return
        heads, kv_heads = query.shape[1], key.shape[1]
        L = structure.instruction_length
        plan = structure.cached(
            ("sdpa-plan", self.max_chunk_elements, heads, window, str(query.device)),
            lambda: self._plan(structure, heads, window, query.device),
        )
        instr_k, instr_v = key[0, :, :L], value[0, :, :L]
        for index, valid, mask in plan:
            size, width = index.shape
            flat = index.reshape(-1)
            q = query[0][:, flat].reshape(heads, size, width, -1).transpose(0, 1)
            k_self = key[0][:, flat].reshape(kv_heads, size, width, -1).transpose(0, 1)
            v_self = value[0][:, flat].reshape(kv_heads, size, width, -1).transpose(0, 1)
            k = torch.cat([instr_k.expand(size, *instr_k.shape), k_self], dim=2)
            v = torch.cat([instr_v.expand(size, *instr_v.shape), v_self], dim=2)
            res = _attention(q, k, v, mask, **options)  # (G, H, C, Dv)
            out[0, index[valid]] = res.transpose(1, 2)[valid]
