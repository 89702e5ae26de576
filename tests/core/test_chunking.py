import pytest

from ctx_core.chunking import chunk_text, chunk_words


def test_chunks_are_exact_slices_on_paragraph_boundaries():
    text = "Alpha beta.\n\nGamma delta epsilon.\n  \nZeta.\n\n\nEta theta iota kappa."
    chunks = chunk_text(text, max_words=4, source="d")
    for c in chunks:
        assert text[c.metadata["start"] : c.metadata["end"]] == c.text
    assert [c.text for c in chunks] == [
        "Alpha beta.",
        "Gamma delta epsilon.\n  \nZeta.",
        "Eta theta iota kappa.",
    ]
    assert [c.id for c in chunks] == ["d#0", "d#1", "d#2"]


def test_long_paragraph_is_never_cut():
    text = "one two three four five six"
    [chunk] = chunk_text(text, max_words=2)
    assert chunk.text == text


def test_empty_and_bad_input():
    assert chunk_text("   \n\n ") == []
    with pytest.raises(TypeError, match="text"):
        chunk_text(b"bytes")
    with pytest.raises(ValueError, match="max_words"):
        chunk_text("x", max_words=0)


def test_word_windows_cut_anywhere_and_are_exact_slices():
    text = "Alpha beta gamma.\n\nDelta  epsilon\tzeta eta."
    chunks = chunk_words(text, max_words=3, source="d", metadata={"lang": "en"})
    assert [c.text for c in chunks] == ["Alpha beta gamma.", "Delta  epsilon\tzeta", "eta."]
    for c in chunks:
        assert text[c.metadata["start"] : c.metadata["end"]] == c.text
        assert c.metadata["lang"] == "en" and c.metadata["source"] == "d"
    assert [c.id for c in chunks] == ["d#0", "d#1", "d#2"]
    # One long paragraph (a single-paragraph abstract) is split too, unlike chunk_text.
    abstract = " ".join(f"w{i}" for i in range(10))
    assert len(chunk_text(abstract, max_words=4)) == 1
    assert [len(c.text.split()) for c in chunk_words(abstract, max_words=4)] == [4, 4, 2]


def test_word_windows_overlap_without_a_redundant_tail():
    text = "a b c d e f g"
    assert [c.text for c in chunk_words(text, max_words=3, overlap=1)] == [
        "a b c",
        "c d e",
        "e f g",
    ]
    assert [c.text for c in chunk_words(text, max_words=8, overlap=2)] == [text]


def test_word_windows_bad_input():
    assert chunk_words(" \n ") == []
    with pytest.raises(TypeError, match="text"):
        chunk_words(None)
    with pytest.raises(ValueError, match="max_words"):
        chunk_words("x", max_words=0)
    with pytest.raises(ValueError, match="overlap"):
        chunk_words("x", max_words=2, overlap=2)
