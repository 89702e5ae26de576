"""Exactness of the block-sparse engine on tiny random models of every supported family.

Each check compares the engine against transformers' own forward pass, run independently:
- each candidate alone after the instruction, with the same position ids and ordinary
  causal attention;
- the whole prompt with an explicit dense mask built from the segment rule;
and the scores against attention logits recorded from those independent runs.
"""

from __future__ import annotations

import pytest
import torch
from transformers import (
    AttentionInterface,
    AttentionMaskInterface,
    Gemma3ForCausalLM,
    Gemma3TextConfig,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
)
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import sdpa_mask

from ctx_core.incontext.engine import (
    ATTENTION_NAME,
    SUPPORTED_MODEL_TYPES,
    InContextEngine,
    default_scoring_layer,
)
from ctx_core.incontext.segments import SegmentStructure

VOCAB = 101
COMMON = dict(
    vocab_size=VOCAB,
    hidden_size=32,
    intermediate_size=48,
    num_hidden_layers=4,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=8,
    max_position_embeddings=512,
    initializer_range=0.3,  # large weights: states that differ visibly between inputs
)


def _tiny(family: str):
    torch.manual_seed(1)
    if family == "llama":
        model = LlamaForCausalLM(LlamaConfig(**COMMON))
    elif family == "mistral":  # a window shorter than the blocks: it must be honoured
        model = MistralForCausalLM(MistralConfig(**COMMON, sliding_window=6))
    elif family == "qwen2":
        model = Qwen2ForCausalLM(Qwen2Config(**COMMON))
    elif family == "qwen3":
        model = Qwen3ForCausalLM(Qwen3Config(**COMMON))
    elif family == "gemma3":  # local (windowed) and global layers, q/k norms
        config = Gemma3TextConfig(
            **COMMON,
            sliding_window=5,
            layer_types=[
                "sliding_attention",
                "full_attention",
                "sliding_attention",
                "full_attention",
            ],
            query_pre_attn_scalar=8,
        )
        model = Gemma3ForCausalLM(config)
    else:  # pragma: no cover
        raise ValueError(family)
    return model.to(torch.float64).eval()


FAMILIES = ["llama", "mistral", "qwen2", "qwen3", "gemma3"]

# Ragged blocks, a block of length 1, and two query blocks (query + calibration twin).
STRUCTURE = SegmentStructure(5, (3, 1, 7, 6, 2), (4, 3), query_offset=60)


@pytest.fixture(scope="module", params=FAMILIES)
def tiny(request):
    return request.param, _tiny(request.param)


def _ids(structure, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, VOCAB, (structure.total_length,), generator=generator)


class _Recorder:
    """A plain sdpa attention that records each layer's query and key (test instrument)."""

    name = "test_incontext_recorder"

    def __init__(self):
        self.records = {}
        AttentionInterface.register(self.name, self)
        AttentionMaskInterface.register(self.name, sdpa_mask)  # windows, padding: as sdpa

    def __call__(self, module, query, key, value, attention_mask, **kwargs):
        self.records[module.layer_idx] = (query.detach().clone(), key.detach().clone(), module)
        kwargs.pop("sliding_window", None)
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)


def _run_recorded(model, recorder, **inputs):
    model.set_attn_implementation(recorder.name)
    recorder.records = {}
    with torch.no_grad():
        out = model.model(**inputs, output_hidden_states=True, use_cache=False)
    return out, dict(recorder.records)


def _dense_masks(model, structure):
    full = structure.dense_mask()[None, None]
    window = getattr(model.config, "sliding_window", None)
    if model.config.model_type == "gemma3_text":
        return {
            "full_attention": full,
            "sliding_attention": structure.dense_mask(window=window)[None, None],
        }
    if window is not None:
        return structure.dense_mask(window=window)[None, None]
    return full


def test_every_supported_family_is_covered():
    assert {{"gemma3": "gemma3_text"}.get(f, f) for f in FAMILIES} == set(SUPPORTED_MODEL_TYPES)


