"""DocumentMemory: the tiling invariant, outline links, JSON round trips, document checks."""

import json

import pytest

from ctx_core.memory import DocumentMemory, OutlineEntry, ScenarioChunk
from ctx_core.memory.base import check_document

SOURCE = "Cats purr. Cats nap.\n\nDogs bark at night.\n"


def memory(**changes):
    fields = {
        "doc_id": "pets",
        "source": SOURCE,
        "outline": [OutlineEntry("Cats"), OutlineEntry("Dogs", level=2)],
        "chunks": [
            ScenarioChunk(0, 22, "Cats purr and nap.", 0, "heading"),
            ScenarioChunk(22, len(SOURCE), "Dogs bark.", 1, "topic"),
        ],
        "metadata": {"source": "pets.txt", "lang": "en"},
    }
    fields.update(changes)
    return DocumentMemory(**fields)


def test_chunks_concatenate_to_the_source():
    m = memory()
    assert "".join(m.chunk_texts()) == SOURCE
    assert m.heading(1) == "Dogs"
    assert m.core_contents() == ["Cats purr and nap.", "Dogs bark."]


@pytest.mark.parametrize(
    ("chunks", "message"),
    [
        (
            [ScenarioChunk(1, 22, "x", 0), ScenarioChunk(22, len(SOURCE), "y", 1)],
            "gap before chunk 0",
        ),
        (
            [ScenarioChunk(0, 20, "x", 0), ScenarioChunk(22, len(SOURCE), "y", 1)],
            "gap before chunk 1",
        ),
        (
            [ScenarioChunk(0, 24, "x", 0), ScenarioChunk(22, len(SOURCE), "y", 1)],
            "overlap before chunk 1",
        ),
        ([ScenarioChunk(0, 22, "x", 0)], "chunks end at 22"),
        ([ScenarioChunk(0, 0, "x", 0), ScenarioChunk(0, len(SOURCE), "y", 1)], "chunk 0 is empty"),
        ([ScenarioChunk(0, len(SOURCE), "x", 5)], "links to outline entry 5"),
        ([], "has no chunks"),
    ],
)
def test_broken_tiling_or_links_are_rejected(chunks, message):
    with pytest.raises(ValueError, match=message):
        memory(chunks=chunks)


def test_field_types_are_checked():
    with pytest.raises(TypeError, match="start must be an int"):
        ScenarioChunk("0", 3, "x", 0)
    with pytest.raises(ValueError, match="recovery must be one of"):
        ScenarioChunk(0, 3, "x", 0, "guessed")
    with pytest.raises(ValueError, match="level must be an int >= 1"):
        OutlineEntry("x", level=0)
    with pytest.raises(ValueError, match="source is empty"):
        memory(source="", chunks=[ScenarioChunk(0, 1, "x", 0)])


def test_json_round_trip_is_exact():
    m = memory(info={"extractor": "test", "scores": [0.5, None]})
    text = m.to_json()
    again = DocumentMemory.from_json(text)
    assert again == m
    assert json.loads(text)["version"] == 1
    assert DocumentMemory.from_dict(m.to_dict()) == m


def test_json_keeps_unicode_and_checks_the_invariant_again():
    source = "Café crème.\n\nÜber 🙂 emoji."
    m = DocumentMemory(
        "u",
        source,
        [OutlineEntry("All")],
        [ScenarioChunk(0, 13, "a", 0), ScenarioChunk(13, len(source), "b", 0)],
    )
    assert "🙂" in m.to_json()
    assert DocumentMemory.from_json(m.to_json()).chunk_text(1) == "Über 🙂 emoji."
    broken = m.to_dict()
    broken["chunks"][1]["start"] = 14
    with pytest.raises(ValueError, match="gap before chunk 1"):
        DocumentMemory.from_dict(broken)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not a JSON document memory"),
        ('{"version": 99}', "unsupported document-memory version 99"),
        ('{"version": 1, "doc_id": "x"}', "missing source, outline, chunks"),
        (
            '{"version": 1, "doc_id": "x", "source": "a", "outline": [{}], "chunks": []}',
            "malformed",
        ),
    ],
)
def test_bad_json_is_a_clear_error(text, message):
    with pytest.raises(ValueError, match=message):
        DocumentMemory.from_json(text)


def test_passages_carry_offsets_heading_and_core_content():
    m = memory()
    first, second = m.passages()
    assert first.id == "pets#0" and first.text == "Cats purr. Cats nap."
    assert SOURCE[first.metadata["start"] : first.metadata["end"]] == first.text
    assert second.text == "Dogs bark at night."
    assert second.metadata["heading"] == "Dogs" and second.metadata["core_content"] == "Dogs bark."
    assert second.metadata["doc_id"] == "pets" and second.metadata["chunk_index"] == 1
    assert first.metadata["source"] == "pets.txt" and first.metadata["lang"] == "en"


def test_the_callers_metadata_keys_win_over_ours():
    m = memory(metadata={"heading": "mine", "nested": {"a": [1, 2]}})
    passage = m.passage(0)
    assert passage.metadata["heading"] == "mine"
    assert passage.metadata["nested"] == {"a": [1, 2]}


def test_default_doc_id_is_derived_from_the_text():
    a = memory(doc_id="")
    b = memory(doc_id="")
    assert a.doc_id == b.doc_id and a.doc_id.startswith("m-")


# -- document checks (the "Bad input") ----------------------------------------


@pytest.mark.parametrize(
    ("document", "error", "message"),
    [
        ("", ValueError, "document is empty"),
        ("  \n\t ", ValueError, "document is empty"),
        (b"\xff\xfe\x00abc", ValueError, "not valid UTF-8 text \\(byte 0xff at offset 0\\)"),
        ("latin-1 caf\xe9".encode("latin-1"), ValueError, "not valid UTF-8"),
        (b"PK\x03\x04\x00\x00binary", ValueError, "binary data \\(it contains NUL"),
        ("\x01\x02\x03\x04 text \x05\x06", ValueError, "binary data \\(6 control characters"),
        ("bad \udcff surrogate", ValueError, "unpaired surrogate"),
        (12, TypeError, "must be a str or UTF-8 bytes, got int"),
        (None, TypeError, "got NoneType"),
    ],
)
def test_bad_documents_are_rejected(document, error, message):
    with pytest.raises(error, match=message):
        check_document(document)


def test_good_documents_are_returned_unchanged():
    text = "  Leading space, tabs\tand\r\nCRLF.  "
    assert check_document(text) == text
    assert check_document("Ünïcödé".encode()) == "Ünïcödé"
