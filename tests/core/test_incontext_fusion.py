"""The optional fusion helpers leave a decoder's outputs unchanged (CPU, tiny random Llama)."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from ctx_core.incontext import SegmentStructure
from ctx_core.incontext.engine import InContextEngine
from ctx_core.incontext.fusion import chunk_mlp, compile_norms_and_mlp, restore


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=97,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
    )
    return LlamaForCausalLM(config).eval()


def _hidden(model, ids):
    with torch.no_grad():
        return model(input_ids=ids, output_hidden_states=True).hidden_states


def test_chunk_mlp_same_outputs_and_restore(model):
    ids = torch.randint(0, 97, (1, 45))
    before = _hidden(model, ids)
    assert chunk_mlp(model, tokens=8) == 3
    assert chunk_mlp(model, tokens=8) == 0  # already chunked
    calls = []
    inner = model.model.layers[0].mlp.down_proj.forward
    model.model.layers[0].mlp.down_proj.forward = lambda x: calls.append(x.shape[-2]) or inner(x)
    try:
        after = _hidden(model, ids)
    finally:
        del model.model.layers[0].mlp.down_proj.forward
    assert calls == [8, 8, 8, 8, 8, 5]  # 45 tokens in chunks of 8
    for a, b in zip(before, after, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert restore(model) == 3
    assert not any("forward" in vars(layer.mlp) for layer in model.model.layers)
    torch.testing.assert_close(_hidden(model, ids)[-1], before[-1])


def test_chunk_mlp_through_the_engine(model):
    structure = SegmentStructure(5, (7, 1, 9, 4), (3,))
    ids = torch.randint(0, 97, (structure.total_length,))
    engine = InContextEngine(model, backend="reference")
    signal = [structure.total_length - 1]
    with torch.no_grad():
        ref = engine.run(ids, structure, signal_rows=signal, layers=[2]).logmass[2]
        chunk_mlp(model, tokens=4)
        try:
            out = engine.run(ids, structure, signal_rows=signal, layers=[2]).logmass[2]
        finally:
            restore(model)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)


def test_compile_eager_backend_and_restore(model):
    ids = torch.randint(0, 97, (1, 20))
    before = _hidden(model, ids)[-1]
    # 3 layers x (input norm, post-attention norm, MLP)
    assert compile_norms_and_mlp(model, backend="eager") == 9
    assert chunk_mlp(model, tokens=6) == 3
    try:
        torch.testing.assert_close(_hidden(model, ids)[-1], before, rtol=1e-5, atol=1e-6)
    finally:
        assert restore(model) == 9
    assert restore(model) == 0


def test_bad_arguments(model):
    with pytest.raises(ValueError, match="tokens"):
        chunk_mlp(model, tokens=0)
    with pytest.raises(ValueError, match="decoder layers"):
        chunk_mlp(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="decoder layers"):
        compile_norms_and_mlp(torch.nn.Linear(2, 2))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_inductor_compile_and_chunks_match_eager():
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=97,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
    )
    model = LlamaForCausalLM(config).cuda().eval()
    ids = torch.randint(0, 97, (1, 1000), device="cuda")
    before = _hidden(model, ids)[-1]
    compile_norms_and_mlp(model)
    chunk_mlp(model, tokens=256)
    try:
        after = _hidden(model, ids)[-1]
    finally:
        restore(model)
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-4)
