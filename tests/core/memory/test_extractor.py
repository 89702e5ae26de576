"""MemoryExtractor: anchor recovery paths with prepared replies, multi-path selection, SmolLM2."""

import logging
import math

import pytest

from ctx_core.llm import BaseLLM
from ctx_core.memory import MemoryExtractor
from ctx_core.memory.anchors import ParsedScenario
from ctx_core.memory.extractor import link_outline
from ctx_core.memory.selection import reciprocal_rank_fusion

CATS = (
    "Cats are small domestic felines that many families keep as pets. They sleep for most of "
    "the day and purr loudly when they are content. A cat grooms its fur with a rough tongue."
)
ROCKETS = (
    "Rockets carry satellites into orbit by burning fuel at great speed. A launch needs a clear "
    "sky and low winds. The first stage falls away after a few minutes of flight."
)
BREAD = (
    "Bread is baked from flour, water, salt and yeast. The dough rises for hours before it goes "
    "into a hot oven. A crisp crust forms while the inside stays soft."
)
TEXT = f"{CATS}\n\n{ROCKETS}\n\n{BREAD}\n"

GOOD = """<outline>
Cats as pets
Rocket launches
Baking bread
</outline>
<scenario>
<chunk>Cats are small domestic felines ... with a rough tongue.</chunk>
Cats are pets that sleep a lot, purr and groom themselves.
</scenario>
<scenario>
<chunk>Rockets carry satellites ... minutes of flight.</chunk>
Rockets launch satellites into orbit in good weather.
</scenario>
<scenario>
<chunk>Bread is baked from flour ... stays soft.</chunk>
Bread is made of flour, water, salt and yeast and baked in an oven.
</scenario>"""

# Cuts in the middle of each topic, with muddled core contents.
BAD = """<outline>
Part one
Part two
</outline>
<scenario>
<chunk>Cats are small domestic felines ... they are content.</chunk>
Something about animals.
</scenario>
<scenario>
<chunk>A cat grooms its fur ... A launch needs a clear sky and low winds.</chunk>
Various things.
</scenario>"""


class PreparedLLM(BaseLLM):
    """Replies prepared in advance, by (prompt name, temperature); records its calls."""

    def __init__(self, replies):
        self.replies = replies
        self.calls = []

    def complete(self, prompt, *, max_tokens=256, temperature=0.0, stop=None):
        user = prompt[-1]["content"]
        document = user.split("<document>\n", 1)[1].rsplit("\n</document>", 1)[0]
        name = "expert" if "domain expert" in user else "direct"
        self.calls.append((name, temperature, document))
        reply = self.replies.get((name, temperature), self.replies.get("default", ""))
        return reply(document) if callable(reply) else reply


def tiles(memory, text):
    return "".join(memory.chunk_texts()) == text


def test_exact_anchors_give_the_llms_chunks_outline_and_cores(embedder):
    llm = PreparedLLM({"default": GOOD})
    memory = MemoryExtractor(llm, embedder=embedder, paths=[("direct", 0.0)]).extract(
        TEXT, doc_id="d"
    )
    assert tiles(memory, TEXT)
    assert [c.recovery for c in memory.chunks] == ["exact", "exact", "exact"]
    assert [memory.heading(i) for i in range(3)] == [
        "Cats as pets",
        "Rocket launches",
        "Baking bread",
    ]
    assert memory.chunks[1].core_content == "Rockets launch satellites into orbit in good weather."
    assert memory.chunk_text(1).startswith("Rockets carry satellites")
    [window] = memory.info["windows"]
    assert window["chosen"] == 0 and window["method"] is None  # one path: nothing to choose
    assert window["candidates"][0]["exact"] == 3 and llm.calls[0][2] == TEXT


def test_reply_with_no_anchors_falls_back_to_heuristic_chunks(embedder, caplog):
    llm = PreparedLLM({"default": "BREAKFAST TABLE\n\nBREAKFAST\n\nBREAKFAST"})
    with caplog.at_level(logging.WARNING):
        memory = MemoryExtractor(
            llm, embedder=embedder, paths=[("direct", 0.0)], max_words=40
        ).extract(TEXT, doc_id="none")
    assert tiles(memory, TEXT)
    assert {c.recovery for c in memory.chunks} == {"uncovered"}
    assert len(memory.chunks) >= 2 and all(c.core_content for c in memory.chunks)
    assert all(e.title for e in memory.outline)
    assert "gave no usable anchors" in caplog.text


