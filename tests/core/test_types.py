import pytest

from ctx_core import Passage
from ctx_core.types import ensure_passages, stable_id, validate_query


def test_passage_derives_stable_id_from_text_and_source():
    a = Passage("same text")
    b = Passage("same text")
    c = Passage("same text", metadata={"source": "other"})
    assert a.id == b.id == stable_id("same text")
    assert c.id != a.id
    assert Passage("x", id="given").id == "given"


def test_passage_copies_keep_caller_data():
    original = Passage("text", id="a", metadata={"k": [1, 2]})
    scored = original.with_score(0.5).with_metadata(extra=1)
    assert original.score is None and original.metadata == {"k": [1, 2]}
    assert scored.metadata == {"k": [1, 2], "extra": 1}
    assert (scored.id, scored.text, scored.score) == ("a", "text", 0.5)


@pytest.mark.parametrize(
    ("kwargs", "error", "word"),
    [
        ({"text": None}, TypeError, "text"),
        ({"text": 3}, TypeError, "text"),
        ({"text": "t", "id": 5}, TypeError, "id"),
        ({"text": "t", "metadata": []}, TypeError, "metadata"),
    ],
)
def test_passage_rejects_bad_fields(kwargs, error, word):
    with pytest.raises(error, match=word):
        Passage(**kwargs)


def test_from_dict_round_trip_and_errors():
    p = Passage("t", id="x", metadata={"a": 1}, score=2.0)
    assert Passage.from_dict(p.to_dict()) == p
    with pytest.raises(ValueError, match="text"):
        Passage.from_dict({"id": "x"})


def test_ensure_passages_wraps_strings_and_rejects_duplicates():
    items = ensure_passages(["a", Passage("b", id="b")])
    assert [p.text for p in items] == ["a", "b"]
    with pytest.raises(ValueError, match="duplicate ids: 'x'"):
        ensure_passages([Passage("1", id="x"), Passage("2", id="x")])
    with pytest.raises(TypeError, match=r"passages\[1\]"):
        ensure_passages(["a", 3])
    with pytest.raises(TypeError, match="passages"):
        ensure_passages(None)
    with pytest.raises(TypeError, match="single str"):
        ensure_passages("just a string")


@pytest.mark.parametrize("bad", ["", "   ", None, 3])
def test_validate_query_rejects_empty_or_non_strings(bad):
    with pytest.raises((TypeError, ValueError), match="query"):
        validate_query(bad)
