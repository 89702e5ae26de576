"""The segment rule, and every attention backend against a per-token brute force."""

from __future__ import annotations

import math

import pytest
import torch

from ctx_core.incontext.backends import (
    AttentionBackend,
    backend_names,
    get_backend,
    register_backend,
)
from ctx_core.incontext.backends.base import segment_logsumexp
from ctx_core.incontext.backends.sdpa import SdpaBackend
from ctx_core.incontext.backends.triton import TritonBackend
from ctx_core.incontext.segments import SegmentStructure


def test_mask_follows_the_rule_by_hand():
    s = SegmentStructure(2, (2, 1), (2, 1), query_offset=10)
    # tokens: I I | A A | B | Q Q | N   (N: the calibration twin of Q)
    expected = [
        [1, 0, 0, 0, 0, 0, 0, 0],  # I0
        [1, 1, 0, 0, 0, 0, 0, 0],  # I1
        [1, 1, 1, 0, 0, 0, 0, 0],  # A0: instruction + itself
        [1, 1, 1, 1, 0, 0, 0, 0],  # A1
        [1, 1, 0, 0, 1, 0, 0, 0],  # B0: instruction + itself, not A
        [1, 1, 1, 1, 1, 1, 0, 0],  # Q0: everything before + itself
        [1, 1, 1, 1, 1, 1, 1, 0],  # Q1
        [1, 1, 1, 1, 1, 0, 0, 1],  # N0: everything before, not Q
    ]
    assert s.dense_mask().int().tolist() == expected
    assert s.position_ids().tolist() == [0, 1, 2, 3, 2, 10, 11, 10]
    causal = s.with_causal(True)
    assert causal.position_ids().tolist() == [0, 1, 2, 3, 4, 5, 6, 5]
    assert causal.dense_mask().int().tolist()[4] == [1, 1, 1, 1, 1, 0, 0, 0]  # B sees A
    assert causal.dense_mask().int().tolist()[7] == expected[7]
    # A window is measured in position ids: Q0 (position 10) is 7+ away from A (2, 3).
    windowed = s.dense_mask(window=8).int().tolist()
    assert windowed[5] == [0, 0, 0, 1, 0, 1, 0, 0]


def test_structure_validation():
    with pytest.raises(ValueError, match="instruction_length"):
        SegmentStructure(0, (1,), (1,))
    with pytest.raises(ValueError, match="candidate_lengths"):
        SegmentStructure(1, (1, 0), (1,))
    with pytest.raises(ValueError, match="query_lengths"):
        SegmentStructure(1, (1,), ())
    with pytest.raises(ValueError, match="query_offset"):
        SegmentStructure(5, (1,), (1,), query_offset=3)
    with pytest.raises(IndexError):
        SegmentStructure(1, (1,), (1,)).candidate_span(1)