def test_fuzzy_tail_merge_and_uncovered_paths(embedder):
    reply = """<outline>
Cats
Rockets
Bread
</outline>
<scenario><chunk>Cats are smal domestik felines that many ... rough tongue.</chunk>Cats.</scenario>
<scenario><chunk>(no such words) ... the first stage falls away after a few minutes of flight.</chunk>Rockets.</scenario>
<scenario><chunk>zzzz yyyy xxxx wwww ... vvvv uuuu tttt</chunk>Lost scenario.</scenario>"""
    memory = MemoryExtractor(
        PreparedLLM({"default": reply}),
        embedder=embedder,
        paths=[("direct", 0.0)],
        min_gap_words=10,
    ).extract(TEXT)
    assert tiles(memory, TEXT)
    kinds = [c.recovery for c in memory.chunks]
    assert kinds[:2] == ["fuzzy", "tail"] and kinds[2:] and set(kinds[2:]) == {"uncovered"}
    assert memory.chunk_text(1).startswith("Rockets carry")
    # The lost scenario's core content is merged into the chunk before it, not dropped.
    assert memory.chunks[1].core_content == "Rockets. Lost scenario."
    assert memory.chunk_text(2).startswith("Bread is baked")
    stats = memory.info["windows"][0]["candidates"][0]
    assert (stats["fuzzy"], stats["tail"], stats["merged"]) == (1, 1, 1)


def test_empty_core_and_missing_outline_are_filled(embedder):
    reply = (
        "<scenario><chunk>Cats are small ... rough tongue.</chunk></scenario>"
        "<scenario><chunk>Rockets carry ... stays soft.</chunk>Rockets and bread.</scenario>"
    )
    memory = MemoryExtractor(
        PreparedLLM({"default": reply}), embedder=embedder, paths=[("direct", 0.0)]
    ).extract(TEXT)
    assert tiles(memory, TEXT)
    sentences = memory.chunks[0].core_content.split(". ")
    assert len(sentences) == 2 and all(s.rstrip(".") in CATS for s in sentences)  # extractive
    assert memory.heading(1) == "Rockets and bread."  # titled from its core content
    assert len(memory.outline) == 2


def test_unconfirmed_oversized_last_chunk_is_cut(embedder):
    reply = "<outline>\nCats\n</outline><scenario><chunk>Cats are small domestic felines</chunk>Cats.</scenario>"
    memory = MemoryExtractor(
        PreparedLLM({"default": reply}), embedder=embedder, paths=[("direct", 0.0)], max_words=40
    ).extract(TEXT)
    assert tiles(memory, TEXT)
    assert memory.chunks[0].recovery == "exact" and memory.chunks[0].core_content == "Cats."
    assert len(memory.chunks) > 1 and {c.recovery for c in memory.chunks[1:]} == {"uncovered"}


def test_outline_links_follow_document_order():
    scenarios = [
        ParsedScenario("a", "", "cats purr"),
        ParsedScenario("b", "", "cats nap"),
        ParsedScenario("c", "", "dogs bark"),
    ]
    assert link_outline(["Cats", "Dogs"], scenarios) == [0, 0, 1]
    assert link_outline(["Dogs", "Cats", "Birds"], scenarios[:2]) in ([1, 1], [0, 1], [1, 2])
    assert link_outline([], scenarios) == [None, None, None]
    assert link_outline(["x", "y", "z"], scenarios) == [0, 1, 2]


def test_windows_tile_long_documents_and_are_extracted_separately(embedder):
    def reply(document):
        first = " ".join(document.split()[:5])
        last = " ".join(document.split()[-4:])
        return f"<outline>\nPart starting {first}\n</outline><scenario><chunk>{first} ... {last}</chunk>Window.</scenario>"

    text = "\n\n".join(
        [CATS, ROCKETS, BREAD, CATS.replace("Cats", "Dogs"), ROCKETS.replace("Rockets", "Planes")]
    )
    llm = PreparedLLM({"default": reply})
    extractor = MemoryExtractor(llm, embedder=embedder, paths=[("direct", 0.0)], window_words=40)
    windows = extractor.windows(text)
    assert len(windows) == 5 and windows[0][0] == 0 and windows[-1][1] == len(text)
    memory = extractor.extract(text)
    assert tiles(memory, text)
    assert len(llm.calls) == 5 and [c.recovery for c in memory.chunks] == ["exact"] * 5
    assert [e.title for e in memory.outline][1].startswith("Part starting Rockets carry")


