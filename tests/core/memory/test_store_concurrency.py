"""Several processes saving into one memory-index file: nothing lost, kill -9 mid-save is atomic.

Each writer is a forked process running the real load -> add -> save path on the packaged
MiniLM. The parent embeds every writer's texts before forking, so the children find all
vectors in the embedder's cache and never run the model (torch is not fork-safe); what
they do run is the code under test: loading, merging and the locked SQLite write.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time
import traceback
from pathlib import Path

import pytest

from ctx_core.memory import HeuristicMemoryExtractor, MemoryIndex

WRITERS = 3  # writers that finish
DOCS_PER_WRITER = 4
FORK = multiprocessing.get_context("fork")
JOIN_S = 60


def _texts(name: str) -> dict[str, str]:
    return {
        f"{name}-{k}": f"# {name} note {k}\n\nWriter {name} wrote note number {k} about topic {k}."
        for k in range(DOCS_PER_WRITER)
    }


@pytest.fixture
def memories(embedder):
    """Each writer's memories, built (and their rows embedded) in the parent."""
    extractor = HeuristicMemoryExtractor(embedder)
    built = {}
    for name in ["seed", *(f"w{i}" for i in range(WRITERS)), "victim"]:
        texts = _texts(name)
        scratch = MemoryIndex(embedder)
        scratch.add_texts(list(texts.values()), ids=list(texts), extractor=extractor)
        built[name] = scratch.memories()
    return built


def _writer(path, embedder, memories, barrier, go, stall_marker=None):
    """Child: load the file, add this writer's memories, wait for everyone, save."""
    try:
        if stall_marker is not None:
            _stall_inside_the_write_transaction(stall_marker)
        index = MemoryIndex.load(path, embedder=embedder)
        index.add_many(memories, replace=True)
        barrier.wait(JOIN_S)  # every writer has loaded before any saves: the race of issue 22
        if go is not None:
            go.wait(JOIN_S)
        index.save()
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
    os._exit(0)


def _stall_inside_the_write_transaction(marker: str) -> None:
    """Test-only (in the child): once the second document's row is being written, say so and hang.

    Wraps :func:`sqlite3.connect` so that every connection traces its statements; the save
    is the library's own, unchanged.
    """
    real_connect = sqlite3.connect
    inserts = []

    def trace(statement: str) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO MEMORIES"):
            inserts.append(statement)
            if len(inserts) == 2:  # one document fully written, the second under way
                Path(marker).write_text(str(os.getpid()))
                time.sleep(JOIN_S)

    def connect(*args, **kwargs):
        connection = real_connect(*args, **kwargs)
        connection.set_trace_callback(trace)
        return connection

    sqlite3.connect = connect


def _seeded(tmp_path, embedder, memories) -> Path:
    path = tmp_path / "shared.sqlite"
    seed = MemoryIndex(embedder)
    seed.add_many(memories["seed"])
    seed.save(path)
    return path


def _ids(memories) -> set[str]:
    return {m.doc_id for m in memories}


def _wait(processes) -> list[int | None]:
    for process in processes:
        process.join(JOIN_S)
    codes = [p.exitcode for p in processes]
    for process in processes:
        if process.is_alive():
            process.kill()
    return codes


def test_concurrent_writers_keep_the_union(tmp_path, embedder, memories):
    path = _seeded(tmp_path, embedder, memories)
    barrier = FORK.Barrier(WRITERS)
    names = [f"w{i}" for i in range(WRITERS)]
    processes = [
        FORK.Process(target=_writer, args=(path, embedder, memories[n], barrier, None))
        for n in names
    ]
    for process in processes:
        process.start()
    assert _wait(processes) == [0] * WRITERS
    loaded = MemoryIndex.load(path, embedder=embedder)
    expected = _ids(memories["seed"]).union(*(_ids(memories[n]) for n in names))
    assert set(loaded.doc_ids) == expected  # before: only the last writer's and the seed
    assert len(loaded) == (WRITERS + 1) * DOCS_PER_WRITER
    for memory in memories["w0"]:
        assert loaded.get(memory.doc_id) == memory


