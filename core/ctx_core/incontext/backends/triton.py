"""``triton``: a block-sparse Triton kernel for the ranker's attention, with fused scoring.

The ``auto`` choice on CUDA. Three kernels (`ctx_core.incontext.backends.triton_kernels`)
compile to CUDA through Triton:

* **attention** (forward): flash-attention-style online softmax with fp32 accumulation over a
  *work list* of query tiles. Each tile lies inside one segment and names the key ranges the
  segment rule lets it see: the instruction (candidates), the instruction and every
  candidate (query blocks), and causally its own segment. Key tiles outside those ranges are
  never loaded, so a candidate costs ``O(C x (L + C))`` whatever the number of candidates.
  A query block's long shared range is split into chunks processed in parallel and merged
  by log-sum-exp (flash-decoding style). Grouped-query attention reads key/value head
  ``h // n_rep`` for query head ``h``. Segments of any length (1 included) are handled by
  masks on partial tiles.
* **candidate log mass** (the scoring layer): per candidate, key/value head and chunk of
  signal rows, the log-sum-exp of the signal rows' logits over the candidate's tokens,
  accumulated tile by tile; no tokens-by-tokens (nor signal-by-tokens) matrix is written.

Inputs in bf16 or fp16 run on the tensor cores with fp32 accumulation; fp32 inputs use IEEE
fp32 products (no TF32), so they agree with the ``reference`` backend to about 1e-6.
float64 inputs (CPU tests) go to the exact ``sdpa`` backend.

**Gradients.** The kernels are forward-only. When autograd needs gradients (fine-tuning),
`TritonBackend.attend` wraps the kernel in an autograd function whose backward pass
recomputes the attention with the ``sdpa`` backend (the same function, exactly) and
differentiates that; `TritonBackend.candidate_logmass` uses the differentiable torch
path of the base class.

Triton is imported lazily (the ``gpu`` extra): this module imports on machines without it,
and `TritonBackend.available` says whether the kernels can run. On a CPU, Triton's
interpreter (``interpret=True`` or ``TRITON_INTERPRET=1``) runs the same kernels in numpy,
slowly: meant for tests on tiny shapes (the tests patch two interpreter bugs that compiled
kernels never meet: ``tests/core/incontext/triton_interpreter.py``).

Examples:
    >>> from ctx_core.incontext.backends.triton import TritonBackend, build_work_list
    >>> from ctx_core.incontext.segments import SegmentStructure
    >>> s = SegmentStructure(2, (3, 1), (2,), query_offset=8)
    >>> plan = build_work_list(s, block_m=16, split_keys=4096)
    >>> sorted(plan.items)  # (q_start, q_stop, a_start, a_stop, c_start, c_stop, slot)
    [(0, 2, 0, 0, 0, 2, -1), (2, 5, 0, 2, 2, 5, -1), (5, 6, 0, 2, 5, 6, -1), (6, 8, 0, 6, 6, 8, -1)]
"""

from __future__ import annotations

import functools
import importlib
import logging
import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ctx_core.incontext.backends.base import AttentionBackend, check_attention_inputs

if TYPE_CHECKING:
    import torch

    from ctx_core.incontext.cached import QueryLayout
    from ctx_core.incontext.segments import SegmentStructure
    from ctx_core.incontext.states import PoolView

__all__ = ["TritonBackend", "WorkList", "build_work_list", "load_kernels", "triton_available"]

logger = logging.getLogger(__name__)

_KERNELS = "ctx_core.incontext.backends.triton_kernels"


def triton_available() -> bool:
    """Whether the ``triton`` package can be imported."""
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def _interpreter_env() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def load_kernels(interpret: bool = False) -> Any:
    """The kernel module (`ctx_core.incontext.backends.triton_kernels`).

    Args:
        interpret: The caller wants Triton's CPU interpreter. Triton decides between
            compiled and interpreted kernels when it is first imported, so this needs
            ``TRITON_INTERPRET=1`` in the environment before anything imports ``triton``.

    Raises:
        ImportError: Triton is not installed (the ``gpu`` extra).
        RuntimeError: ``interpret`` without ``TRITON_INTERPRET=1``.
    """
    from ctx_core.errors import require

    require("triton", "gpu", "The triton attention backend")
    if interpret and not _interpreter_env():
        raise RuntimeError(
            "the triton backend runs on CPU tensors only under Triton's interpreter: set "
            "TRITON_INTERPRET=1 in the environment before triton is imported"
        )
    return importlib.import_module(_KERNELS)


