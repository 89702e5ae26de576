"""The engine's and ranker's fusion options leave the outputs unchanged (CPU, tiny random Llama).

``compile`` runs on torch.compile's ``eager`` backend here (the plumbing, not the code
generation); the ``gpu`` test compiles with inductor on CUDA.
"""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from ctx_core.incontext import InContextRanker
from ctx_core.incontext.engine import InContextEngine
from ctx_core.incontext.norm_mlp import fused_norms_and_mlp
from ctx_core.incontext.segments import SegmentStructure

STRUCTURE = SegmentStructure(5, (7, 1, 9, 4), (3,))


def _model(hidden: int = 32, layers: int = 3, positions: int = 256) -> LlamaForCausalLM:
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
    """Names of the modules whose ``forward`` is overridden on the instance."""
    return [name for name, module in model.named_modules() if "forward" in vars(module)]


def _run(engine, ids, **options):
    with torch.no_grad():
        return engine.run(ids, STRUCTURE, **options)


def test_options_are_off_by_default(model):
    engine = InContextEngine(model, backend="reference")
    assert engine.compile is False and engine.mlp_chunk_tokens is None
    with engine.fused() as count:
        assert count == 0 and _patched(model) == []


def test_mlp_chunks_give_the_same_scores_and_hidden_states(model):
    ids = torch.randint(0, 97, (STRUCTURE.total_length,))
    signal = [STRUCTURE.total_length - 1]
    plain = InContextEngine(model, backend="reference")
    chunked = InContextEngine(model, backend="reference", mlp_chunk_tokens=8)
    ref = _run(plain, ids, signal_rows=signal, layers=[2]).logmass[2]
    calls: list[int] = []
    inner = model.model.layers[0].mlp.down_proj.forward
    model.model.layers[0].mlp.down_proj.forward = lambda x: calls.append(x.shape[-2]) or inner(x)
    try:
        out = _run(chunked, ids, signal_rows=signal, layers=[2]).logmass[2]
        chunked_calls, calls[:] = list(calls), []
        _run(plain, ids, signal_rows=signal, layers=[2])
    finally:
        del model.model.layers[0].mlp.down_proj.forward
    assert STRUCTURE.total_length == 29
    assert chunked_calls == [8, 8, 8, 5] and calls == [29]  # the option reached the MLP
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    before = _run(plain, ids, stop=False, output_hidden_states=True).hidden_states
    after = _run(chunked, ids, stop=False, output_hidden_states=True).hidden_states
    for a, b in zip(before, after, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert _patched(model) == []  # the model is as it was after every run


def test_compile_and_chunks_through_the_engine(model):
    ids = torch.randint(0, 97, (STRUCTURE.total_length,))
    plain = InContextEngine(model, backend="sdpa")
    fused = InContextEngine(model, backend="sdpa", compile="eager", mlp_chunk_tokens=6)
    before = _run(plain, ids, stop=False, output_hidden_states=True).hidden_states[-1]
    after = _run(fused, ids, stop=False, output_hidden_states=True).hidden_states[-1]
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-6)
    with fused.fused() as count:
        assert count == 9  # 3 layers x (input norm, post-attention norm, MLP)
        assert len(_patched(model)) == 9
    with InContextEngine(model, backend="sdpa", mlp_chunk_tokens=6).fused() as count:
        assert count == 3
    assert _patched(model) == []


def test_a_shared_patch_and_an_instance_forward_survive(model):
    mlp = model.model.layers[1].mlp
    own = mlp.forward  # e.g. a hook some library put on the instance
    mlp.forward = lambda x: own(x)
    mine = mlp.forward
    try:
        with fused_norms_and_mlp(model, mlp_chunk_tokens=4):
            with fused_norms_and_mlp(model, mlp_chunk_tokens=4) as inner:
                assert inner == 3
            assert mlp.forward is not mine  # still chunked: the outer block is active
        assert mlp.forward is mine
    finally:
        del mlp.forward
    assert _patched(model) == []


def test_bad_options(model, tiny_llama_dir):
    for bad in ({"mlp_chunk_tokens": 0}, {"mlp_chunk_tokens": True}, {"compile": 3}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            InContextEngine(model, **bad)
        with pytest.raises(ValueError, match=next(iter(bad))):
            InContextRanker(str(tiny_llama_dir), **bad)  # before any model is loaded
    with (
        pytest.raises(ValueError, match="decoder layers"),
        fused_norms_and_mlp(torch.nn.Linear(2, 2), compile="eager"),
    ):
        pass


def test_the_ranker_passes_the_options_through(tiny_llama_dir):
    query = "What is the capital of France?"
    passages = ["Paris is the capital of France.", "Bananas are yellow.", "Tokyo is in Japan."]
    plain = InContextRanker(str(tiny_llama_dir), device="cpu").explain(query, passages)
    ranker = InContextRanker(str(tiny_llama_dir), device="cpu", compile="eager", mlp_chunk_tokens=5)
    fused = ranker.explain(query, passages)
    assert ranker.engine.compile == "eager" and ranker.engine.mlp_chunk_tokens == 5
    assert fused.tokens > 5  # the chunks really cut the prompt
    torch.testing.assert_close(fused.logmass, plain.logmass, rtol=1e-5, atol=1e-6)
    assert fused.scores == pytest.approx(plain.scores, abs=1e-6)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_inductor_compile_and_chunks_match_plain():
    model = _model(hidden=64, layers=2, positions=4096).cuda()
    structure = SegmentStructure(40, (160,) * 6, (20,))
    ids = torch.randint(0, 97, (structure.total_length,), device="cuda")
    plain = InContextEngine(model)
    fused = InContextEngine(model, compile=True, mlp_chunk_tokens=256)
    with torch.no_grad():
        before = plain.run(ids, structure, stop=False, output_hidden_states=True)
        after = fused.run(ids, structure, stop=False, output_hidden_states=True)
    torch.testing.assert_close(
        after.hidden_states[-1], before.hidden_states[-1], rtol=1e-4, atol=1e-4
    )
    assert _patched(model) == []
