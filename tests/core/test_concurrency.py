"""Shared components under threads: one reranker, one embedder, one loaded model."""

from __future__ import annotations

import itertools
import os
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from ctx_core import Passage, Reranker
from ctx_core.embeddings import Embedder
from ctx_core.models import load_sentence_transformer, resolve_embedder
from ctx_core.scoring import EmbeddingScorer

THREADS = 8
CALLS_PER_THREAD = 4

# 48 short, distinct passages; every call reranks an overlapping window of 8 of them.
TEXTS = [
    f"{colour} {thing} {where}."
    for colour, thing, where in itertools.product(
        ("Red", "Green", "Blue", "Yellow"),
        ("apples grow", "cars park", "birds nest"),
        ("in the north", "near the river", "by the sea", "under the bridge"),
    )
]
QUERIES = ["Where do birds nest?", "Which apples are red?", "Cars by the river", "Blue sea"]


def job(n: int) -> tuple[str, list[Passage]]:
    """The n-th call's query and its window of passages (windows overlap, so do the caches)."""
    start = (n * 3) % len(TEXTS)
    window = [(start + k) % len(TEXTS) for k in range(8)]
    return QUERIES[n % len(QUERIES)], [Passage(TEXTS[i], id=f"p{i}") for i in window]


def ranked(passages: list[Passage]) -> tuple[list[str], list[float]]:
    """Ids in order, and scores (compared with a tolerance: batches differ in padding)."""
    return [p.id for p in passages], [p.score or 0.0 for p in passages]


def test_threads_sharing_a_reranker_get_the_sequential_results():
    # A cache far smaller than the passages in flight: threads evict what others just looked up.
    embedder = Embedder(cache_size=4)
    reranker = Reranker(EmbeddingScorer(embedder))
    calls = THREADS * CALLS_PER_THREAD
    sequential = Reranker(EmbeddingScorer())
    expected = [ranked(sequential.rerank(*job(n))) for n in range(calls)]
    start = threading.Barrier(THREADS)

    def worker(t: int) -> list[tuple[int, object]]:
        start.wait()
        out: list[tuple[int, object]] = []
        for n in range(t, calls, THREADS):
            try:
                out.append((n, ranked(reranker.rerank(*job(n)))))
            except Exception as err:  # counted below: every failure is reported, none hidden
                out.append((n, err))
        return out

    with ThreadPoolExecutor(THREADS) as pool:
        results = dict(r for rs in pool.map(worker, range(THREADS)) for r in rs)
    failures = [repr(r) for r in results.values() if isinstance(r, Exception)]
    assert not failures, f"{len(failures)} of {calls} calls failed, e.g. {failures[0]}"
    got = [results[n] for n in range(calls)]
    assert [ids for ids, _ in got] == [ids for ids, _ in expected]  # type: ignore[misc]
    assert [s for _, scores in got for s in scores] == pytest.approx(  # type: ignore[misc]
        [s for _, scores in expected for s in scores], abs=1e-5
    )


class SlowBackend:
    """A real tokenizer backend that pauses before each batch, as on a busy machine.

    The pause falls between the tokenizer's padding/truncation settings and the batch
    that reads them: the window in which another thread's call changes them.
    """

    def __init__(self, backend: object) -> None:
        self.__dict__["backend"] = backend
        self.__dict__["pauses"] = itertools.cycle([0.002, 0.011, 0.005, 0.017, 0.008])

    def __getattr__(self, name: str) -> object:
        return getattr(self.backend, name)

    def encode_batch(self, *args: object, **kwargs: object) -> object:
        time.sleep(next(self.pauses))  # uneven, so threads fall out of step
        return self.backend.encode_batch(*args, **kwargs)


def linked_model_folder(folder: Path) -> str:
    """A folder of links to the packaged model's files: a model no other test has loaded."""
    shutil.copytree(resolve_embedder(None), folder, copy_function=os.symlink)
    return str(folder)


def test_threads_sharing_a_busy_tokenizer_get_the_sequential_vectors(tmp_path):
    # The torch backend: its Hugging Face tokenizer keeps per-call settings (the ONNX
    # backend's tokenizer has none to race on; tests/core/test_onnx_backend.py).
    embedder = Embedder(linked_model_folder(tmp_path / "minilm"), cache_size=0, backend="torch")
    embedder.model.tokenizer._tokenizer = SlowBackend(embedder.model.tokenizer._tokenizer)
    # Texts of different lengths: a batch encoded without its padding cannot be a tensor.
    batches = [[TEXTS[n], TEXTS[n + 1] + " And more words here."] for n in range(THREADS * 4)]
    reference = Embedder(backend="torch")
    expected = [reference.embed(batch) for batch in batches]
    start = threading.Barrier(THREADS)

    def worker(t: int) -> list[tuple[int, object]]:
        start.wait()
        out: list[tuple[int, object]] = []
        for n in range(t, len(batches), THREADS):
            try:
                out.append((n, embedder.embed(batches[n])))
            except Exception as err:  # counted below
                out.append((n, err))
        return out

    with ThreadPoolExecutor(THREADS) as pool:
        results = dict(r for rs in pool.map(worker, range(THREADS)) for r in rs)
    failures = [repr(r) for r in results.values() if isinstance(r, Exception)]
    assert not failures, f"{len(failures)} of {len(batches)} calls failed, e.g. {failures[0]}"
    for n, vectors in enumerate(expected):
        assert np.allclose(results[n], vectors, atol=1e-5)


def test_cache_is_bounded_in_bytes():
    # Room for ten 384-dim float32 vectors and their texts (each under 40 characters).
    embedder = Embedder(cache_bytes=10 * (384 * 4 + 40))
    embedder.embed(TEXTS)
    assert len(embedder.cached_vectors()) == 10
    assert embedder.cache_nbytes <= 10 * (384 * 4 + 40)
    assert set(embedder.cached_vectors()) == set(TEXTS[-10:])  # the oldest went first
    assert Embedder(cache_bytes=0).embed(TEXTS[:3]).shape == (3, 384)
    assert not Embedder(cache_bytes=0).cached_vectors()
    with pytest.raises(ValueError, match="cache_bytes"):
        Embedder(cache_bytes=-1)


def test_embedders_of_one_model_share_the_loaded_model():
    default = Embedder(None)
    assert Embedder("all-MiniLM-L6-v2").model is default.model
    assert Embedder("minilm").model is default.model
    assert Embedder(resolve_embedder(None)).model is default.model
    assert EmbeddingScorer().embedder.model is default.model


def test_concurrent_first_loads_share_one_model(tmp_path):
    folder = linked_model_folder(tmp_path / "minilm")
    start = threading.Barrier(THREADS)

    def load(_: int) -> object:
        start.wait()
        return load_sentence_transformer(folder, "cpu")

    with ThreadPoolExecutor(THREADS) as pool:
        models = list(pool.map(load, range(THREADS)))
    assert all(m is models[0] for m in models)
