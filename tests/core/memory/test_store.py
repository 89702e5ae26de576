"""Saving a MemoryIndex to SQLite: schema version, incremental saves, corrupted files."""

import sqlite3

import pytest

from ctx_core.memory import MemoryIndex, MemoryIndexError
from ctx_core.memory.store import SCHEMA_VERSION

TEXTS = {
    "paris": "Paris is the capital of France.",
    "banana": "Bananas are yellow fruit.",
    "mars": "Mars is the red planet.",
}


@pytest.fixture
def index(embedder):
    idx = MemoryIndex(embedder)
    idx.add_texts(list(TEXTS.values()), ids=list(TEXTS), metadatas=[{"n": i} for i in range(3)])
    return idx


def test_save_and_load_round_trip(index, embedder, tmp_path):
    path = index.save(tmp_path / "memories.sqlite")
    with sqlite3.connect(path) as connection:
        meta = dict(connection.execute("SELECT key, value FROM ctx_memory_meta"))
        assert (
            meta["schema_version"] == str(SCHEMA_VERSION)
            and meta["embedder"] == embedder.model_name
        )
        assert connection.execute("SELECT count(*) FROM memories").fetchone()[0] == 3
    loaded = MemoryIndex.load(path, embedder=embedder)
    assert loaded.doc_ids == index.doc_ids and loaded.path == path
    assert loaded.get("paris") == index.get("paris")
    query = "capital of France"
    assert [(p.id, p.metadata) for p in loaded.search(query)] == [
        (p.id, p.metadata) for p in index.search(query)
    ]


def test_load_without_embedder_uses_the_one_the_file_names(index, tmp_path):
    path = index.save(tmp_path / "m.db")
    loaded = MemoryIndex.load(path)
    assert loaded.embedder.model_name == index.embedder.model_name
    assert loaded.search("red planet", k=1)[0].id == "mars#0"


def test_saving_again_writes_only_changes(index, embedder, tmp_path, caplog):
    path = index.save(tmp_path / "m.sqlite")
    index.remove("banana")
    index.add_texts(["Rome is the capital of Italy."], ids=["rome"])
    with caplog.at_level("INFO", logger="ctx_core.memory.store"):
        index.save()  # to the same file
    assert "1 document(s) written, 1 removed, 2 unchanged" in caplog.text
    loaded = MemoryIndex.load(path, embedder=embedder)
    assert loaded.doc_ids == ["paris", "mars", "rome"]
    with sqlite3.connect(path) as connection:
        docs = {row[0] for row in connection.execute("SELECT DISTINCT doc_id FROM layer_rows")}
    assert docs == {"paris", "mars", "rome"}  # the removed document's rows are gone too


def test_add_to_a_loaded_index_and_save(index, embedder, tmp_path):
    path = index.save(tmp_path / "m.sqlite")
    loaded = MemoryIndex.load(path, embedder=embedder)
    loaded.add_texts(["Tokyo is the capital of Japan."], ids=["tokyo"])
    loaded.save()
    again = MemoryIndex.load(path, embedder=embedder)
    assert again.search("capital of Japan", k=1)[0].id == "tokyo#0"
    assert len(again) == 4


@pytest.mark.parametrize(
    "content",
    [
        b"this is not a database at all, just some bytes" * 20,
        b"SQLite format 3\x00" + b"\x00\x01garbage" * 200,
    ],
)
def test_corrupted_file_is_a_clear_error_and_is_not_overwritten(index, embedder, tmp_path, content):
    path = tmp_path / "broken.sqlite"
    path.write_bytes(content)
    with pytest.raises(MemoryIndexError, match=r"not a readable memory index .* left unchanged"):
        MemoryIndex.load(path, embedder=embedder)
    with pytest.raises(MemoryIndexError, match="left unchanged"):
        index.save(path)
    assert path.read_bytes() == content


