"""HeuristicMemoryExtractor: headings, topic boundaries, extractive core contents, bad input."""

import pytest

from ctx_core.demo.book import load_demo_book
from ctx_core.memory import DocumentMemory, HeuristicMemoryExtractor
from ctx_core.memory.segments import find_headings

CATS = (
    "Cats are small domestic felines. They sleep for most of the day and purr when content. "
    "A cat grooms its fur with a rough tongue. Kittens are born blind and open their eyes "
    "after about a week."
)
ROCKETS = (
    "Rockets carry satellites into orbit by burning fuel at great speed. A launch needs a "
    "clear sky and low winds. The first stage falls away after a few minutes, and the "
    "upper stage pushes the payload to its final orbit."
)


@pytest.fixture(scope="module")
def extractor(embedder):
    return HeuristicMemoryExtractor(embedder, max_words=60, min_words=15)


def assert_tiles(memory: DocumentMemory, text: str):
    assert "".join(memory.chunk_texts()) == text
    memory.validate()


def test_markdown_headings_give_outline_and_chunks(extractor):
    text = f"# Pets\n\n## Cats\n\n{CATS}\n\n## Rockets\n\n{ROCKETS}\n"
    memory = extractor.extract(text, doc_id="doc", metadata={"source": "x.md"})
    assert_tiles(memory, text)
    assert [(e.title, e.level) for e in memory.outline] == [
        ("Pets", 1),
        ("Cats", 2),
        ("Rockets", 2),
    ]
    # "# Pets" holds no text of its own: it joins the "Cats" section.
    assert memory.heading(0) == "Cats" and memory.chunk_text(0).startswith("# Pets")
    assert memory.chunks[0].recovery == "heading"
    assert any(memory.heading(i) == "Rockets" for i in range(len(memory.chunks)))
    for i, chunk in enumerate(memory.chunks):
        # Extractive: every core-content sentence is taken from the chunk itself.
        for sentence in chunk.core_content.split(". "):
            assert sentence.rstrip(".") in " ".join(memory.chunk_text(i).split())
        assert not chunk.core_content.startswith("#")
    assert memory.info["mode"] == "headings" and memory.metadata == {"source": "x.md"}


def test_topic_boundary_without_headings(extractor):
    text = f"{CATS}\n\n{ROCKETS}"
    memory = extractor.extract(text)
    assert_tiles(memory, text)
    assert len(memory.chunks) == 2
    assert memory.chunk_text(1).startswith("Rockets carry satellites")
    assert memory.info["mode"] == "topics"
    # Outline titles come from each chunk's distinctive words.
    assert "Rockets" in memory.heading(1) or "rocket" in memory.heading(1).lower()


def test_conversation_lines_are_units(embedder):
    lines = [
        f"Alice: I adopted a cat named Miso, she loves tuna and sleeping in boxes number {i}."
        for i in range(8)
    ]
    lines += [
        f"Bob: My rocket club launched a model rocket to three hundred metres, try {i}."
        for i in range(8)
    ]
    text = "\n".join(lines)
    memory = HeuristicMemoryExtractor(embedder, max_words=120, min_words=30).extract(text)
    assert_tiles(memory, text)
    first_bob = text.index("Bob:")
    assert first_bob in [c.start for c in memory.chunks]  # the topic changes there
    assert all(
        memory.chunk_text(i).count("Alice") in (0, memory.chunk_text(i).count(":"))
        for i in range(len(memory.chunks))
    )


def test_document_shorter_than_one_chunk(extractor):
    text = "Just one short sentence."
    memory = extractor.extract(text, doc_id="short")
    assert len(memory.chunks) == 1 and memory.chunk_text(0) == text
    assert memory.chunks[0].core_content == text
    assert len(memory.outline) == 1 and memory.outline[0].title


def test_long_section_is_cut_but_keeps_its_heading(embedder):
    book = load_demo_book()
    ex = HeuristicMemoryExtractor(embedder, max_words=200, min_words=40)
    headings = find_headings(book)
    assert [h.title.split(":")[0] for h in headings] == [
        "CHAPTER I",
        "CHAPTER II",
        "CHAPTER III",
        "CHAPTER IV",
    ]
    part = book[: headings[0].end + 4000]
    memory = ex.extract(part, doc_id="ch1")
    assert_tiles(memory, part)
    assert len(memory.chunks) > 3
    chapter = "CHAPTER I: DR. SHEPPARD AT THE BREAKFAST TABLE"
    # Each topic chunk has its own outline entry, one level under the chapter's heading.
    assert [(e.title, e.level) for e in memory.outline if e.level == 1][-1] == (chapter, 1)
    assert all(memory.heading_path(i)[0] == chapter for i in range(1, len(memory.chunks)))
    assert len({memory.heading(i) for i in range(len(memory.chunks))}) == len(memory.chunks)
    assert not any("CHAPTER" in memory.heading(i) for i in range(1, len(memory.chunks)))
    words = [len(t.split()) for t in memory.chunk_texts()]
    assert max(words) <= 200 + 120  # a chunk exceeds max_words only by less than one unit


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("", "document is empty"),
        ("\n\n   \n", "document is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not valid UTF-8"),
        (b"abc\x00\x00def", "binary data"),
    ],
)
def test_bad_documents(extractor, document, message):
    with pytest.raises(ValueError, match=message):
        extractor.extract(document)


def test_extract_many_names_the_bad_document_and_checks_lengths(extractor):
    with pytest.raises(ValueError, match=r"documents\['b'\]: document is empty"):
        extractor.extract_many(["fine text here", ""], ids=["a", "b"])
    with pytest.raises(ValueError, match="ids has 1 entries for 2 documents"):
        extractor.extract_many(["x", "y"], ids=["a"])
    with pytest.raises(ValueError, match="ids contains duplicates"):
        extractor.extract_many(["x", "y"], ids=["a", "a"])
    with pytest.raises(TypeError, match="not a single one"):
        extractor.extract_many("just a string")
    memories = extractor.extract_many(
        ["one text", "two text"], ids=["a", "b"], metadatas=[{"k": 1}, {"k": 2}]
    )
    assert [(m.doc_id, m.metadata) for m in memories] == [("a", {"k": 1}), ("b", {"k": 2})]


def test_settings_are_checked():
    with pytest.raises(ValueError, match="min_words must be in"):
        HeuristicMemoryExtractor(max_words=10, min_words=20)
    with pytest.raises(ValueError, match="max_words must be >= 1"):
        HeuristicMemoryExtractor(max_words=0)


def test_bytes_input_is_decoded(extractor):
    memory = extractor.extract("Crème brûlée is a dessert.".encode())
    assert memory.source == "Crème brûlée is a dessert."


def test_config_names_the_default_embedder_without_loading_it():
    extractor = HeuristicMemoryExtractor()
    assert extractor.config()["embedder"] == "all-MiniLM-L6-v2"
    assert extractor._embedder is None  # still not loaded
