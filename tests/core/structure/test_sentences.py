import pytest

from ctx_core.structure.sentences import heading_text, list_marker, split_sentences

from .structure_texts import HARD_WRAPPED, MARKDOWN


def spans_are_exact(text, sentences):
    return all(text[s.start : s.end] == s.text for s in sentences)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Dr. Watson met Mr. Holmes. They talked.", ["Dr. Watson met Mr. Holmes.", "They talked."]),
        ("It cost 3.50 dollars. Cheap!", ["It cost 3.50 dollars.", "Cheap!"]),
        (
            "J. R. R. Tolkien wrote it. He was English.",
            ["J. R. R. Tolkien wrote it.", "He was English."],
        ),
        ("He said “Go away.” Then he left.", ["He said “Go away.”", "Then he left."]),
        ("Is it? Yes... it is.", ["Is it?", "Yes... it is."]),
        ("Apples, pears, etc. Fruit is good.", ["Apples, pears, etc.", "Fruit is good."]),
        ("See e.g. the appendix. Done.", ["See e.g. the appendix.", "Done."]),
        ("the flow separates .  the wake grows .", ["the flow separates .", "the wake grows ."]),
        ("all lower case. no capitals here.", ["all lower case.", "no capitals here."]),
        ("One sentence without a final stop", ["One sentence without a final stop"]),
    ],
)
def test_sentences(text, expected):
    sentences = split_sentences(text)
    assert [s.text for s in sentences] == expected
    assert spans_are_exact(text, sentences)


def test_blank_text_has_no_sentence():
    assert split_sentences("") == [] and split_sentences(" \n\n ") == []


def test_type_error_names_the_argument():
    with pytest.raises(TypeError, match="text must be a str"):
        split_sentences(None)


def test_hard_wrapped_lines_stay_one_sentence_and_blocks_count():
    sentences = split_sentences(HARD_WRAPPED)
    assert spans_are_exact(HARD_WRAPPED, sentences)
    assert (
        sentences[1].text == "I\nwas sent for at eight o'clock on the morning of Friday the 17th."
    )
    assert [s.block for s in sentences] == [0, 0, 0, 0, 1, 1]


def test_headings_and_items_are_their_own_blocks():
    sentences = split_sentences(MARKDOWN)
    assert spans_are_exact(MARKDOWN, sentences)
    kinds = [(s.kind, s.level, s.text[:12]) for s in sentences if s.kind != "text"]
    assert kinds == [
        ("heading", 1, "# Caring for"),
        ("heading", 2, "## Seeds"),
        ("item", 0, "1. Choose cl"),
        ("item", 0, "2. Disinfect"),
        ("item", 3, "- Soak them "),
        ("item", 3, "- Let them d"),
        ("heading", 2, "## Straw"),
    ]
    # The second sentence of an item is plain text of the same block.
    second = next(s for s in sentences if s.text.startswith("Throw away"))
    first = next(s for s in sentences if s.text.startswith("1. Choose"))
    assert second.kind == "text" and second.block == first.block


def test_title_line_is_a_heading_but_a_sentence_is_not():
    sentences = split_sentences("CHAPTER I\n\nIt began. It ended.\n\nShort line.")
    assert [(s.kind, s.level) for s in sentences] == [
        ("heading", 7),
        ("text", 0),
        ("text", 0),
        ("text", 0),
    ]


def test_helpers():
    assert heading_text("### Methods and data ##") == "Methods and data"
    assert list_marker("(a) first") == "(a)" and list_marker("- item") == "-"
    assert list_marker("1999. A year.") is None
