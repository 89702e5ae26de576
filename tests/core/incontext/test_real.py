"""The packaged SmolLM2-135M-Instruct and Gemma-3-270M load and rank (slow: real models)."""

import math

import pytest
import torch

from ctx_core import Passage
from ctx_core.incontext import InContextRanker

pytestmark = pytest.mark.slow

PASSAGES = [
    Passage("Paris is the capital and largest city of France.", id="paris"),
    Passage("Bananas are yellow fruits that grow in tropical climates.", id="banana"),
    Passage("Mount Everest is the highest mountain on Earth.", id="everest"),
    Passage("Berlin is the capital of Germany.", id="berlin"),
]
QUERY = "What is the capital of France?"


@pytest.mark.parametrize(("model", "layer", "heads"), [("smollm2", 18, 9), ("gemma3-270m", 11, 4)])
def test_packaged_models_load_and_rank(model, layer, heads):
    ranker = InContextRanker(model)
    details = ranker.explain(QUERY, PASSAGES)
    assert details.layers == [layer] and details.passes == 1
    assert details.logmass.shape[:2] == (1, heads)
    assert all(math.isfinite(s) for s in details.scores)
    assert abs(sum(details.raw) - 1) < 1e-3
    assert len(set(details.raw)) == 4
    ranked = ranker.score(QUERY, PASSAGES)
    assert ranked == details.scores  # deterministic
    # Exact on the real model too: the memory-efficient backend equals the dense reference.
    reference = InContextRanker(model, backend="reference").explain(QUERY, PASSAGES)
    torch.testing.assert_close(
        reference.logmass.float(), details.logmass.float(), rtol=0, atol=2e-3
    )


def test_gemma_global_scoring_layer_and_window():
    ranker = InContextRanker("gemma3-270m")
    config = ranker.engine.model.config
    assert config.layer_types[ranker.layers[0]] == "full_attention"
    assert config.sliding_window == 512


def test_sharing_the_model_with_transformers_llm_changes_nothing(smollm2):
    prompts = ["Is Paris in France? Answer yes or no."]
    before = smollm2.next_token_logprobs(prompts, ["yes", "no"])
    InContextRanker("smollm2").score(QUERY, PASSAGES)  # switches the shared model's attention
    after = smollm2.next_token_logprobs(prompts, ["yes", "no"])
    assert before == after
