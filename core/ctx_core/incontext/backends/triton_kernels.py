# mypy: disallow-untyped-defs=False
"""Triton kernels of the ``triton`` attention backend (imported only where Triton is installed).

Three kernels, all driven by a *work list* built once per prompt on the host (see
`build_work_list` in [`ctx_core.incontext.backends.triton`][ctx_core.incontext.backends.triton]):

``attention_fwd``
    Flash-attention-style forward (online softmax, fp32 accumulation) over *work items*. A
    work item is a tile of at most ``BLOCK_M`` query rows that lie inside one segment, plus
    the key ranges those rows may see under the segment rule: a shared range
    ``[a_start, a_stop)`` every row sees in full (the instruction for a candidate; the
    instruction and all candidates for a query block) and a causal range
    ``[c_start, c_stop)`` where row ``q`` sees key ``k`` only when ``k <= q`` (the row's own
    segment). Key tiles outside those two ranges are never loaded. Long shared ranges (a
    query block reading 80k candidate tokens) are split over several work items whose
    partial results (normalized output + log-sum-exp) go to a scratch buffer, merged by
    ``attention_combine``. Grouped-query attention: query head ``h`` reads key/value head
    ``h // n_rep``; the heads of one work item run in adjacent programs, so their key and
    value tiles are shared through L2.

``attention_combine``
    Merges the split partial results of a query tile into the output.

``candidate_logmass``
    The fused scoring path: for each candidate, key/value head and chunk of signal rows,
    ``log sum_t exp(scaling * q . k_t)`` over the candidate's tokens, computed tile by tile
    with an online max; nothing of size tokens x tokens (nor signal rows x tokens) is ever
    written.

Masked logits are ``-inf``; the exponent uses a safe maximum so that rows with nothing
visible in a tile produce zeros rather than NaN. Exponentials are base 2 with ``log2(e)``
folded into the scale. fp32 inputs use IEEE fp32 dot products (``DOT_PRECISION="ieee"``);
bf16/fp16 inputs use the tensor cores with fp32 accumulation.
"""

from __future__ import annotations

import triton
import triton.language as tl

LOG2E = 1.4426950408889634
LN2 = 0.6931471805599453

#: Integers per work item: q_start, q_stop, a_start, a_stop, c_start, c_stop, slot, pad.
WORK_FIELDS = 8


@triton.jit
def _capped(s, scale, softcap, HAS_SOFTCAP: tl.constexpr):
    """Raw dot products -> logits in log2 units (optionally soft-capped)."""
    if HAS_SOFTCAP:
        x = s * (scale / softcap)
        # tanh(x) = 1 - 2 / (exp(2x) + 1); exact limits at +-inf.
        t = 1.0 - 2.0 / (tl.exp(2.0 * x) + 1.0)
        return t * (softcap * 1.4426950408889634)
    else:
        return s * (scale * 1.4426950408889634)