@dataclass
class WorkList:
    """The kernels' plan for one prompt (built once, reused by every layer).

    Attributes:
        items: ``(q_start, q_stop, a_start, a_stop, c_start, c_stop, slot)`` per work item:
            query rows ``[q_start, q_stop)`` (inside one segment) see every key in
            ``[a_start, a_stop)`` and, causally, keys in ``[c_start, c_stop)``. ``slot`` is
            ``-1`` for a direct write, else the scratch slot of a split item
            (``tile x num_chunks + chunk``).
        split_tiles: ``(q_start, q_stop)`` of each query tile whose shared range is split.
        num_chunks: Chunks per split tile.
        spans: ``(start, stop)`` token range of each candidate.
        tensors: Device copies, keyed by device.
    """

    items: list[tuple[int, int, int, int, int, int, int]]
    split_tiles: list[tuple[int, int]]
    num_chunks: int
    spans: list[tuple[int, int]]
    tensors: dict[str, Any] = field(default_factory=dict, repr=False)

    def device_tensors(self, device: Any) -> tuple[Any, Any, Any]:
        """``(work, split_tiles, spans)`` as int32 tensors on ``device``."""
        import torch

        key = str(device)
        if key not in self.tensors:
            work = torch.tensor([[*item, 0] for item in self.items] or [[0] * 8], dtype=torch.int32)
            tiles = torch.tensor(self.split_tiles or [(0, 0)], dtype=torch.int32)
            spans = torch.tensor(self.spans or [(0, 0)], dtype=torch.int32)
            self.tensors[key] = (work.to(device), tiles.to(device), spans.to(device))
        value: tuple[Any, Any, Any] = self.tensors[key]
        return value


def _tiles(start: int, stop: int, block: int) -> list[tuple[int, int]]:
    return [(s, min(s + block, stop)) for s in range(start, stop, block)]


def build_work_list(
    structure: SegmentStructure, *, block_m: int = 64, split_keys: int = 2048, align: int = 64
) -> WorkList:
    """Cut a prompt into the attention kernel's work items.

    Args:
        structure: The prompt's segments.
        block_m: Query rows per tile (tiles never cross a segment boundary).
        split_keys: A query block's shared key range longer than this is split into
            chunks of about this many keys, processed in parallel and merged.
        align: Chunk boundaries are multiples of this (the kernel's key tile).
    """
    L = structure.instruction_length
    P = structure.prefix_length
    items: list[tuple[int, int, int, int, int, int, int]] = []
    if structure.causal:
        items += [(a, b, 0, 0, 0, b, -1) for a, b in _tiles(0, P, block_m)]
    else:
        items += [(a, b, 0, 0, 0, b, -1) for a, b in _tiles(0, L, block_m)]
        for i in range(structure.num_candidates):
            s, e = structure.candidate_span(i)
            items += [(a, b, 0, L, s, b, -1) for a, b in _tiles(s, e, block_m)]
    num_chunks = max(1, math.ceil(P / max(split_keys, 1)))
    bounds = [0]
    for c in range(1, num_chunks):
        edge = min(P, round(c * P / num_chunks / align) * align)
        if edge > bounds[-1]:
            bounds.append(edge)
    bounds.append(P)
    num_chunks = len(bounds) - 1
    split_tiles: list[tuple[int, int]] = []
    split_items: list[tuple[int, int, int, int, int, int, int]] = []
    for j in range(len(structure.query_lengths)):
        s, e = structure.query_span(j)
        for a, b in _tiles(s, e, block_m):
            if num_chunks == 1:
                items.append((a, b, 0, P, s, b, -1))
                continue
            tile = len(split_tiles)
            split_tiles.append((a, b))
            for c in range(num_chunks):
                last = c == num_chunks - 1
                split_items.append(
                    (
                        a,
                        b,
                        bounds[c],
                        bounds[c + 1],
                        s if last else 0,
                        b if last else 0,
                        tile * num_chunks + c,
                    )
                )
    # Heaviest items first so the long ones do not form the tail of the launch.
    ordered = sorted(split_items + items, key=lambda t: -((t[3] - t[2]) + (t[5] - t[4])))
    spans = [structure.candidate_span(i) for i in range(structure.num_candidates)]
    return WorkList(ordered, split_tiles, num_chunks if split_tiles else 0, spans)


