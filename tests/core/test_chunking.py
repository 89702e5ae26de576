import pytest

from ctx_core.chunking import chunk_text


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
