"""InContextRanker on a tiny random Llama (fast): contract, passes, calibration, options."""

from __future__ import annotations

import pytest
import torch

from ctx_core import Passage, Reranker
from ctx_core.incontext import InContextRanker
from ctx_core.incontext.passes import plan_passes
from ctx_core.incontext.scoring import (
    PassLogmass,
    combine_passes,
    normalize_length,
    scores_from_logmass,
)
from ctx_core.scoring import Scorer
from ctx_core.scoring.registry import build_scorer

PASSAGES = [
    Passage("Paris is the capital of France.", id="p1", metadata={"src": "a"}),
    Passage("Bananas are yellow.", id="p2"),
    Passage("The Eiffel Tower is in Paris.", id="p3"),
    Passage("Berlin is the capital of Germany.", id="p4"),
    Passage("Mount Everest is the highest mountain.", id="p5"),
    Passage("The Seine flows through Paris.", id="p6"),
    Passage("Tokyo is in Japan.", id="p7"),
]
QUERY = "What is the capital of France?"


@pytest.fixture(scope="module")
def ranker(tiny_llama_dir):
    return InContextRanker(str(tiny_llama_dir), device="cpu")


def test_is_a_scorer_and_loads_lazily(tiny_llama_dir):
    ranker = InContextRanker(str(tiny_llama_dir), device="cpu")
    assert isinstance(ranker, Scorer)
    assert ranker.score(QUERY, []) == []
    assert ranker._engine is None  # empty input: no model loaded
    scores = ranker.score(QUERY, PASSAGES)
    assert len(scores) == len(PASSAGES) and all(isinstance(x, float) for x in scores)
    assert ranker.layers == [1]  # default: ceil(0.6 x 2 layers), capped at the last


def test_explain_parts_add_up(ranker):
    d = ranker.explain(QUERY, PASSAGES)
    assert d.passes == 1 and d.layers == [1]
    assert abs(sum(d.raw) - 1) < 1e-5 and abs(sum(d.calibration) - 1) < 1e-5
    for s, r, c in zip(d.scores, d.raw, d.calibration, strict=True):
        assert abs(s - (r - c)) < 1e-6
    assert d.tokens > sum(d.token_counts) and d.seconds > 0
    assert d.logmass.shape[-1] == len(PASSAGES)
    assert len(set(d.raw)) == len(PASSAGES)  # the candidates really differ


def test_uncalibrated_scores_are_the_raw_attention(tiny_llama_dir):
    ranker = InContextRanker(str(tiny_llama_dir), calibrate=False)
    d = ranker.explain(QUERY, PASSAGES)
    assert d.calibration is None and d.scores == d.raw


def test_ids_as_labels_make_scores_exactly_permutation_equivariant(tiny_llama_dir):
    ranker = InContextRanker(str(tiny_llama_dir), labels="id")
    order = [4, 2, 6, 0, 1, 5, 3]
    a = ranker.score(QUERY, PASSAGES)
    b = ranker.score(QUERY, [PASSAGES[i] for i in order])
    for got, i in zip(b, order, strict=True):
        assert abs(got - a[i]) < 1e-6


def test_several_passes(tiny_llama_dir):
    whole = InContextRanker(str(tiny_llama_dir)).explain(QUERY, PASSAGES)
    split = InContextRanker(str(tiny_llama_dir), max_pass_candidates=3, anchors=1)
    d = split.explain(QUERY, PASSAGES)
    assert d.passes == 3  # [0, 1, 2], [0, 3, 4], [0, 5, 6]
    assert abs(sum(d.raw) - 1) < 1e-5
    # Same candidates, different company in the final block's view: close, not identical.
    diff = max(abs(x - y) for x, y in zip(d.raw, whole.raw, strict=True))
    assert 0 < diff < 0.2
    with pytest.raises(ValueError, match="anchors"):
        InContextRanker(str(tiny_llama_dir), max_pass_candidates=3, anchors=0).score(
            QUERY, PASSAGES
        )


