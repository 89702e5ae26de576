"""The FP8 path: quantization math, the emulated engine path on CPU, option checks, refusals.

On CPU the products run in fp32 emulation (``Fp8Weights(emulate=True)``): the same quantized
operands and scales as ``torch._scaled_mm``, so the quantization, the plumbing (which modules
are rebound, shared q/k/v quantization, compile, chunks, the state cache) and the size of
the FP8 error are tested here; the ``gpu`` tests run the real FP8 products on CUDA.
"""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from ctx_core.incontext import InContextRanker
from ctx_core.incontext.engine import InContextEngine
from ctx_core.incontext.fp8 import (
    E4M3_MAX,
    Fp8Weights,
    check_precision,
    dequantize,
    fp8_capability_error,
    quantize_rows,
    quantize_weight,
    scaled_matmul,
)
from ctx_core.incontext.norm_mlp import fused_norms_and_mlp
from ctx_core.incontext.segments import SegmentStructure

STRUCTURE = SegmentStructure(5, (7, 1, 9, 4), (3,))
CUDA_FP8 = torch.cuda.is_available() and torch.cuda.get_device_capability() >= (8, 9)


def _model(hidden: int = 64, layers: int = 3, positions: int = 256) -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=97,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=positions,
    )
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="module")
def model():
    return _model()


def _patched(model) -> list[str]:
    return [name for name, module in model.named_modules() if "forward" in vars(module)]


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).norm() / b.double().norm())


# -- quantization math -------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_quantize_rows_scales_are_powers_of_two_and_bound_the_row(dtype):
    torch.manual_seed(1)
    x = (torch.randn(50, 96) * torch.logspace(-3, 3, 50).unsqueeze(1)).to(dtype)
    x[7] = 0  # an all-zero row
    q, scale = quantize_rows(x)
    assert q.dtype == torch.float8_e4m3fn and q.shape == x.shape and q.is_contiguous()
    assert scale.shape == (50, 1) and scale.dtype == torch.float32
    mantissa, _ = torch.frexp(scale)
    assert torch.all(mantissa == 0.5)  # exact powers of two
    back = dequantize(q, scale)
    assert torch.isfinite(back).all() and back[7].abs().max() == 0
    amax = q.float().abs().amax(dim=1)
    rows = [i for i in range(50) if i != 7]
    # the largest value of each row lands in the top binade of e4m3: (224, 448]
    assert torch.all(amax[rows] <= E4M3_MAX) and torch.all(amax[rows] > E4M3_MAX / 2 - 16)
    # e4m3 keeps 3 mantissa bits: each element within 2^-4 relative (normal range)
    big = x.float().abs() > scale * 2.0**-6
    err = (back - x.float()).abs()[big] / x.float().abs()[big]
    assert float(err.max()) <= 2.0**-4 + 1e-6


def test_quantize_rows_is_the_rounding_of_x_over_scale():
    torch.manual_seed(2)
    x = torch.randn(9, 32, dtype=torch.bfloat16)
    q, scale = quantize_rows(x)
    expected = (x.float() / scale).to(torch.float8_e4m3fn)  # exact division by a power of two
    assert torch.equal(q.view(torch.uint8), expected.view(torch.uint8))


def test_quantize_weight_per_output_channel():
    torch.manual_seed(3)
    w = torch.randn(24, 40) * torch.linspace(0.01, 10, 24).unsqueeze(1)
    q, scale = quantize_weight(w.to(torch.bfloat16))
    assert q.dtype == torch.float8_e4m3fn and q.shape == (24, 40) and scale.shape == (1, 24)
    # each channel's largest value maps to 448 exactly
    assert torch.equal(q.float().abs().amax(dim=1), torch.full((24,), E4M3_MAX))
    torch.testing.assert_close(
        scale.flatten(), w.to(torch.bfloat16).float().abs().amax(1) / E4M3_MAX
    )
    back = dequantize(q, scale)
    assert back.shape == (24, 40)
    assert _rel(back, w.to(torch.bfloat16).float()) < 0.04


