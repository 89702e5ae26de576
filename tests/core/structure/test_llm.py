import re

import pytest

from ctx_core.llm import BaseLLM
from ctx_core.structure import HeuristicStructurizer, LLMStructurizer
from ctx_core.structure.parse import StructureParseError, parse_structure
from ctx_core.structure.prompts import number_sentences, structure_messages
from ctx_core.structure.sentences import split_sentences

from .faithfulness import assert_faithful
from .structure_texts import TOPICS

SENTENCES = [s.text for s in split_sentences(TOPICS)]  # 12 sentences, 3 topics of 4

GOOD = """scope: rainforest, jazz and photosynthesis
aspects:
  - name: the Amazon rainforest
    sentences: 1-4
  - name: origins of jazz
    sentences: 5-8
  - name: photosynthesis
    sentences: 9-12
"""


class ScriptedLLM(BaseLLM):
    """A core LLM that answers with prepared strings (a function of the prompt) and records prompts."""

    model_name = "scripted"

    def __init__(self, answer):
        self.answer = answer
        self.prompts = []

    def complete(self, prompt, *, max_tokens=256, temperature=0.0, stop=None):
        self.prompts.append(prompt)
        return self.answer(prompt) if callable(self.answer) else self.answer


def last_user(prompt):
    return prompt[-1]["content"] if isinstance(prompt, list) else prompt


def sentence_count(prompt):
    match = re.search(r"text of (\d+) sentences", last_user(prompt))
    return int(match.group(1)) if match else 0


# -- the parser on prepared answers -------------------------------------------


def test_clean_answer_parses_without_repairs():
    parsed = parse_structure(GOOD, SENTENCES)
    assert parsed.repairs == []
    assert parsed.scope == "rainforest, jazz and photosynthesis"
    assert [a.sentences for a in parsed.aspects] == [
        (0, 1, 2, 3),
        (4, 5, 6, 7),
        (8, 9, 10, 11),
    ]


@pytest.mark.parametrize(
    ("answer", "ranges", "repair"),
    [
        # A fenced block with chatter around it and every range spelling.
        (
            "Sure! Here it is:\n```yaml\nScope: topics\nAspects:\n  - AspectName: a\n"
            "    SentenceRange: {start: 1, end: 4}\n  - name: b\n    sentences: [5, 8]\n"
            "  - name: c\n    sentences: 9 to 12\n```\nAnything else?",
            [(0, 1, 2, 3), (4, 5, 6, 7), (8, 9, 10, 11)],
            None,
        ),
        # Overlap: the later aspect starts after the earlier one ends.
        (
            "scope: x\naspects:\n  - name: a\n    sentences: 1-5\n  - name: b\n    sentences: 4-12",
            [(0, 1, 2, 3, 4), (5, 6, 7, 8, 9, 10, 11)],
            "overlap",
        ),
        # Small gaps are given to the aspect before; the end is clipped.
        (
            "scope: x\naspects:\n  - name: a\n    sentences: 2-4\n  - name: b\n    sentences: 7-30",
            [(0, 1, 2, 3, 4, 5), (6, 7, 8, 9, 10, 11)],
            "gave sentences",
        ),
        # Truncated mid-way through the last aspect, with a small tail missing.
        (
            "scope: x\naspects:\n  - name: a\n    sentences: 1-6\n  - name: b\n    sentences: 7-10\n  - name: c\n    sent",
            [(0, 1, 2, 3, 4, 5), (6, 7, 8, 9, 10, 11)],
            "unparsable trailing",
        ),
    ],
)
def test_repairs(answer, ranges, repair):
    parsed = parse_structure(answer, SENTENCES)
    assert [a.sentences for a in parsed.aspects] == ranges
    if repair is None:
        assert parsed.repairs == []
    else:
        assert any(repair in r for r in parsed.repairs), parsed.repairs


def test_sub_aspects_are_fitted_inside_their_parent():
    answer = (
        "scope: x\naspects:\n  - name: nature\n    sentences: 1-4\n    subaspects:\n"
        "      - name: where\n        sentences: 1-2\n      - name: what\n        sentences: 3-3\n"
        "  - name: rest\n    sentences: 5-12\n    subaspects:\n"
        "      - name: jazz\n        sentences: 6-8\n      - name: plants\n        sentences: 9-12\n"
    )
    parsed = parse_structure(answer, SENTENCES)
    nature, rest = parsed.aspects
    # The one-sentence sub-aspect merges into its neighbour; one sub-aspect left is flattened.
    assert nature.sentences == (0, 1, 2, 3) and nature.subaspects == ()
    # Sentence 5 is the parent's lead; sub-aspects cover the rest.
    assert rest.sentences == (4,)
    assert [s.sentences for s in rest.subaspects] == [(5, 6, 7), (8, 9, 10, 11)]