def test_kill_9_mid_save_leaves_exactly_the_finished_writers(tmp_path, embedder, memories):
    path = _seeded(tmp_path, embedder, memories)
    marker = tmp_path / "victim-holds-the-lock"
    barrier = FORK.Barrier(WRITERS + 1)
    go = FORK.Event()  # writers save once the victim is inside its write transaction
    first_done = FORK.Event()  # the victim saves after w0 has saved
    victim = FORK.Process(
        target=_writer, args=(path, embedder, memories["victim"], barrier, first_done, str(marker))
    )
    names = [f"w{i}" for i in range(WRITERS)]
    writers = [
        FORK.Process(target=_writer, args=(path, embedder, memories[n], barrier, go if i else None))
        for i, n in enumerate(names)
    ]
    for process in [victim, *writers]:
        process.start()
    writers[0].join(JOIN_S)
    assert writers[0].exitcode == 0
    first_done.set()
    deadline = time.monotonic() + JOIN_S
    while not marker.exists() and victim.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert marker.exists(), "the victim never reached its write transaction"
    # The victim is inside the write transaction: no one else can take the write lock now.
    probe = sqlite3.connect(path, timeout=0)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        probe.execute("BEGIN IMMEDIATE")
    probe.close()
    go.set()
    time.sleep(0.3)  # the writers are now waiting for the lock (or, before the fix, writing)
    os.kill(victim.pid, signal.SIGKILL)
    victim.join(JOIN_S)
    assert victim.exitcode == -signal.SIGKILL
    assert _wait(writers) == [0] * WRITERS

    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    loaded = MemoryIndex.load(path, embedder=embedder)  # opens cleanly
    finished = _ids(memories["seed"]).union(*(_ids(memories[n]) for n in names))
    victims = _ids(memories["victim"])
    ids = set(loaded.doc_ids)
    assert ids - victims == finished  # every finished writer's documents, nothing else
    assert ids & victims in (set(), victims)  # the killed one's: all or nothing
    for name in ["seed", *names]:
        for memory in memories[name]:
            assert loaded.get(memory.doc_id) == memory
    assert loaded.search("Writer w2 wrote note number 3", k=1)[0].metadata["doc_id"] == "w2-3"


def test_creating_the_file_concurrently_keeps_the_union(tmp_path, embedder, memories):
    """No file yet: every writer starts from an empty index and creates it."""
    path = tmp_path / "new.sqlite"
    barrier = FORK.Barrier(WRITERS)
    names = [f"w{i}" for i in range(WRITERS)]

    def create(memories_of_writer):
        try:
            index = MemoryIndex(embedder)
            index.add_many(memories_of_writer)
            barrier.wait(JOIN_S)
            index.save(path)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
        os._exit(0)

    processes = [FORK.Process(target=create, args=(memories[n],)) for n in names]
    for process in processes:
        process.start()
    assert _wait(processes) == [0] * WRITERS
    loaded = MemoryIndex.load(path, embedder=embedder)
    assert set(loaded.doc_ids) == set().union(*(_ids(memories[n]) for n in names))
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_staging_files_left_by_a_crash_are_removed_on_the_next_open(tmp_path, embedder, memories):
    path = _seeded(tmp_path, embedder, memories)
    dead = _dead_pid()
    # How a save stages a new file: ".<name>.<pid>.tmp" (and SQLite's journal beside it).
    leftovers = [
        tmp_path / f".{path.name}.{dead}.tmp",
        tmp_path / f".{path.name}.{dead}.tmp-journal",
        tmp_path / f".{path.name}.{dead}.5f3a9c01.tmp",
    ]
    for leftover in leftovers:
        leftover.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    live = tmp_path / f".{path.name}.{os.getpid()}.tmp"  # a save in progress: kept
    other = tmp_path / f".other.sqlite.{dead}.tmp"  # another index's: not ours to judge
    live.write_bytes(b"x")
    other.write_bytes(b"x")
    MemoryIndex.load(path, embedder=embedder)
    assert [p for p in leftovers if p.exists()] == []
    assert live.exists() and other.exists()
    live.unlink()
    leftovers[0].write_bytes(b"x")
    index = MemoryIndex(embedder)
    index.add_many(memories["w0"])
    index.save(path)  # saving opens the file too
    assert not leftovers[0].exists()
    assert set(MemoryIndex.load(path, embedder=embedder).doc_ids) == _ids(memories["seed"]) | _ids(
        memories["w0"]
    )
