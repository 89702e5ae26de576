"""The ONNX Runtime backend against sentence-transformers on the same weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctx_core import Passage
from ctx_core.embeddings import Embedder
from ctx_core.onnx_backend import (
    BACKENDS,
    default_threads,
    export_onnx,
    length_batches,
    load_onnx_embedder,
    resolve_backend,
)
from ctx_core.scoring import CrossEncoderScorer, EmbeddingScorer

pytest.importorskip("onnxruntime")

ROOT = Path(__file__).resolve().parents[2]
TEXTS = [
    "Hamlet is a tragedy written by William Shakespeare.",
    "The Thames flows through London.",
    "Shakespeare was born in Stratford-upon-Avon.",
    "x",
    "The Manhattan Project was a research and development undertaking during World War II "
    "that produced the first nuclear weapons, led by the United States.",
]


@pytest.fixture(scope="module")
def torch_embedder():
    return Embedder(backend="torch", cache_bytes=0)


@pytest.mark.parametrize(("backend", "floor"), [("onnx", 0.99999), ("onnx-int8", 0.97)])
def test_onnx_embeddings_match_sentence_transformers(torch_embedder, backend, floor):
    onnx = Embedder(backend=backend, cache_bytes=0)
    assert onnx.runtime == backend and onnx.dimension == torch_embedder.dimension == 384
    assert onnx.max_tokens == torch_embedder.max_tokens
    reference = torch_embedder.embed(TEXTS)
    vectors = onnx.embed(TEXTS)
    assert vectors.dtype == np.float32 and vectors.shape == reference.shape
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosines = (vectors * reference).sum(axis=1)
    assert cosines.min() >= floor, cosines
    # The order of the texts does not change any vector (length-sorted batches).
    again = onnx.embed(TEXTS[::-1])[::-1]
    np.testing.assert_allclose(again, vectors, atol=1e-5)


def test_rankings_agree_across_backends(torch_embedder):
    passages = [Passage(t, id=str(i)) for i, t in enumerate(TEXTS)]
    orders = {}
    for backend in ("torch", "onnx", "onnx-int8"):
        embedder = torch_embedder if backend == "torch" else Embedder(backend=backend)
        scores = EmbeddingScorer(embedder).score("Who wrote Hamlet?", passages)
        orders[backend] = list(np.argsort(scores)[::-1])
    assert orders["onnx"] == orders["torch"]
    assert orders["onnx-int8"][:2] == orders["torch"][:2]


def test_one_model_per_process_and_variant():
    assert load_onnx_embedder(None, quantized=True) is load_onnx_embedder("minilm", quantized=True)
    assert load_onnx_embedder(None, quantized=True) is not load_onnx_embedder(None, quantized=False)
    assert Embedder(backend="onnx").model is Embedder("all-MiniLM-L6-v2", backend="onnx").model


def test_export_is_cached_and_complete():
    folder = export_onnx()
    files = {p.name for p in folder.iterdir()}
    assert {"model.onnx", "model_int8.onnx", "tokenizer.json", "ctx_onnx.json"} <= files
    meta = json.loads((folder / "ctx_onnx.json").read_text())
    assert meta["pooling"] == "mean" and meta["normalize"] and meta["max_length"] == 256
    stamp = (folder / "model.onnx").stat().st_mtime_ns
    assert export_onnx() == folder  # no second export
    assert (folder / "model.onnx").stat().st_mtime_ns == stamp
    # No temporary export folder is left behind.
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(folder.name + ".")]


def test_threads_share_one_onnx_model():
    embedder = Embedder(backend="onnx-int8", cache_bytes=0, batch_size=2)
    expected = embedder.embed(TEXTS)
    results: list[np.ndarray] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(3):
                results.append(embedder.embed(TEXTS))
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 18
    for r in results:
        np.testing.assert_allclose(r, expected, atol=1e-6)


def test_truncation_warning_names_the_passage(caplog):
    import logging

    scorer = EmbeddingScorer(backend="onnx-int8")
    with caplog.at_level(logging.WARNING, logger="ctx_core.embeddings"):
        [score] = scorer.score("word", [Passage("word " * 400, id="very-long")])
    assert "very-long" in caplog.text and np.isfinite(score)


def test_backend_argument_is_checked():
    assert set(BACKENDS) == {"auto", "torch", "onnx", "onnx-int8"}
    assert resolve_backend("auto", "cpu") in ("onnx", "onnx-int8")
    assert resolve_backend("auto", "cuda") == "torch"
    with pytest.raises(ValueError, match="backend must be one of"):
        Embedder(backend="tensorrt")
    with pytest.raises(ValueError, match="CPU only"):
        Embedder(backend="onnx", device="cuda")
    with pytest.raises(ValueError, match="threads"):
        Embedder(backend="onnx", threads=0)


def test_default_threads_follow_the_environment(monkeypatch):
    monkeypatch.setenv("CTX_NUM_THREADS", "3")
    assert default_threads() == 3
    monkeypatch.delenv("CTX_NUM_THREADS")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert default_threads() == 1
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert default_threads() == len(os.sched_getaffinity(0))


def test_config_round_trip_keeps_the_backend():
    scorer = EmbeddingScorer(backend="onnx")
    config = scorer.config()
    assert config["backend"] == "onnx"
    again = EmbeddingScorer.from_config(json.loads(json.dumps(config)))
    assert again.embedder.runtime == "onnx" and again.config() == config


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory):
    """A small BERT cross-encoder built from a config, with MiniLM's tokenizer, saved to disk."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from ctx_core.models import resolve_embedder

    tokenizer = AutoTokenizer.from_pretrained(resolve_embedder())
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=1,
        initializer_range=0.5,
    )
    path = tmp_path_factory.mktemp("tiny-cross-encoder-onnx")
    BertForSequenceClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_onnx_cross_encoder_matches_torch(tiny_cross_encoder, caplog):
    import logging

    passages = [Passage(t, id=str(i)) for i, t in enumerate(TEXTS)]
    reference = CrossEncoderScorer(str(tiny_cross_encoder), backend="torch", max_length=64)
    onnx = CrossEncoderScorer(str(tiny_cross_encoder), backend="onnx", max_length=64, batch_size=2)
    int8 = CrossEncoderScorer(str(tiny_cross_encoder), backend="onnx-int8", max_length=64)
    expected = reference.score("who wrote hamlet", passages)
    assert onnx.score("who wrote hamlet", passages) == pytest.approx(expected, abs=1e-5)
    assert int8.score("who wrote hamlet", passages) == pytest.approx(expected, abs=0.05)
    assert onnx.max_length == reference.max_length == 64
    with caplog.at_level(logging.WARNING, logger="ctx_core.scoring.cross_encoder"):
        onnx.score("q", [Passage("word " * 100, id="long-one")])
    assert "long-one" in caplog.text