def test_candidates_equal_separate_runs_and_query_equals_dense_masked_run(tiny):
    _family, model = tiny
    recorder = _Recorder()
    structure = STRUCTURE
    ids = _ids(structure)
    L = structure.instruction_length
    layer = 2
    signal = list(range(structure.total_length - 3, structure.total_length))

    engine = InContextEngine(model, backend="sdpa")
    with torch.no_grad():
        sparse = engine.run(ids, structure, stop=False, output_hidden_states=True)
        scored = engine.run(ids, structure, signal_rows=signal, layers=[layer])
    hidden = sparse.hidden_states
    assert len(hidden) == model.config.num_hidden_layers + 1

    # 1. Each candidate alone after the instruction, ordinary causal attention, same positions.
    cand_keys = []
    for i in range(structure.num_candidates):
        a, b = structure.candidate_span(i)
        seq = torch.cat([ids[:L], ids[a:b]])[None]
        out, records = _run_recorded(
            model, recorder, input_ids=seq, position_ids=torch.arange(seq.shape[1])[None]
        )
        for mine, theirs in zip(hidden, out.hidden_states, strict=True):
            # The instruction is the same in both runs; so is every candidate token.
            torch.testing.assert_close(mine[0, a:b], theirs[0, L:], rtol=0, atol=1e-10)
            torch.testing.assert_close(mine[0, :L], theirs[0, :L], rtol=0, atol=1e-10)
        cand_keys.append(records[layer][1][0, :, L:])  # (Hkv, n_i, D)

    # 2. The whole prompt with the explicit dense mask of the segment rule.
    out, records = _run_recorded(
        model,
        recorder,
        input_ids=ids[None],
        position_ids=structure.position_ids()[None],
        attention_mask=_dense_masks(model, structure),
    )
    for mine, theirs in zip(hidden, out.hidden_states, strict=True):
        torch.testing.assert_close(mine, theirs, rtol=0, atol=1e-10)
    query, _, module = records[layer]

    # 3. Scores: log attention mass from the dense run's signal queries to the separately
    #    computed candidate keys, computed here by hand.
    rows = query[0][:, signal]  # (H, S, D)
    groups = module.num_key_value_groups
    expected = torch.stack(
        [
            torch.logsumexp(
                torch.einsum("hsd,htd->hst", rows, k.repeat_interleave(groups, 0)) * module.scaling,
                dim=-1,
            )
            for k in cand_keys
        ],
        dim=-1,
    )
    torch.testing.assert_close(scored.logmass[layer], expected, rtol=0, atol=1e-10)


def test_the_check_can_fail_without_the_mask(tiny):
    """Negative control: without the segment mask the same comparison is far off."""
    _family, model = tiny
    structure = STRUCTURE
    ids = _ids(structure)
    engine = InContextEngine(model, backend="sdpa")
    with torch.no_grad():
        sparse = engine.run(ids, structure, stop=False, output_hidden_states=True)
        model.set_attn_implementation("sdpa")
        plain = model.model(
            input_ids=ids[None],
            position_ids=structure.position_ids()[None],
            output_hidden_states=True,
            use_cache=False,
        )
    assert (sparse.hidden_states[-1] - plain.hidden_states[-1]).abs().max() > 1e-2


@pytest.mark.parametrize("backend", ["reference", "flex"])
def test_backends_agree_inside_the_model(tiny, backend):
    family, model = tiny
    structure = STRUCTURE
    ids = _ids(structure, seed=3)
    signal = [structure.total_length - 1]
    layers = [1, 3]
    model32 = model if backend == "reference" else _tiny(family).float()
    base = InContextEngine(model32, backend="sdpa")
    other = InContextEngine(model32, backend=backend)
    with torch.no_grad():
        a = base.run(ids, structure, signal_rows=signal, layers=layers)
        b = other.run(ids, structure, signal_rows=signal, layers=layers)
    tol = 1e-10 if backend == "reference" else 2e-4
    for layer in layers:
        torch.testing.assert_close(a.logmass[layer], b.logmass[layer], rtol=0, atol=tol)


def test_permuting_candidates_permutes_scores_exactly(tiny):
    _family, model = tiny
    structure = STRUCTURE
    ids = _ids(structure, seed=5)
    order = [3, 0, 4, 2, 1]
    blocks = [ids[slice(*structure.candidate_span(i))] for i in range(structure.num_candidates)]
    L = structure.instruction_length
    tail = ids[structure.prefix_length :]
    shuffled_ids = torch.cat([ids[:L], *[blocks[i] for i in order], tail])
    shuffled = SegmentStructure(
        L,
        tuple(structure.candidate_lengths[i] for i in order),
        structure.query_lengths,
        query_offset=structure.query_offset,
    )
    signal = [structure.total_length - 2, structure.total_length - 1]
    engine = InContextEngine(model, backend="sdpa")
    with torch.no_grad():
        a = engine.run(ids, structure, signal_rows=signal, layers=[3]).logmass[3]
        b = engine.run(shuffled_ids, shuffled, signal_rows=signal, layers=[3]).logmass[3]
    torch.testing.assert_close(b, a[..., order], rtol=0, atol=1e-10)
    assert not torch.allclose(a, a[..., order])  # the candidates do score differently


def test_layers_after_the_scoring_layer_never_run(tiny):
    _family, model = tiny
    structure = STRUCTURE
    ids = _ids(structure)
    calls: list[str] = []
    hooks = [
        layer.register_forward_pre_hook(lambda module, args, i=i: calls.append(f"layer{i}"))
        for i, layer in enumerate(model.model.layers)
    ]
    hooks += [
        model.model.layers[1].mlp.register_forward_pre_hook(lambda *a: calls.append("mlp1")),
        model.model.norm.register_forward_pre_hook(lambda *a: calls.append("norm")),
        model.lm_head.register_forward_pre_hook(lambda *a: calls.append("lm_head")),
    ]
    try:
        engine = InContextEngine(model, backend="sdpa")
        with torch.no_grad():
            out = engine.run(ids, structure, signal_rows=[structure.total_length - 1], layers=[1])
        assert out.stopped_at == 1
        assert calls == ["layer0", "layer1"]  # not even layer 1's MLP
        calls.clear()
        with torch.no_grad():
            engine.run(ids, structure, stop=False)
        assert calls == ["layer0", "layer1", "mlp1", "layer2", "layer3", "norm"]
    finally:
        for hook in hooks:
            hook.remove()