def test_scaled_matmul_emulation_is_the_dequantized_product():
    torch.manual_seed(4)
    x, w = torch.randn(13, 48), torch.randn(32, 48) * 0.1
    xq, xs = quantize_rows(x)
    wq, ws = quantize_weight(w)
    out = scaled_matmul(xq, xs, wq, ws, torch.float64, emulate=True)
    expected = (xq.double() * xs.double()) @ (wq.double() * ws.double().t()).t()
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-6)
    assert _rel(out, x.double() @ w.double().t()) < 0.06  # the FP8 rounding, not a bug


def test_scaled_mm_on_cpu_matches_the_emulation_where_torch_has_it():
    torch.manual_seed(5)
    xq, xs = quantize_rows(torch.randn(21, 64, dtype=torch.bfloat16))
    wq, ws = quantize_weight(torch.randn(48, 64))
    try:
        real = scaled_matmul(xq, xs, wq, ws, torch.bfloat16)
    except (RuntimeError, NotImplementedError) as err:  # older torch: no CPU _scaled_mm
        pytest.skip(f"torch {torch.__version__} has no CPU _scaled_mm: {err}")
    emulated = scaled_matmul(xq, xs, wq, ws, torch.bfloat16, emulate=True)
    assert _rel(real, emulated) < 1e-2


def test_fp8_weights_quantize_once_and_again_after_a_change():
    layer = torch.nn.Linear(32, 16, bias=True)
    weights = Fp8Weights(emulate=True)
    first = weights.weight(layer)
    assert weights.weight(layer)[0] is first[0] and len(weights) == 1
    assert weights.nbytes() == 16 * 32 + 16 * 4
    with torch.no_grad():
        layer.weight.mul_(2)  # in place: the version counter moves
    again = weights.weight(layer)
    assert again[0] is not first[0]
    torch.testing.assert_close(again[1], first[1] * 2)
    x = torch.randn(3, 5, 32)
    out = weights.linear(layer, x)
    assert out.shape == (3, 5, 16) and _rel(out.detach(), layer(x).detach()) < 0.06
    weights.clear()
    assert len(weights) == 0


# -- options and refusals --------------------------------------------------------------------


def test_capability_messages():
    assert fp8_capability_error("cuda", (9, 0), "H200") is None
    assert fp8_capability_error("cuda", (8, 9), "L4") is None
    message = fp8_capability_error("cuda", (8, 0), "NVIDIA A100")
    assert message is not None and "8.9" in message and "NVIDIA A100 has 8.0" in message
    message = fp8_capability_error("cpu", None, "cpu")
    assert message is not None and "precision='fp8'" in message and "'cpu'" in message


def test_precision_values_are_checked(model):
    check_precision("model")
    check_precision(Fp8Weights(emulate=True))
    for bad in ("fp16", "FP8", None, 8):
        with pytest.raises(ValueError, match="precision must be 'model' or 'fp8'"):
            check_precision(bad)
    with pytest.raises(ValueError, match="precision must be"):
        InContextEngine(model, precision="int8")
    with pytest.raises(ValueError, match="precision must be"):
        InContextRanker(model, tokenizer=object(), precision="e4m3")  # type: ignore[arg-type]


@pytest.mark.skipif(CUDA_FP8, reason="checks the refusal where FP8 is missing")
def test_fp8_is_refused_on_cpu(model):
    with pytest.raises(ValueError, match=r"precision='fp8' needs a CUDA GPU .* 'cpu'"):
        InContextEngine(model, precision="fp8")
    with pytest.raises(ValueError, match=r"precision='fp8' needs a CUDA GPU.*device='cpu'"):
        InContextRanker("smollm2", device="cpu", precision="fp8")
    # a device left to the default is checked when the model loads
    ranker = InContextRanker(model, tokenizer=object(), precision="fp8")
    with pytest.raises(ValueError, match="precision='fp8' needs"):
        ranker._load()


def test_ranker_config_carries_precision():
    ranker = InContextRanker("smollm2", precision="fp8", device="cuda")
    assert ranker.config()["precision"] == "fp8"
    assert InContextRanker("smollm2").config()["precision"] == "model"


# -- the engine in emulated FP8 --------------------------------------------------------------


def _run(engine, ids, **options):
    with torch.no_grad():
        return engine.run(ids, STRUCTURE, **options)


