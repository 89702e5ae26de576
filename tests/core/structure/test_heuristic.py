import pytest

from ctx_core.demo.book import load_demo_book
from ctx_core.structure import HeuristicStructurizer, render

from .faithfulness import assert_faithful
from .structure_texts import HARD_WRAPPED, MARKDOWN, SHORT, TOPICS


class CountingEmbedder:
    """Wraps the real embedder and counts calls."""

    def __init__(self, embedder):
        self.embedder = embedder
        self.calls = 0
        self.texts = 0

    def embed(self, texts):
        self.calls += 1
        self.texts += len(texts)
        return self.embedder.embed(texts)


@pytest.fixture
def heuristic(embedder):
    return HeuristicStructurizer(CountingEmbedder(embedder))


def test_markdown_headings_and_lists_make_the_tree(heuristic):
    s = heuristic.structurize(MARKDOWN)
    assert s.metadata == {"structurizer": "heuristic", "method": "markers"}
    assert s.scope == "Caring for rice seedlings"
    tree = [(path, a.name, a.title) for path, a in s.walk()]
    assert tree == [
        ((1,), "Caring for rice seedlings", True),
        ((2,), "Seeds", True),
        ((2, 1), "Choose clean seeds", False),
        ((2, 2), "Disinfect the seeds before sowing", False),
        ((2, 2, 1), "Soak them in a fungicide solution for two days", False),
        ((2, 2, 2), "Let them dry in the shade afterwards", False),
        ((2, 3), "Clean seed and cheapest protection", False),
        ((3,), "Straw", True),
    ]
    assert heuristic.embedder.calls == 0  # markers need no model
    assert_faithful(s)
    assert render(s, "markdown").startswith(
        "# Caring for rice seedlings\n\n## Caring for rice seedlings\n\nYoung rice plants"
    )


def test_enumeration_after_a_lead_in(heuristic):
    text = (
        "Prevention works in three steps:\n"
        "1. Choose clean seeds. Drop damaged grains.\n"
        "2. Disinfect the seeds. Soak them for two days.\n"
        "3. Burn diseased straw."
    )
    s = heuristic.structurize(text)
    assert [a.name for a in s.aspects] == [
        "Prevention works in three steps",
        "Choose clean seeds",
        "Disinfect the seeds",
        "Burn diseased straw",
    ]
    assert_faithful(s)


def test_topic_segmentation_finds_the_three_topics(heuristic):
    s = heuristic.structurize(TOPICS)
    assert s.metadata["method"] == "topics"
    assert [a.sentences for a in s.aspects] == [(0, 1, 2, 3), (4, 5, 6, 7), (8, 9, 10, 11)]
    names = " ".join(a.name for a in s.aspects).lower()
    assert "amazon" in names and "jazz" in names and "photosynthesis" in names
    # one call for the sentences; key phrases: the scope's candidates, then the aspects'
    # texts and their candidates
    assert heuristic.embedder.calls == 4
    assert_faithful(s)


def test_paragraphs_help_when_similarity_is_flat(embedder):
    # Without the paragraph bonus the cut could land anywhere in this one-topic text.
    s = HeuristicStructurizer(embedder, sentences_per_aspect=3).structurize(HARD_WRAPPED)
    assert [a.sentences for a in s.aspects] == [(0, 1, 2, 3), (4, 5)]
    assert_faithful(s)


def test_short_text_is_one_aspect_without_a_model_call(heuristic):
    s = heuristic.structurize(SHORT)
    assert len(s.aspects) == 1 and s.metadata["method"] == "single"
    assert s.scope and s.aspects[0].name and s.aspects[0].name != s.scope
    assert heuristic.embedder.calls == 0
    assert_faithful(s)


def test_batch_embeds_once_and_matches_one_by_one(heuristic, embedder):
    texts = [TOPICS, MARKDOWN, SHORT, HARD_WRAPPED]
    batch = heuristic.structurize_many(texts)
    single = [HeuristicStructurizer(embedder).structurize(t) for t in texts]
    assert batch == single
    # every text's sentences in one call (the key-phrase names embed their candidates
    # separately: the statistical names show the sentence calls alone)
    keywords = HeuristicStructurizer(CountingEmbedder(embedder), naming="keywords")
    keywords.structurize_many(texts)
    assert keywords.embedder.calls == 1


def test_sizes_and_limits(embedder):
    book = load_demo_book()[:6000]
    s = HeuristicStructurizer(embedder, max_aspects=5, use_markers=False).structurize(book)
    assert len(s.aspects) == 5
    assert all(len(a.sentences) >= 2 for a in s.aspects)
    assert_faithful(s)


def test_the_book_opening_with_its_title_lines(embedder):
    s = HeuristicStructurizer(embedder).structurize(load_demo_book()[:4000])
    assert "CHAPTER I" in [a.name for a in s.aspects]
    assert_faithful(s)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sentences_per_aspect": 0}, "sentences_per_aspect"),
        ({"min_aspect_sentences": 0}, "min_aspect_sentences"),
        ({"max_aspects": 0}, "max_aspects"),
        ({"window": 0}, "window"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        HeuristicStructurizer(**kwargs)


def test_bad_text():
    with pytest.raises(ValueError, match="text must contain some text"):
        HeuristicStructurizer().structurize("   ")
    with pytest.raises(TypeError, match="text must be a str"):
        HeuristicStructurizer().structurize(b"bytes")
    with pytest.raises(TypeError, match=r"texts\[1\] must be a str"):
        HeuristicStructurizer().structurize_many(["fine.", 3])


async def test_async_matches_sync(heuristic):
    assert await heuristic.astructurize(TOPICS) == heuristic.structurize(TOPICS)
