"""ICR's own scoring: whole-sequence attention per token, all layers, masked calibration."""

from __future__ import annotations

import pytest
import torch

from ctx_core import Passage
from ctx_core.incontext import InContextRanker
from ctx_core.incontext.scoring import icr_scores

PASSAGES = [
    Passage("Paris is the capital of France.", id="p1"),
    Passage("Bananas are yellow.", id="p2"),
    Passage("The Eiffel Tower is in Paris.", id="p3"),
    Passage("Berlin is the capital of Germany.", id="p4"),
]
QUERY = "What is the capital of France?"


def test_token_mass_is_the_models_own_attention_in_a_causal_prompt(tiny_llama_dir):
    """Oracle: transformers' eager attention weights of the same causal prompt."""
    from transformers import AutoModelForCausalLM

    ranker = InContextRanker(
        str(tiny_llama_dir), device="cpu", dtype="float32", attention="causal",
        calibrate=False, scoring_layer="all", signal_tokens=1,
    )  # fmt: skip
    details = ranker.explain(QUERY, PASSAGES, token_mass=True)
    assert ranker.layers == [0, 1]
    prompt = ranker.builder.build(
        QUERY, [p.text for p in PASSAGES], [str(i + 1) for i in range(4)],
        calibrate=False, causal=True,
    )  # fmt: skip
    (row,) = prompt.signal_rows(1, 0)
    model = AutoModelForCausalLM.from_pretrained(
        str(tiny_llama_dir), attn_implementation="eager", dtype=torch.float32
    )
    ids = torch.tensor([prompt.input_ids[: row + 1]])
    with torch.no_grad():
        attentions = model(ids, output_attentions=True).attentions
    expected = sum(a[0, :, row] for a in attentions)  # (H, T): summed over both layers
    for i, mass in enumerate(details.token_mass):
        start, end = prompt.structure.candidate_span(i)
        assert mass.shape == (4, end - start)
        assert torch.allclose(mass, expected[:, start:end], atol=1e-5)
    # Whole-sequence probabilities: the candidates hold part of each layer's mass, not all.
    total = sum(m.sum(1) for m in details.token_mass)
    assert bool((total < 2.0).all()) and bool((total > 0).all())


def test_candidate_share_of_token_mass_is_the_block_rank_softmax(tiny_llama_dir):
    ranker = InContextRanker(str(tiny_llama_dir), device="cpu", scoring_layer=1, signal_tokens=1)
    d = ranker.explain(QUERY, PASSAGES, token_mass=True)
    per_candidate = torch.stack([m.sum(1) for m in d.token_mass], dim=-1)  # (H, N)
    share = per_candidate / per_candidate.sum(-1, keepdim=True)
    block_rank = torch.softmax(d.logmass[0, :, 0, :], dim=-1)  # one layer, one signal token
    assert torch.allclose(share, block_rank, atol=1e-5)
    assert d.calibration_token_mass is not None and len(d.calibration_token_mass) == 4
    plain = ranker.explain(QUERY, PASSAGES)
    assert plain.token_mass is None and plain.scores == pytest.approx(d.scores, abs=1e-6)


def test_token_mass_needs_one_pass(tiny_llama_dir):
    ranker = InContextRanker(str(tiny_llama_dir), device="cpu", max_pass_candidates=3, anchors=1)
    with pytest.raises(ValueError, match="one pass"):
        ranker.explain(QUERY, PASSAGES, token_mass=True)
    with pytest.raises(ValueError, match="scoring_layer"):
        InContextRanker(str(tiny_llama_dir), scoring_layer="middle")


def test_masked_calibration_drops_only_outlier_tokens():
    query = [torch.tensor([[0.1] * 19 + [0.0]]), torch.tensor([[0.3, 0.1]])]
    content_free = [torch.tensor([[0.0] * 19 + [2.0]]), torch.tensor([[0.1, 0.1]])]
    plain = icr_scores(query, content_free, masked=False)
    masked = icr_scores(query, content_free, masked=True)
    assert plain.tolist() == pytest.approx([1.9 - 2.0, 0.2])
    # The -2.0 token lies far below mean - 2 std and is dropped; the 2-token candidate keeps both.
    assert masked.tolist() == pytest.approx([1.9, 0.2])
    assert icr_scores(query, masked=False).tolist() == pytest.approx([1.9, 0.4])  # uncalibrated
    two_heads = [torch.stack([q[0], 2 * q[0]]) for q in query]
    assert icr_scores(two_heads, heads=[1], masked=False).tolist() == pytest.approx([3.8, 0.8])
    with pytest.raises(ValueError, match="calibration"):
        icr_scores(query, masked=True)
    with pytest.raises(ValueError, match="heads"):
        icr_scores(two_heads, heads=[2], masked=False)
