import json

import pytest

from ctx_core.structure import Aspect, Structure, StructureError, render
from ctx_core.structure.base import structure_from_metadata
from ctx_core.structure.sentences import split_sentences

from .faithfulness import assert_faithful

TEXT = "Cats purr. Cats nap. Dogs bark. Dogs fetch. Birds sing."


def make(aspects, scope="pets", text=TEXT):
    return Structure(scope, tuple(aspects), tuple(split_sentences(text)), text)


def test_valid_nested_structure_round_trips_through_json():
    s = make(
        [
            Aspect("cats", (0, 1)),
            Aspect("others", (), (Aspect("dogs", (2, 3)), Aspect("birds", (4,)))),
        ]
    )
    s.validate()
    assert s.depth == 2
    assert [(path, a.name) for path, a in s.walk()] == [
        ((1,), "cats"),
        ((2,), "others"),
        ((2, 1), "dogs"),
        ((2, 2), "birds"),
    ]
    again = Structure.from_json(s.to_json())
    assert again == s and again.aspects[1].subaspects[1].sentences == (4,)
    # Without the source, the structure comes back when the source is given.
    data = json.loads(s.to_json(include_source=False))
    assert "source" not in data
    assert Structure.from_dict(data, source=TEXT) == s
    with pytest.raises(StructureError, match="no 'source'"):
        Structure.from_dict(data)
    assert_faithful(s)


@pytest.mark.parametrize(
    ("aspects", "message"),
    [
        ([Aspect("a", (0, 1, 2, 3))], r"missing \[4\]"),
        ([Aspect("a", (0, 1, 2)), Aspect("b", (2, 3, 4))], r"repeated \[2\]"),
        ([Aspect("a", (1, 0, 2, 3, 4))], "out of order"),
        ([Aspect("a", (0, 1, 2, 3, 4, 9))], r"unknown \[9\]"),
        ([Aspect("", (0, 1, 2, 3, 4))], "non-empty single-line name"),
        ([Aspect("a", (0, 1, 2, 3, 4)), Aspect("empty")], "has no description"),
        ([Aspect("a", (0, 1, 2, 3, 4), title=True)], "no heading sentence"),
    ],
)
def test_invariants_are_enforced(aspects, message):
    s = make(aspects)
    with pytest.raises(StructureError, match=message):
        s.validate()
    assert not s.is_valid


def test_bad_scope_and_tampered_sentence_offsets():
    with pytest.raises(StructureError, match="scope"):
        make([Aspect("a", (0, 1, 2, 3, 4))], scope="").validate()
    data = make([Aspect("a", (0, 1, 2, 3, 4))]).to_dict()
    data["sentences"][1]["text"] = "Cats sleep."
    with pytest.raises(StructureError, match="not the source slice"):
        Structure.from_dict(data)
    with pytest.raises(StructureError, match="not valid structure JSON"):
        Structure.from_json("{oops")


def test_descriptions_skip_the_title_line():
    text = "# Pets\n\nCats purr. Cats nap."
    s = Structure(
        "pets", (Aspect("Pets", (0, 1, 2), title=True),), tuple(split_sentences(text)), text
    )
    s.validate()
    assert s.descriptions(s.aspects[0]) == ["Cats purr.", "Cats nap."]
    assert render(s, "retrieval") == "pets.\n**Pets**: Cats purr. Cats nap."
    assert_faithful(s)


def test_structure_from_metadata_accepts_json_or_dict():
    s = make([Aspect("all", (0, 1, 2, 3, 4))])
    meta = {"structure": s.to_json(include_source=False), "original_text": TEXT}
    assert structure_from_metadata(meta) == s
    assert structure_from_metadata({"structure": s.to_dict()}) == s
    with pytest.raises(KeyError, match="structure"):
        structure_from_metadata({})