def test_missing_names_and_scope_come_from_key_phrases():
    answer = "aspects:\n  - sentences: 1-4\n  - name: ''\n    sentences: 5-12\n"
    parsed = parse_structure(answer, SENTENCES)
    assert "Amazon" in parsed.aspects[0].name
    assert parsed.scope and any("scope" in r for r in parsed.repairs)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("I cannot help with that.", "no YAML"),
        ("scope: x\naspects: none", "no aspect"),
        (
            "scope: x\naspects:\n  - name: a\n    sentences: 1-4",
            "sentences 5-12 of 12 are in no aspect",
        ),
        ("scope: x\naspects:\n  - name: a\n    sentences: 12-1", "no aspect"),
        (
            "scope: honeybee colonies\naspects:\n  - name: a\n    sentences: 1-12",
            "copies a worked example",
        ),
        ("scope: [unclosed\naspects:\n  - {{{", "does not parse"),
    ],
)
def test_unusable_answers_are_rejected(answer, message):
    with pytest.raises(StructureParseError, match=message):
        parse_structure(answer, SENTENCES)


# -- the structurizer ------------------------------------------------------------


@pytest.fixture
def heuristic(embedder):
    return HeuristicStructurizer(embedder)


def test_llm_structure_is_used_and_faithful(heuristic):
    llm = ScriptedLLM(GOOD)
    s = LLMStructurizer(llm, fallback=heuristic).structurize(TOPICS)
    assert s.metadata == {"structurizer": "llm", "model": "scripted", "chunks": 1}
    assert [a.name for a in s.aspects] == [
        "the Amazon rainforest",
        "origins of jazz",
        "photosynthesis",
    ]
    assert_faithful(s)
    prompt = llm.prompts[0]
    assert prompt[0]["role"] == "system" and len(prompt) == 6  # system, 2 worked examples, the text
    assert number_sentences(SENTENCES) in prompt[-1]["content"]


@pytest.mark.parametrize(
    "answer",
    [
        "",
        "I think this text is about many things.",
        GOOD[:60],  # truncated right after the first aspect's name
        "scope: x\naspects:\n  - name: a\n    sentences: 1-3",  # most sentences lost
        "```yaml\nscope: x\naspects:\n  - name: a\n    sentences: 1-\n",  # cut inside a range
    ],
)
def test_invalid_or_truncated_answer_falls_back_cleanly(heuristic, answer):
    s = LLMStructurizer(ScriptedLLM(answer), fallback=heuristic).structurize(TOPICS)
    assert s.metadata["structurizer"] == "heuristic"
    assert s.metadata["fallbacks"][0]["chunk"] == 0 and s.metadata["fallbacks"][0]["reason"]
    assert s == heuristic.structurize(TOPICS)  # same tree as the heuristic's own
    assert_faithful(s)


def test_repaired_answer_records_its_repairs(heuristic):
    answer = "scope: x\naspects:\n  - name: a\n    sentences: 1-5\n  - name: b\n    sentences: 7-12"
    s = LLMStructurizer(ScriptedLLM(answer), fallback=heuristic).structurize(TOPICS)
    assert s.metadata["structurizer"] == "llm"
    assert s.metadata["repairs"] == ["gave sentences 6-6 to 'a'"]
    assert_faithful(s)


def pairs_answer(prompt):
    """Aspects of two sentences each (the last one takes the odd sentence), or a merged scope."""
    n = sentence_count(prompt)
    if not n:
        return "Nature, music and plants\n"
    lines = [f"scope: part of {n}", "aspects:"]
    starts = list(range(1, n + 1, 2))
    for i, start in enumerate(starts):
        end = n if i == len(starts) - 1 else start + 1
        lines += [f"  - name: pair {start}", f"    sentences: {start}-{end}"]
    return "\n".join(lines)