@triton.jit
def attention_fwd(
    Q,
    K,
    V,
    Out,
    Part,
    PartLse,
    Work,
    Pos,
    stride_qh,
    stride_qt,
    stride_kh,
    stride_kt,
    stride_vh,
    stride_vt,
    stride_ot,
    stride_oh,
    num_heads,
    n_rep,
    head_dim,
    scale,
    softcap,
    window,
    HAS_SOFTCAP: tl.constexpr,
    HAS_WINDOW: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
    DOT_PRECISION: tl.constexpr,
):
    pid = tl.program_id(0)
    h = pid % num_heads
    w = pid // num_heads
    kvh = h // n_rep
    item = Work + w * 8
    q_start = tl.load(item + 0)
    q_stop = tl.load(item + 1)
    a_start = tl.load(item + 2)
    a_stop = tl.load(item + 3)
    c_start = tl.load(item + 4)
    c_stop = tl.load(item + 5)
    slot = tl.load(item + 6)

    offs_m = q_start + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, BLOCK_D)
    row_ok = offs_m < q_stop
    d_ok = offs_d < head_dim
    q = tl.load(
        Q + h * stride_qh + offs_m[:, None].to(tl.int64) * stride_qt + offs_d[None, :],
        mask=row_ok[:, None] & d_ok[None, :],
        other=0.0,
    )
    if HAS_WINDOW:
        pos_q = tl.load(Pos + offs_m, mask=row_ok, other=0)
    m_i = tl.full([BLOCK_M], float("-inf"), tl.float32)
    l_i = tl.zeros([BLOCK_M], tl.float32)
    acc = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)
    k_base = K + kvh * stride_kh
    v_base = V + kvh * stride_vh

    # Shared range: every row sees every key in [a_start, a_stop).
    for start in range(a_start, a_stop, BLOCK_N):
        offs_n = start + tl.arange(0, BLOCK_N)
        key_ok = offs_n < a_stop
        k = tl.load(
            k_base + offs_n[:, None].to(tl.int64) * stride_kt + offs_d[None, :],
            mask=key_ok[:, None] & d_ok[None, :],
            other=0.0,
        )
        s = _capped(
            tl.dot(q, tl.trans(k), input_precision=DOT_PRECISION), scale, softcap, HAS_SOFTCAP
        )
        visible = key_ok[None, :]
        if HAS_WINDOW:
            pos_k = tl.load(Pos + offs_n, mask=key_ok, other=0)
            visible = visible & ((pos_q[:, None] - pos_k[None, :]) < window)
        s = tl.where(visible, s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
        alpha = tl.exp2(m_i - m_safe)
        p = tl.exp2(s - m_safe[:, None])
        l_i = l_i * alpha + tl.sum(p, 1)
        v = tl.load(
            v_base + offs_n[:, None].to(tl.int64) * stride_vt + offs_d[None, :],
            mask=key_ok[:, None] & d_ok[None, :],
            other=0.0,
        )
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=DOT_PRECISION)
        m_i = m_new

    # Causal range: row q sees key k in [c_start, c_stop) when k <= q.
    for start in range(c_start, c_stop, BLOCK_N):
        offs_n = start + tl.arange(0, BLOCK_N)
        key_ok = offs_n < c_stop
        k = tl.load(
            k_base + offs_n[:, None].to(tl.int64) * stride_kt + offs_d[None, :],
            mask=key_ok[:, None] & d_ok[None, :],
            other=0.0,
        )
        s = _capped(
            tl.dot(q, tl.trans(k), input_precision=DOT_PRECISION), scale, softcap, HAS_SOFTCAP
        )
        visible = key_ok[None, :] & (offs_n[None, :] <= offs_m[:, None])
        if HAS_WINDOW:
            pos_k = tl.load(Pos + offs_n, mask=key_ok, other=0)
            visible = visible & ((pos_q[:, None] - pos_k[None, :]) < window)
        s = tl.where(visible, s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
        alpha = tl.exp2(m_i - m_safe)
        p = tl.exp2(s - m_safe[:, None])
        l_i = l_i * alpha + tl.sum(p, 1)
        v = tl.load(
            v_base + offs_n[:, None].to(tl.int64) * stride_vt + offs_d[None, :],
            mask=key_ok[:, None] & d_ok[None, :],
            other=0.0,
        )
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=DOT_PRECISION)
        m_i = m_new

    # A row with nothing visible (only possible with a sliding window) gets zeros.
    l_safe = tl.where(l_i > 0.0, l_i, 1.0)
    o = acc / l_safe[:, None]
    if slot < 0:
        tl.store(
            Out + offs_m[:, None].to(tl.int64) * stride_ot + h * stride_oh + offs_d[None, :],
            o.to(Out.dtype.element_ty),
            mask=row_ok[:, None] & d_ok[None, :],
        )
    else:
        lse = tl.where(l_i > 0.0, m_i + tl.log2(l_safe), float("-inf"))
        rows = tl.arange(0, BLOCK_M)
        part = Part + (slot * num_heads + h) * (BLOCK_M * BLOCK_D)
        tl.store(part + rows[:, None] * BLOCK_D + offs_d[None, :], o)
        tl.store(PartLse + (slot * num_heads + h) * BLOCK_M + rows, lse)


