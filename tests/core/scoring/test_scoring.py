import asyncio
import logging

import numpy as np
import pytest

from ctx_core import Passage
from ctx_core.errors import ModelLoadError
from ctx_core.scoring import BaseScorer, CrossEncoderScorer, EmbeddingScorer, Scorer
from ctx_core.scoring.registry import build_scorer, register_scorer, scorer_names

DOCS = [
    Passage("Hamlet is a tragedy written by William Shakespeare.", id="hamlet"),
    Passage("The Thames flows through London.", id="thames"),
    Passage("Shakespeare was born in Stratford-upon-Avon.", id="born"),
]


class CountingScorer(BaseScorer):
    name = "length"

    def __init__(self):
        self.calls = 0

    def _score(self, query, passages):
        self.calls += 1
        return [float(len(p.text)) for p in passages]


def test_base_scorer_validates_and_skips_empty_input():
    scorer = CountingScorer()
    assert scorer.score("q", []) == []
    assert asyncio.run(scorer.ascore("q", [])) == []
    assert scorer.calls == 0
    with pytest.raises(ValueError, match="query"):
        scorer.score(" ", DOCS)
    with pytest.raises(ValueError, match="duplicate"):
        scorer.score("q", [DOCS[0], DOCS[0]])
    assert scorer.score("q", ["ab", "abc"]) == [2.0, 3.0]
    assert scorer.score_many(["a", "b"], [["x"], ["yy", "z"]]) == [[1.0], [2.0, 1.0]]
    with pytest.raises(ValueError, match="differ in length"):
        scorer.score_many(["a"], [])


def test_embedding_scorer_ranks_the_answer_first(embedding_scorer):
    assert isinstance(embedding_scorer, Scorer)
    scores = embedding_scorer.score("Who wrote Hamlet?", DOCS)
    assert int(np.argmax(scores)) == 0
    assert all(-1.0 <= s <= 1.0 for s in scores)


async def test_embedding_scorer_async_matches_sync(embedding_scorer):
    sync = embedding_scorer.score("Who wrote Hamlet?", DOCS)
    assert await embedding_scorer.ascore("Who wrote Hamlet?", DOCS) == pytest.approx(sync, abs=1e-6)


def test_long_passage_is_truncated_with_a_warning(embedding_scorer, caplog):
    long = Passage("word " * 400, id="very-long")
    with caplog.at_level(logging.WARNING, logger="ctx_core.embeddings"):
        [score] = embedding_scorer.score("word", [long])
    assert "very-long" in caplog.text and "truncated" in caplog.text
    assert np.isfinite(score)


def test_embedding_scorer_rejects_missing_model_path(tmp_path):
    with pytest.raises(ModelLoadError, match="no such file"):
        EmbeddingScorer(str(tmp_path / "missing" / "model"))


@pytest.fixture(scope="module")
def tiny_cross_encoder_dir(tmp_path_factory):
    """A small BERT cross-encoder built from a config, with MiniLM's tokenizer, saved to disk."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from ctx_core.models import resolve_embedder

    tokenizer = AutoTokenizer.from_pretrained(resolve_embedder())
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=1,
        initializer_range=0.5,
    )
    path = tmp_path_factory.mktemp("tiny-cross-encoder")
    BertForSequenceClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_cross_encoder_loads_through_the_real_code_path(tiny_cross_encoder_dir, caplog):
    scorer = CrossEncoderScorer(
        str(tiny_cross_encoder_dir), batch_size=2, max_length=32, backend="torch"
    )
    scores = scorer.score("who wrote hamlet", DOCS)
    assert len(scores) == 3 and len(set(scores)) == 3
    assert all(0.0 <= s <= 1.0 for s in scores)  # one label: sigmoid activation
    # Order-independent: each pair is scored on its own.
    reversed_scores = scorer.score("who wrote hamlet", DOCS[::-1])
    assert reversed_scores[::-1] == pytest.approx(scores, abs=1e-5)
    with caplog.at_level(logging.WARNING, logger="ctx_core.scoring.cross_encoder"):
        scorer.score("q", [Passage("word " * 100, id="long-one")])
    assert "long-one" in caplog.text


def test_cross_encoder_rejects_bad_model(tmp_path):
    with pytest.raises(ModelLoadError, match="no such file"):
        CrossEncoderScorer(str(tmp_path / "a" / "b"))
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelLoadError, match="could not load cross-encoder"):
        CrossEncoderScorer(str(tmp_path))


def test_registry_builds_by_name():
    assert {"embedding", "cross-encoder", "cohere"} <= set(scorer_names())
    assert build_scorer("embedding").name == "embedding"
    register_scorer("length-test", CountingScorer)
    assert build_scorer("length-test").score("q", ["abc"]) == [3.0]
    with pytest.raises(ValueError, match="unknown scorer"):
        build_scorer("nope")
