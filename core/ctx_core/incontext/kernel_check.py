"""Correctness checks of the ``triton`` backend against the ``reference`` semantics.

Used by the GPU tests, the interpreter tests and ``benchmarks/incontext_gpu.py``: fresh
random inputs on every call (unless a seed is given), a poisoned (NaN-filled) output buffer
that proves every element is written, and the relative error
``||out - ref|| / ||ref||`` against dense masked attention computed in float32 (float64 for
float64 inputs). The dense reference is the ``reference`` backend's arithmetic; for prompts
whose ``H x T x T`` logits would not fit, it runs over chunks of query rows (the same
numbers, exactly, since rows are independent).

Examples:
    >>> s = random_structure(7, profile="ragged", seed=0)
    >>> s.num_candidates, min(s.candidate_lengths) >= 1
    (7, True)
"""

from __future__ import annotations

import math
import os
import random
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from ctx_core.incontext.backends.reference import dense_attention
from ctx_core.incontext.segments import SegmentStructure

if TYPE_CHECKING:
    import torch

    from ctx_core.incontext.backends.triton import TritonBackend

__all__ = [
    "CheckResult",
    "check_attention",
    "check_logmass",
    "random_structure",
]

Profile = Literal["ragged", "ones", "fixed"]


def _seed(seed: int | None) -> int:
    return seed if seed is not None else int.from_bytes(os.urandom(4), "little")


def random_structure(
    num_candidates: int,
    *,
    profile: Profile = "ragged",
    max_length: int = 200,
    fixed_length: int = 160,
    instruction_length: int | None = None,
    query_lengths: tuple[int, ...] = (40,),
    query_offset: int = 8192,
    causal: bool = False,
    seed: int | None = None,
) -> SegmentStructure:
    """A prompt layout with ``num_candidates`` candidates.

    Args:
        num_candidates: How many candidate segments.
        profile: ``"ragged"`` (random lengths in ``1..max_length``, a fifth of them of
            length 1), ``"ones"`` (every candidate one token) or ``"fixed"``
            (``fixed_length`` each).
        max_length: Longest ragged candidate.
        fixed_length: Candidate length of the ``"fixed"`` profile.
        instruction_length: Instruction tokens (default: random in ``1..120``).
        query_lengths: Query segments (the final block, optionally a calibration twin).
        query_offset: Position id of the query blocks.
        causal: Ordinary causal layout instead of block-sparse.
        seed: Random seed (default: fresh).
    """
    rng = random.Random(_seed(seed))
    if profile == "ones":
        lengths = [1] * num_candidates
    elif profile == "fixed":
        lengths = [fixed_length] * num_candidates
    elif profile == "ragged":
        lengths = [
            1 if rng.random() < 0.2 else rng.randint(1, max_length) for _ in range(num_candidates)
        ]
    else:
        raise ValueError(f"profile must be 'ragged', 'ones' or 'fixed', got {profile!r}")
    instruction = instruction_length if instruction_length is not None else rng.randint(1, 120)
    return SegmentStructure(
        instruction,
        tuple(lengths),
        query_lengths,
        query_offset=max(query_offset, instruction),
        causal=causal,
    )


@dataclass
class CheckResult:
    """One correctness check.

    Attributes:
        what: ``"attention"`` or ``"logmass"``.
        candidates: Number of candidates.
        tokens: Prompt length.
        profile: Candidate length profile.
        dtype: Input dtype.
        heads: Query heads.
        kv_heads: Key/value heads.
        head_dim: Head dimension.
        window: Sliding window (or ``None``).
        softcap: Logit soft-cap (or ``None``).
        causal: Causal layout.
        split_chunks: Chunks a query tile's shared range was split into (0: none).
        rel_error: ``||out - ref|| / ||ref||``.
        score_error: Largest absolute difference of the candidate scores (logmass only).
        unwritten: Output elements still NaN after the kernel (must be 0).
        limit: The tolerance this dtype must meet.
        passed: ``rel_error < limit`` and nothing unwritten, no NaN.
        seed: The random seed of the inputs.
    """

    what: str
    candidates: int
    tokens: int
    profile: str
    dtype: str
    heads: int
    kv_heads: int
    head_dim: int
    window: int | None
    softcap: float | None
    causal: bool
    split_chunks: int
    rel_error: float
    score_error: float | None
    unwritten: int
    limit: float
    passed: bool
    seed: int

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def tolerance(dtype: torch.dtype) -> float:
    """The relative-error limit of ``dtype``: 1e-5 for float32/64, 1e-2 for bf16/fp16."""
    import torch

    return 1e-5 if dtype in (torch.float32, torch.float64) else 1e-2


