"""Fine-tuning for in-context ranking on a tiny random model and a synthetic task (CPU, fast).

The synthetic task: the query is one word, each candidate is "the <word>", the positive is
the candidate with the query's word. A word-level tokenizer built in memory keeps the model
tiny (a 2-layer Llama with a 40-word vocabulary).
"""

from __future__ import annotations

import random

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from ctx_core.incontext.engine import InContextEngine
from ctx_core.incontext.layout import PromptBuilder, PromptTemplate
from ctx_core.incontext.scoring import scores_from_logmass
from ctx_core.incontext.train import (
    TrainConfig,
    TrainingExample,
    contrastive_loss,
    fine_tune,
    ranking_loss,
)

WORDS = [
    "apple",
    "river",
    "stone",
    "cloud",
    "piano",
    "tiger",
    "lemon",
    "candle",
    "rocket",
    "forest",
    "silver",
    "garden",
]
TEMPLATE = PromptTemplate(
    instruction="find : {query}",
    candidate=" id [{label}] {content} end",
    query=" which ? {query}",
    answer=" best [",
)


@pytest.fixture(scope="module")
def tokenizer():
    base = [
        "[UNK]",
        "[PAD]",
        "find",
        ":",
        "which",
        "?",
        "best",
        "[",
        "]",
        "id",
        "end",
        "the",
        "N",
        "/",
        "A",
    ]
    vocab = {w: i for i, w in enumerate(base + [str(i) for i in range(10)] + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]")


def _model(tokenizer, seed=0):
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=16384,
    )
    return LlamaForCausalLM(config)


def _example(rng: random.Random, n: int = 4) -> TrainingExample:
    words = rng.sample(WORDS, n)
    q = rng.randrange(n)
    return TrainingExample(words[q], [f"the {w}" for w in words], [q])


def _evaluate(model, tokenizer, examples, layer, signal):
    engine = InContextEngine(model, backend="sdpa")
    builder = PromptBuilder(tokenizer, template=TEMPLATE, max_block_tokens=16)
    ranks = []
    for ex in examples:
        prompt = builder.build(ex.query, list(ex.passages))
        with torch.no_grad():
            out = engine.run(
                prompt.input_ids,
                prompt.structure,
                signal_rows=prompt.signal_rows(signal, 0),
                layers=[layer],
            )
        order = torch.argsort(scores_from_logmass(out.logmass[layer]), descending=True).tolist()
        ranks.append(order.index(ex.positives[0]))
    return sum(r == 0 for r in ranks) / len(ranks), sum(ranks) / len(ranks)


def test_contrastive_loss_with_several_positives():
    scores = torch.tensor([0.5, 0.3, 0.2])
    one = contrastive_loss(scores, [0], temperature=0.05)
    both = contrastive_loss(scores, [0, 1], temperature=0.05)
    assert 0 < float(both) < float(one)  # a second positive only adds to the numerator
    expected = -torch.log_softmax(scores / 0.05, -1)[0]
    assert torch.allclose(one, expected)
    assert float(contrastive_loss(scores, [0, 1, 2])) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="positives"):
        contrastive_loss(scores, [])
    with pytest.raises(ValueError, match="temperature"):
        contrastive_loss(scores, [0], temperature=0)


def test_training_example_validation():
    with pytest.raises(ValueError, match="positives"):
        TrainingExample("q", ["a", "b"], [])
    with pytest.raises(ValueError, match="out of range"):
        TrainingExample("q", ["a", "b"], [2])
    with pytest.raises(ValueError, match="query"):
        TrainingExample(" ", ["a"], [0])


def test_training_scores_are_the_inference_scores(tokenizer):
    """Appending the answer leaves the signal rows' attention untouched (causal)."""
    model = _model(tokenizer).eval()
    engine = InContextEngine(model, backend="sdpa")
    builder = PromptBuilder(tokenizer, template=TEMPLATE, max_block_tokens=16)
    example = _example(random.Random(3))
    config = TrainConfig(scoring_layer=1, max_candidates=4)
    with torch.no_grad():
        loss, parts = ranking_loss(
            engine, builder, example, layer=1, config=config, rng=random.Random(7)
        )
    # Rebuild the same shuffled list the loss saw and score it the inference way.
    rng = random.Random(7)
    negatives = [i for i in range(4) if i not in example.positives]
    keep = rng.sample(list(example.positives), 1)
    rng.shuffle(negatives)
    chosen = keep + negatives
    rng.shuffle(chosen)
    prompt = builder.build(example.query, [example.passages[i] for i in chosen])
    with torch.no_grad():
        out = engine.run(
            prompt.input_ids, prompt.structure, signal_rows=prompt.signal_rows(1, 0), layers=[1]
        )
    scores = scores_from_logmass(out.logmass[1])
    positive = chosen.index(example.positives[0])
    expected_aux = contrastive_loss(scores, [positive], temperature=0.05)
    assert parts["aux_loss"] == pytest.approx(float(expected_aux), rel=1e-5)
    assert parts["tokens"] > prompt.structure.total_length  # the answer was appended
    assert torch.isfinite(loss)


def test_gradients_reach_the_scoring_layer(tokenizer):
    model = _model(tokenizer)
    engine = InContextEngine(model, backend="sdpa")
    builder = PromptBuilder(tokenizer, template=TEMPLATE, max_block_tokens=16)
    config = TrainConfig(scoring_layer=1, aux_weight=1.0)
    loss, _ = ranking_loss(
        engine, builder, _example(random.Random(0)), layer=1, config=config, rng=random.Random(0)
    )
    loss.backward()
    for name in ("q_proj", "k_proj"):
        grad = getattr(model.model.layers[1].self_attn, name).weight.grad
        assert grad is not None and float(grad.abs().sum()) > 0


def test_fine_tuning_lowers_the_auxiliary_loss_and_improves_ranking(tokenizer):
    torch.set_num_threads(1)
    model = _model(tokenizer)
    train = [_example(random.Random(i)) for i in range(300)]
    held_out = [_example(random.Random(10_000 + i)) for i in range(50)]
    # Scoring at layer 0 from the query's own tokens: a tiny random model learns this in
    # 100 steps (reading it through the last token needs a two-layer circuit, far slower).
    layer, signal = 0, "query"
    before = _evaluate(model, tokenizer, held_out, layer, signal)
    model.eval()
    config = TrainConfig(
        steps=100,
        lr=1e-2,
        max_block_tokens=16,
        scoring_layer=layer,
        signal_tokens=signal,
        warmup_steps=5,
        log_every=0,
    )
    result = fine_tune(model, tokenizer, train, config, backend="sdpa", template=TEMPLATE)
    assert len(result.history) == 100 and result.layer == 0
    first = sum(r.aux_loss for r in result.history[:20]) / 20
    last = sum(r.aux_loss for r in result.history[-20:]) / 20
    assert last < 0.7 * first
    after = _evaluate(model, tokenizer, held_out, layer, signal)
    assert after[0] >= before[0] + 0.3  # top-1 accuracy on held-out lists
    assert after[1] < before[1]  # mean rank of the positive
    assert not model.training  # left in the mode it came in


def test_fine_tune_validation(tokenizer):
    model = _model(tokenizer)
    with pytest.raises(ValueError, match="examples"):
        fine_tune(model, tokenizer, [])
    with pytest.raises(ValueError, match="steps"):
        fine_tune(model, tokenizer, [_example(random.Random(0))], TrainConfig(steps=0))
