import pytest

from ctx_core.tokens import TokenCounter, default_counter


def test_cl100k_counts_offline():
    counter = default_counter()
    assert counter.count("Hello world") == 2
    assert counter.count("") == 0
    assert counter.name == "cl100k_base"


def test_truncate_keeps_a_prefix_within_budget():
    counter = TokenCounter()
    text = "The quick brown fox jumps over the lazy dog."
    cut = counter.truncate(text, 4)
    assert text.startswith(cut) and counter.count(cut) == 4
    assert counter.truncate(text, 100) == text
    with pytest.raises(ValueError, match="max_tokens"):
        counter.truncate(text, -1)


def test_counter_with_a_model_tokenizer():
    from transformers import AutoTokenizer

    from ctx_core.models import resolve_embedder

    counter = TokenCounter(tokenizer=AutoTokenizer.from_pretrained(resolve_embedder()))
    assert counter.count("hello world") == 2
    assert counter.truncate("hello big world", 2) == "hello big"