def _next_pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


class TritonBackend(AttentionBackend):
    """Block-sparse attention and fused candidate scoring in Triton kernels.

    Args:
        block_m: Query rows per tile.
        block_n: Keys per tile.
        split_keys: Split a query block's shared key range into chunks of about this size.
        num_warps: Warps per program (compiled kernels).
        num_stages: Software-pipelining depth (compiled kernels).
        interpret: Run with Triton's CPU interpreter (default: when the tensors are on the
            CPU; slow, for tests; needs ``TRITON_INTERPRET=1`` set before ``triton`` is
            imported).
        cached_block_m: Rows (query tokens x the heads sharing a key head) per program of
            the cached query path's pool kernel (``None``: 64 for a few query blocks, 128
            when a key head has at least 2,048 rows, e.g. many batched queries).
        cached_block_n: Keys per tile of the cached pool (``None``: 32, or 64 with many
            rows). Measured on an H200 (``benchmarks/incontext_cached.py``): 64 x 32 was the
            fastest for one query, 128 x 64 with 8 warps and 3 stages for 64 queries.
        cached_chunks: Chunks the pool's tiles are split into (``None``: enough programs
            to fill the GPU about four times).
        cached_merge: Merge candidates that lie back to back in the arena into full tiles
            (without a sliding window).

    Examples:
        >>> TritonBackend().name
        'triton'
    """

    name: ClassVar[str] = "triton"

    def __init__(
        self,
        block_m: int = 64,
        block_n: int = 32,
        split_keys: int = 2048,
        num_warps: int = 4,
        num_stages: int = 2,
        interpret: bool | None = None,
        cached_block_m: int | None = None,
        cached_block_n: int | None = None,
        cached_chunks: int | None = None,
        cached_merge: bool = True,
    ) -> None:
        for arg, value in (
            ("block_m", block_m),
            ("block_n", block_n),
            ("cached_block_m", cached_block_m),
            ("cached_block_n", cached_block_n),
        ):
            if value is None:
                continue
            if value < 16 or value & (value - 1):
                raise ValueError(f"{arg} must be a power of two >= 16, got {value}")
        if split_keys < 1:
            raise ValueError(f"split_keys must be >= 1, got {split_keys}")
        self.block_m = block_m
        self.block_n = block_n
        self.split_keys = split_keys
        self.num_warps = num_warps
        self.num_stages = num_stages
        self.interpret = interpret
        self.cached_block_m = cached_block_m
        self.cached_block_n = cached_block_n
        if cached_chunks is not None and cached_chunks < 1:
            raise ValueError(f"cached_chunks must be >= 1, got {cached_chunks}")
        self.cached_chunks = cached_chunks
        self.cached_merge = cached_merge

    def __repr__(self) -> str:
        return f"TritonBackend(block_m={self.block_m}, block_n={self.block_n}, split_keys={self.split_keys})"

    def available(self, device: Any) -> bool:
        device_type = getattr(device, "type", str(device).split(":")[0])
        if not triton_available():
            return False
        if device_type == "cuda":
            import torch

            return bool(torch.cuda.is_available())
        if device_type == "cpu":
            return _interpreter_env()
        return False

    # -- helpers ------------------------------------------------------------

    def _interpreted(self, tensor: torch.Tensor) -> bool:
        if self.interpret is not None:
            return self.interpret
        return tensor.device.type == "cpu"

    def _block_n(self, head_dim: int) -> int:
        # The default, 32 keys per tile, measured fastest on an H200 for head_dim 128 (bf16,
        # N = 100 and 500 candidates of 160 tokens; benchmarks/results/incontext_gpu.json).
        return self.block_n

    def _launch(self, interpreted: bool, head_dim: int, dtype: torch.dtype) -> dict[str, int]:
        """Launch options: wider heads get more warps; fp32 tiles one pipeline stage."""
        import torch

        if interpreted:
            return {}
        warps = self.num_warps if head_dim <= 128 else max(self.num_warps, 8)
        stages = 1 if dtype == torch.float32 else self.num_stages
        return {"num_warps": warps, "num_stages": stages}

    def plan(self, structure: SegmentStructure, head_dim: int) -> WorkList:
        """The work list of ``structure`` (cached on it)."""
        block_n = self._block_n(head_dim)
        key = ("triton-plan", self.block_m, block_n, self.split_keys)
        plan: WorkList = structure.cached(
            key,
            lambda: build_work_list(
                structure, block_m=self.block_m, split_keys=self.split_keys, align=block_n
            ),
        )
        return plan

    @staticmethod
    def _supported(*tensors: torch.Tensor) -> bool:
        import torch

        return all(t.dtype in (torch.float16, torch.bfloat16, torch.float32) for t in tensors)

    # -- attention ------------------------------------------------------------

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
        dim = query.shape[-1]
        options: dict[str, Any] = {
            "scaling": scaling,
            "sliding_window": sliding_window,
            "softcap": softcap,
        }
        if not self._supported(query, key, value) or value.shape[-1] != dim:
            from ctx_core.incontext.backends.sdpa import SdpaBackend

            return SdpaBackend().attend(query, key, value, structure, **options)
        if torch.is_grad_enabled() and any(t.requires_grad for t in (query, key, value)):
            result: torch.Tensor = _attend_function().apply(
                query, key, value, self, structure, scaling, sliding_window, softcap
            )
            return result
        return self.forward(query, key, value, structure, **options)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        structure: SegmentStructure,
        *,
        scaling: float,
        sliding_window: int | None = None,
        softcap: float | None = None,
        out: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Run the attention kernels (no autograd); writes into ``out`` when given.

        ``out`` must be ``(1, T, H, D)`` with a unit last stride; tests pass a poisoned
        buffer to prove every element is written.
        """
        import torch

        interpreted = self._interpreted(query)
        kernels = load_kernels(interpreted)
        _, heads, length, dim = query.shape
        kv_heads = key.shape[1]
        q, k, v = (t[0] if t[0].stride(-1) == 1 else t[0].contiguous() for t in (query, key, value))
        device = query.device
        plan = self.plan(structure, dim)
        work, tiles, _ = plan.device_tensors(device)
        positions = structure.cached(
            ("triton-positions", str(device)),
            lambda: structure.position_ids(device).to(torch.int32),
        )
        if out is None:
            out = torch.empty(1, length, heads, dim, dtype=query.dtype, device=device)
        elif out.shape != (1, length, heads, dim) or out.stride(-1) != 1:
            raise ValueError(f"out must be (1, {length}, {heads}, {dim}) with unit last stride")
        block_d = max(16, _next_pow2(dim))
        block_n = self._block_n(dim)
        slots = len(plan.split_tiles) * plan.num_chunks
        part = torch.empty(max(slots, 1), heads, self.block_m, block_d, device=device)
        part_lse = torch.empty(max(slots, 1), heads, self.block_m, device=device)
        precision = "ieee" if query.dtype == torch.float32 else "tf32"
        grid = (len(plan.items) * heads,)
        kernels.attention_fwd[grid](
            q,
            k,
            v,
            out,
            part,
            part_lse,
            work,
            positions,
            q.stride(0),
            q.stride(1),
            k.stride(0),
            k.stride(1),
            v.stride(0),
            v.stride(1),
            out.stride(1),
            out.stride(2),
            heads,
            heads // kv_heads,
            dim,
            float(scaling),
            float(softcap) if softcap is not None else 1.0,
            int(sliding_window) if sliding_window is not None else 0,
            HAS_SOFTCAP=softcap is not None,
            HAS_WINDOW=sliding_window is not None,
            BLOCK_M=self.block_m,
            BLOCK_N=block_n,
            BLOCK_D=block_d,
            DOT_PRECISION=precision,
            **self._launch(interpreted, dim, query.dtype),
        )
        if plan.split_tiles:
            kernels.attention_combine[(len(plan.split_tiles) * heads,)](
                out,
                part,
                part_lse,
                tiles,
                out.stride(1),
                out.stride(2),
                heads,
                plan.num_chunks,
                dim,
                BLOCK_M=self.block_m,
                BLOCK_D=block_d,
                **self._launch(interpreted, dim, query.dtype),
            )
        return out

    # -- scoring ----------------------------------------------------------------

    def candidate_logmass(
        self,
        query_rows: torch.Tensor,
        key: torch.Tensor,
        structure: SegmentStructure,
        *,
        scaling: float,
        softcap: float | None = None,
    ) -> torch.Tensor:
        import torch

        needs_grad = torch.is_grad_enabled() and (query_rows.requires_grad or key.requires_grad)
        if needs_grad or not self._supported(query_rows, key) or structure.num_candidates == 0:
            return super().candidate_logmass(
                query_rows, key, structure, scaling=scaling, softcap=softcap
            )
        return self.fused_logmass(query_rows, key, structure, scaling=scaling, softcap=softcap)

    def fused_logmass(
        self,
        query_rows: torch.Tensor,
        key: torch.Tensor,
        structure: SegmentStructure,
        *,
        scaling: float,
        softcap: float | None = None,
        out: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The fused kernel behind `candidate_logmass` (no autograd): ``(H, S, N)`` fp32."""
        interpreted = self._interpreted(query_rows)
        kernels = load_kernels(interpreted)
        heads, dim = query_rows.shape[1], query_rows.shape[3]
        kv_heads = key.shape[1]
        if heads % kv_heads:
            raise ValueError(f"{heads} query heads cannot share {kv_heads} key heads")
        rows = query_rows[0] if query_rows.stride(-1) == 1 else query_rows[0].contiguous()
        k = key[0] if key.stride(-1) == 1 else key[0].contiguous()
        n = structure.num_candidates
        device = query_rows.device
        _, _, spans = self.plan(structure, dim).device_tensors(device)
        return self._logmass_launch(
            rows, k, spans, n, scaling=scaling, softcap=softcap, out=out, kernels=kernels,
            interpreted=interpreted, dtype=query_rows.dtype,
        )  # fmt: skip

    def _logmass_launch(
        self,
        rows: torch.Tensor,
        k: torch.Tensor,
        spans: torch.Tensor,
        n: int,
        *,
        scaling: float,
        softcap: float | None,
        out: torch.Tensor | None,
        kernels: Any,
        interpreted: bool,
        dtype: torch.dtype,
    ) -> torch.Tensor:
        """Launch the log-mass kernel: rows ``(H, S, D)``, keys ``(H_kv, T, D)``, ``n`` spans."""
        import torch

        heads, signals, dim = rows.shape
        kv_heads = k.shape[0]
        device = rows.device
        if out is None:
            out = torch.empty(heads, signals, n, dtype=torch.float32, device=device)
        elif out.shape != (heads, signals, n) or not out.is_contiguous():
            raise ValueError(f"out must be a contiguous ({heads}, {signals}, {n}) tensor")
        n_rep = heads // kv_heads
        block_r = max(16, min(64, _next_pow2(n_rep * signals)))
        block_d = max(16, _next_pow2(dim))
        grid = (n, kv_heads, math.ceil(n_rep * signals / block_r))
        precision = "ieee" if dtype == torch.float32 else "tf32"
        kernels.candidate_logmass[grid](
            rows,
            k,
            out,
            spans,
            rows.stride(0),
            rows.stride(1),
            k.stride(0),
            k.stride(1),
            signals,
            n,
            n_rep,
            dim,
            float(scaling),
            float(softcap) if softcap is not None else 1.0,
            HAS_SOFTCAP=softcap is not None,
            BLOCK_R=block_r,
            BLOCK_N=self._block_n(dim),
            BLOCK_D=block_d,
            DOT_PRECISION=precision,
            **self._launch(interpreted, dim, dtype),
        )
        return out

    # -- the cached query path ----------------------------------------------------------

    def _cached_plan(
        self,
        view: PoolView,
        layout: QueryLayout,
        heads: int,
        kv_heads: int,
        device: Any,
        window: int | None,
    ) -> dict[str, Any]:
        """Key tiles of the pool, chunking, and the own-segment work items (memoized).

        Without a sliding window, candidates that lie back to back in the arena (full
        slots in consecutive order, as after indexing a corpus in order) are merged into
        one key range before tiling, so tiles are full whatever the block length.
        """
        import torch

        n_rep = heads // kv_heads
        many = n_rep * layout.total >= 2048
        block_m = self.cached_block_m or (128 if many else 64)
        block_n = self.cached_block_n or (64 if many else 32)
        merge = window is None and self.cached_merge

        def tiles() -> torch.Tensor:
            L = view.instruction_length
            a0, b0 = view.instruction_span
            ranges: list[list[int]] = [[a0, b0, 0]]
            for a, b in view.spans:
                if merge and ranges[-1][1] == a:
                    ranges[-1][1] = b  # positions are not read without a window
                else:
                    ranges.append([a, b, L])
            rows = []
            for a, b, p in ranges:
                for s in range(a, b, block_n):
                    rows.append((s, min(s + block_n, b), p + s - a, 0))
            return torch.tensor(rows, dtype=torch.int32).to(device)

        tile_tensor = view.memo(("triton-cached-tiles", block_n, merge, str(device)), tiles)
        num_tiles = int(tile_tensor.shape[0])
        row_tiles = math.ceil(n_rep * layout.total / block_m)
        if self.cached_chunks is not None:
            chunks = self.cached_chunks
        else:
            target = 4 * _multiprocessors(device)
            chunks = max(1, math.ceil(target / max(1, row_tiles * kv_heads)))
        chunks = max(1, min(chunks, num_tiles))
        per_chunk = math.ceil(num_tiles / chunks)
        chunks = math.ceil(num_tiles / per_chunk)

        def items() -> torch.Tensor:
            rows = []
            for j in range(len(layout.lengths)):
                s, e = layout.span(j)
                rows += [(a, b, s, 0) for a, b in _tiles(s, e, self.block_m)]
            return torch.tensor(rows, dtype=torch.int32).to(device)

        item_tensor = layout.memo(("triton-cached-items", self.block_m, str(device)), items)
        positions = layout.memo(
            ("triton-cached-positions", str(device)),
            lambda: layout.positions(device).to(torch.int32),
        )
        return {
            "block_m": block_m,
            "block_n": block_n,
            "many": many,
            "tiles": tile_tensor,
            "num_tiles": num_tiles,
            "chunks": chunks,
            "per_chunk": per_chunk,
            "row_tiles": row_tiles,
            "items": item_tensor,
            "positions": positions,
        }

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
        """Query tokens over the pool in the arena (no copy of it): split, then merged."""
        import torch

        options: dict[str, Any] = {
            "scaling": scaling,
            "sliding_window": sliding_window,
            "softcap": softcap,
        }
        dim = query.shape[-1]
        if (
            not self._supported(query, key, value, view.keys)
            or value.shape[-1] != dim
            or (torch.is_grad_enabled() and any(t.requires_grad for t in (query, key, value)))
        ):
            from ctx_core.incontext.backends.sdpa import SdpaBackend

            return SdpaBackend().attend_cached(query, key, value, view, layer, layout, **options)
        if layer >= view.values.shape[0]:
            raise ValueError(f"layer {layer} is the scoring layer: its values are not cached")
        interpreted = self._interpreted(query)
        kernels = load_kernels(interpreted)
        _, heads, rows_q, _ = query.shape
        kv_heads = key.shape[1]
        device = query.device
        q, k, v = (t[0] if t[0].stride(-1) == 1 else t[0].contiguous() for t in (query, key, value))
        pool_k, pool_v = view.keys[layer], view.values[layer]
        plan = self._cached_plan(view, layout, heads, kv_heads, device, sliding_window)
        block_d = max(16, _next_pow2(dim))
        chunks = plan["chunks"]
        part = torch.empty(chunks, heads, rows_q, block_d, dtype=torch.float32, device=device)
        part_lse = torch.empty(chunks, heads, rows_q, dtype=torch.float32, device=device)
        precision = "ieee" if query.dtype == torch.float32 else "tf32"
        common = {
            "HAS_SOFTCAP": softcap is not None,
            "HAS_WINDOW": sliding_window is not None,
            "BLOCK_D": block_d,
            "DOT_PRECISION": precision,
        }
        cap = float(softcap) if softcap is not None else 1.0
        window = int(sliding_window) if sliding_window is not None else 0
        launch = self._launch(interpreted, dim, query.dtype)
        if launch and plan["block_m"] >= 128:
            # A 128-row fp32 accumulator needs 8 warps to stay in registers; deeper
            # pipelining paid off at that size (64 queries over 500 documents on an H200).
            launch["num_warps"] = max(8, launch["num_warps"])
            if plan["many"] and launch["num_stages"] > 1:
                launch["num_stages"] = max(3, launch["num_stages"])
        kernels.cached_prefix[(plan["row_tiles"], kv_heads, chunks)](
            q,
            pool_k,
            pool_v,
            part,
            part_lse,
            plan["tiles"],
            plan["positions"],
            q.stride(0),
            q.stride(1),
            pool_k.stride(0),
            pool_k.stride(1),
            pool_v.stride(0),
            pool_v.stride(1),
            rows_q,
            heads // kv_heads,
            heads,
            dim,
            plan["num_tiles"],
            plan["per_chunk"],
            float(scaling),
            cap,
            window,
            BLOCK_M=plan["block_m"],
            BLOCK_N=plan["block_n"],
            **common,
            **launch,
        )
        out = torch.empty(1, rows_q, heads, dim, dtype=query.dtype, device=device)
        items = plan["items"]
        kernels.cached_own_combine[(int(items.shape[0]) * heads,)](
            q,
            k,
            v,
            out,
            part,
            part_lse,
            items,
            plan["positions"],
            q.stride(0),
            q.stride(1),
            k.stride(0),
            k.stride(1),
            v.stride(0),
            v.stride(1),
            out.stride(1),
            out.stride(2),
            rows_q,
            heads // kv_heads,
            heads,
            dim,
            chunks,
            float(scaling),
            cap,
            window,
            BLOCK_M=self.block_m,
            BLOCK_N=self.block_n,
            **common,
            **self._launch(interpreted, dim, query.dtype),
        )
        return out

    def cached_logmass(
        self,
        query_rows: torch.Tensor,
        view: PoolView,
        layer: int,
        *,
        scaling: float,
        softcap: float | None = None,
    ) -> torch.Tensor:
        """The fused log-mass kernel over the candidates' spans in the arena."""
        import torch

        needs_grad = torch.is_grad_enabled() and query_rows.requires_grad
        if needs_grad or not self._supported(query_rows, view.keys) or view.num_candidates == 0:
            return super().cached_logmass(query_rows, view, layer, scaling=scaling, softcap=softcap)
        interpreted = self._interpreted(query_rows)
        kernels = load_kernels(interpreted)
        device = query_rows.device
        rows = query_rows[0] if query_rows.stride(-1) == 1 else query_rows[0].contiguous()
        spans = view.memo(
            ("triton-cached-spans", str(device)),
            lambda: torch.tensor(view.spans, dtype=torch.int32).to(device),
        )
        return self._logmass_launch(
            rows, view.keys[layer], spans, view.num_candidates, scaling=scaling,
            softcap=softcap, out=None, kernels=kernels, interpreted=interpreted,
            dtype=query_rows.dtype,
        )  # fmt: skip


