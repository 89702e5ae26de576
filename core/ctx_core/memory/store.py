"""Keeping the memories of a [`MemoryIndex`][ctx_core.memory.index.MemoryIndex] in a local SQLite file.

The index calls this module with what it holds ([`IndexedMemory`][ctx_core.memory.model.IndexedMemory]
per document, its embedder and ``layer_words``); this module knows nothing of the index.

Schema (version 1):

* ``ctx_memory_meta(key, value)`` - ``format``, ``schema_version``, ``embedder``,
  ``dimension``, ``layer_words``;
* ``memories(doc_id, position, fingerprint, memory)`` - one row per document, the memory
  as JSON ([`to_json`][ctx_core.memory.model.DocumentMemory.to_json]);
* ``layer_rows(doc_id, layer, row, text, chunks, vector)`` - every embedded row, the vector
  as little-endian float32 bytes, ``chunks`` a JSON list of chunk indexes.

Saving into an existing file first checks, read-only, that it is a memory index built
with the same embedder; then, in one locked write transaction (``BEGIN IMMEDIATE``, WAL
journal, a busy timeout), it writes the changes it is given: the documents added or
replaced and those removed. Other processes saving into the same file wait for the lock
and then write their own changes, so concurrent saves are serialized and none is lost
(per document, the last save wins). A process killed mid-save leaves the file as it was
before that save. With ``replace=True`` the file is made to equal the given memories.

A new file is built under a staging name beside it (``.<name>.<pid>.<token>.tmp``) and
published with a hard link, which fails if another process created the file meanwhile
(the save then merges into that file). Staging files of processes that no longer run
are removed the next time the index is opened or saved.

A file that is not a memory index (or is corrupted) is never written to.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
import time
import uuid
from collections.abc import Collection, Mapping
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ctx_core.errors import CtxError
from ctx_core.memory.model import LAYERS, DocumentMemory, IndexedMemory, LayerRow

if TYPE_CHECKING:
    from ctx_core.embeddings import Embedder

__all__ = [
    "DEFAULT_TIMEOUT",
    "FORMAT_NAME",
    "SCHEMA_VERSION",
    "MemoryIndexError",
    "SaveSummary",
    "count_documents",
    "read_memories",
    "read_meta",
    "remove_abandoned_staging",
    "write_memories",
]

logger = logging.getLogger(__name__)

#: Version of the SQLite schema written by this code.
SCHEMA_VERSION = 1
FORMAT_NAME = "ctx-rag.memory-index"
#: Seconds a save waits for another process's write transaction on the same file.
DEFAULT_TIMEOUT = 60.0
#: Where no process table can be asked (not POSIX), a staging file untouched this long
#: (seconds) counts as abandoned.
STALE_STAGING_S = 3600.0

_SCHEMA = """
CREATE TABLE ctx_memory_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE memories (
    doc_id TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    memory TEXT NOT NULL
);
CREATE TABLE layer_rows (
    doc_id TEXT NOT NULL REFERENCES memories(doc_id) ON DELETE CASCADE,
    layer TEXT NOT NULL CHECK (layer IN ('chunk', 'outline', 'core')),
    row INTEGER NOT NULL,
    text TEXT NOT NULL,
    chunks TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (doc_id, layer, row)
);
"""


class MemoryIndexError(CtxError, ValueError):
    """A memory-index file is corrupted, not a memory index, or does not fit this index."""


@dataclass(frozen=True)
class SaveSummary:
    """What one save wrote: documents ``written``, ``removed`` and left ``unchanged``."""

    written: int
    removed: int
    unchanged: int


def _read_only(path: Path, timeout: float = DEFAULT_TIMEOUT) -> sqlite3.Connection:
    uri = path.resolve().as_uri() + "?mode=ro"
    return sqlite3.connect(uri, uri=True, timeout=timeout)


def _staging_pattern(path: Path) -> re.Pattern[str]:
    # ".<name>.<pid>.tmp" (older saves) or ".<name>.<pid>.<token>.tmp", and SQLite's
    # journal / WAL files beside them.
    return re.compile(
        rf"^\.{re.escape(path.name)}\.(\d+)(?:\.[0-9a-f]+)?\.tmp(?:-journal|-wal|-shm)?$"
    )


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    except OSError:
        return True
    return True


def remove_abandoned_staging(path: str | Path) -> list[Path]:
    """Remove the staging files a crashed save of ``path`` left beside it.

    A staging file is abandoned when the process named in it no longer runs (on POSIX;
    elsewhere, when it was not modified for `STALE_STAGING_S`). Files of running
    saves and files of other indexes are left alone; errors are logged, never raised.

    Returns:
        The files removed.
    """
    path = Path(path)
    pattern = _staging_pattern(path)
    removed: list[Path] = []
    try:
        candidates = list(path.parent.iterdir())
    except OSError as err:
        logger.debug("cannot list %s for staging files: %s", path.parent, err)
        return removed
    for candidate in candidates:
        match = pattern.match(candidate.name)
        if match is None:
            continue
        try:
            if os.name == "posix":
                abandoned = not _process_alive(int(match.group(1)))
            else:  # os.kill(pid, 0) would terminate the process on Windows
                abandoned = time.time() - candidate.stat().st_mtime > STALE_STAGING_S
            if abandoned:
                candidate.unlink()
                removed.append(candidate)
        except OSError as err:
            logger.debug("cannot remove staging file %s: %s", candidate, err)
    if removed:
        logger.warning(
            "memory index %s: removed %d staging file(s) left by an interrupted save",
            path,
            len(removed),
        )
    return removed


def read_meta(path: str | Path) -> dict[str, str]:
    """The ``ctx_memory_meta`` table of a memory-index file, checked (read-only).

    Raises:
        FileNotFoundError: no such file.
        MemoryIndexError: not a readable SQLite file, not a memory index, or written by a
            newer schema version.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no memory index at {str(path)!r}")
    try:
        with closing(_read_only(path)) as connection:
            tables = {
                row[0]
                for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            if "ctx_memory_meta" not in tables:
                raise MemoryIndexError(
                    f"{str(path)!r} is an SQLite file but not a ctx-rag memory index "
                    "(no ctx_memory_meta table); it was left unchanged"
                )
            meta = dict(connection.execute("SELECT key, value FROM ctx_memory_meta").fetchall())
    except sqlite3.DatabaseError as err:
        raise MemoryIndexError(
            f"{str(path)!r} is not a readable memory index (corrupted, or not an SQLite "
            f"file): {err}; it was left unchanged"
        ) from err
    if meta.get("format") != FORMAT_NAME:
        raise MemoryIndexError(
            f"{str(path)!r} is not a ctx-rag memory index (format {meta.get('format')!r}); "
            "it was left unchanged"
        )
    try:
        version = int(meta.get("schema_version", ""))
    except ValueError:
        version = -1
    if version < 1:
        raise MemoryIndexError(f"{str(path)!r} has no valid schema_version; it was left unchanged")
    if version > SCHEMA_VERSION:
        raise MemoryIndexError(
            f"{str(path)!r} uses memory-index schema version {version}, newer than this "
            f"code's {SCHEMA_VERSION}: upgrade ctx-rag to read it"
        )
    missing = [k for k in ("embedder", "dimension", "layer_words") if k not in meta]
    if missing:
        raise MemoryIndexError(f"{str(path)!r} lacks {', '.join(missing)} in its metadata")
    return meta


def write_memories(
    path: Path,
    memories: Mapping[str, IndexedMemory],
    *,
    embedder: Embedder,
    layer_words: int,
    changed: Collection[str] | None = None,
    removed: Collection[str] = (),
    replace: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
) -> SaveSummary:
    """Write changes of an index into the file at ``path`` (see the module docstring).

    Args:
        path: The SQLite file, created if missing.
        memories: The memories by doc id, as the index holds them.
        embedder: The embedder of their vectors (its name and dimension are recorded).
        layer_words: The index's ``layer_words`` (recorded; a file must match it).
        changed: Doc ids of ``memories`` to write (``None``: all of them); one whose
            stored fingerprint already matches is not rewritten.
        removed: Doc ids to delete from the file (those also in ``memories`` are kept).
        replace: Make the file hold exactly ``memories``, in their order: documents the
            file holds that ``memories`` does not are deleted (``changed`` and
            ``removed`` are then ignored).
        timeout: Seconds to wait for another process's write lock on the file.

    Returns:
        How many documents were written, removed and left unchanged.

    Raises:
        MemoryIndexError: the file exists but is not a memory index, or was built with
            another embedder or ``layer_words``; it is left untouched. Also when the
            write lock was not had within ``timeout`` (nothing is written then).
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"folder {str(path.parent)!r} does not exist")
    remove_abandoned_staging(path)
    if not path.exists():
        summary = _create(path, memories, embedder, layer_words)
        if summary is not None:
            return summary
        # Another process created the file meanwhile: merge into it, everything counts.
        changed, removed = None, ()
    if not path.is_file():
        raise MemoryIndexError(f"{str(path)!r} exists and is not a file")
    meta = read_meta(path)
    _check_compatible(meta, path, embedder, layer_words)
    try:
        with closing(sqlite3.connect(path, timeout=timeout, isolation_level=None)) as connection:
            connection.execute("PRAGMA foreign_keys = ON")
            # WAL: readers (load, ctx ask) never wait for a writer, nor a writer for them.
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("BEGIN IMMEDIATE")  # the write lock, waited for up to timeout
            try:
                # Checked again under the lock: the file may have been replaced meanwhile.
                locked_meta = dict(
                    connection.execute("SELECT key, value FROM ctx_memory_meta").fetchall()
                )
                _check_compatible(locked_meta, path, embedder, layer_words)
                summary = _sync(connection, memories, changed, removed, replace)
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
    except sqlite3.OperationalError as err:
        raise MemoryIndexError(
            f"could not write the memory index {str(path)!r} ({err}; waited up to "
            f"{timeout:g} s for other writers); nothing was written"
        ) from err
    return summary


def _create(
    path: Path, memories: Mapping[str, IndexedMemory], embedder: Embedder, layer_words: int
) -> SaveSummary | None:
    """Build a new file at ``path``; ``None`` if another process created it first."""
    staging = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with closing(sqlite3.connect(staging)) as connection:
            connection.execute("PRAGMA foreign_keys = ON")
            with connection:
                connection.executescript(_SCHEMA)
                connection.executemany(
                    "INSERT INTO ctx_memory_meta (key, value) VALUES (?, ?)",
                    [
                        ("format", FORMAT_NAME),
                        ("schema_version", str(SCHEMA_VERSION)),
                        ("embedder", embedder.model_name),
                        ("dimension", str(embedder.dimension)),
                        ("layer_words", str(layer_words)),
                    ],
                )
                summary = _sync(connection, memories, None, (), True)
            connection.execute("PRAGMA journal_mode = WAL")
        try:
            # A hard link publishes the finished file only if no file is there yet.
            os.link(staging, path)
        except FileExistsError:
            return None
        except OSError:  # a file system without hard links
            if path.exists():
                return None
            os.replace(staging, path)
        return summary
    finally:
        for leftover in (staging, staging.with_name(staging.name + "-journal")):
            if leftover.exists():
                leftover.unlink()


def _check_compatible(
    meta: dict[str, str], path: Path, embedder: Embedder, layer_words: int
) -> None:
    if int(meta["dimension"]) != embedder.dimension:
        raise MemoryIndexError(
            f"{str(path)!r} holds {meta['dimension']}-dimensional vectors; this index's "
            f"embedder makes {embedder.dimension}: save to another file"
        )
    if meta["embedder"] != embedder.model_name:
        raise MemoryIndexError(
            f"{str(path)!r} was built with embedder {meta['embedder']!r}, this index uses "
            f"{embedder.model_name!r}: save to another file"
        )
    if int(meta["layer_words"]) != layer_words:
        raise MemoryIndexError(
            f"{str(path)!r} was built with layer_words={meta['layer_words']}, this index "
            f"uses {layer_words}: save to another file"
        )


def _sync(
    connection: sqlite3.Connection,
    memories: Mapping[str, IndexedMemory],
    changed: Collection[str] | None,
    removed: Collection[str],
    replace: bool,
) -> SaveSummary:
    """Write the changes inside the caller's transaction (see [`write_memories`][ctx_core.memory.store.write_memories])."""
    stored = dict(connection.execute("SELECT doc_id, fingerprint FROM memories").fetchall())
    if replace:
        gone = [doc_id for doc_id in stored if doc_id not in memories]
    else:
        gone = [d for d in dict.fromkeys(removed) if d in stored and d not in memories]
    connection.executemany("DELETE FROM memories WHERE doc_id = ?", [(d,) for d in gone])
    if replace:
        targets = list(memories)
        next_position = 0
    else:
        targets = [d for d in memories if changed is None or d in changed]
        last = connection.execute("SELECT MAX(position) FROM memories").fetchone()[0]
        next_position = 0 if last is None else int(last) + 1
    written = 0
    for doc_id in targets:
        entry = memories[doc_id]
        position = next_position
        if replace:
            next_position += 1
        if stored.get(doc_id) == entry.fingerprint:
            if replace:
                connection.execute(
                    "UPDATE memories SET position = ? WHERE doc_id = ?", (position, doc_id)
                )
            continue
        if not replace:
            next_position += 1
        _write_document(connection, doc_id, position, entry)
        written += 1
    summary = SaveSummary(written, len(gone), len(memories) - written)
    logger.info(
        "memory index: %d document(s) written, %d removed, %d unchanged",
        summary.written,
        summary.removed,
        summary.unchanged,
    )
    return summary


def _write_document(
    connection: sqlite3.Connection, doc_id: str, position: int, entry: IndexedMemory
) -> None:
    connection.execute("DELETE FROM memories WHERE doc_id = ?", (doc_id,))
    connection.execute(
        "INSERT INTO memories (doc_id, position, fingerprint, memory) VALUES (?, ?, ?, ?)",
        (doc_id, position, entry.fingerprint, entry.memory.to_json()),
    )
    connection.executemany(
        "INSERT INTO layer_rows (doc_id, layer, row, text, chunks, vector) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [
            (
                doc_id,
                layer,
                k,
                row.text,
                json.dumps(list(row.chunks)),
                np.asarray(entry.vectors[layer][k], dtype="<f4").tobytes(),
            )
            for layer, rows in entry.rows.items()
            for k, row in enumerate(rows)
        ],
    )


