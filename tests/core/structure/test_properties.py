"""Property checks on many generated inputs: whatever the text or the LLM answer, the
structure is valid (every sentence once, in order) or the answer is rejected cleanly."""

import random

import pytest

from ctx_core.structure import HeuristicStructurizer, Structure
from ctx_core.structure.parse import StructureParseError, parse_structure
from ctx_core.structure.sentences import split_sentences

from .faithfulness import assert_faithful

WORDS = [
    "wing",
    "lift",
    "drag",
    "flow",
    "shock",
    "layer",
    "plate",
    "heat",
    "jazz",
    "river",
    "forest",
    "seed",
    "queen",
    "bee",
    "city",
]


def sentence(rng):
    words = [rng.choice(WORDS) for _ in range(rng.randint(3, 9))]
    return " ".join(words).capitalize() + rng.choice([".", ".", "!", "?"])


def document(rng):
    """Markdown-ish text: headings, nested lists, lead-ins, paragraphs, stray blank lines."""
    lines = []
    for _ in range(rng.randint(1, 12)):
        kind = rng.random()
        if kind < 0.15:
            lines.append("#" * rng.randint(1, 4) + " " + sentence(rng).rstrip(".!?"))
        elif kind < 0.4:
            indent = " " * rng.choice([0, 0, 2, 4])
            marker = rng.choice(["-", "*", "1.", "2)", "(a)"])
            lines.append(
                f"{indent}{marker} " + " ".join(sentence(rng) for _ in range(rng.randint(1, 3)))
            )
        elif kind < 0.5:
            lines.append(sentence(rng).rstrip(".!?") + ":")
        elif kind < 0.6:
            lines.append("")
        else:
            lines.append(" ".join(sentence(rng) for _ in range(rng.randint(1, 4))))
        if rng.random() < 0.3:
            lines.append("")
    text = "\n".join(lines)
    return text if text.strip() else "Nothing here but this."


def test_heuristic_structures_are_always_faithful(embedder):
    rng = random.Random(7)
    texts = [document(rng) for _ in range(60)]
    structurizer = HeuristicStructurizer(embedder)
    structures = structurizer.structurize_many(texts)
    methods = {s.metadata["method"] for s in structures}
    assert {"markers", "topics"} <= methods
    for text, structure in zip(texts, structures, strict=True):
        assert structure.source == text
        assert_faithful(structure)


def answer(rng, n):
    """A YAML answer with random (often wrong) ranges, names, nesting and truncation."""
    lines = [rng.choice(["scope: generated", "Scope: 'x'", "", "scope:"]), "aspects:"]
    for _ in range(rng.randint(0, 6)):
        a = rng.randint(-1, n + 2)
        b = a + rng.randint(-1, 5)
        spelled = rng.choice(
            [f"{a}-{b}", f"[{a}, {b}]", f"{{start: {a}, end: {b}}}", str(a), "all"]
        )
        lines += [f"  - name: {rng.choice(WORDS)}", f"    sentences: {spelled}"]
        if rng.random() < 0.3:
            lines.append("    subaspects:")
            for _ in range(rng.randint(1, 3)):
                c = rng.randint(a, max(a, b))
                lines += [
                    f"      - name: {rng.choice(WORDS)}",
                    f"        sentences: {c}-{c + rng.randint(0, 2)}",
                ]
    text = "\n".join(lines)
    if rng.random() < 0.3:
        text = text[: rng.randint(0, len(text))]  # truncated mid-answer
    return text


@pytest.mark.parametrize("seed", range(4))
def test_parsed_answers_are_valid_or_rejected(seed):
    rng = random.Random(seed)
    text = " ".join(sentence(rng) for _ in range(12))
    sentences = split_sentences(text)
    accepted = rejected = 0
    for _ in range(150):
        try:
            parsed = parse_structure(answer(rng, len(sentences)), [s.text for s in sentences])
        except StructureParseError:
            rejected += 1
            continue
        accepted += 1
        structure = Structure(parsed.scope, tuple(parsed.aspects), tuple(sentences), text)
        structure.validate()  # every sentence exactly once, in order
    assert accepted and rejected