def _multiprocessors(device: Any) -> int:
    """Streaming multiprocessors of a CUDA device (a fixed 8 elsewhere, e.g. the interpreter)."""
    import torch

    if getattr(device, "type", str(device)) == "cuda" and torch.cuda.is_available():
        return int(torch.cuda.get_device_properties(device).multi_processor_count)
    return 8


@functools.lru_cache(maxsize=1)
def _attend_function() -> Any:
    """An autograd function: Triton forward, backward by recomputation through ``sdpa``."""
    import torch

    from ctx_core.incontext.backends.sdpa import SdpaBackend

    class TritonAttend(torch.autograd.Function):
        @staticmethod
        def forward(
            ctx: Any,
            query: torch.Tensor,
            key: torch.Tensor,
            value: torch.Tensor,
            backend: TritonBackend,
            structure: SegmentStructure,
            scaling: float,
            window: int | None,
            softcap: float | None,
        ) -> torch.Tensor:
            ctx.save_for_backward(query, key, value)
            ctx.options = (structure, scaling, window, softcap)
            return backend.forward(
                query,
                key,
                value,
                structure,
                scaling=scaling,
                sliding_window=window,
                softcap=softcap,
            )

        @staticmethod
        def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
            structure, scaling, window, softcap = ctx.options
            q, k, v = (t.detach().requires_grad_(True) for t in ctx.saved_tensors)
            inputs = (q, k, v)
            with torch.enable_grad():
                out = SdpaBackend().attend(
                    q, k, v, structure, scaling=scaling, sliding_window=window, softcap=softcap
                )
            grads = torch.autograd.grad(out, inputs, grad)
            return (*grads, None, None, None, None, None)

    return TritonAttend