def test_engine_fp8_is_close_to_the_model_and_leaves_it_as_it_was(model):
    ids = torch.randint(0, 97, (STRUCTURE.total_length,))
    signal = [STRUCTURE.total_length - 1]
    plain = InContextEngine(model, backend="reference")
    fp8 = InContextEngine(model, backend="reference", precision=Fp8Weights(emulate=True))
    assert fp8.precision == "fp8" and plain.precision == "model" and "fp8" in repr(fp8)
    before = _run(plain, ids, layers=[2], signal_rows=signal, stop=False, output_hidden_states=True)
    after = _run(fp8, ids, layers=[2], signal_rows=signal, stop=False, output_hidden_states=True)
    assert _patched(model) == []  # every forward back after the run
    assert fp8.fp8 is not None and len(fp8.fp8) == 3 * 7  # q, k, v, o, gate, up, down per layer
    err = _rel(after.hidden_states[-1], before.hidden_states[-1])
    assert 1e-4 < err < 0.1  # FP8 rounding really happened, and stayed small
    torch.testing.assert_close(after.logmass[2], before.logmass[2], rtol=0, atol=0.05)
    assert not torch.equal(after.logmass[2], before.logmass[2])
    # stopping at the scoring layer gives the same log mass as the full run
    stopped = _run(fp8, ids, layers=[2], signal_rows=signal)
    torch.testing.assert_close(stopped.logmass[2], after.logmass[2])


def test_engine_fp8_binds_projections_and_mlp_only_during_runs(model):
    fp8 = InContextEngine(model, backend="reference", precision=Fp8Weights(emulate=True))
    with fp8.fused() as count:
        assert count == 3 * 5  # 4 projections + the MLP per layer
        names = _patched(model)
    assert all(
        n.rsplit(".", 1)[-1] in {"q_proj", "k_proj", "v_proj", "o_proj", "mlp"} for n in names
    )
    assert _patched(model) == []


def test_q_k_v_share_one_quantized_input(model, monkeypatch):
    import ctx_core.incontext.fp8 as fp8_module

    calls: list[tuple[int, ...]] = []
    original = fp8_module.quantize_rows

    def counting(x):
        calls.append(tuple(x.shape))
        return original(x)

    monkeypatch.setattr(fp8_module, "quantize_rows", counting)
    engine = InContextEngine(model, backend="reference", precision=Fp8Weights(emulate=True))
    ids = torch.randint(0, 97, (STRUCTURE.total_length,))
    _run(engine, ids, stop=False)
    # per layer: one for q, k and v together, one for o, two in the MLP (its input and the
    # activation product); without the sharing it would be 3 x 6
    assert len(calls) == 3 * 4