def test_passes_put_per_pass_offsets_on_one_scale():
    """Passes whose log masses differ by a per-pass constant combine to the one-pass answer."""
    torch.manual_seed(0)
    truth = torch.randn(2, 3, 1, 7)  # (layers, heads, signals, candidates)
    groups, anchors = plan_passes([10] * 7, budget=35, anchors=2)
    assert anchors == [0, 1] and all(g[:2] == [0, 1] for g in groups)
    passes = [
        PassLogmass(g, truth[..., g] + torch.randn(2, 3, 1, 1) * 5)  # arbitrary pass offset
        for g in groups
    ]
    combined = combine_passes(passes, 7, anchors)
    torch.testing.assert_close(scores_from_logmass(combined), scores_from_logmass(truth))
    single = combine_passes([PassLogmass(list(range(7)), truth + 3.0)], 7)
    torch.testing.assert_close(scores_from_logmass(single), scores_from_logmass(truth))


def test_heads_layers_and_length_options(tiny_llama_dir):
    d_all = InContextRanker(str(tiny_llama_dir), scoring_layer=[0, 1]).explain(QUERY, PASSAGES)
    assert d_all.layers == [0, 1] and d_all.logmass.shape[:2] == (2, 4)
    d_head = InContextRanker(str(tiny_llama_dir), scoring_layer=-1, heads=[2]).explain(
        QUERY, PASSAGES
    )
    expected = torch.softmax(d_all.logmass[1:, 2:3], -1).mean((0, 1, 2))
    assert torch.allclose(torch.tensor(d_head.raw), expected.float(), atol=1e-6)
    d_len = InContextRanker(str(tiny_llama_dir), length_normalization="length").explain(
        QUERY, PASSAGES
    )
    for s, r, c, n in zip(
        d_len.scores, d_len.raw, d_len.calibration, d_len.token_counts, strict=True
    ):
        assert abs(s - (r - c) / n) < 1e-6
    assert normalize_length(torch.tensor([4.0]), [4], "sqrt").item() == 2.0


def test_causal_baseline_reads_the_same_prompt(tiny_llama_dir):
    block = InContextRanker(str(tiny_llama_dir), calibrate=False).explain(QUERY, PASSAGES)
    causal = InContextRanker(str(tiny_llama_dir), attention="causal", calibrate=False).explain(
        QUERY, PASSAGES
    )
    assert causal.tokens == block.tokens
    assert abs(sum(causal.raw) - 1) < 1e-5 and causal.raw != block.raw


def test_signal_token_choices(tiny_llama_dir):
    a = InContextRanker(str(tiny_llama_dir), signal_tokens="query").explain(QUERY, PASSAGES)
    b = InContextRanker(str(tiny_llama_dir), signal_tokens=3).explain(QUERY, PASSAGES)
    assert a.logmass.shape[2] > 3 and b.logmass.shape[2] == 3


def test_reranker_and_registry(tiny_llama_dir):
    scorer = build_scorer("incontext", model=str(tiny_llama_dir))
    assert isinstance(scorer, InContextRanker)
    kept = Reranker(scorer, top_n=2).rerank(QUERY, PASSAGES)
    assert len(kept) == 2
    for p in kept:
        original = next(q for q in PASSAGES if q.id == p.id)
        assert p.text == original.text
        assert p.metadata["relevance_score"] == p.score
        assert all(p.metadata[k] == v for k, v in original.metadata.items())


def test_argument_validation(tiny_llama_dir):
    path = str(tiny_llama_dir)
    for bad in (
        {"attention": "dense"},
        {"labels": "title"},
        {"length_normalization": "log"},
        {"signal_tokens": 0},
        {"max_pass_tokens": 10},
        {"anchors": -1},
        {"heads": []},
    ):
        with pytest.raises(ValueError):
            InContextRanker(path, **bad)
    with pytest.raises(ValueError, match="tokenizer"):
        InContextRanker(object())
    with pytest.raises(ValueError, match="out of range"):
        InContextRanker(path, scoring_layer=5).score(QUERY, PASSAGES)
    with pytest.raises(ValueError, match="heads"):
        InContextRanker(path, heads=[9]).score(QUERY, PASSAGES)
    with pytest.raises(TypeError):
        InContextRanker(path).score(QUERY, [3])
