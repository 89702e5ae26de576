"""Headings users see: topic boundaries and key-phrase names from the loaded MiniLM."""

from __future__ import annotations

import pytest

from ctx_core._registry import from_config
from ctx_core.demo.book import load_demo_chapters
from ctx_core.memory import HeuristicMemoryExtractor
from ctx_core.structure import HeuristicStructurizer
from ctx_core.structure.keyphrases import KeyphraseNamer

# The structurization recipe's first document: two unrelated topics in four sentences.
RECIPE = (
    "The Amazon rainforest covers much of the Amazon basin in South America. "
    "It spans parts of nine countries, with most of it in Brazil. "
    "Jazz originated in New Orleans in the late nineteenth century. "
    "It grew out of blues and ragtime played by African American musicians."
)


def test_two_topics_in_four_sentences_become_two_named_aspects(embedder):
    before = HeuristicStructurizer(embedder, naming="keywords", boundary_similarity=None)
    assert len(before.structurize(RECIPE).aspects) == 1  # the former merge
    s = HeuristicStructurizer(embedder).structurize(RECIPE)
    assert [a.sentences for a in s.aspects] == [(0, 1), (2, 3)]
    first, second = (a.name.lower() for a in s.aspects)
    assert "amazon" in first and "jazz" not in first
    assert "jazz" in second and "amazon" not in second


def test_memory_titles_are_key_phrases_not_keyword_bags(embedder):
    text = load_demo_chapters()["I"]
    before = HeuristicMemoryExtractor(embedder, titles="keywords").extract(text, doc_id="I")
    after = HeuristicMemoryExtractor(embedder).extract(text, doc_id="I")
    # same chunks, only the titles of the topic chunks change
    assert [(c.start, c.end) for c in after.chunks] == [(c.start, c.end) for c in before.chunks]
    old = [e.title for e in before.outline[1:]]
    new = [e.title for e in after.outline[1:]]
    assert sum(t.count(",") >= 2 for t in old) > len(old) // 2  # "17th, night, 16th, September"
    assert all("," not in t and len(t.split()) <= 7 for t in new), new
    assert all(not t.split()[0].endswith("ed") or t[0].isupper() for t in new)


def test_namer_prefers_distinct_phrases_and_validates(embedder):
    namer = KeyphraseNamer(embedder, max_phrases=1)
    names = namer.names(
        [["Photosynthesis converts light energy in plants.", "Chlorophyll absorbs red light."],
         ["Jazz grew out of blues and ragtime.", "Famous jazz musicians include Duke Ellington."]]
    )  # fmt: skip
    assert "jazz" in names[1].lower() and "jazz" not in names[0].lower()
    assert namer.names([[]]) == ["Overview"]
    with pytest.raises(ValueError, match="max_phrases"):
        KeyphraseNamer(embedder, max_phrases=3)
    with pytest.raises(ValueError, match="naming"):
        HeuristicStructurizer(embedder, naming="yake")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="titles"):
        HeuristicMemoryExtractor(embedder, titles="bag")  # type: ignore[arg-type]


def test_new_settings_round_trip_through_config():
    s = HeuristicStructurizer(naming="keywords", boundary_similarity=None)
    assert from_config(s.config()).config() == s.config()
    m = HeuristicMemoryExtractor(titles="keywords")
    assert from_config(m.config()).config()["titles"] == "keywords"
