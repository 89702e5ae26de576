"""The ``triton`` kernels' oracle and the checks that compare the kernels with it.

Two plain-torch functions have the same signatures as the kernel entry points of
[`TritonBackend`][ctx_core.incontext.backends.triton.TritonBackend], so either can stand in for the
other in a test:

=====================================  ================================================
oracle                                 kernel entry point
=====================================  ================================================
[`attention`][ctx_core.incontext.testing.attention]                      [`TritonBackend.forward`][ctx_core.incontext.backends.triton.TritonBackend.forward]
[`candidate_logmass`][ctx_core.incontext.testing.candidate_logmass]              [`TritonBackend.fused_logmass`][ctx_core.incontext.backends.triton.TritonBackend.fused_logmass]
=====================================  ================================================

They compute the ``reference`` semantics in float32 (float64 for float64 inputs) and
return that precision, so a comparison measures the kernel's error alone.

[`check_attention`][ctx_core.incontext.testing.check_attention] and [`check_logmass`][ctx_core.incontext.testing.check_logmass], used by the GPU tests, the interpreter
test and ``benchmarks/incontext_gpu.py``, run a kernel on fresh random inputs (unless a seed
is given) into a poisoned (NaN-filled) output buffer, which proves every element is written,
and report the relative error ``||out - ref|| / ||ref||`` against the oracle.
[`random_structure`][ctx_core.incontext.testing.random_structure] draws the prompt layouts they run on.

Examples:
    >>> import torch
    >>> s = random_structure(7, profile="ragged", seed=0)
    >>> s.num_candidates, min(s.candidate_lengths) >= 1
    (7, True)
    >>> s = SegmentStructure(2, (3, 1), (2,), query_offset=8)
    >>> q, k, v = (torch.randn(1, h, s.total_length, 8) for h in (4, 2, 2))
    >>> attention(q, k, v, s, scaling=8**-0.5).shape  # (1, T, H, D), like the kernel
    torch.Size([1, 8, 4, 8])
    >>> candidate_logmass(q[:, :, -1:], k, s, scaling=8**-0.5).shape  # (H, S, N)
    torch.Size([4, 1, 2])
"""

from __future__ import annotations

import math
import os
import random
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from ctx_core.incontext.backends.reference import ReferenceBackend, dense_attention
from ctx_core.incontext.segments import SegmentStructure

if TYPE_CHECKING:
    import torch

    from ctx_core.incontext.backends.triton import TritonBackend

__all__ = [
    "CheckResult",
    "attention",
    "candidate_logmass",
    "check_attention",
    "check_logmass",
    "random_structure",
    "tolerance",
]

Profile = Literal["ragged", "ones", "fixed"]

# Logit entries the oracle holds at once: long prompts go through in chunks of query rows
# (the same numbers, exactly, since rows are independent).
_MAX_LOGITS = 2**28


# -- the oracle ----------------------------------------------------------------------------


def attention(
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
    """Dense masked attention, the oracle of [`TritonBackend.forward`][ctx_core.incontext.backends.triton.TritonBackend.forward].

    The ``reference`` backend's arithmetic (mask from the segment rule, softmax, values) on
    query rows in chunks, whatever the prompt length.

    Args:
        query: ``(1, H, T, D)``.
        key: ``(1, H_kv, T, D)``.
        value: ``(1, H_kv, T, D)``.
        structure: The prompt's segments.
        scaling: Logit scale.
        sliding_window: Keys at most this many positions back (``None``: no window).
        softcap: Logit soft-cap (``None``: none).
        out: Written with the result (in its own dtype) when given.

    Returns:
        ``(1, T, H, D)`` in float32 (float64 for float64 inputs), or ``out``.
    """
    result = dense_attention(
        query, key, value, structure,
        scaling=scaling, sliding_window=sliding_window, softcap=softcap, max_elements=_MAX_LOGITS,
    )  # fmt: skip
    if out is None:
        return result
    return out.copy_(result)


def candidate_logmass(
    query_rows: torch.Tensor,
    key: torch.Tensor,
    structure: SegmentStructure,
    *,
    scaling: float,
    softcap: float | None = None,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-candidate log attention mass, the oracle of [`TritonBackend.fused_logmass`][ctx_core.incontext.backends.triton.TritonBackend.fused_logmass].

    The backends' plain torch path on inputs raised to float32 (float64 stays float64).

    Args:
        query_rows: The signal rows ``(1, H, S, D)``.
        key: ``(1, H_kv, T, D)``.
        structure: The prompt's segments.
        scaling: Logit scale.
        softcap: Logit soft-cap (``None``: none).
        out: Written with the result (in its own dtype) when given.

    Returns:
        ``(H, S, N)`` in float32 (float64 for float64 inputs), or ``out``.
    """
    import torch

    dtype = torch.float64 if query_rows.dtype == torch.float64 else torch.float32
    result = ReferenceBackend().candidate_logmass(
        query_rows.to(dtype), key.to(dtype), structure, scaling=scaling, softcap=softcap
    )
    if out is None:
        return result
    return out.copy_(result)


# -- checks ----------------------------------------------------------------------------------


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
    """[`TritonBackend.forward`][ctx_core.incontext.backends.triton.TritonBackend.forward] on fresh random inputs vs [`attention`][ctx_core.incontext.testing.attention]."""
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
    ref = attention(
        q, k, v, structure, scaling=scaling, sliding_window=sliding_window, softcap=softcap
    )
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
    """[`TritonBackend.fused_logmass`][ctx_core.incontext.backends.triton.TritonBackend.fused_logmass] on fresh random inputs vs [`candidate_logmass`][ctx_core.incontext.testing.candidate_logmass]."""
    import torch

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
    ref = candidate_logmass(rows, k, structure, scaling=scaling, softcap=softcap)
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