@triton.jit
def attention_combine(
    Out,
    Part,
    PartLse,
    Tiles,
    stride_ot,
    stride_oh,
    num_heads,
    num_chunks,
    head_dim,
    BLOCK_M: tl.constexpr,
    BLOCK_D: tl.constexpr,
):
    pid = tl.program_id(0)
    h = pid % num_heads
    tile = pid // num_heads
    q_start = tl.load(Tiles + tile * 2)
    q_stop = tl.load(Tiles + tile * 2 + 1)
    rows = tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, BLOCK_D)
    first = tile * num_chunks
    m = tl.full([BLOCK_M], float("-inf"), tl.float32)
    for c in range(0, num_chunks):
        lse = tl.load(PartLse + ((first + c) * num_heads + h) * BLOCK_M + rows)
        m = tl.maximum(m, lse)
    m_safe = tl.where(m == float("-inf"), 0.0, m)
    total = tl.zeros([BLOCK_M], tl.float32)
    acc = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)
    for c in range(0, num_chunks):
        base = (first + c) * num_heads + h
        weight = tl.exp2(tl.load(PartLse + base * BLOCK_M + rows) - m_safe)
        o = tl.load(Part + base * (BLOCK_M * BLOCK_D) + rows[:, None] * BLOCK_D + offs_d[None, :])
        # A chunk with nothing visible has weight 0; never let its output leak in.
        acc += tl.where(weight[:, None] > 0.0, o * weight[:, None], 0.0)
        total += weight
    total = tl.where(total > 0.0, total, 1.0)
    offs_m = q_start + rows
    tl.store(
        Out + offs_m[:, None].to(tl.int64) * stride_ot + h * stride_oh + offs_d[None, :],
        (acc / total[:, None]).to(Out.dtype.element_ty),
        mask=(offs_m < q_stop)[:, None] & (offs_d < head_dim)[None, :],
    )