def count_documents(path: str | Path) -> int:
    """How many documents the memory-index file at ``path`` holds (read-only).

    Raises:
        FileNotFoundError: no such file.
        MemoryIndexError: not a memory index, or corrupted.
    """
    path = Path(path)
    read_meta(path)
    try:
        with closing(_read_only(path)) as connection:
            return int(connection.execute("SELECT count(*) FROM memories").fetchone()[0])
    except sqlite3.DatabaseError as err:
        raise MemoryIndexError(f"{str(path)!r} is corrupted: {err}") from err


def read_memories(
    path: Path, meta: Mapping[str, str], embedder: Embedder
) -> dict[str, IndexedMemory]:
    """The memories written by [`write_memories`][ctx_core.memory.store.write_memories], by doc id in their saved order.

    Args:
        path: The SQLite file.
        meta: Its metadata, as [`read_meta`][ctx_core.memory.store.read_meta] returned it.
        embedder: The embedder that will query them (its dimension must match the file's).

    Raises:
        MemoryIndexError: the file is corrupted, or its vectors do not fit the embedder.
    """
    dimension = int(meta["dimension"])
    if embedder.dimension != dimension:
        raise MemoryIndexError(
            f"{str(path)!r} holds {dimension}-dimensional vectors but the embedder makes "
            f"{embedder.dimension}"
        )
    if embedder.model_name != meta["embedder"]:
        logger.warning(
            "memory index %s was built with embedder %r; querying it with %r",
            path,
            meta["embedder"],
            embedder.model_name,
        )
    try:
        with closing(_read_only(path)) as connection:
            # One read transaction: both queries see the same committed state even while
            # another process saves into the file.
            connection.isolation_level = None
            connection.execute("BEGIN")
            documents = connection.execute(
                "SELECT doc_id, fingerprint, memory FROM memories ORDER BY position"
            ).fetchall()
            rows = connection.execute(
                "SELECT doc_id, layer, row, text, chunks, vector FROM layer_rows "
                "ORDER BY doc_id, layer, row"
            ).fetchall()
            connection.execute("COMMIT")
    except sqlite3.DatabaseError as err:
        raise MemoryIndexError(f"{str(path)!r} is corrupted: {err}") from err
    by_doc: dict[str, dict[str, list[tuple[LayerRow, np.ndarray]]]] = {}
    for doc_id, layer, _, text, chunks, blob in rows:
        if not isinstance(blob, bytes) or len(blob) != 4 * dimension:
            raise MemoryIndexError(
                f"{str(path)!r} is corrupted: a {layer} vector of {doc_id!r} has "
                f"{len(blob) if isinstance(blob, bytes) else 0} bytes, expected {4 * dimension}"
            )
        vector = np.frombuffer(blob, dtype="<f4")
        row = LayerRow(text, tuple(int(c) for c in json.loads(chunks)))
        by_doc.setdefault(doc_id, {}).setdefault(layer, []).append((row, vector))
    memories: dict[str, IndexedMemory] = {}
    for doc_id, fingerprint, record in documents:
        try:
            memory = DocumentMemory.from_json(record)
        except (ValueError, TypeError) as err:
            raise MemoryIndexError(
                f"{str(path)!r} is corrupted: memory {doc_id!r} is invalid ({err})"
            ) from err
        layers = by_doc.get(doc_id, {})
        entry_rows = {layer: [r for r, _ in layers.get(layer, [])] for layer in LAYERS}
        vectors = {
            layer: (
                np.stack([v for _, v in layers[layer]]).astype(np.float32)
                if layers.get(layer)
                else np.zeros((0, dimension), dtype=np.float32)
            )
            for layer in LAYERS
        }
        bad = [c for rs in entry_rows.values() for r in rs for c in r.chunks]
        if any(not 0 <= c < len(memory.chunks) for c in bad):
            raise MemoryIndexError(
                f"{str(path)!r} is corrupted: a layer row of {doc_id!r} names a missing chunk"
            )
        if len(entry_rows["chunk"]) != len(memory.chunks):
            raise MemoryIndexError(
                f"{str(path)!r} is corrupted: {doc_id!r} has {len(memory.chunks)} chunks but "
                f"{len(entry_rows['chunk'])} chunk rows"
            )
        memories[doc_id] = IndexedMemory(memory, entry_rows, vectors, fingerprint)
    return memories
