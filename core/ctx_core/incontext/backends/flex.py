"""``flex``: torch FlexAttention with a block mask built from the segment rule.

``create_block_mask`` evaluates [`attention_rule`][ctx_core.incontext.segments.attention_rule] as a
``mask_mod``; tiles the rule excludes are skipped by the kernel. The block mask is built once
per prompt (and per sliding window) and reused by every layer.

Compiled FlexAttention is the fast path (CUDA, or CPU with a C compiler; the first call
compiles for tens of seconds). Uncompiled it still runs, but materializes the scores: fine for
tests, slow for long prompts.
"""

from __future__ import annotations

import functools
import logging
import warnings
from typing import TYPE_CHECKING, Any, ClassVar

from ctx_core.incontext.backends.base import AttentionBackend, check_attention_inputs
from ctx_core.incontext.segments import attention_rule

if TYPE_CHECKING:
    import torch

    from ctx_core.incontext.cached import QueryLayout
    from ctx_core.incontext.segments import SegmentStructure
    from ctx_core.incontext.states import PoolView

__all__ = ["FlexBackend"]

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1)
def _compiled_flex() -> Any:
    import torch
    from torch.nn.attention.flex_attention import flex_attention

    return torch.compile(flex_attention, dynamic=False)


class FlexBackend(AttentionBackend):
    """Block-sparse attention with ``torch.nn.attention.flex_attention``.

    Args:
        compile: Use ``torch.compile``-d FlexAttention (default: on CUDA only).
        block_size: Tile size of the block mask.

    Examples:
        >>> import torch
        >>> from ctx_core.incontext.backends.reference import ReferenceBackend
        >>> from ctx_core.incontext.segments import SegmentStructure
        >>> s = SegmentStructure(3, (2, 5), (2,), query_offset=16)
        >>> q, k, v = (torch.randn(1, 2, s.total_length, 8) for _ in range(3))
        >>> out = FlexBackend().attend(q, k, v, s, scaling=0.3)
        >>> bool(torch.allclose(out, ReferenceBackend().attend(q, k, v, s, scaling=0.3), atol=1e-5))
        True
    """

    name: ClassVar[str] = "flex"

    def __init__(self, compile: bool | None = None, block_size: int = 128) -> None:
        self.compile = compile
        self.block_size = block_size

    def available(self, device: Any) -> bool:
        try:
            import torch.nn.attention.flex_attention  # noqa: F401
        except ImportError:
            return False
        return True

    def _block_mask(
        self, structure: SegmentStructure, window: int | None, device: torch.device
    ) -> Any:
        from torch.nn.attention.flex_attention import create_block_mask

        seg = structure.segment_ids(device)
        kind = structure.kinds(device)
        pos = structure.position_ids(device)
        causal = structure.causal

        def mask_mod(b: Any, h: Any, q_idx: Any, kv_idx: Any) -> Any:
            return attention_rule(
                seg[q_idx],
                seg[kv_idx],
                kind[q_idx],
                kind[kv_idx],
                q_idx,
                kv_idx,
                pos[q_idx],
                pos[kv_idx],
                causal=causal,
                window=window,
            )

        length = structure.total_length
        return create_block_mask(
            mask_mod,
            B=None,
            H=None,
            Q_LEN=length,
            KV_LEN=length,
            device=str(device),
            BLOCK_SIZE=self.block_size,
        )

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
        from torch.nn.attention.flex_attention import flex_attention

        check_attention_inputs(query, key, structure)
        device = query.device
        block_mask = structure.cached(
            ("flex-mask", sliding_window, str(device), self.block_size),
            lambda: self._block_mask(structure, sliding_window, device),
        )
        score_mod = None
        if softcap is not None:
            cap = float(softcap)

            def score_mod(score: Any, b: Any, h: Any, q_idx: Any, kv_idx: Any) -> Any:
                import torch

                return torch.tanh(score / cap) * cap

        use_compile = self.compile if self.compile is not None else device.type == "cuda"
        attend = _compiled_flex() if use_compile else flex_attention
        with warnings.catch_warnings():
            # Uncompiled use is deliberate here (tests, CPU without a compiler).
            warnings.filterwarnings("ignore", message=".*without torch.compile.*")
            out = attend(
                query,
                key,
                value,
                score_mod=score_mod,
                block_mask=block_mask,
                scale=scaling,
                enable_gqa=query.shape[1] != key.shape[1],
            )
        return out.transpose(1, 2)

    def _cached_block_mask(
        self, view: PoolView, layout: QueryLayout, window: int | None, device: torch.device
    ) -> Any:
        import torch
        from torch.nn.attention.flex_attention import create_block_mask

        prefix = view.prefix_length
        seg = layout.segment_ids(device)
        pos_q = layout.positions(device)
        pos_k = torch.cat([view.prefix_positions().to(device), pos_q])

        def mask_mod(b: Any, h: Any, q_idx: Any, kv_idx: Any) -> Any:
            own_idx = (kv_idx - prefix).clamp(min=0)
            own = (kv_idx >= prefix) & (seg[own_idx] == seg[q_idx]) & (own_idx <= q_idx)
            allowed = (kv_idx < prefix) | own
            if window is not None:
                allowed = allowed & ((pos_q[q_idx] - pos_k[kv_idx]) < window)
            return allowed

        return create_block_mask(
            mask_mod,
            B=None,
            H=None,
            Q_LEN=layout.total,
            KV_LEN=prefix + layout.total,
            device=str(device),
            BLOCK_SIZE=self.block_size,
        )

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
        """FlexAttention over the gathered pool followed by the query tokens, one block mask."""
        import torch
        from torch.nn.attention.flex_attention import flex_attention

        pool_k, pool_v = view.gathered(layer)
        if pool_v is None:
            raise ValueError(f"layer {layer} is the scoring layer: its values are not cached")
        device = query.device
        block_mask = view.memo(
            ("flex-cached-mask", layout, sliding_window, str(device), self.block_size),
            lambda: self._cached_block_mask(view, layout, sliding_window, device),
        )
        score_mod = None
        if softcap is not None:
            cap = float(softcap)

            def score_mod(score: Any, b: Any, h: Any, q_idx: Any, kv_idx: Any) -> Any:
                return torch.tanh(score / cap) * cap

        use_compile = self.compile if self.compile is not None else device.type == "cuda"
        attend = _compiled_flex() if use_compile else flex_attention
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*without torch.compile.*")
            out = attend(
                query,
                torch.cat([pool_k, key], dim=2),
                torch.cat([pool_v, value], dim=2),
                score_mod=score_mod,
                block_mask=block_mask,
                scale=scaling,
                enable_gqa=query.shape[1] != key.shape[1],
            )
        return out.transpose(1, 2)