def test_cold_rerank_process_imports_no_torch(tmp_path):
    """`ctx rerank` with the default backend runs on onnxruntime alone (torch costs seconds)."""
    export_onnx()  # the export itself needs torch; it is cached by now
    source = tmp_path / "in.jsonl"
    source.write_text(
        '{"id": "p", "text": "Paris is the capital of France."}\n'
        '{"id": "b", "text": "Bananas are yellow."}\n'
    )
    program = (
        "import sys\n"
        "from ctx_core.cli.main import main\n"
        f"code = main(['rerank', '-q', 'capital of France', '-i', {str(source)!r}, '--json'])\n"
        "heavy = sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules)\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "core"), str(ROOT / "packages")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stderr
    assert "Loading weights" not in done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["id"] for r in rows] == ["p", "b"]


@given(
    lengths=st.lists(st.integers(min_value=1, max_value=300), max_size=60),
    max_items=st.integers(min_value=1, max_value=40),
    max_tokens=st.integers(min_value=1, max_value=2000),
)
def test_length_batches_cover_every_text_once_within_the_budget(
    lengths: list[int], max_items: int, max_tokens: int
) -> None:
    batches = length_batches(lengths, max_items, max_tokens)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    for batch in batches:
        assert 1 <= len(batch) <= max_items
        if len(batch) > 1:
            assert len(batch) * max(lengths[i] for i in batch) <= max_tokens
    flat = [lengths[i] for batch in batches for i in batch]
    assert flat == sorted(flat)
