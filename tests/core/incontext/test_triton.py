"""The ``triton`` backend: work-list tiling (pure Python), Triton's CPU interpreter, and CUDA.

* The tiling tests need nothing but the structure: every (row, key) pair the segment rule
  allows is covered exactly once and nothing else is.
* The oracle (:mod:`ctx_core.incontext.testing`) has the kernel entry points' signatures
  and the ``reference`` backend's numbers.
* The interpreter test runs the real kernels in a subprocess with ``TRITON_INTERPRET=1``
  (Triton decides between compiled and interpreted kernels when it is first imported),
  with the interpreter fixes of ``triton_interpreter.py`` applied.
* ``gpu`` tests run the kernels compiled, on CUDA, against the dense reference; they are
  skipped without a CUDA device (CI) and run on the GPU machine by
  ``benchmarks/incontext_gpu.py``.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ctx_core.incontext.backends import backend_names, get_backend
from ctx_core.incontext.backends.triton import TritonBackend, build_work_list, triton_available
from ctx_core.incontext.segments import SegmentStructure
from ctx_core.incontext.testing import random_structure

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
CUDA = torch.cuda.is_available() and triton_available()


# -- tiling (no Triton needed) ---------------------------------------------------------------


def _covered(structure: SegmentStructure, plan) -> torch.Tensor:
    """How many times each (row, key) pair is visited by the work list (no window)."""
    T = structure.total_length
    count = torch.zeros(T, T, dtype=torch.int64)
    for q0, q1, a0, a1, c0, c1, _slot in plan.items:
        for q in range(q0, q1):
            count[q, a0:a1] += 1
            if c1 > c0:
                count[q, c0 : min(c1, q + 1)] += 1
    return count


@pytest.mark.parametrize(
    ("structure", "block_m", "split_keys"),
    [
        (SegmentStructure(5, (1, 7, 3, 20, 2), (4, 1), query_offset=30), 16, 4096),
        (SegmentStructure(5, (1, 7, 3, 20, 2), (4, 1), query_offset=30), 16, 8),
        (SegmentStructure(5, (1, 7, 3, 20, 2), (4, 1), query_offset=30, causal=True), 4, 8),
        (SegmentStructure(1, (1,), (1,), query_offset=1), 16, 1),
        (random_structure(40, seed=3), 64, 512),
        (random_structure(60, profile="ones", seed=4, query_lengths=(40, 9)), 16, 64),
    ],
)
def test_work_list_visits_exactly_the_allowed_pairs(structure, block_m, split_keys):
    plan = build_work_list(structure, block_m=block_m, split_keys=split_keys, align=16)
    count = _covered(structure, plan)
    mask = structure.dense_mask()
    split_rows = {q for a, b in plan.split_tiles for q in range(a, b)}
    for q in range(structure.total_length):
        # Split rows are covered once per chunk: the chunks partition the shared range.
        assert torch.equal(count[q] > 0, mask[q]), q
        assert int(count[q].max()) == 1, (q, split_rows)
    for q0, q1, *_ in plan.items:
        assert q1 - q0 <= block_m
        segment = structure.segment_ids()[q0:q1]
        if structure.causal and q1 <= structure.prefix_length:
            continue  # causal layout: the whole prefix is one causal range
        assert bool((segment == segment[0]).all()), "a tile crosses a segment boundary"
    slots = sorted(item[6] for item in plan.items if item[6] >= 0)
    assert slots == list(range(len(plan.split_tiles) * plan.num_chunks))


def test_long_query_ranges_are_split():
    s = SegmentStructure(100, (160,) * 100, (40,), query_offset=8192)
    plan = build_work_list(s, block_m=64, split_keys=2048)
    assert plan.num_chunks == 8 and plan.split_tiles == [s.query_span(0)]
    # The heaviest work (split query chunks) is scheduled first.
    assert plan.items[0][6] >= 0


def test_registered_but_never_auto_on_cpu():
    assert "triton" in backend_names()
    assert get_backend("auto", "cpu").name == "sdpa"
    if os.environ.get("TRITON_INTERPRET") != "1":
        assert not TritonBackend().available("cpu")
        with pytest.raises(ValueError, match="cannot run on cpu"):
            get_backend("triton", "cpu")


def test_imports_and_degrades_without_triton(monkeypatch):
    from ctx_core.incontext.backends.triton import load_kernels

    monkeypatch.setitem(sys.modules, "triton", None)
    assert not triton_available()
    backend = TritonBackend()
    assert not backend.available("cuda")
    with pytest.raises(ImportError, match="gpu"):
        load_kernels()


def test_argument_validation():
    with pytest.raises(ValueError, match="block_m"):
        TritonBackend(block_m=48)
    with pytest.raises(ValueError, match="split_keys"):
        TritonBackend(split_keys=0)


def test_float64_goes_to_the_exact_sdpa_path():
    s = SegmentStructure(3, (2, 5), (2,), query_offset=16)
    q, k, v = (torch.randn(1, 2, s.total_length, 8, dtype=torch.float64) for _ in range(3))
    from ctx_core.incontext.backends.reference import ReferenceBackend

    out = TritonBackend().attend(q, k, v, s, scaling=0.3)
    ref = ReferenceBackend().attend(q, k, v, s, scaling=0.3)
    assert torch.allclose(out, ref, atol=1e-12)


# -- the oracle (no Triton needed) -------------------------------------------------------------


def _parameters(function) -> list[tuple[str, object, object]]:
    return [
        (p.name, p.kind, p.default)
        for p in inspect.signature(function).parameters.values()
        if p.name != "self"
    ]


def test_oracle_has_the_kernel_entry_points_signatures():
    from ctx_core.incontext import testing

    assert _parameters(testing.attention) == _parameters(TritonBackend.forward)
    assert _parameters(testing.candidate_logmass) == _parameters(TritonBackend.fused_logmass)


@pytest.mark.parametrize("extra", [{}, {"sliding_window": 3}, {"softcap": 2.0}])
def test_oracle_computes_the_reference_backend(extra):
    from ctx_core.incontext.backends.reference import ReferenceBackend
    from ctx_core.incontext.testing import attention, candidate_logmass

    s = SegmentStructure(3, (2, 1, 5), (2, 1), query_offset=20)
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, h, s.total_length, 8, generator=gen) for h in (4, 2, 2))
    ref = ReferenceBackend()
    torch.testing.assert_close(
        attention(q, k, v, s, scaling=0.4, **extra), ref.attend(q, k, v, s, scaling=0.4, **extra)
    )
    rows = q[:, :, -2:]
    mass = candidate_logmass(rows.half(), k.half(), s, scaling=0.4, softcap=extra.get("softcap"))
    assert mass.dtype == torch.float32  # raised before the arithmetic, never rounded back
    expected = ref.candidate_logmass(
        rows.half().float(), k.half().float(), s, scaling=0.4, softcap=extra.get("softcap")
    )
    assert torch.equal(mass, expected)
    out = torch.full((1, s.total_length, 4, 8), float("nan"), dtype=torch.float64)
    assert attention(q, k, v, s, scaling=0.4, out=out, **extra) is out
    assert not torch.isnan(out).any()


# -- Triton's interpreter (CPU) ----------------------------------------------------------------

_INTERPRETER_SCRIPT = r"""
import json, os, sys, torch
sys.path.insert(0, os.environ["CTX_TEST_HELPERS"])
from triton_interpreter import patch_interpreter
patch_interpreter()
from ctx_core.incontext.backends.triton import TritonBackend
from ctx_core.incontext.testing import check_attention, check_logmass, random_structure
from ctx_core.incontext.segments import SegmentStructure

