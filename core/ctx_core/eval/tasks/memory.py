"""The memory task: LoCoMo evidence recall and Cranfield/CACM retrieval of document memories.

[`LoCoMoEvaluator`][ctx_core.eval.tasks.memory.LoCoMoEvaluator] and [`IREvaluator`][ctx_core.eval.tasks.memory.IREvaluator] are built from the data and called
with the methods to compare; [`evaluate_locomo`][ctx_core.eval.tasks.memory.evaluate_locomo] and [`evaluate_ir`][ctx_core.eval.tasks.memory.evaluate_ir] do both.

*LoCoMo* - each conversation session is a document (its date line, then one
``Speaker: text`` line per turn); every method indexes all sessions of a conversation
and answers its questions. A question's **evidence recall@k** is the share of its
evidence turns that lie in the first ``k`` chunks retrieved (a turn counts when its line
overlaps a chunk); **recall@w words** packs the context greedily: chunks are taken in rank
order while they fit in ``w`` words, a chunk that would overflow the budget is skipped and
the later ones that still fit are taken (from the first 40 retrieved), so chunkings of
different sizes are compared at the same reading cost. (Before, packing stopped at the
first chunk that overflowed, which penalised large chunks: a 120-word chunk ranked first
left a 100-word budget empty.)

*Cranfield / CACM* - each document is memorized; chunks are retrieved and each document
ranks at the place of its first chunk; nDCG@10 and recall@100 use the evaluation
harness's metrics (``ctx_core.eval.metrics``).

Methods share one embedder: ``fixed`` (``ctx_core.chunking.chunk_text``, paragraphs or
lines up to ``max_words``, ranked by cosine similarity), ``window`` (the same with
``ctx_core.chunking.chunk_words``: windows of ``max_words`` words cut anywhere), ``memory`` (a memory extractor
and the three-layer [`MemoryIndex`][ctx_core.memory.index.MemoryIndex]) with the
``memory-chunk-layer`` ablation (the same memories, chunk layer only), and, for the IR
sets, ``whole-document`` (one embedding per document).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ctx_core.chunking import chunk_text, chunk_words
from ctx_core.embeddings import Embedder
from ctx_core.eval.metrics import ndcg_at_k, recall_at_k
from ctx_core.memory.base import MemoryExtractorLike
from ctx_core.memory.heuristic import embed_by_length
from ctx_core.memory.index import MemoryIndex
from ctx_core.memory.model import DocumentMemory
from ctx_core.progress import progress

__all__ = [
    "ChunkHit",
    "FixedChunkMethod",
    "IREvaluator",
    "LoCoMoEvaluator",
    "MemoryMethod",
    "QueryCachingEmbedder",
    "WholeDocumentMethod",
    "evaluate_ir",
    "evaluate_locomo",
    "locomo_documents",
    "session_document",
]

logger = logging.getLogger(__name__)


class QueryCachingEmbedder(Embedder):
    """An [`Embedder`][ctx_core.embeddings.Embedder] that embeds each query text once.

    Every method of an evaluation embeds the same question; the vectors are identical, so
    the evaluation shares them (the last ``cache_size`` queries are kept; the passage
    cache is the embedder's own, bounded by ``cache_bytes``).
    """

    def __init__(self, *args: Any, cache_size: int = 64, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Its own name: ``cache_size`` is also the embedder's cap on cached passages.
        self.query_cache_size = cache_size
        self._queries: dict[str, np.ndarray] = {}
        self._queries_lock = threading.Lock()

    def embed_query(self, query: str) -> np.ndarray:
        """Embed one query (cached); returns a read-only vector."""
        with self._queries_lock:
            vector = self._queries.get(query)
        if vector is None:
            vector = super().embed_query(query)
            vector.setflags(write=False)
            with self._queries_lock:
                while self._queries and len(self._queries) >= self.query_cache_size:
                    self._queries.pop(next(iter(self._queries)))
                vector = self._queries.setdefault(query, vector)
        return vector


@dataclass(frozen=True)
class ChunkHit:
    """A retrieved chunk: its document, its span in the document's text and its words."""

    doc_id: str
    start: int
    end: int
    words: int


def session_document(session: Any) -> tuple[str, list[tuple[str, int, int]]]:
    """A LoCoMo session as text, and the ``(dia_id, start, end)`` span of each turn.

    The first paragraph is the session's date, then one paragraph per turn (``Speaker:
    text``; a turn that shares a photo has its caption appended, ``[shares a photo: ...]``).
    Paragraphs are separated by blank lines, so the paragraph-based fixed-size chunker
    and the memory extractors see the same units.
    """
    lines: list[str] = []
    spans: list[tuple[str, int, int]] = []
    position = 0
    if getattr(session, "date", ""):
        lines.append(str(session.date))
        position = len(lines[0]) + 2
    for turn in session.turns:
        line = f"{turn.speaker}: {turn.text}"
        caption = getattr(turn, "image_caption", None)
        if caption:
            line += f" [shares a photo: {caption}]"
        spans.append((turn.dia_id, position, position + len(line)))
        lines.append(line)
        position += len(line) + 2
    return "\n\n".join(lines), spans


def locomo_documents(conversation: Any) -> list[tuple[str, str, list[tuple[str, int, int]]]]:
    """``(doc_id, text, turn spans)`` for each non-empty session of a conversation."""
    documents = []
    for session in conversation.sessions:
        if not session.turns:
            continue
        text, spans = session_document(session)
        documents.append((f"{conversation.conversation_id}/{session.session_id}", text, spans))
    return documents


class FixedChunkMethod:
    """Baseline: fixed-size chunks ranked by embedding similarity.

    Args:
        embedder: Embeds chunks and queries.
        max_words: Word budget per chunk.
        name: Method name (default ``fixed-{max_words}w``, or ``window-{max_words}w``).
        unit: ``"paragraphs"`` packs whole paragraphs ([`chunk_text`][ctx_core.chunking.chunk_text]);
            ``"words"`` cuts windows of ``max_words`` words anywhere
            ([`chunk_words`][ctx_core.chunking.chunk_words]), which also splits single-paragraph
            documents.
    """

    def __init__(
        self,
        embedder: Embedder,
        max_words: int = 120,
        name: str | None = None,
        unit: str = "paragraphs",
    ):
        if unit not in ("paragraphs", "words"):
            raise ValueError(f"unit must be 'paragraphs' or 'words', got {unit!r}")
        self.embedder = embedder
        self.max_words = max_words
        self.unit = unit
        prefix = "fixed" if unit == "paragraphs" else "window"
        self.name = name or f"{prefix}-{max_words}w"
        self._hits: list[ChunkHit] = []
        self._matrix = np.zeros((0, embedder.dimension), dtype=np.float32)

    def config(self) -> dict[str, Any]:
        return {
            "kind": "fixed",
            "unit": self.unit,
            "max_words": self.max_words,
            "embedder": self.embedder.model_name,
        }

    def build(self, documents: Sequence[tuple[str, str]]) -> None:
        hits: list[ChunkHit] = []
        texts: list[str] = []
        chunker = chunk_text if self.unit == "paragraphs" else chunk_words
        for doc_id, text in documents:
            for chunk in chunker(text, max_words=self.max_words):
                hits.append(
                    ChunkHit(
                        doc_id,
                        chunk.metadata["start"],
                        chunk.metadata["end"],
                        len(chunk.text.split()),
                    )
                )
                texts.append(chunk.text)
        self._hits = hits
        self._matrix = embed_by_length(self.embedder, texts)

    def rankings(self, query: str, depth: int) -> dict[str, list[ChunkHit]]:
        sims = self._matrix @ self.embedder.embed_query(query)
        order = np.argsort(-sims, kind="stable")[:depth]
        return {self.name: [self._hits[i] for i in order.tolist()]}


class WholeDocumentMethod:
    """Baseline for the IR sets: one embedding per document (truncated by the model)."""

    def __init__(self, embedder: Embedder, name: str = "whole-document"):
        self.embedder = embedder
        self.name = name
        self._hits: list[ChunkHit] = []
        self._matrix = np.zeros((0, embedder.dimension), dtype=np.float32)

    def config(self) -> dict[str, Any]:
        return {"kind": "whole-document", "embedder": self.embedder.model_name}

    def build(self, documents: Sequence[tuple[str, str]]) -> None:
        self._hits = [ChunkHit(d, 0, len(t), len(t.split())) for d, t in documents]
        self._matrix = embed_by_length(self.embedder, [t for _, t in documents])

    def rankings(self, query: str, depth: int) -> dict[str, list[ChunkHit]]:
        sims = self._matrix @ self.embedder.embed_query(query)
        order = np.argsort(-sims, kind="stable")[:depth]
        return {self.name: [self._hits[i] for i in order.tolist()]}


class MemoryMethod:
    """Memories from ``extractor`` in a [`MemoryIndex`][ctx_core.memory.index.MemoryIndex]; ranks with all three layers
    (``name``) and with the chunk layer only (``name + "-chunk-layer"``).

    Args:
        extractor: Any memory extractor.
        embedder: The embedder of the index (share it with the baselines).
        name: Method name in the results.
        outline_k: Outline rows taken per search.
        core_k: Core-content rows taken per search.
        index_options: Other [`MemoryIndex`][ctx_core.memory.index.MemoryIndex] settings.
    """

    def __init__(
        self,
        extractor: MemoryExtractorLike,
        embedder: Embedder,
        name: str = "memory",
        *,
        outline_k: int = 2,
        core_k: int = 2,
        show_progress: bool | None = False,
        **index_options: Any,
    ) -> None:
        self.extractor = extractor
        self.embedder = embedder
        self.name = name
        self.outline_k = outline_k
        self.core_k = core_k
        self.show_progress = show_progress
        self.index_options = index_options
        self.index = MemoryIndex(embedder, outline_k=outline_k, core_k=core_k, **index_options)
        self.extraction_seconds = 0.0
        self.extraction_cpu_seconds = 0.0
        self.memories: list[DocumentMemory] = []

    def config(self) -> dict[str, Any]:
        extractor_config = getattr(self.extractor, "settings", None)
        return {
            "kind": "memory",
            "extractor": extractor_config() if callable(extractor_config) else self.extractor.name,
            "outline_k": self.outline_k,
            "core_k": self.core_k,
            "outline_weight": self.index.outline_weight,
            "core_weight": self.index.core_weight,
            **self.index_options,
        }

    def build(self, documents: Sequence[tuple[str, str]]) -> None:
        started, cpu = time.perf_counter(), time.process_time()
        self.memories = self.extractor.extract_many(
            [t for _, t in documents],
            ids=[d for d, _ in documents],
            show_progress=self.show_progress,
        )
        self.extraction_seconds += time.perf_counter() - started
        self.extraction_cpu_seconds += time.process_time() - cpu
        self.index = MemoryIndex(
            self.embedder, outline_k=self.outline_k, core_k=self.core_k, **self.index_options
        )
        self.index.add_many(self.memories)

    def rankings(self, query: str, depth: int) -> dict[str, list[ChunkHit]]:
        self.index.chunk_k = max(depth, 8)
        result = {}
        for name, layers in (
            (self.name, ("chunk", "outline", "core")),
            (f"{self.name}-chunk-layer", ("chunk",)),
        ):
            hits = self.index.search(query, k=depth, layers=layers)
            result[name] = [
                ChunkHit(
                    p.id.rsplit("#", 1)[0],
                    p.metadata["start"],
                    p.metadata["end"],
                    len(p.text.split()),
                )
                for p in hits
            ]
        return result


Method = FixedChunkMethod | WholeDocumentMethod | MemoryMethod


def _evidence_covered(
    hits: Iterable[ChunkHit],
    spans: dict[str, tuple[str, int, int]],
    wanted: Iterable[str] | None = None,
) -> set[str]:
    """The turns (of ``wanted``, default all) whose span overlaps one of ``hits``."""
    targets = [(d, spans[d]) for d in wanted] if wanted is not None else list(spans.items())
    covered = set()
    for hit in hits:
        for dia_id, (doc_id, start, end) in targets:
            if doc_id == hit.doc_id and start < hit.end and hit.start < end:
                covered.add(dia_id)
    return covered


def _within_budget(hits: Sequence[ChunkHit], budget: int) -> list[ChunkHit]:
    """Greedy packing: the hits, in rank order, that fit in ``budget`` words together.

    A hit that would overflow what is left is skipped and the later ones are still tried
    (a reader given ``budget`` words would fill them), so larger chunks are not penalised
    for the first one that does not fit.
    """
    taken, words = [], 0
    for hit in hits:
        if words + hit.words > budget:
            continue
        taken.append(hit)
        words += hit.words
        if words == budget:
            break
    return taken


class LoCoMoEvaluator:
    """Evidence recall of memory methods on LoCoMo (see the module docstring).

    Built from the conversations and options, called with the methods to compare (they
    share one embedder; the fixed-size chunkers are the baselines).

    Args:
        conversations: ``load_locomo()`` output (or a subset).
        ks: Cut-offs for recall@k (chunks).
        budgets: Word budgets for recall@words.
        sessions: Picks the sessions to index per conversation (default: all); questions
            whose evidence is not all inside them are skipped.
        show_progress: Progress bar over conversations.
        on_conversation: Called after each conversation with the results so far (the
            same shape as the return value), e.g. to save partial results of a long run.
        primary_metric: The metric that sums a method up (default ``recall@200w``: the
            evidence found within a fixed reading budget, fair across chunk sizes).
    """

    def __init__(
        self,
        conversations: Sequence[Any],
        *,
        ks: Sequence[int] = (1, 3, 5, 10),
        budgets: Sequence[int] = (100, 200, 400),
        sessions: Callable[[Any], Sequence[Any]] | None = None,
        show_progress: bool | None = None,
        on_conversation: Callable[[dict[str, Any]], None] | None = None,
        primary_metric: str = "recall@200w",
    ) -> None:
        self.conversations = list(conversations)
        self.ks = tuple(ks)
        self.budgets = tuple(budgets)
        self.sessions = sessions
        self.show_progress = show_progress
        self.on_conversation = on_conversation
        self.primary_metric = primary_metric

    def __call__(self, methods: Method | Sequence[Method]) -> dict[str, Any]:
        """Index each conversation with every method and score its questions.

        Returns:
            ``{"metrics": {method: {...}}, "per_category": ..., "per_query": [...], ...}``.
        """
        ks, budgets = self.ks, self.budgets
        methods = _as_list(methods)
        depth = max(max(ks), 40)
        rows: list[dict[str, Any]] = []
        build_seconds: dict[str, float] = {}
        skipped = {"no_evidence": 0, "evidence_outside_sessions": 0}
        conversations = self.conversations
        for done, conversation in enumerate(
            progress(
                conversations, desc="LoCoMo conversations", show=self.show_progress, unit="conv"
            )
        ):
            chosen = (
                list(self.sessions(conversation)) if self.sessions else list(conversation.sessions)
            )
            chosen_ids = {s.session_id for s in chosen}
            documents = [
                d for d in locomo_documents(conversation) if d[0].split("/", 1)[1] in chosen_ids
            ]
            spans = {dia: (doc_id, a, b) for doc_id, _, turns in documents for dia, a, b in turns}
            plain = [(doc_id, text) for doc_id, text, _ in documents]
            for method in methods:
                started = time.perf_counter()
                method.build(plain)
                build_seconds[method.name] = (
                    build_seconds.get(method.name, 0.0) + time.perf_counter() - started
                )
            for number, qa in enumerate(conversation.qa):
                evidence = sorted(set(qa.evidence))
                if not evidence:
                    skipped["no_evidence"] += 1
                    continue
                if any(e not in spans for e in evidence):
                    skipped["evidence_outside_sessions"] += 1
                    continue
                row: dict[str, Any] = {
                    "conversation": conversation.conversation_id,
                    "qa": number,
                    "category": qa.category,
                    "evidence": evidence,
                    "values": {},
                }
                for method in methods:
                    for name, hits in method.rankings(qa.question, depth).items():
                        values: dict[str, float] = {}
                        for k in ks:
                            covered = _evidence_covered(hits[:k], spans, evidence)
                            values[f"recall@{k}"] = len(covered & set(evidence)) / len(evidence)
                            values[f"hit@{k}"] = float(bool(covered & set(evidence)))
                            values[f"words@{k}"] = float(sum(h.words for h in hits[:k]))
                        for budget in budgets:
                            covered = _evidence_covered(
                                _within_budget(hits, budget), spans, evidence
                            )
                            values[f"recall@{budget}w"] = len(covered & set(evidence)) / len(
                                evidence
                            )
                        row["values"][name] = values
                rows.append(row)
            if self.on_conversation is not None:
                self.on_conversation(
                    _locomo_summary(rows, skipped, build_seconds, methods, done + 1)
                )
        return _locomo_summary(rows, skipped, build_seconds, methods, len(conversations))


def evaluate_locomo(
    conversations: Sequence[Any],
    methods: Sequence[Method],
    *,
    ks: Sequence[int] = (1, 3, 5, 10),
    budgets: Sequence[int] = (100, 200, 400),
    sessions: Callable[[Any], Sequence[Any]] | None = None,
    show_progress: bool | None = None,
    on_conversation: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """``LoCoMoEvaluator(conversations, ...)(methods)``; see [`LoCoMoEvaluator`][ctx_core.eval.tasks.memory.LoCoMoEvaluator]."""
    evaluator = LoCoMoEvaluator(
        conversations,
        ks=ks,
        budgets=budgets,
        sessions=sessions,
        show_progress=show_progress,
        on_conversation=on_conversation,
    )
    return evaluator(methods)


def _as_list(methods: Method | Sequence[Method]) -> list[Method]:
    return list(methods) if isinstance(methods, Sequence) else [methods]


def _locomo_summary(
    rows: list[dict[str, Any]],
    skipped: dict[str, int],
    build_seconds: dict[str, float],
    methods: Sequence[Method],
    conversations: int,
) -> dict[str, Any]:
    names = list(rows[0]["values"]) if rows else []
    metrics = {name: _means([r["values"][name] for r in rows]) for name in names}
    per_category = {
        str(category): {
            name: _means([r["values"][name] for r in rows if r["category"] == category])
            for name in names
        }
        for category in sorted({r["category"] for r in rows})
    }
    return {
        "dataset": "locomo",
        "budget_packing": "greedy: skip a chunk that overflows, take later ones that fit",
        "conversations_evaluated": conversations,
        "questions": len(rows),
        "skipped": dict(skipped),
        "metrics": metrics,
        "per_category": per_category,
        "build_seconds": dict(build_seconds),
        "methods": {m.name: m.config() for m in methods},
        "per_query": list(rows),
        "load_average": list(os.getloadavg()),
    }


def _means(values: Sequence[dict[str, float]]) -> dict[str, float]:
    if not values:
        return {}
    return {key: float(np.mean([v[key] for v in values])) for key in values[0]}


class IREvaluator:
    """nDCG@10 and recall@``depth`` of memory methods on an IR collection (Cranfield, CACM).

    Each method indexes the documents; each document ranks at the place of its first
    retrieved chunk. Documents with no text are left out of every index (they stay in the
    qrels).

    Args:
        collection: An [`IRCollection`][ctx_core.eval.datasets.records.IRCollection].
        depth: Cut-off of the recall.
        chunk_depth: Chunks retrieved per query.
        limit: Evaluate only the first ``limit`` judged queries.
        show_progress: Progress bar over queries.
    """

    primary_metric = "ndcg@10"

    def __init__(
        self,
        collection: Any,
        *,
        depth: int = 100,
        chunk_depth: int = 400,
        limit: int | None = None,
        show_progress: bool | None = None,
    ) -> None:
        self.collection = collection
        self.depth = depth
        self.chunk_depth = chunk_depth
        self.limit = limit
        self.show_progress = show_progress

    def __call__(self, methods: Method | Sequence[Method]) -> dict[str, Any]:
        """Index the collection with every method and score each judged query."""
        collection, depth, chunk_depth = self.collection, self.depth, self.chunk_depth
        methods = _as_list(methods)
        documents = [(p.id, p.text) for p in collection.documents if p.text.strip()]
        empty = len(collection.documents) - len(documents)
        build_seconds = {}
        for method in methods:
            started = time.perf_counter()
            method.build(documents)
            build_seconds[method.name] = time.perf_counter() - started
        queries = [
            (q, collection.queries[q]) for q in collection.queries if collection.qrels.get(q)
        ]
        if self.limit is not None:
            queries = queries[: self.limit]
        rows = []
        for query_id, query in progress(
            queries, desc=f"{collection.name} queries", show=self.show_progress, unit="query"
        ):
            qrels = collection.qrels[query_id]
            row: dict[str, Any] = {"query_id": query_id, "values": {}}
            for method in methods:
                for name, hits in method.rankings(query, chunk_depth).items():
                    ranked = list(dict.fromkeys(h.doc_id for h in hits))
                    row["values"][name] = {
                        "ndcg@10": ndcg_at_k(ranked, qrels, 10),
                        f"recall@{depth}": recall_at_k(ranked, qrels, depth),
                        "ranked_documents": float(len(ranked)),
                    }
            rows.append(row)
        names = list(rows[0]["values"]) if rows else []
        return {
            "dataset": collection.name,
            "queries": len(rows),
            "documents_indexed": len(documents),
            "documents_without_text": empty,
            "metrics": {name: _means([r["values"][name] for r in rows]) for name in names},
            "build_seconds": build_seconds,
            "methods": {m.name: m.config() for m in methods},
            "per_query": rows,
            "load_average": list(os.getloadavg()),
        }


def evaluate_ir(
    collection: Any,
    methods: Sequence[Method],
    *,
    depth: int = 100,
    chunk_depth: int = 400,
    limit: int | None = None,
    show_progress: bool | None = None,
) -> dict[str, Any]:
    """``IREvaluator(collection, ...)(methods)``; see [`IREvaluator`][ctx_core.eval.tasks.memory.IREvaluator]."""
    evaluator = IREvaluator(
        collection, depth=depth, chunk_depth=chunk_depth, limit=limit, show_progress=show_progress
    )
    return evaluator(methods)