def test_selection_by_embeddings_prefers_the_clear_complete_candidate(embedder):
    llm = PreparedLLM({("direct", 0.0): BAD, ("expert", 0.0): GOOD, ("direct", 0.8): BAD})
    extractor = MemoryExtractor(llm, embedder=embedder)  # BaseLLM has no log-probabilities
    memory = extractor.extract(TEXT)
    window = memory.info["windows"][0]
    assert window["method"] == "embeddings"
    assert window["chosen"] == 1 and next(memory.heading(i) for i in range(3)) == "Cats as pets"
    assert sorted(c[:2] for c in llm.calls) == [("direct", 0.0), ("direct", 0.8), ("expert", 0.0)]
    good, bad = window["candidates"][1], window["candidates"][0]
    assert good["clarity"] > bad["clarity"] and good["completeness"] > bad["completeness"]
    assert window["candidates"][2]["duplicate_of"] == 0
    expected = reciprocal_rank_fusion(
        [[bad["clarity"], good["clarity"]], [bad["completeness"], good["completeness"]]]
    )
    assert [bad["rrf"], good["rrf"]] == pytest.approx(expected)


@pytest.mark.slow
def test_selection_by_smollm2_logprobs_prefers_matching_core_contents(embedder, smollm2):
    swapped = GOOD.replace(
        "Cats are pets that sleep a lot, purr and groom themselves.", "@@1"
    ).replace("Bread is made of flour, water, salt and yeast and baked in an oven.", "@@3")
    swapped = swapped.replace(
        "@@1", "Bread is made of flour, water, salt and yeast and baked in an oven."
    ).replace("@@3", "Cats are pets that sleep a lot, purr and groom themselves.")
    llm = PreparedLLM({("direct", 0.0): swapped, ("expert", 0.0): GOOD})
    extractor = MemoryExtractor(
        llm, evaluator=smollm2, embedder=embedder, paths=[("direct", 0.0), ("expert", 0.0)]
    )
    memory = extractor.extract(TEXT)
    window = memory.info["windows"][0]
    assert window["method"] == "logprobs"
    good, wrong = window["candidates"][1], window["candidates"][0]
    # Same chunks: the same boundary questions, so clarity ties; completeness decides.
    assert good["clarity"] == wrong["clarity"] and 0.0 <= good["clarity"] <= 1.0
    assert math.isfinite(good["completeness"]) and good["completeness"] > wrong["completeness"]
    assert window["chosen"] == 1
    assert memory.chunks[0].core_content.startswith("Cats are pets")


@pytest.mark.slow
def test_smollm2_writes_a_memory_that_tiles_the_source(embedder, smollm2):
    text = f"{CATS}\n\n{ROCKETS}"
    extractor = MemoryExtractor(
        smollm2, embedder=embedder, paths=[("direct", 0.0), ("direct", 0.8)], max_tokens=160
    )
    memory = extractor.extract(text, doc_id="smol")
    assert tiles(memory, text)
    window = memory.info["windows"][0]
    assert window["method"] in (None, "logprobs")
    assert len(window["candidates"]) == 2
    assert all(c.core_content for c in memory.chunks)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"paths": [("nope", 0.0)]}, ValueError, "unknown prompt 'nope'"),
        ({"paths": []}, ValueError, "at least one"),
        ({"paths": [("direct", -1.0)]}, ValueError, "temperatures must be >= 0"),
        ({"selection": "logprobs"}, ValueError, "needs an evaluator"),
        ({"selection": "vibes"}, ValueError, "selection must be"),
        (
            {"prompts": {"direct": "no field"}, "paths": [("direct", 0.0)]},
            ValueError,
            "no {document} field",
        ),
        ({"evaluator": object()}, TypeError, "evaluator must implement"),
        ({"window_words": 0}, ValueError, "window_words must be >= 1"),
    ],
)
def test_bad_settings(options, error, message):
    with pytest.raises(error, match=message):
        MemoryExtractor(PreparedLLM({}), **options)


def test_llm_must_be_an_llm():
    with pytest.raises(TypeError, match="llm must implement"):
        MemoryExtractor("gpt")


@pytest.mark.parametrize("document", ["", "   ", b"\xff\xfe\xfd", b"\x00\x01binary"])
def test_bad_documents_never_reach_the_llm(document):
    llm = PreparedLLM({"default": GOOD})
    with pytest.raises(ValueError, match="document"):
        MemoryExtractor(llm, paths=[("direct", 0.0)]).extract(document)
    assert llm.calls == []


def test_short_document_is_one_chunk(embedder):
    llm = PreparedLLM(
        {
            "default": "<outline>\nGreeting\n</outline><scenario><chunk>Hello there</chunk>A greeting.</scenario>"
        }
    )
    memory = MemoryExtractor(llm, embedder=embedder, paths=[("direct", 0.0)]).extract(
        "Hello there."
    )
    assert [(memory.chunk_text(0), memory.heading(0), memory.chunks[0].core_content)] == [
        ("Hello there.", "Greeting", "A greeting.")
    ]