@triton.jit
def candidate_logmass(
    Qr,
    K,
    Out,
    Spans,
    stride_qh,
    stride_qs,
    stride_kh,
    stride_kt,
    num_signal,
    num_candidates,
    n_rep,
    head_dim,
    scale,
    softcap,
    HAS_SOFTCAP: tl.constexpr,
    BLOCK_R: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
    DOT_PRECISION: tl.constexpr,
):
    cand = tl.program_id(0)
    kvh = tl.program_id(1)
    chunk = tl.program_id(2)
    start = tl.load(Spans + cand * 2)
    stop = tl.load(Spans + cand * 2 + 1)
    # Row r of this program = (query head kvh * n_rep + r // num_signal, signal r % num_signal).
    r = chunk * BLOCK_R + tl.arange(0, BLOCK_R)
    row_ok = r < n_rep * num_signal
    head = kvh * n_rep + r // num_signal
    sig = r % num_signal
    offs_d = tl.arange(0, BLOCK_D)
    d_ok = offs_d < head_dim
    q = tl.load(
        Qr + head[:, None] * stride_qh + sig[:, None] * stride_qs + offs_d[None, :],
        mask=row_ok[:, None] & d_ok[None, :],
        other=0.0,
    )
    m_i = tl.full([BLOCK_R], float("-inf"), tl.float32)
    l_i = tl.zeros([BLOCK_R], tl.float32)
    k_base = K + kvh * stride_kh
    for s0 in range(start, stop, BLOCK_N):
        offs_n = s0 + tl.arange(0, BLOCK_N)
        key_ok = offs_n < stop
        k = tl.load(
            k_base + offs_n[:, None].to(tl.int64) * stride_kt + offs_d[None, :],
            mask=key_ok[:, None] & d_ok[None, :],
            other=0.0,
        )
        s = _capped(
            tl.dot(q, tl.trans(k), input_precision=DOT_PRECISION), scale, softcap, HAS_SOFTCAP
        )
        s = tl.where(key_ok[None, :], s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
        l_i = l_i * tl.exp2(m_i - m_safe) + tl.sum(tl.exp2(s - m_safe[:, None]), 1)
        m_i = m_new
    lse = (m_i + tl.log2(l_i)) * 0.6931471805599453
    tl.store(
        Out + (head * num_signal + sig) * num_candidates + cand,
        lse,
        mask=row_ok,
    )


# -- the cached query path -------------------------------------------------------------
#
# Query tokens (all query segments of a pass, ``Tq`` of them) attend to a pool of cached
# states in an arena (keys/values of one layer, ``(H_kv, capacity, D)``) through a list of
# key *tiles*: ``(start, stop, position of start, pad)`` arena ranges of at most ``BLOCK_N``
# keys, covering the instruction and every candidate of the pool. ``cached_prefix`` computes,
# per chunk of tiles, a partial result (normalized output + log-sum-exp, fp32) with the
# ``n_rep`` query heads that share a key/value head folded into the rows, so every key tile
# is loaded once for all of them. ``cached_own_combine`` computes each query segment's causal
# attention to itself and merges it with the partial results by log-sum-exp.

TILE_FIELDS = 4


@triton.jit
def cached_prefix(
    Q,
    K,
    V,
    Part,
    PartLse,
    Tiles,
    QPos,
    stride_qh,
    stride_qt,
    stride_kh,
    stride_kt,
    stride_vh,
    stride_vt,
    num_rows,
    n_rep,
    num_heads,
    head_dim,
    num_tiles,
    tiles_per_chunk,
    scale,
    softcap,
    window,
    HAS_SOFTCAP: tl.constexpr,
    HAS_WINDOW: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
    DOT_PRECISION: tl.constexpr,
):
    row_tile = tl.program_id(0)
    kvh = tl.program_id(1)
    chunk = tl.program_id(2)
    # Row r of this program = (query head kvh * n_rep + r // num_rows, token r % num_rows).
    r = row_tile * BLOCK_M + tl.arange(0, BLOCK_M)
    row_ok = r < n_rep * num_rows
    head = kvh * n_rep + r // num_rows
    tok = r % num_rows
    offs_d = tl.arange(0, BLOCK_D)
    d_ok = offs_d < head_dim
    q = tl.load(
        Q + head[:, None] * stride_qh + tok[:, None].to(tl.int64) * stride_qt + offs_d[None, :],
        mask=row_ok[:, None] & d_ok[None, :],
        other=0.0,
    )
    if HAS_WINDOW:
        pos_q = tl.load(QPos + tok, mask=row_ok, other=0)
    m_i = tl.full([BLOCK_M], float("-inf"), tl.float32)
    l_i = tl.zeros([BLOCK_M], tl.float32)
    acc = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)
    k_base = K + kvh * stride_kh
    v_base = V + kvh * stride_vh
    t_start = chunk * tiles_per_chunk
    t_stop = tl.minimum(t_start + tiles_per_chunk, num_tiles)
    for t in range(t_start, t_stop):
        start = tl.load(Tiles + t * 4)
        stop = tl.load(Tiles + t * 4 + 1)
        offs_n = start + tl.arange(0, BLOCK_N)
        key_ok = offs_n < stop
        k = tl.load(
            k_base + offs_n[:, None].to(tl.int64) * stride_kt + offs_d[None, :],
            mask=key_ok[:, None] & d_ok[None, :],
            other=0.0,
        )
        s = _capped(
            tl.dot(q, tl.trans(k), input_precision=DOT_PRECISION), scale, softcap, HAS_SOFTCAP
        )
        visible = key_ok[None, :]
        if HAS_WINDOW:
            pos_k = tl.load(Tiles + t * 4 + 2) + tl.arange(0, BLOCK_N)
            visible = visible & ((pos_q[:, None] - pos_k[None, :]) < window)
        s = tl.where(visible, s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
        alpha = tl.exp2(m_i - m_safe)
        p = tl.exp2(s - m_safe[:, None])
        l_i = l_i * alpha + tl.sum(p, 1)
        v = tl.load(
            v_base + offs_n[:, None].to(tl.int64) * stride_vt + offs_d[None, :],
            mask=key_ok[:, None] & d_ok[None, :],
            other=0.0,
        )
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=DOT_PRECISION)
        m_i = m_new
    l_safe = tl.where(l_i > 0.0, l_i, 1.0)
    o = acc / l_safe[:, None]
    lse = tl.where(l_i > 0.0, m_i + tl.log2(l_safe), float("-inf"))
    base = (chunk * num_heads + head) * num_rows + tok
    tl.store(
        Part + base[:, None].to(tl.int64) * BLOCK_D + offs_d[None, :],
        o,
        mask=row_ok[:, None],
    )
    tl.store(PartLse + base, lse, mask=row_ok)