def test_outside_engine_runs_the_model_behaves_like_sdpa():
    model = _tiny("llama")
    ids = torch.randint(0, VOCAB, (2, 9), generator=torch.Generator().manual_seed(2))
    mask = torch.ones(2, 9, dtype=torch.long)
    mask[1, :3] = 0  # left padding
    with torch.no_grad():
        model.set_attn_implementation("sdpa")
        before = model(input_ids=ids, attention_mask=mask).logits
        InContextEngine(model)
        assert model.config._attn_implementation == ATTENTION_NAME
        after = model(input_ids=ids, attention_mask=mask).logits
    torch.testing.assert_close(before, after, rtol=0, atol=0)


def test_engine_switches_attention_back_if_changed(tiny):
    _family, model = tiny
    structure = STRUCTURE
    ids = _ids(structure)
    engine = InContextEngine(model, backend="sdpa")
    with torch.no_grad():
        a = engine.run(ids, structure, signal_rows=[structure.total_length - 1], layers=[2])
        model.set_attn_implementation("sdpa")
        b = engine.run(ids, structure, signal_rows=[structure.total_length - 1], layers=[2])
    torch.testing.assert_close(a.logmass[2], b.logmass[2], rtol=0, atol=0)


def test_logits_rows_run_the_lm_head_on_those_rows_only(tiny):
    _family, model = tiny
    structure = STRUCTURE
    ids = _ids(structure)
    engine = InContextEngine(model, backend="sdpa")
    rows = [structure.total_length - 2, structure.total_length - 1]
    with torch.no_grad():
        out = engine.run(ids, structure, stop=False, logits_rows=rows, output_hidden_states=True)
        full = model.lm_head(out.hidden_states[-1][0])
    assert out.logits.shape == (2, VOCAB)
    torch.testing.assert_close(out.logits, full[rows], rtol=0, atol=1e-10)


def test_engine_input_validation():
    model = _tiny("llama")
    engine = InContextEngine(model, backend="sdpa")
    structure = SegmentStructure(2, (2,), (2,), query_offset=10)
    ids = _ids(structure)
    with pytest.raises(ValueError, match="input_ids has"):
        engine.run(ids[:-1], structure)
    with pytest.raises(ValueError, match="out of range"):
        engine.run(ids, structure, signal_rows=[0], layers=[4])
    with pytest.raises(ValueError, match="signal_rows"):
        engine.run(ids, structure, layers=[1])
    with pytest.raises(ValueError, match="stop=False"):
        engine.run(ids, structure, output_hidden_states=True)
    with pytest.raises(ValueError, match="inside the prompt"):
        engine.run(ids, structure, signal_rows=[99], layers=[1])


def test_unsupported_family_is_refused():
    from transformers import GPT2Config, GPT2LMHeadModel

    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=50))
    with pytest.raises(ValueError, match="not supported"):
        InContextEngine(model)


def test_default_scoring_layer():
    assert default_scoring_layer(LlamaConfig(num_hidden_layers=32)) == 20
    assert default_scoring_layer(LlamaConfig(num_hidden_layers=30)) == 18
    gemma = Gemma3TextConfig(num_hidden_layers=18)  # global layers: 5, 11, 17
    assert gemma.layer_types[11] == "full_attention"
    assert default_scoring_layer(gemma) == 11


@pytest.mark.parametrize(
    "backend",
    [
        "sdpa",
        "reference",
        pytest.param(
            "flex",
            marks=pytest.mark.skipif(
                not torch.cuda.is_available(), reason="FlexAttention has no backward on CPU"
            ),
        ),
    ],
)
def test_gradients_flow_through_the_engine(backend):
    """What fine-tuning needs: next-token logits and scoring-layer log masses, differentiable."""
    model = _tiny("llama").float().train()
    structure = STRUCTURE
    ids = _ids(structure)
    engine = InContextEngine(model, backend=backend)
    last = structure.total_length - 1
    out = engine.run(
        ids, structure, signal_rows=[last], layers=[2], stop=False, logits_rows=[last - 1, last]
    )
    contrastive = -torch.log_softmax(out.logmass[2] / 0.05, dim=-1)[..., 0].mean()
    next_token = torch.nn.functional.cross_entropy(out.logits, ids[-2:])
    (next_token + 0.1 * contrastive).backward()
    q_grad = model.model.layers[2].self_attn.q_proj.weight.grad
    assert q_grad is not None and q_grad.abs().sum() > 0  # reached through the log masses
    assert model.model.layers[3].mlp.up_proj.weight.grad.abs().sum() > 0
    model.zero_grad()
    model.eval()
