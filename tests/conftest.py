"""Shared fixtures: real packaged models, loaded once per test session."""

from __future__ import annotations

import os

import pytest

# Tests never reach a model hub: everything loads from packages or from files the tests write.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def embedder():
    from ctx_core.embeddings import Embedder

    return Embedder()


@pytest.fixture(scope="session")
def embedding_scorer(embedder):
    from ctx_core.scoring import EmbeddingScorer

    return EmbeddingScorer(embedder)


@pytest.fixture(scope="session")
def smollm2():
    from ctx_core.llm import TransformersLLM

    return TransformersLLM("smollm2", batch_size=4)


class RecordingScorer:
    """A real scorer (word overlap) that records how often it is called."""

    name = "overlap"

    def __init__(self) -> None:
        self.calls = 0

    def score(self, query, passages):
        from ctx_core.types import ensure_passages

        self.calls += 1
        words = set(query.lower().split())
        return [
            float(len(words & set(p.text.lower().rstrip(".").split())))
            for p in ensure_passages(passages)
        ]

    async def ascore(self, query, passages):
        return self.score(query, passages)


@pytest.fixture
def overlap_scorer():
    return RecordingScorer()


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory):
    """A randomly initialized 2-layer Llama with SmolLM2's tokenizer and chat template, saved to disk."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from ctx_core.models import resolve_llm

    tokenizer = AutoTokenizer.from_pretrained(resolve_llm("smollm2"))
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        initializer_range=0.3,  # larger weights: outputs that differ visibly between inputs
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    path = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