@triton.jit
def cached_own_combine(
    Q,
    K,
    V,
    Out,
    Part,
    PartLse,
    Items,
    QPos,
    stride_qh,
    stride_qt,
    stride_kh,
    stride_kt,
    stride_vh,
    stride_vt,
    stride_ot,
    stride_oh,
    num_rows,
    n_rep,
    num_heads,
    head_dim,
    num_chunks,
    scale,
    softcap,
    window,
    HAS_SOFTCAP: tl.constexpr,
    HAS_WINDOW: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
    DOT_PRECISION: tl.constexpr,
):
    pid = tl.program_id(0)
    h = pid % num_heads
    w = pid // num_heads
    kvh = h // n_rep
    q_start = tl.load(Items + w * 4)
    q_stop = tl.load(Items + w * 4 + 1)
    seg_start = tl.load(Items + w * 4 + 2)
    offs_m = q_start + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, BLOCK_D)
    row_ok = offs_m < q_stop
    d_ok = offs_d < head_dim
    q = tl.load(
        Q + h * stride_qh + offs_m[:, None].to(tl.int64) * stride_qt + offs_d[None, :],
        mask=row_ok[:, None] & d_ok[None, :],
        other=0.0,
    )
    if HAS_WINDOW:
        pos_q = tl.load(QPos + offs_m, mask=row_ok, other=0)
    m_i = tl.full([BLOCK_M], float("-inf"), tl.float32)
    l_i = tl.zeros([BLOCK_M], tl.float32)
    acc = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)
    k_base = K + kvh * stride_kh
    v_base = V + kvh * stride_vh
    # The segment's own keys, causally.
    for start in range(seg_start, q_stop, BLOCK_N):
        offs_n = start + tl.arange(0, BLOCK_N)
        key_ok = offs_n < q_stop
        k = tl.load(
            k_base + offs_n[:, None].to(tl.int64) * stride_kt + offs_d[None, :],
            mask=key_ok[:, None] & d_ok[None, :],
            other=0.0,
        )
        s = _capped(
            tl.dot(q, tl.trans(k), input_precision=DOT_PRECISION), scale, softcap, HAS_SOFTCAP
        )
        visible = key_ok[None, :] & (offs_n[None, :] <= offs_m[:, None])
        if HAS_WINDOW:
            pos_k = tl.load(QPos + offs_n, mask=key_ok, other=0)
            visible = visible & ((pos_q[:, None] - pos_k[None, :]) < window)
        s = tl.where(visible, s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
        alpha = tl.exp2(m_i - m_safe)
        p = tl.exp2(s - m_safe[:, None])
        l_i = l_i * alpha + tl.sum(p, 1)
        v = tl.load(
            v_base + offs_n[:, None].to(tl.int64) * stride_vt + offs_d[None, :],
            mask=key_ok[:, None] & d_ok[None, :],
            other=0.0,
        )
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=DOT_PRECISION)
        m_i = m_new
    # Merge with the pool's partial results: weights 2^(lse - max), output-weighted sum.
    l_safe = tl.where(l_i > 0.0, l_i, 1.0)
    lse_own = tl.where(l_i > 0.0, m_i + tl.log2(l_safe), float("-inf"))
    m = lse_own
    for c in range(0, num_chunks):
        lse = tl.load(PartLse + (c * num_heads + h) * num_rows + offs_m, mask=row_ok, other=0.0)
        m = tl.maximum(m, lse)
    m_safe = tl.where(m == float("-inf"), 0.0, m)
    w_own = tl.where(l_i > 0.0, tl.exp2(lse_own - m_safe), 0.0)
    total = w_own
    out = (acc / l_safe[:, None]) * w_own[:, None]
    for c in range(0, num_chunks):
        base = (c * num_heads + h) * num_rows + offs_m
        lse = tl.load(PartLse + base, mask=row_ok, other=float("-inf"))
        weight = tl.exp2(lse - m_safe)
        o = tl.load(
            Part + base[:, None].to(tl.int64) * BLOCK_D + offs_d[None, :],
            mask=row_ok[:, None],
            other=0.0,
        )
        out += tl.where(weight[:, None] > 0.0, o * weight[:, None], 0.0)
        total += weight
    total = tl.where(total > 0.0, total, 1.0)
    tl.store(
        Out + offs_m[:, None].to(tl.int64) * stride_ot + h * stride_oh + offs_d[None, :],
        (out / total[:, None]).to(Out.dtype.element_ty),
        mask=row_ok[:, None] & d_ok[None, :],
    )
