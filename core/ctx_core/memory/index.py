"""``MemoryIndex``: three embedded layers per document memory, searched together.

Layers of each document:

* ``"chunk"`` - every scenario chunk, prefixed with its outline heading;
* ``"outline"`` - the document's outline (long outlines in pieces of ``layer_words``);
* ``"core"`` - the core contents of its chunks (long ones in pieces as well).

A search embeds the query once, takes the best rows of each layer, *expands* an
outline or core-content hit to the chunks it stands for, drops near-duplicate chunks,
ranks what is left - by default by the similarity of each chunk's own row fused with
that of the outline and core rows covering it, or by any core
[`Scorer`][ctx_core.scoring.base.Scorer] - and returns chunks as passages that say which
layers found them (``metadata["memory_layers"]``).

The index lives in memory; [`MemoryIndex.save`][ctx_core.memory.index.MemoryIndex.save] / [`MemoryIndex.load`][ctx_core.memory.index.MemoryIndex.load] keep it in
a local SQLite file. Documents are added and removed one by one; nothing else is
re-embedded, and a save writes only what this index changed since it was loaded or last
saved, in one locked transaction: several processes may save into one file at once and
none loses the others' documents.

Examples:
    >>> from ctx_core.memory import HeuristicMemoryExtractor, MemoryIndex
    >>> index = MemoryIndex()
    >>> index.add_texts(
    ...     ["# Paris\\n\\nParis is the capital of France.", "# Bananas\\n\\nBananas are yellow fruit."],
    ...     ids=["paris", "bananas"],
    ... )
    ['paris', 'bananas']
    >>> hit = index.search("What is the capital of France?", k=1)[0]
    >>> hit.id, hit.metadata["heading"], hit.metadata["memory_layers"]
    ('paris#0', 'Paris', ['chunk', 'outline', 'core'])
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ctx_core._registry import Configurable, config_value
from ctx_core.embeddings import Embedder, embedder_config
from ctx_core.memory.base import MemoryExtractorLike
from ctx_core.memory.heuristic import HeuristicMemoryExtractor, embed_by_length
from ctx_core.memory.model import LAYERS, DocumentMemory, IndexedMemory, LayerRow
from ctx_core.memory.segments import count_words
from ctx_core.memory.store import (
    DEFAULT_TIMEOUT,
    read_memories,
    read_meta,
    remove_abandoned_staging,
    write_memories,
)
from ctx_core.scoring.base import Scorer
from ctx_core.types import Passage, validate_query

__all__ = ["MemoryIndex", "layer_rows"]

logger = logging.getLogger(__name__)


def layer_rows(memory: DocumentMemory, layer_words: int = 200) -> dict[str, list[LayerRow]]:
    """The rows of each layer for ``memory`` (see the module docstring).

    Examples:
        >>> from ctx_core.memory import DocumentMemory, OutlineEntry, ScenarioChunk
        >>> memory = DocumentMemory("d", "Cats purr. Dogs bark.", [OutlineEntry("Cats"), OutlineEntry("Dogs")],
        ...     [ScenarioChunk(0, 11, "Cats purr.", 0), ScenarioChunk(11, 21, "Dogs bark.", 1)])
        >>> rows = layer_rows(memory)
        >>> [r.text for r in rows["chunk"]]
        ['Cats\\nCats purr.', 'Dogs\\nDogs bark.']
        >>> rows["outline"][0].text, rows["outline"][0].chunks
        ('Outline:\\nCats\\nDogs', (0, 1))
    """
    chunk_rows = [
        LayerRow(f"{' > '.join(memory.heading_path(i))}\n{memory.chunk_text(i).strip()}", (i,))
        for i in range(len(memory.chunks))
    ]
    by_entry: dict[int, list[int]] = {}
    for i, chunk in enumerate(memory.chunks):
        by_entry.setdefault(chunk.outline_index, []).append(i)
    outline_rows = _grouped(
        "Outline:",
        [(e.title, tuple(by_entry.get(j, ()))) for j, e in enumerate(memory.outline)],
        layer_words,
    )
    core_rows = _grouped(
        "Key information:",
        [(c.core_content, (i,)) for i, c in enumerate(memory.chunks) if c.core_content.strip()],
        layer_words,
    )
    return {"chunk": chunk_rows, "outline": outline_rows, "core": core_rows}


def _grouped(
    label: str, pieces: Sequence[tuple[str, tuple[int, ...]]], layer_words: int
) -> list[LayerRow]:
    rows: list[LayerRow] = []
    lines: list[str] = []
    chunks: list[int] = []
    words = 0
    for text, linked in pieces:
        n = count_words(text)
        if lines and words + n > layer_words:
            if chunks:
                rows.append(LayerRow(label + "\n" + "\n".join(lines), tuple(chunks)))
            lines, chunks, words = [], [], 0
        lines.append(text)
        chunks.extend(linked)
        words += n
    if lines and chunks:
        rows.append(LayerRow(label + "\n" + "\n".join(lines), tuple(chunks)))
    return rows


class MemoryIndex(Configurable):
    """Document memories in three embedded layers, searched together.

    Args:
        embedder: An [`Embedder`][ctx_core.embeddings.Embedder], a model id or path, or
            ``None`` for the packaged MiniLM.
        scorer: Reranks the expanded candidates (any [`Scorer`][ctx_core.scoring.base.Scorer]);
            ``None`` ranks them by the similarity of their chunk-layer embedding.
        chunk_k: Chunk-layer rows taken per search.
        outline_k: Outline-layer rows taken (each expands to its chunks).
        core_k: Core-content rows taken (each expands to its chunks).
        outline_weight: Weight of the best covering outline row's similarity in a
            candidate's score (its own chunk row weighs 1).
        core_weight: Weight of the best covering core-content row's similarity.
        duplicate_threshold: Candidates whose chunk embeddings have at least this cosine
            similarity with a better one (or the same text) are dropped; the better one
            keeps their provenance.
        layer_words: Outline and core-content rows hold at most about this many words.
        show_progress: Progress bars for long jobs (``None``: automatic).
    """

    def __init__(
        self,
        embedder: Embedder | str | None = None,
        *,
        scorer: Scorer | None = None,
        chunk_k: int = 8,
        outline_k: int = 2,
        core_k: int = 2,
        outline_weight: float = 0.25,
        core_weight: float = 0.25,
        duplicate_threshold: float = 0.95,
        layer_words: int = 200,
        show_progress: bool | None = None,
    ) -> None:
        for name, value in (("chunk_k", chunk_k), ("outline_k", outline_k), ("core_k", core_k)):
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        if chunk_k + outline_k + core_k == 0:
            raise ValueError("at least one of chunk_k, outline_k, core_k must be > 0")
        for name, weight in (("outline_weight", outline_weight), ("core_weight", core_weight)):
            if weight < 0:
                raise ValueError(f"{name} must be >= 0, got {weight}")
        if not 0 < duplicate_threshold <= 1:
            raise ValueError(f"duplicate_threshold must be in (0, 1], got {duplicate_threshold}")
        if layer_words < 1:
            raise ValueError(f"layer_words must be >= 1, got {layer_words}")
        if scorer is not None and not isinstance(scorer, Scorer):
            raise TypeError(f"scorer must implement score()/ascore(), got {type(scorer).__name__}")
        self.embedder = embedder if isinstance(embedder, Embedder) else Embedder(embedder)
        self.scorer = scorer
        self.chunk_k = chunk_k
        self.outline_k = outline_k
        self.core_k = core_k
        self.outline_weight = outline_weight
        self.core_weight = core_weight
        self.duplicate_threshold = duplicate_threshold
        self.layer_words = layer_words
        self.show_progress = show_progress
        self.path: Path | None = None
        self._entries: dict[str, IndexedMemory] = {}
        # Fingerprint of each document as ``self.path`` held it when this index last
        # loaded or saved it: what a merging save compares against to find its changes.
        self._saved: dict[str, str] = {}
        self._matrix: dict[str, tuple[np.ndarray, list[tuple[str, int]]]] | None = None

    # -- contents ---------------------------------------------------------

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._entries

    def __repr__(self) -> str:
        return (
            f"MemoryIndex({len(self)} documents, embedder={self.embedder.model_name!r}"
            + (f", path={str(self.path)!r}" if self.path else "")
            + ")"
        )

    def config(self) -> dict[str, Any]:
        """The settings: embedder (by model name), scorer config, ``*_k``, weights; never the rows.

        A rebuilt index is empty: load or add the memories again.

        Raises:
            ConfigError: the scorer has no ``config()``.
        """
        return {
            "type": "MemoryIndex",
            "embedder": embedder_config(self.embedder),
            "scorer": config_value(self.scorer, "scorer"),
            "chunk_k": self.chunk_k,
            "outline_k": self.outline_k,
            "core_k": self.core_k,
            "outline_weight": self.outline_weight,
            "core_weight": self.core_weight,
            "duplicate_threshold": self.duplicate_threshold,
            "layer_words": self.layer_words,
            "show_progress": self.show_progress,
        }

    @property
    def doc_ids(self) -> list[str]:
        """Ids of the memories, in the order they were added."""
        return list(self._entries)

    def get(self, doc_id: str) -> DocumentMemory:
        """The memory of ``doc_id``.

        Raises:
            KeyError: no such document.
        """
        return self._entry(doc_id).memory

    def memories(self) -> list[DocumentMemory]:
        """All memories, in the order they were added."""
        return [e.memory for e in self._entries.values()]

    def rows(self, doc_id: str) -> dict[str, list[LayerRow]]:
        """The layer rows of ``doc_id`` (what was embedded for it)."""
        return self._entry(doc_id).rows

    def _entry(self, doc_id: str) -> IndexedMemory:
        if doc_id not in self._entries:
            raise KeyError(f"no memory with doc_id {doc_id!r} in the index")
        return self._entries[doc_id]

    def fingerprint(self, memory: DocumentMemory) -> str:
        """Hash of what a memory's stored rows depend on (used to save only changes)."""
        digest = hashlib.sha256(memory.to_json().encode("utf-8"))
        digest.update(f"\x00{self.embedder.model_name}\x00{self.layer_words}".encode())
        return digest.hexdigest()[:32]

    # -- adding and removing ----------------------------------------------

    def add(self, memory: DocumentMemory, *, replace: bool = False) -> None:
        """Embed and add one memory.

        Raises:
            TypeError: ``memory`` is not a [`DocumentMemory`][ctx_core.memory.model.DocumentMemory].
            ValueError: its ``doc_id`` is already in the index and ``replace`` is false.
        """
        self.add_many([memory], replace=replace)

    def add_many(self, memories: Iterable[DocumentMemory], *, replace: bool = False) -> None:
        """Embed and add several memories (all rows embedded in one batched pass)."""
        items = list(memories)
        seen: set[str] = set()
        for i, memory in enumerate(items):
            if not isinstance(memory, DocumentMemory):
                raise TypeError(
                    f"memories[{i}] must be a DocumentMemory, got {type(memory).__name__}"
                )
            if memory.doc_id in seen:
                raise ValueError(f"memories contains doc_id {memory.doc_id!r} twice")
            seen.add(memory.doc_id)
            if memory.doc_id in self._entries and not replace:
                raise ValueError(
                    f"doc_id {memory.doc_id!r} is already in the index (pass replace=True)"
                )
        if not items:
            return
        rows = [layer_rows(m, self.layer_words) for m in items]
        texts = [r.text for per_doc in rows for layer in LAYERS for r in per_doc[layer]]
        ids = [
            f"{m.doc_id}/{layer}{k}"
            for m, per_doc in zip(items, rows, strict=True)
            for layer in LAYERS
            for k in range(len(per_doc[layer]))
        ]
        vectors = embed_by_length(self.embedder, texts, ids)
        offset = 0
        for memory, per_doc in zip(items, rows, strict=True):
            by_layer: dict[str, np.ndarray] = {}
            for layer in LAYERS:
                n = len(per_doc[layer])
                by_layer[layer] = vectors[offset : offset + n]
                offset += n
            self._entries.pop(memory.doc_id, None)
            self._entries[memory.doc_id] = IndexedMemory(
                memory, per_doc, by_layer, self.fingerprint(memory)
            )
        self._matrix = None

    def add_texts(
        self,
        texts: Sequence[str | bytes],
        *,
        ids: Sequence[str] | None = None,
        metadatas: Sequence[Mapping[str, Any]] | None = None,
        extractor: MemoryExtractorLike | None = None,
        replace: bool = False,
        show_progress: bool | None = None,
    ) -> list[str]:
        """Build memories of ``texts`` (default extractor: heuristic) and add them.

        Returns:
            The doc ids, in order.
        """
        if ids is not None:
            duplicates = sorted({i for i in ids if i in self._entries}) if not replace else []
            if duplicates:
                raise ValueError(
                    f"doc_id {duplicates[0]!r} is already in the index (pass replace=True)"
                )
        extractor = extractor or HeuristicMemoryExtractor(self.embedder)
        memories = extractor.extract_many(
            texts,
            ids=ids,
            metadatas=metadatas,
            show_progress=self.show_progress if show_progress is None else show_progress,
        )
        self.add_many(memories, replace=replace)
        return [m.doc_id for m in memories]

    def remove(self, doc_id: str) -> DocumentMemory:
        """Remove a memory and return it; other documents are untouched.

        Raises:
            KeyError: no such document.
        """
        entry = self._entry(doc_id)
        del self._entries[doc_id]
        self._matrix = None
        return entry.memory

    # -- search -----------------------------------------------------------

    def _matrices(self) -> dict[str, tuple[np.ndarray, list[tuple[str, int]]]]:
        if self._matrix is None:
            dimension = self.embedder.dimension
            built: dict[str, tuple[np.ndarray, list[tuple[str, int]]]] = {}
            for layer in LAYERS:
                blocks = [e.vectors[layer] for e in self._entries.values() if len(e.rows[layer])]
                owners = [
                    (doc_id, k)
                    for doc_id, e in self._entries.items()
                    for k in range(len(e.rows[layer]))
                ]
                matrix = (
                    np.concatenate(blocks).astype(np.float32)
                    if blocks
                    else np.zeros((0, dimension), dtype=np.float32)
                )
                built[layer] = (matrix, owners)
            self._matrix = built
        return self._matrix

    def candidates(self, query_vector: np.ndarray, layers: Sequence[str] = LAYERS) -> list[Passage]:
        """Expanded, de-duplicated candidates for an embedded query, best first.

        The pool is the best ``chunk_k`` chunk rows plus the chunks of the best
        ``outline_k`` outline rows and ``core_k`` core-content rows. Each candidate's
        ``score`` fuses the similarity of its own chunk row with the best similarity of
        the outline and core rows that cover it (weights ``outline_weight`` and
        ``core_weight``; only searched layers count). ``metadata["memory_layers"]`` lists
        the layers whose best rows brought it in, ``metadata["layer_scores"]`` the
        similarity per layer.
        """
        unknown = [layer for layer in layers if layer not in LAYERS]
        if unknown or not layers:
            raise ValueError(f"layers must be a non-empty subset of {LAYERS}, got {list(layers)}")
        matrices = self._matrices()
        sims = {layer: matrices[layer][0] @ query_vector for layer in LAYERS}
        positions = {
            layer: {owner: k for k, owner in enumerate(matrices[layer][1])} for layer in LAYERS
        }
        found: dict[tuple[str, int], set[str]] = {}
        limits = {"chunk": self.chunk_k, "outline": self.outline_k, "core": self.core_k}
        for layer in LAYERS:
            owners = matrices[layer][1]
            if layer not in layers or limits[layer] == 0 or not owners:
                continue
            for k in np.argsort(-sims[layer], kind="stable")[: limits[layer]].tolist():
                doc_id, row = owners[k]
                for chunk in self._entries[doc_id].rows[layer][row].chunks:
                    found.setdefault((doc_id, chunk), set()).add(layer)
        weights = {"chunk": 1.0, "outline": self.outline_weight, "core": self.core_weight}
        scored: dict[tuple[str, int], tuple[float, dict[str, float]]] = {}
        for key in found:
            doc_id, chunk = key
            entry = self._entries[doc_id]
            per_layer = {"chunk": float(sims["chunk"][positions["chunk"][key]])}
            for layer in ("outline", "core"):
                covering = [
                    float(sims[layer][positions[layer][(doc_id, r)]])
                    for r, row in enumerate(entry.rows[layer])
                    if chunk in row.chunks
                ]
                if covering:
                    per_layer[layer] = max(covering)
            used = [layer for layer in LAYERS if layer in layers or layer == "chunk"]
            total = sum(weights[layer] for layer in used)
            fused = sum(weights[layer] * per_layer.get(layer, per_layer["chunk"]) for layer in used)
            scored[key] = (fused / total, per_layer)
        ordered = sorted(found, key=lambda key: -scored[key][0])
        chunk_matrix = matrices["chunk"][0]
        kept: list[tuple[str, int]] = []
        kept_vectors: list[np.ndarray] = []
        kept_texts: dict[str, int] = {}
        for key in ordered:
            doc_id, chunk = key
            vector = chunk_matrix[positions["chunk"][key]]
            text = self._entries[doc_id].memory.chunk_text(chunk).strip()
            twin = kept_texts.get(text)
            if twin is None and kept_vectors:
                similar = np.asarray(kept_vectors) @ vector
                best = int(np.argmax(similar))
                if float(similar[best]) >= self.duplicate_threshold:
                    twin = best
            if twin is not None:
                found[kept[twin]] |= found[key]
                continue
            kept_texts[text] = len(kept)
            kept.append(key)
            kept_vectors.append(vector)
        passages = []
        for key in kept:
            doc_id, chunk = key
            fused, per_layer = scored[key]
            passage = self._entries[doc_id].memory.passage(chunk)
            passages.append(
                passage.with_metadata(
                    memory_layers=[layer for layer in LAYERS if layer in found[key]],
                    layer_scores={
                        layer: per_layer[layer] for layer in LAYERS if layer in per_layer
                    },
                ).with_score(fused)
            )
        return passages

    def search(
        self,
        query: str,
        k: int = 4,
        *,
        layers: Sequence[str] = LAYERS,
        scorer: Scorer | None = None,
    ) -> list[Passage]:
        """The ``k`` best chunks for ``query``.

        Args:
            query: The question.
            k: How many chunks to return.
            layers: Layers to search (default all three).
            scorer: Reranks the candidates for this call (default: the index's scorer).

        Returns:
            Chunk passages, best first; ``score`` and ``metadata["relevance_score"]`` hold
            the final score (the scorer's, else the fused layer similarity),
            ``metadata["retrieval_score"]`` the fused layer similarity and
            ``metadata["memory_layers"]`` the layers that found it.
        """
        query = validate_query(query)
        _check_k(k)
        if not self._entries:
            return []
        candidates = self.candidates(self.embedder.embed_query(query), layers)
        reranker = scorer or self.scorer
        scores = (
            reranker.score(query, candidates)
            if reranker is not None and candidates
            else [p.score or 0.0 for p in candidates]
        )
        return _ranked(candidates, scores, k)

    async def asearch(
        self,
        query: str,
        k: int = 4,
        *,
        layers: Sequence[str] = LAYERS,
        scorer: Scorer | None = None,
    ) -> list[Passage]:
        """Async twin of [`search`][ctx_core.memory.index.MemoryIndex.search] (the scorer's native ``ascore`` is awaited)."""
        query = validate_query(query)
        _check_k(k)
        if not self._entries:
            return []
        vector = await asyncio.to_thread(self.embedder.embed_query, query)
        candidates = self.candidates(vector, layers)
        reranker = scorer or self.scorer
        scores = (
            await reranker.ascore(query, candidates)
            if reranker is not None and candidates
            else [p.score or 0.0 for p in candidates]
        )
        return _ranked(candidates, scores, k)

    # -- persistence ------------------------------------------------------

    def save(
        self,
        path: str | Path | None = None,
        *,
        mode: Literal["merge", "replace"] = "merge",
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Path:
        """Write this index's changes to a local SQLite file, in one locked transaction.

        ``mode="merge"`` (the default) writes only what this index changed: into the file
        it was loaded from or last saved to, the documents added or replaced since then
        and the removals since then; into any other file, all its documents (nothing
        there is removed). Documents that other processes saved into the file meanwhile
        are kept; processes saving at once wait for each other (per document, the last
        save wins). ``mode="replace"`` makes the file hold exactly this index: documents
        in the file that this index does not hold are deleted.

        A process killed during a save leaves the file as it was before that save.

        Args:
            path: The file (default: where the index was last loaded from or saved to).
            mode: ``"merge"`` or ``"replace"`` (see above).
            timeout: Seconds to wait while another process writes to the file.

        Raises:
            MemoryIndexError: the file exists but is not a memory index (it is left
                untouched), it was built with another embedder, or the write lock was
                not had within ``timeout``.
        """
        if mode not in ("merge", "replace"):
            raise ValueError(f"mode must be 'merge' or 'replace', got {mode!r}")
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ValueError("path is required: this index was never loaded or saved")
        changed: list[str] | None = None
        removed: list[str] = []
        if self.path is not None and target.resolve() == self.path.resolve():
            changed = [d for d, e in self._entries.items() if self._saved.get(d) != e.fingerprint]
            removed = [d for d in self._saved if d not in self._entries]
        write_memories(
            target,
            self._entries,
            embedder=self.embedder,
            layer_words=self.layer_words,
            changed=changed,
            removed=removed,
            replace=mode == "replace",
            timeout=timeout,
        )
        self.path = target
        self._saved = {d: e.fingerprint for d, e in self._entries.items()}
        return target

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        embedder: Embedder | str | None = None,
        scorer: Scorer | None = None,
        **options: Any,
    ) -> MemoryIndex:
        """Read an index saved by [`save`][ctx_core.memory.index.MemoryIndex.save].

        Args:
            path: The SQLite file.
            embedder: The embedder to use for queries (default: the one the file names).
            scorer: Reranking scorer.
            **options: Other [`MemoryIndex`][ctx_core.memory.index.MemoryIndex] settings (``chunk_k``, ...).

        Raises:
            FileNotFoundError: no such file.
            MemoryIndexError: the file is corrupted, not a memory index, of a newer schema
                version, or its vectors do not fit the embedder.
        """
        path = Path(path)
        remove_abandoned_staging(path)
        meta = read_meta(path)
        index = cls(
            embedder if embedder is not None else meta["embedder"],
            scorer=scorer,
            layer_words=int(meta["layer_words"]),
            **options,
        )
        index._entries.update(read_memories(path, meta, index.embedder))
        index._saved = {d: e.fingerprint for d, e in index._entries.items()}
        index.path = path
        return index


def _check_k(k: int) -> None:
    if not isinstance(k, int) or isinstance(k, bool):
        raise TypeError(f"k must be an int, got {type(k).__name__}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")


def _ranked(candidates: list[Passage], scores: Sequence[float], k: int) -> list[Passage]:
    if len(scores) != len(candidates):
        raise RuntimeError(f"scorer returned {len(scores)} scores for {len(candidates)} passages")
    order = sorted(range(len(candidates)), key=lambda i: -float(scores[i]))[:k]
    result = []
    for i in order:
        passage = candidates[i]
        result.append(
            passage.with_metadata(
                relevance_score=float(scores[i]), retrieval_score=passage.score
            ).with_score(float(scores[i]))
        )
    return result