def test_engine_fp8_with_compile_and_chunks_gives_the_same_result(model):
    ids = torch.randint(0, 97, (STRUCTURE.total_length,))
    signal = [STRUCTURE.total_length - 1]
    weights = Fp8Weights(emulate=True)
    plain = InContextEngine(model, backend="reference", precision=weights)
    fused = InContextEngine(
        model, backend="reference", precision=weights, compile="eager", mlp_chunk_tokens=5
    )
    a = _run(plain, ids, layers=[2], signal_rows=signal, stop=False, output_hidden_states=True)
    b = _run(fused, ids, layers=[2], signal_rows=signal, stop=False, output_hidden_states=True)
    # chunks quantize per token, so the chunked MLP computes the same numbers
    torch.testing.assert_close(b.hidden_states[-1], a.hidden_states[-1], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(b.logmass[2], a.logmass[2], rtol=1e-5, atol=1e-5)
    assert _patched(model) == []


def test_fp8_and_model_precision_cannot_share_a_model_at_once(model):
    fp8 = InContextEngine(model, backend="reference", precision=Fp8Weights(emulate=True))
    plain = InContextEngine(model, backend="reference", compile="eager")
    with fp8.fused():
        with pytest.raises(RuntimeError, match="cannot share"), plain.fused():
            pass
        with pytest.raises(RuntimeError, match="cannot share"), fused_norms_and_mlp(model):
            pass
    assert _patched(model) == []


def test_a_model_without_gated_mlp_is_refused():
    model = _model(layers=1)
    model.model.layers[0].mlp = torch.nn.Linear(64, 64)
    with (
        pytest.raises(ValueError, match="not a gated MLP"),
        fused_norms_and_mlp(model, fp8=Fp8Weights(emulate=True)),
    ):
        pass
    assert _patched(model) == []


# -- the state cache ---------------------------------------------------------------------------


def test_state_spec_records_precision_and_old_specs_read_as_model(tiny_llama_dir):
    from ctx_core.incontext.states import StateSpec

    ranker = InContextRanker(str(tiny_llama_dir), device="cpu", query_in_instruction=False)
    spec = ranker.state_spec()
    assert spec.precision == "model"
    old = {k: v for k, v in spec.__dict__.items() if k != "precision"}
    assert StateSpec(**old) == spec  # files saved before the field existed
    fp8_spec = StateSpec(**{**spec.__dict__, "precision": "fp8"})
    assert spec.mismatch(fp8_spec) == ["precision"]


def test_cached_ranker_in_emulated_fp8_matches_the_uncached_one(tiny_llama_dir):
    from ctx_core.incontext.states import DocumentStateCache

    passages = ["alpha beta gamma", "delta", "epsilon zeta eta theta", "iota kappa"]
    query = "which one is greek"
    uncached = InContextRanker(
        str(tiny_llama_dir), device="cpu", labels="id", query_in_instruction=False
    )
    cached = InContextRanker(
        str(tiny_llama_dir),
        device="cpu",
        labels="id",
        query_in_instruction=False,
        cache=DocumentStateCache(),
    )
    for ranker in (uncached, cached):
        ranker.engine.fp8 = Fp8Weights(emulate=True)  # the FP8 arithmetic, on CPU
    a = uncached.explain(query, passages)
    b = cached.explain(query, passages)
    assert b.scores == pytest.approx(a.scores, abs=1e-4)
    reference = InContextRanker(
        str(tiny_llama_dir), device="cpu", labels="id", query_in_instruction=False
    ).explain(query, passages)
    assert a.scores != reference.scores  # FP8 really ran


# -- on a GPU with FP8 -------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA_FP8, reason="needs a CUDA GPU with FP8 (compute capability 8.9+)")
def test_cuda_fp8_products_match_the_emulation():
    torch.manual_seed(6)
    x = torch.randn(333, 512, device="cuda", dtype=torch.bfloat16)
    w = torch.randn(256, 512, device="cuda", dtype=torch.bfloat16) * 0.05
    xq, xs = quantize_rows(x)
    wq, ws = quantize_weight(w)
    cpu_q, cpu_s = quantize_rows(x.cpu())
    assert torch.equal(cpu_q.view(torch.uint8), xq.cpu().view(torch.uint8))
    assert torch.equal(cpu_s, xs.cpu())
    for fast in (True, False):
        out = scaled_matmul(xq, xs, wq, ws, torch.bfloat16, fast_accum=fast)
        ref = scaled_matmul(xq, xs, wq, ws, torch.float32, emulate=True)
        assert _rel(out, ref) < 1e-2


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA_FP8, reason="needs a CUDA GPU with FP8 (compute capability 8.9+)")
def test_cuda_engine_fp8_compiled_matches_emulation_and_bf16():
    model = _model(hidden=256, layers=2, positions=4096).to("cuda", torch.bfloat16)
    structure = SegmentStructure(40, (160,) * 6, (20,))
    ids = torch.randint(0, 97, (structure.total_length,), device="cuda")
    signal = list(range(structure.total_length - 20, structure.total_length))
    outs = {}
    for name, options in {
        "bf16": {},
        "fp8": {"precision": "fp8"},
        "fp8_compiled": {"precision": "fp8", "compile": True, "mlp_chunk_tokens": 256},
        "emulated": {"precision": Fp8Weights(emulate=True)},
    }.items():
        engine = InContextEngine(model, **options)
        with torch.no_grad():
            outs[name] = engine.run(ids, structure, signal_rows=signal, layers=[1]).logmass[1]
    assert _patched(model) == []
    assert _rel(outs["fp8"], outs["emulated"]) < 2e-2
    assert _rel(outs["fp8_compiled"], outs["fp8"]) < 2e-2
    assert _rel(outs["fp8"], outs["bf16"]) < 0.1