def test_truncated_index_file(index, embedder, tmp_path):
    path = index.save(tmp_path / "m.sqlite")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(MemoryIndexError):
        MemoryIndex.load(path, embedder=embedder)
    assert path.read_bytes() == data[: len(data) // 2]


def test_other_sqlite_database_is_not_touched(index, tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE notes (body TEXT)")
        connection.execute("INSERT INTO notes VALUES ('keep me')")
    before = path.read_bytes()
    with pytest.raises(MemoryIndexError, match="not a ctx-rag memory index"):
        index.save(path)
    with pytest.raises(MemoryIndexError, match="not a ctx-rag memory index"):
        MemoryIndex.load(path)
    assert path.read_bytes() == before


def test_newer_schema_version_is_refused(index, tmp_path):
    path = index.save(tmp_path / "m.sqlite")
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE ctx_memory_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(MemoryIndexError, match="schema version 99, newer"):
        MemoryIndex.load(path)


def test_damaged_rows_are_reported(index, embedder, tmp_path):
    path = index.save(tmp_path / "m.sqlite")
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE layer_rows SET vector = x'0000' WHERE doc_id = 'mars'")
    with pytest.raises(MemoryIndexError, match="vector of 'mars' has 2 bytes, expected 1536"):
        MemoryIndex.load(path, embedder=embedder)
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE memories SET memory = '{\"version\": 1}' WHERE doc_id = 'mars'")
        connection.execute("DELETE FROM layer_rows WHERE doc_id = 'mars'")
    with pytest.raises(MemoryIndexError, match="memory 'mars' is invalid"):
        MemoryIndex.load(path, embedder=embedder)


def test_missing_file_and_folder(index, tmp_path):
    with pytest.raises(FileNotFoundError, match="no memory index"):
        MemoryIndex.load(tmp_path / "absent.sqlite")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        index.save(tmp_path / "no" / "such" / "folder.sqlite")
    with pytest.raises(ValueError, match="path is required"):
        index.save()


def test_saving_with_another_layer_size_is_refused(index, embedder, tmp_path):
    path = index.save(tmp_path / "m.sqlite")
    other = MemoryIndex(embedder, layer_words=50)
    other.add_texts(["x y z"], ids=["x"])
    with pytest.raises(MemoryIndexError, match="layer_words=200"):
        other.save(path)


def test_merge_keeps_what_others_saved_and_replace_makes_the_file_equal(index, embedder, tmp_path):
    path = index.save(tmp_path / "m.sqlite")
    first = MemoryIndex.load(path, embedder=embedder)
    second = MemoryIndex.load(path, embedder=embedder)
    first.add_texts(["Tokyo is the capital of Japan."], ids=["tokyo"])
    second.remove("banana")
    second.add_texts(["Rome is the capital of Italy."], ids=["rome"])
    first.save()
    second.save()  # merges: tokyo (saved by first meanwhile) stays, banana goes
    assert MemoryIndex.load(path, embedder=embedder).doc_ids == ["paris", "mars", "tokyo", "rome"]
    other = MemoryIndex(embedder)
    other.add_texts(["Oslo is the capital of Norway."], ids=["oslo"])
    other.save(path)  # another index into this file: its documents are added, none removed
    assert len(MemoryIndex.load(path, embedder=embedder)) == 5
    other.save(path, mode="replace")
    assert MemoryIndex.load(path, embedder=embedder).doc_ids == ["oslo"]
    with pytest.raises(ValueError, match="mode must be"):
        other.save(path, mode="overwrite")


def test_a_held_write_lock_times_out_with_a_clear_error(index, embedder, tmp_path):
    path = index.save(tmp_path / "m.sqlite")
    index.add_texts(["Tokyo is the capital of Japan."], ids=["tokyo"])
    with sqlite3.connect(path, isolation_level=None) as holder:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(MemoryIndexError, match="nothing was written"):
            index.save(timeout=0.2)
        holder.execute("ROLLBACK")
    index.save()
    assert "tokyo" in MemoryIndex.load(path, embedder=embedder)
