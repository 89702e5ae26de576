"""Prompt layout: blocks, segments, position ids, truncation and signal tokens."""

from __future__ import annotations

import logging

import pytest
from transformers import AutoTokenizer

from ctx_core.incontext import PromptTemplate
from ctx_core.incontext.layout import PromptBuilder


@pytest.fixture(scope="module")
def tokenizer(tiny_llama_dir):
    return AutoTokenizer.from_pretrained(tiny_llama_dir)


PASSAGES = [
    "Paris is the capital of France.",
    "Bananas are yellow.",
    "The Eiffel Tower is in Paris and was finished in 1889.",
]


def _decode(tokenizer, ids):
    return tokenizer.decode(list(ids))


def test_blocks_segments_and_positions(tokenizer):
    builder = PromptBuilder(tokenizer, query_offset=1000)
    prompt = builder.build("Where is the Eiffel Tower?", PASSAGES, calibrate=True)
    s = prompt.structure
    ids = prompt.input_ids
    assert len(ids) == s.total_length
    assert s.num_candidates == 3 and len(s.query_lengths) == 2

    instruction = _decode(tokenizer, ids[: s.instruction_length])
    assert instruction.startswith("<|im_start|>system")  # the chat template's opening
    assert "Query: Where is the Eiffel Tower?" in instruction
    for i, text in enumerate(PASSAGES):
        a, b = s.candidate_span(i)
        block = _decode(tokenizer, ids[a:b])
        assert block == f"\nID: [{i + 1}]\n{text}\nEND ID: [{i + 1}]"
    query_block = _decode(tokenizer, ids[slice(*s.query_span(0))])
    assert "Query: Where is the Eiffel Tower?" in query_block
    assert query_block.endswith("<|im_start|>assistant\nThe most relevant passage is ID: [")
    calibration = _decode(tokenizer, ids[slice(*s.query_span(1))])
    assert "Query: N/A" in calibration and "Eiffel" not in calibration

    positions = s.position_ids().tolist()
    L = s.instruction_length
    assert positions[:L] == list(range(L))
    for i in range(3):  # every candidate restarts right after the instruction
        a, b = s.candidate_span(i)
        assert positions[a:b] == list(range(L, L + b - a))
    for j in range(2):
        a, b = s.query_span(j)
        assert positions[a:b] == list(range(1000, 1000 + b - a))


def test_signal_tokens(tokenizer):
    prompt = PromptBuilder(tokenizer).build("Where is Paris?", PASSAGES, calibrate=True)
    _a, b = prompt.structure.query_span(0)
    assert prompt.signal_rows(3, 0) == list(range(b - 3, b))
    assert _decode(tokenizer, [prompt.input_ids[i] for i in prompt.signal_rows("query", 0)]) == (
        "Where is Paris?"
    )
    assert _decode(tokenizer, [prompt.input_ids[i] for i in prompt.signal_rows("query", 1)]) == (
        "N/A"
    )
    assert (
        _decode(tokenizer, [prompt.input_ids[i] for i in prompt.signal_rows(1, 1)]).strip() == "["
    )
    with pytest.raises(ValueError, match="signal"):
        prompt.signal_rows(0)


def test_long_passages_are_cut_with_a_warning(tokenizer, caplog):
    builder = PromptBuilder(tokenizer, max_block_tokens=24)
    long_text = "word " * 200
    with caplog.at_level(logging.WARNING, logger="ctx_core.incontext.layout"):
        prompt = builder.build("q?", ["short one", long_text], labels=["a", "b"])
    assert prompt.truncated == (False, True)
    assert prompt.structure.candidate_lengths[1] == 24
    block = _decode(tokenizer, prompt.input_ids[slice(*prompt.structure.candidate_span(1))])
    assert block.startswith("\nID: [b]\n") and block.endswith("\nEND ID: [b]")
    assert "cut to max_block_tokens=24" in caplog.text and "b" in caplog.text


def test_query_offset_respects_the_model_context(tokenizer):
    builder = PromptBuilder(tokenizer, query_offset=8192, max_positions=600)
    prompt = builder.build("q?", PASSAGES)
    s = prompt.structure
    assert s.max_position() == 599
    # a small offset still puts the query after the longest possible block
    builder = PromptBuilder(tokenizer, query_offset=1, max_block_tokens=50)
    s = builder.build("q?", PASSAGES).structure
    assert s.query_offset == s.instruction_length + 50


def test_plain_text_layout_and_template_validation(tokenizer):
    template = PromptTemplate(
        instruction="Passages for: {query}",
        candidate="\n<{label}> {content}",
        query="\nQ: {query}",
        answer="\nBest:",
    )
    builder = PromptBuilder(tokenizer, template=template, use_chat_template=False)
    prompt = builder.build("why?", ["one", "two"])
    assert (
        _decode(tokenizer, prompt.input_ids)
        == "Passages for: why?\n<1> one\n<2> two\nQ: why?\nBest:"
    )
    with pytest.raises(ValueError, match="content"):
        PromptTemplate(candidate="no placeholder")
    with pytest.raises(ValueError, match="query"):
        PromptTemplate(query="no placeholder")
    with pytest.raises(ValueError, match="labels"):
        builder.build("q", ["a"], labels=["1", "2"])
    with pytest.raises(ValueError, match="max_block_tokens"):
        PromptBuilder(tokenizer, max_block_tokens=2)