def _brute_force(q, k, v, structure, scaling, window, softcap):
    """Attention token by token, straight from the rule (float64)."""
    heads, length = q.shape[1], q.shape[2]
    groups = heads // k.shape[1]
    mask = structure.dense_mask(window=window)
    out = torch.zeros(1, length, heads, v.shape[-1], dtype=torch.float64)
    for h in range(heads):
        for i in range(length):
            keys = [j for j in range(length) if mask[i, j]]
            logits = torch.stack([(q[0, h, i] * k[0, h // groups, j]).sum() for j in keys])
            logits = logits * scaling
            if softcap is not None:
                logits = torch.tanh(logits / softcap) * softcap
            weights = torch.softmax(logits, 0)
            out[0, i, h] = sum(w * v[0, h // groups, j] for w, j in zip(weights, keys, strict=True))
    return out


CASES = [
    # (structure, window, softcap)
    (SegmentStructure(5, (1, 7, 3, 12, 2), (4, 1), query_offset=30), None, None),
    (SegmentStructure(5, (1, 7, 3, 12, 2), (4, 1), query_offset=30), 4, None),
    (SegmentStructure(3, (9, 1, 1), (2,), query_offset=3), 40, 5.0),
    (SegmentStructure(5, (1, 7, 3, 12, 2), (4, 1), causal=True), None, None),
    (SegmentStructure(5, (1, 7, 3, 12, 2), (4, 1), causal=True), 6, 5.0),
    (SegmentStructure(1, (1,), (1,), query_offset=1), None, None),
]


@pytest.fixture(scope="module")
def brute():
    results = []
    generator = torch.Generator().manual_seed(0)
    for structure, window, softcap in CASES:
        T = structure.total_length
        q = torch.randn(1, 4, T, 8, dtype=torch.float64, generator=generator)
        k = torch.randn(1, 2, T, 8, dtype=torch.float64, generator=generator)
        v = torch.randn(1, 2, T, 8, dtype=torch.float64, generator=generator)
        expected = _brute_force(q, k, v, structure, 0.4, window, softcap)
        results.append((structure, window, softcap, q, k, v, expected))
    return results


@pytest.mark.parametrize("name", ["reference", "sdpa", "flex"])
def test_backends_match_brute_force(brute, name):
    backend = get_backend(name)
    for structure, window, softcap, q, k, v, expected in brute:
        if name == "flex":  # FlexAttention computes in float32 here
            out = backend.attend(
                q.float(),
                k.float(),
                v.float(),
                structure,
                scaling=0.4,
                sliding_window=window,
                softcap=softcap,
            ).double()
            tol = 1e-5
        else:
            out = backend.attend(
                q, k, v, structure, scaling=0.4, sliding_window=window, softcap=softcap
            )
            tol = 1e-12
        assert out.shape == expected.shape
        torch.testing.assert_close(out, expected, rtol=0, atol=tol)


@pytest.mark.parametrize("name", ["reference", "sdpa", "flex", "triton"])
@pytest.mark.parametrize(
    ("q_shape", "k_heads", "message"),
    [
        ((2, 4, 5, 8), 2, "one prompt per pass, got batch 2"),
        ((1, 4, 6, 8), 2, "query has 6 tokens but the structure describes 5"),
        ((1, 4, 5, 8), 3, "4 query heads cannot share 3 key heads"),
    ],
)
def test_every_backend_rejects_inputs_that_do_not_fit_the_prompt(name, q_shape, k_heads, message):
    # The checks run before any kernel, so the GPU backend is checked on the CPU too.
    structure = SegmentStructure(2, (2,), (1,))
    q = torch.zeros(q_shape)
    kv = torch.zeros(q_shape[0], k_heads, q_shape[2], q_shape[3])
    backend = TritonBackend() if name == "triton" else get_backend(name)
    with pytest.raises(ValueError, match=message):
        backend.attend(q, kv, kv, structure, scaling=1.0)


def test_dense_attention_in_row_chunks_matches_brute_force(brute):
    from ctx_core.incontext.backends.reference import dense_attention

    for structure, window, softcap, q, k, v, expected in brute:
        out = dense_attention(
            q, k, v, structure, scaling=0.4, sliding_window=window, softcap=softcap,
            max_elements=2 * q.shape[2],  # one query row per chunk
        )  # fmt: skip
        torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)


def test_sdpa_backend_is_exact_in_small_chunks(brute):
    small = SdpaBackend(max_chunk_elements=1)  # one candidate per call
    for structure, window, softcap, q, k, v, expected in brute:
        out = small.attend(q, k, v, structure, scaling=0.4, sliding_window=window, softcap=softcap)
        torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)


def test_candidate_logmass_is_the_per_candidate_logsumexp(brute):
    structure, _, _, q, k, _, _ = brute[0]
    rows = q[:, :, -3:]
    got = get_backend("reference").candidate_logmass(rows, k, structure, scaling=0.4)
    assert got.shape == (4, 3, structure.num_candidates)
    for h in range(4):
        for s in range(3):
            for c in range(structure.num_candidates):
                a, b = structure.candidate_span(c)
                logits = [float((rows[0, h, s] * k[0, h // 2, t]).sum()) * 0.4 for t in range(a, b)]
                top = max(logits)
                expected = top + math.log(sum(math.exp(x - top) for x in logits))
                assert abs(float(got[h, s, c]) - expected) < 1e-12
    # softmax over candidates = softmax over candidate tokens, summed per candidate
    probs = torch.softmax(got, -1)
    assert torch.allclose(probs.sum(-1), torch.ones(4, 3, dtype=torch.float64))


def test_segment_logsumexp_is_differentiable_and_stable():
    logits = torch.tensor([[1000.0, 999.0, -5.0, 3.0]], requires_grad=True)
    segment = torch.tensor([0, 0, 1, 1])
    out = segment_logsumexp(logits, segment, 3)
    assert torch.isfinite(out[0, :2]).all() and out[0, 2] == float("-inf")
    assert abs(float(out.detach()[0, 0]) - (1000 + math.log(1 + math.exp(-1)))) < 1e-4
    out[0, :2].sum().backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()


def test_reference_refuses_huge_prompts():
    from ctx_core.incontext.backends.reference import ReferenceBackend

    s = SegmentStructure(4, (4,), (4,), query_offset=8)
    q = k = v = torch.zeros(1, 2, 12, 4)
    with pytest.raises(ValueError, match="sdpa"):
        ReferenceBackend(max_elements=100).attend(q, k, v, s, scaling=1.0)


def test_registry_and_auto_choice():
    assert {"reference", "sdpa", "flex"} <= set(backend_names())
    assert get_backend("auto", "cpu").name == "sdpa"
    with pytest.raises(ValueError, match="unknown attention backend"):
        get_backend("nope")

    class Mine(SdpaBackend):
        name = "test-mine"

    register_backend("test-mine", Mine)
    assert isinstance(get_backend("test-mine"), AttentionBackend)
    assert get_backend("test-mine").name == "test-mine"
    with pytest.raises(ValueError, match="invalid backend name"):
        register_backend("auto", Mine)