def _inputs(
    structure: SegmentStructure,
    heads: int,
    kv_heads: int,
    head_dim: int,
    dtype: torch.dtype,
    device: Any,
    seed: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    import torch

    gen = torch.Generator(device="cpu").manual_seed(seed)
    T = structure.total_length

    def draw(h: int) -> torch.Tensor:
        return torch.randn(1, h, T, head_dim, generator=gen).to(device=device, dtype=dtype)

    # The query comes in transformers' layout: (1, H, T, D) viewed from (1, T, H, D).
    q = draw(heads).transpose(1, 2).contiguous().transpose(1, 2)
    return q, draw(kv_heads), draw(kv_heads)


def _relative(out: torch.Tensor, ref: torch.Tensor) -> float:
    import torch

    diff = (out.to(ref.dtype) - ref).norm()
    value = float(diff / ref.norm())
    return value if math.isfinite(value) and not bool(torch.isnan(out).any()) else float("inf")


def check_attention(
    backend: TritonBackend,
    structure: SegmentStructure,
    *,
    profile: str = "",
    heads: int = 8,
    kv_heads: int = 2,
    head_dim: int = 64,
    dtype: Any = "float32",
    device: Any = "cuda",
    sliding_window: int | None = None,
    softcap: float | None = None,
    seed: int | None = None,
) -> CheckResult:
    """Kernel attention on fresh random inputs vs the dense reference."""
    import torch

    dt = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    seed = _seed(seed)
    q, k, v = _inputs(structure, heads, kv_heads, head_dim, dt, device, seed)
    scaling = head_dim**-0.5
    out = torch.full(
        (1, structure.total_length, heads, head_dim), float("nan"), dtype=dt, device=device
    )
    backend.forward(
        q, k, v, structure, scaling=scaling, sliding_window=sliding_window, softcap=softcap, out=out
    )
    unwritten = int(torch.isnan(out).sum())
    ref = dense_attention(
        q, k, v, structure,
        scaling=scaling, sliding_window=sliding_window, softcap=softcap, max_elements=2**28,
    )  # fmt: skip
    rel = _relative(out, ref)
    limit = tolerance(dt)
    plan = backend.plan(structure, head_dim)
    return CheckResult(
        "attention",
        structure.num_candidates,
        structure.total_length,
        profile,
        str(dt).replace("torch.", ""),
        heads,
        kv_heads,
        head_dim,
        sliding_window,
        softcap,
        structure.causal,
        plan.num_chunks,
        rel,
        None,
        unwritten,
        limit,
        rel < limit and unwritten == 0,
        seed,
    )


def check_logmass(
    backend: TritonBackend,
    structure: SegmentStructure,
    *,
    profile: str = "",
    heads: int = 8,
    kv_heads: int = 2,
    head_dim: int = 64,
    signals: int = 1,
    dtype: Any = "float32",
    device: Any = "cuda",
    softcap: float | None = None,
    seed: int | None = None,
) -> CheckResult:
    """Fused candidate log mass vs the base class's torch path (float32 or float64)."""
    import torch

    from ctx_core.incontext.backends.base import AttentionBackend
    from ctx_core.incontext.scoring import scores_from_logmass

    dt = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    seed = _seed(seed)
    q, k, _ = _inputs(structure, heads, kv_heads, head_dim, dt, device, seed)
    stop = structure.query_span(0)[1]
    rows = q[:, :, max(0, stop - signals) : stop]
    scaling = head_dim**-0.5
    n = structure.num_candidates
    out = torch.full((heads, rows.shape[2], n), float("nan"), device=device)
    backend.fused_logmass(rows, k, structure, scaling=scaling, softcap=softcap, out=out)
    unwritten = int(torch.isnan(out).sum())
    ref_dtype = torch.float64 if dt == torch.float64 else torch.float32
    ref = AttentionBackend.candidate_logmass(
        backend, rows.to(ref_dtype), k.to(ref_dtype), structure, scaling=scaling, softcap=softcap
    )
    rel = _relative(out, ref)
    score_error = float(
        (scores_from_logmass(out.to(ref.dtype)) - scores_from_logmass(ref)).abs().max()
    )
    limit = tolerance(dt)
    return CheckResult(
        "logmass",
        n,
        structure.total_length,
        profile,
        str(dt).replace("torch.", ""),
        heads,
        kv_heads,
        head_dim,
        None,
        softcap,
        structure.causal,
        0,
        rel,
        score_error,
        unwritten,
        limit,
        rel < limit and unwritten == 0,
        seed,
    )
