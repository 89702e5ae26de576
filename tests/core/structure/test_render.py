import pytest

from ctx_core.structure import Aspect, Structure, render
from ctx_core.structure.sentences import split_sentences

from .faithfulness import assert_faithful

TEXT = "Bees live in colonies.\nThe queen lays eggs. Workers gather nectar. Swarms leave in spring. They find a new home."


@pytest.fixture
def nested():
    return Structure(
        "honeybees",
        (
            Aspect("members", (0, 1, 2)),
            Aspect("swarming", (), (Aspect("leaving", (3,)), Aspect("new home", (4,)))),
        ),
        tuple(split_sentences(TEXT)),
        TEXT,
    )


def test_reading_form(nested):
    assert render(nested, "reading") == (
        "This passage talks about honeybees:\n"
        "1. members: Bees live in colonies. The queen lays eggs. Workers gather nectar.\n"
        "2. swarming\n"
        "   2.1. leaving: Swarms leave in spring.\n"
        "   2.2. new home: They find a new home."
    )


def test_outline_form(nested):
    assert render(nested, "outline") == (
        "honeybees\n"
        "1. members\n"
        "   1.1. Bees live in colonies.\n"
        "   1.2. The queen lays eggs.\n"
        "   1.3. Workers gather nectar.\n"
        "2. swarming\n"
        "   2.1. leaving\n"
        "      2.1.1. Swarms leave in spring.\n"
        "   2.2. new home\n"
        "      2.2.1. They find a new home."
    )


def test_retrieval_and_markdown_forms(nested):
    assert render(nested, "retrieval") == (
        "honeybees.\n"
        "**members**: Bees live in colonies. The queen lays eggs. Workers gather nectar.\n"
        "**swarming**\n"
        "**leaving**: Swarms leave in spring.\n"
        "**new home**: They find a new home."
    )
    assert render(nested, "markdown") == (
        "# honeybees\n\n## members\n\nBees live in colonies. The queen lays eggs. "
        "Workers gather nectar.\n\n## swarming\n\n### leaving\n\nSwarms leave in spring.\n\n"
        "### new home\n\nThey find a new home."
    )


def test_every_format_is_faithful(nested):
    assert_faithful(nested)


def test_whitespace_is_kept_on_request(nested):
    exact = render(nested, "reading", collapse_whitespace=False)
    assert "Bees live in colonies." in exact
    wrapped_text = "A sentence\nwrapped over lines. Another one."
    s = Structure("x", (Aspect("a", (0, 1)),), tuple(split_sentences(wrapped_text)), wrapped_text)
    assert "sentence wrapped" in render(s, "reading")
    assert "sentence\nwrapped" in render(s, "reading", collapse_whitespace=False)


def test_bad_format_and_type(nested):
    with pytest.raises(ValueError, match="format must be one of"):
        render(nested, "yaml")
    with pytest.raises(TypeError, match="structure must be a Structure"):
        render("text", "reading")
