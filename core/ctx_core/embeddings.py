"""Sentence embeddings with a bi-encoder (default: the packaged all-MiniLM-L6-v2).

Examples:
    >>> from ctx_core.embeddings import Embedder
    >>> embedder = Embedder()
    >>> vectors = embedder.embed(["a cat", "a dog"])
    >>> vectors.shape
    (2, 384)
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from ctx_core._registry import Configurable
from ctx_core.models import (
    DEFAULT_EMBEDDER,
    guard_tokenizer,
    load_sentence_transformer,
    model_lock,
)
from ctx_core.onnx_backend import load_onnx_embedder, resolve_backend
from ctx_core.progress import progress

__all__ = ["DEFAULT_CACHE_BYTES", "Embedder", "embedder_config"]

logger = logging.getLogger(__name__)

#: Default bound of an [`Embedder`][ctx_core.embeddings.Embedder]'s cache: 64 MiB (about 43,000 MiniLM vectors).
DEFAULT_CACHE_BYTES = 64 * 1024 * 1024


class _Vectors:
    """An embedding cache: text as encoded -> vector, least recently used first, its bytes."""

    def __init__(self) -> None:
        self.entries: OrderedDict[str, np.ndarray] = OrderedDict()
        self.nbytes = 0
        # Guards the cache only: held for dict operations, never while the model runs.
        self.lock = threading.Lock()


# One cache per loaded model (and so per model and device), shared by every embedder of
# that model with the default cache settings: the default components (the harness's
# embedding scorer, ``HybridSignals()``, ``UtilityDistractionReranker()``, ...) embed each
# text once per process. Weak keys: a model dropped by the model cache takes its vectors.
_SHARED_VECTORS: weakref.WeakKeyDictionary[Any, _Vectors] = weakref.WeakKeyDictionary()
_SHARED_LOCK = threading.Lock()


def _shared_vectors(model: Any) -> _Vectors:
    with _SHARED_LOCK:
        vectors = _SHARED_VECTORS.get(model)
        if vectors is None:
            vectors = _SHARED_VECTORS[model] = _Vectors()
        return vectors


class Embedder(Configurable):
    """Unit-normalized embeddings from a sentence-transformers model.

    Safe to share between threads (and so between async calls run in worker threads):
    the cache is locked, and the model's tokenizer is used under
    [`model_lock`][ctx_core.models.model_lock] (forward passes of several threads still overlap).
    Embedders of one model on one device and backend share one loaded model
    ([`load_sentence_transformer`][ctx_core.models.load_sentence_transformer],
    [`load_onnx_embedder`][ctx_core.onnx_backend.load_onnx_embedder]) and, when they keep the default
    cache settings, one embedding cache: two components built with their defaults (an
    [`EmbeddingScorer`][ctx_core.scoring.embedding.EmbeddingScorer] and a ``UtilityDistractionReranker()``, say)
    encode each text once. An embedder given its own ``cache_bytes`` or ``cache_size`` has a
    cache of its own.

    Args:
        model: Hugging Face id or local path (default: packaged all-MiniLM-L6-v2).
        device: ``"cpu"``, ``"cuda"``, ... (default: CUDA when available).
        batch_size: Texts per forward pass.
        query_prefix: Prepended to queries (some models, e.g. E5, expect ``"query: "``).
        document_prefix: Prepended to documents (e.g. ``"passage: "``).
        show_progress: Show a progress bar (``None``: on a terminal, once embedding has run
            a couple of seconds).
        cache_bytes: Memory the embedding cache may use, in bytes (0: no cache): passages
            seen again (the same chunk retrieved for several queries) are not re-encoded.
            The least recently used vectors go first.
        cache_size: Also cap the cache at this many vectors (``None``: only ``cache_bytes``
            bounds it; ``0``: no cache). Kept for configs written before ``cache_bytes``.
        backend: ``"torch"`` (sentence-transformers), ``"onnx"`` (ONNX Runtime, float32),
            ``"onnx-int8"`` (int8 weights) or ``"auto"``: the fastest that kept rankings on
            this CPU (see [`resolve_backend`][ctx_core.onnx_backend.resolve_backend]),
            ``"torch"`` on a GPU. The ONNX model is exported once into the model cache.
        threads: Threads of an ONNX session (default: the cores this process may use, or
            ``$CTX_NUM_THREADS`` / ``$OMP_NUM_THREADS``). Ignored by ``"torch"``.

    Raises:
        ValueError: ``batch_size`` < 1, a negative ``cache_bytes`` / ``cache_size``, or an
            unknown ``backend``.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        device: str | None = None,
        batch_size: int = 32,
        query_prefix: str = "",
        document_prefix: str = "",
        show_progress: bool | None = None,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        cache_size: int | None = None,
        backend: str = "auto",
        threads: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if isinstance(cache_bytes, bool) or not isinstance(cache_bytes, int) or cache_bytes < 0:
            raise ValueError(f"cache_bytes must be an int >= 0, got {cache_bytes!r}")
        if cache_size is not None and (
            isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 0
        ):
            raise ValueError(f"cache_size must be an int >= 0 or None, got {cache_size!r}")
        if threads is not None and (
            isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
        ):
            raise ValueError(f"threads must be an int >= 1 or None, got {threads!r}")
        self.model_name = model or DEFAULT_EMBEDDER
        self.backend = backend
        self.threads = threads
        #: The backend that runs (``backend`` with ``"auto"`` resolved).
        self.runtime = resolve_backend(backend, device)
        self.model: Any
        if self.runtime == "torch":
            self.model = load_sentence_transformer(model, device)
            # Only the tokenizer needs one thread at a time; forward passes may overlap.
            self._lock_whole_encode = not guard_tokenizer(self.model)
        else:
            self.model = load_onnx_embedder(
                model, quantized=self.runtime == "onnx-int8", threads=threads
            )
            self._lock_whole_encode = False  # thread-safe: no per-call tokenizer state
        self.device = device
        self.batch_size = batch_size
        self.query_prefix = query_prefix
        self.document_prefix = document_prefix
        self.show_progress = show_progress
        self.cache_bytes = cache_bytes
        self.cache_size = cache_size
        shared = cache_bytes == DEFAULT_CACHE_BYTES and cache_size is None
        self._vectors = _shared_vectors(self.model) if shared else _Vectors()

    def config(self) -> dict[str, Any]:
        """The model by id or path and the settings (see [`embedder_config`][ctx_core.embeddings.embedder_config])."""
        return {
            "type": "Embedder",
            "model": self.model_name,
            "device": self.device,
            "batch_size": self.batch_size,
            "query_prefix": self.query_prefix,
            "document_prefix": self.document_prefix,
            "show_progress": self.show_progress,
            "cache_bytes": self.cache_bytes,
            "cache_size": self.cache_size,
            "backend": self.backend,
            "threads": self.threads,
        }

    @property
    def dimension(self) -> int:
        """Length of each embedding vector."""
        # sentence-transformers 6 renamed the method; keep working with older releases.
        getter = getattr(self.model, "get_embedding_dimension", None)
        if getter is None:
            getter = self.model.get_sentence_embedding_dimension
        return int(getter())

    @property
    def max_tokens(self) -> int:
        """Longest input the model reads; longer texts are truncated (with a warning)."""
        return int(self.model.max_seq_length)

    def embed(self, texts: Sequence[str], *, ids: Sequence[str] | None = None) -> np.ndarray:
        """Embed documents; returns a float32 array of shape ``(len(texts), dimension)``."""
        return self._cached([self.document_prefix + t for t in texts], ids)

    def embed_query(self, query: str) -> np.ndarray:
        """Embed one query; returns a vector of length ``dimension``."""
        return self._cached([self.query_prefix + query], ["query"])[0]

    @property
    def cache_nbytes(self) -> int:
        """Bytes the cached vectors use now (at most ``cache_bytes``)."""
        return self._vectors.nbytes

    def cached_vectors(self) -> dict[str, np.ndarray]:
        """A copy of the embedding cache (text as encoded, prefix included -> vector)."""
        with self._vectors.lock:
            return dict(self._vectors.entries)

    def warm_cache(self, vectors: dict[str, np.ndarray]) -> None:
        """Add embeddings computed earlier (e.g. saved from [`cached_vectors`][ctx_core.embeddings.Embedder.cached_vectors]) to the cache."""
        with self._vectors.lock:
            for text, vector in vectors.items():
                self._store(text, np.asarray(vector, dtype=np.float32))

    def _cached(self, texts: list[str], ids: Sequence[str] | None) -> np.ndarray:
        # One locked pass reads every vector that is cached (no check-then-read: a vector
        # another thread evicts after the check would be gone at the read).
        cache = self._vectors
        with cache.lock:
            found: dict[str, np.ndarray] = {}
            for text in texts:
                vector = cache.entries.get(text)
                if vector is not None:
                    cache.entries.move_to_end(text)
                    found[text] = vector
        missing = [i for i, t in enumerate(texts) if t not in found]
        if missing:
            # Each distinct text once, named by the id of its first occurrence.
            first = {texts[i]: i for i in reversed(missing)}
            fresh = list(dict.fromkeys(texts[i] for i in missing))
            names = [ids[first[t]] for t in fresh] if ids is not None else None
            self._warn_if_truncated(fresh, names)
            vectors = self._encode(fresh)
            with cache.lock:
                for text, vector in zip(fresh, vectors, strict=True):
                    found[text] = vector
                    self._store(text, vector)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.asarray(np.stack([found[t] for t in texts]), dtype=np.float32)

    def _store(self, text: str, vector: np.ndarray) -> None:
        """Cache one vector, then evict the oldest past the bounds (the caller holds the lock)."""
        if self.cache_bytes <= 0 or self.cache_size == 0:
            return
        size = _entry_nbytes(text, vector)
        if size > self.cache_bytes:
            return
        cache = self._vectors
        old = cache.entries.pop(text, None)
        if old is not None:
            cache.nbytes -= _entry_nbytes(text, old)
        cache.entries[text] = vector
        cache.nbytes += size
        while cache.entries and (
            cache.nbytes > self.cache_bytes
            or (self.cache_size is not None and len(cache.entries) > self.cache_size)
        ):
            gone, dropped = cache.entries.popitem(last=False)
            cache.nbytes -= _entry_nbytes(gone, dropped)

    def _encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # Longest first, so texts of like length share a batch (little padding) across the
        # whole call, not only inside each chunk; the order is restored at the end.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        ordered = [texts[i] for i in order]
        size = self.batch_size
        chunks = [ordered[i : i + size] for i in range(0, len(ordered), size)]
        lock = model_lock(self.model) if self._lock_whole_encode else contextlib.nullcontext()
        parts = []
        for chunk in progress(chunks, desc="embedding", show=self._show(len(texts)), unit="batch"):
            with lock:
                parts.append(
                    self.model.encode(
                        chunk,
                        batch_size=self.batch_size,
                        normalize_embeddings=True,
                        convert_to_numpy=True,
                        show_progress_bar=False,
                    )
                )
        vectors = np.empty((len(texts), parts[0].shape[1]), dtype=np.float32)
        vectors[order] = np.concatenate(parts)
        return vectors

    def _show(self, n: int) -> bool | None:
        # None: a bar on a terminal once the work has run a couple of seconds.
        return self.show_progress if n > self.batch_size else False

    def token_lengths(self, texts: Sequence[str]) -> list[int]:
        """Tokens of each text as the model reads it (special tokens included), before truncation."""
        counter = getattr(self.model, "token_lengths", None)
        if counter is not None:
            return list(counter(list(texts)))
        tokenizer: Any = self.model.tokenizer
        # The tokenizer is the model's: an unpadded call must not run during a padded one.
        with model_lock(self.model):
            encoded = tokenizer(list(texts), add_special_tokens=True, verbose=False)["input_ids"]
        return [len(x) for x in encoded]

    def _warn_if_truncated(self, texts: list[str], ids: Sequence[str] | None) -> None:
        limit = self.max_tokens
        lengths = self.token_lengths(texts)
        over = [i for i, n in enumerate(lengths) if n > limit]
        if over:
            names = [ids[i] if ids is not None else f"#{i}" for i in over[:5]]
            logger.warning(
                "%d text(s) longer than the embedder's %d tokens are truncated: %s%s",
                len(over),
                limit,
                ", ".join(names),
                " ..." if len(over) > 5 else "",
            )


def _entry_nbytes(text: str, vector: np.ndarray) -> int:
    """What one cache entry costs: the vector's bytes and (roughly) its key's."""
    return int(vector.nbytes) + len(text)


def embedder_config(embedder: Embedder | str | None) -> str | dict[str, Any]:
    """An embedder as component configs record it: its model name, or its whole config.

    The model name alone when the other settings are the defaults (so configs read
    ``"embedder": "all-MiniLM-L6-v2"``), else [`Embedder.config`][ctx_core.embeddings.Embedder.config]. A name is
    recorded as it is; ``None`` as `ctx_core.models.DEFAULT_EMBEDDER`.

    Examples:
        >>> embedder_config(None)
        'all-MiniLM-L6-v2'
        >>> embedder_config(Embedder(batch_size=8))["batch_size"]
        8
    """
    if embedder is None or isinstance(embedder, str):
        return embedder or DEFAULT_EMBEDDER
    config = embedder.config()
    defaults = {
        name: p.default
        for name, p in inspect.signature(Embedder).parameters.items()
        if name != "model"
    }
    if all(config[name] == default for name, default in defaults.items()):
        return embedder.model_name
    return config