torch.set_num_threads(1)
small = TritonBackend(block_m=16, block_n=16, split_keys=16)
cases = [
    # ragged blocks with a block of length 1, GQA 2:1, a calibration twin, split query range
    (SegmentStructure(5, (1, 7, 3, 20, 2), (4, 1), query_offset=30), {}),
    # a sliding window in position ids (the query block sees none of the prefix)
    (SegmentStructure(5, (1, 7, 3, 20, 2), (4,), query_offset=30), {"sliding_window": 6}),
    # ordinary causal layout, soft-capped logits, head_dim not a power of two
    (SegmentStructure(3, (9, 1, 1), (2,), causal=True), {"softcap": 5.0}),
]
results = []
for structure, extra in cases:
    dim = 12 if "softcap" in extra else 16
    results.append(check_attention(small, structure, heads=2, kv_heads=1, head_dim=dim,
                                   device="cpu", **extra).as_dict())
results.append(check_logmass(small, random_structure(9, seed=1, query_lengths=(3,)),
                             heads=4, kv_heads=2, head_dim=16, signals=3, device="cpu").as_dict())
for dtype in ("float16", "bfloat16"):
    results.append(check_attention(small, SegmentStructure(2, (3, 1), (2,), query_offset=8),
                                   heads=2, kv_heads=2, head_dim=16, dtype=dtype,
                                   device="cpu").as_dict())