def test_long_input_is_chunked_and_merged_under_one_scope(heuristic):
    long_text = "\n\n".join([TOPICS] * 6)  # 72 sentences
    llm = ScriptedLLM(pairs_answer)
    structurizer = LLMStructurizer(llm, fallback=heuristic, chunk_tokens=200)
    s = structurizer.structurize(long_text)
    chunks = s.metadata["chunks"]
    assert chunks >= 4
    structure_prompts = [p for p in llm.prompts if sentence_count(p)]
    assert len(structure_prompts) == chunks
    assert len(llm.prompts) == chunks + 1  # one more call names the merged scope
    assert s.scope == "Nature, music and plants"
    assert len(s.sentences) == 72 and sum(sentence_count(p) for p in structure_prompts) == 72
    assert_faithful(s)
    # Chunks are balanced and within budget.
    sizes = [sentence_count(p) for p in structure_prompts]
    assert max(sizes) - min(sizes) <= 4


def test_long_input_with_one_bad_chunk_mixes_llm_and_fallback(heuristic):
    long_text = "\n\n".join([TOPICS] * 4)
    calls = {"n": 0}

    def answer(prompt):
        if not sentence_count(prompt):
            return "scope:"  # unusable scope answer: key phrases instead
        calls["n"] += 1
        return "garbage" if calls["n"] == 2 else pairs_answer(prompt)

    s = LLMStructurizer(ScriptedLLM(answer), fallback=heuristic, chunk_tokens=200).structurize(
        long_text
    )
    assert s.metadata["structurizer"] == "llm+heuristic"
    assert [f["chunk"] for f in s.metadata["fallbacks"]] == [1]
    assert s.scope and s.scope != "scope:"
    assert_faithful(s)


async def test_async_uses_acomplete_and_matches_sync(heuristic):
    class AsyncOnly(ScriptedLLM):
        def complete(self, prompt, **kwargs):
            raise AssertionError("the async path must call acomplete")

        async def acomplete(self, prompt, **kwargs):
            self.prompts.append(prompt)
            return pairs_answer(prompt)

    long_text = "\n\n".join([TOPICS] * 3)
    llm = AsyncOnly(None)
    s = await LLMStructurizer(llm, fallback=heuristic, chunk_tokens=200).astructurize(long_text)
    sync = LLMStructurizer(ScriptedLLM(pairs_answer), fallback=heuristic, chunk_tokens=200)
    assert s == sync.structurize(long_text) and s.metadata["chunks"] > 1


def test_batches_go_through_complete_batch(heuristic):
    class Batching(ScriptedLLM):
        def complete_batch(self, prompts, **kwargs):
            self.batches = [*getattr(self, "batches", []), len(prompts)]
            return [self.complete(p, **kwargs) for p in prompts]

    llm = Batching(GOOD)
    out = LLMStructurizer(llm, fallback=heuristic, batch_size=2).structurize_many([TOPICS] * 3)
    assert llm.batches == [2, 1] and len(out) == 3


def test_bad_arguments():
    with pytest.raises(TypeError, match="llm must be an LLM"):
        LLMStructurizer(42)
    with pytest.raises(ValueError, match="chunk_tokens"):
        LLMStructurizer(ScriptedLLM(GOOD), chunk_tokens=1)
    with pytest.raises(TypeError, match="fallback must be a BaseStructurizer"):
        LLMStructurizer(ScriptedLLM(GOOD), fallback="heuristic")
    with pytest.raises(ValueError, match="text must contain some text"):
        LLMStructurizer(ScriptedLLM(GOOD)).structurize("")


def test_prompt_without_examples():
    messages = structure_messages(["One.", "Two."], examples=False)
    assert [m["role"] for m in messages] == ["system", "user"]


@pytest.mark.slow
def test_real_smollm2_output_is_validated_or_falls_back(smollm2, heuristic):
    texts = [TOPICS, "The Nile is a river in Africa. It flows north into the Mediterranean Sea."]
    structures = LLMStructurizer(smollm2, fallback=heuristic).structurize_many(texts)
    for s in structures:
        assert s.metadata["structurizer"] in {"llm", "heuristic"}
        assert s.metadata["model"] == "smollm2"
        assert_faithful(s)


def test_model_named_by_path_generates_whole_batches(tiny_llama_dir, heuristic):
    structurizer = LLMStructurizer(str(tiny_llama_dir), fallback=heuristic, batch_size=16)
    assert structurizer.llm.batch_size == 16  # one generate() call per structurizer batch
    for s in structurizer.structurize_many([TOPICS, TOPICS]):
        assert_faithful(s)