print("RESULTS" + json.dumps(results))
"""


@pytest.mark.skipif(not triton_available(), reason="needs triton (the gpu extra)")
def test_kernels_under_the_interpreter_match_the_reference():
    env = dict(
        os.environ,
        TRITON_INTERPRET="1",
        CTX_TEST_HELPERS=str(HERE),
        PYTHONPATH=os.pathsep.join(
            [str(ROOT / "core"), str(ROOT / "packages"), os.environ.get("PYTHONPATH", "")]
        ),
    )
    proc = subprocess.run(
        [sys.executable, "-c", _INTERPRETER_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULTS"))
    results = json.loads(line[len("RESULTS") :])
    assert len(results) == 6
    for r in results:
        assert r["unwritten"] == 0, r
        assert r["passed"], r
    assert results[0]["split_chunks"] > 1


# -- CUDA ----------------------------------------------------------------------------------

gpu = pytest.mark.skipif(not CUDA, reason="needs a CUDA device and triton")


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
@pytest.mark.parametrize("candidates", [1, 7, 100, 500])
def test_cuda_attention_matches_reference(candidates, dtype):
    from ctx_core.incontext.testing import check_attention

    backend = TritonBackend()
    for profile in ("ragged", "ones"):
        structure = random_structure(candidates, profile=profile, query_lengths=(40, 12))
        result = check_attention(
            backend, structure, profile=profile, heads=8, kv_heads=2, head_dim=128, dtype=dtype
        )
        assert result.unwritten == 0 and result.passed, result


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_cuda_logmass_matches_torch(dtype):
    from ctx_core.incontext.testing import check_logmass

    for candidates in (1, 7, 100, 500):
        structure = random_structure(candidates, query_lengths=(40, 12))
        result = check_logmass(
            TritonBackend(), structure, heads=32, kv_heads=8, head_dim=128, signals=5, dtype=dtype
        )
        assert result.unwritten == 0 and result.passed, result


@pytest.mark.gpu
@gpu
def test_cuda_windows_softcap_causal_and_odd_head_dims():
    from ctx_core.incontext.testing import check_attention

    backend = TritonBackend()
    cases = [
        (random_structure(100, query_offset=300), {"sliding_window": 64}, 64, (9, 3)),
        (random_structure(50), {"softcap": 30.0}, 256, (4, 1)),
        (random_structure(30, causal=True), {}, 80, (6, 6)),
    ]
    for structure, extra, dim, (heads, kv) in cases:
        result = check_attention(
            backend, structure, heads=heads, kv_heads=kv, head_dim=dim, **extra
        )
        assert result.passed, result


@pytest.mark.gpu
@gpu
def test_cuda_auto_picks_triton_and_gradients_flow():
    from ctx_core.incontext.backends.sdpa import SdpaBackend

    assert get_backend("auto", "cuda").name == "triton"
    s = random_structure(5, max_length=30, seed=0)
    q, k, v = (
        torch.randn(1, h, s.total_length, 32, device="cuda", requires_grad=True) for h in (4, 2, 2)
    )
    out = TritonBackend().attend(q, k, v, s, scaling=0.2)
    grads = torch.autograd.grad(out.square().sum(), (q, k, v))
    ref = SdpaBackend().attend(q, k, v, s, scaling=0.2)
    ref_grads = torch.autograd.grad(ref.square().sum(), (q, k, v))
    assert torch.allclose(out, ref, atol=1e-4)
    for a, b in zip(grads, ref_grads, strict=True):
        assert torch.allclose(a, b, atol=1e-3)
