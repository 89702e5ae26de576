"""ONNX Runtime backend for the embedder and cross-encoders: fast on CPU, no torch at run time.

A sentence-transformers model (bi-encoder or cross-encoder) is exported once to ONNX
from its local files, into a folder under [`cache_dir`][ctx_core.models.cache_dir], with an
int8 variant (dynamic quantization, per-channel weights, matrix products only). Later
processes load that folder with ``onnxruntime`` and Hugging Face ``tokenizers`` alone:
importing torch and sentence-transformers costs seconds, which a command-line call of a
few passages cannot afford.

The export needs torch and sentence-transformers (the ``local`` extra); running the
exported model needs ``onnxruntime`` and ``tokenizers`` (the ``onnx`` extra). Exports are
safe when several processes start at once: each writes into a temporary folder and
renames it into place; the first rename wins and the others use it.

Backends, by the name [`Embedder`][ctx_core.embeddings.Embedder] and
[`CrossEncoderScorer`][ctx_core.scoring.cross_encoder.CrossEncoderScorer] take as ``backend=``:

==============  ==============================================================
``torch``       sentence-transformers on PyTorch (any device)
``onnx``        the exported model, float32, on ONNX Runtime (CPU)
``onnx-int8``   the same with int8 weights (dynamic quantization)
``auto``        the measured default on CPU (`DEFAULT_CPU_BACKEND`) when
                ``onnxruntime`` is installed, else ``torch``; ``torch`` on a GPU
==============  ==============================================================

Examples:
    >>> from ctx_core.onnx_backend import load_onnx_embedder
    >>> model = load_onnx_embedder(None, quantized=False)
    >>> model.encode(["a cat", "a dog"]).shape
    (2, 384)
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ctx_core.errors import ModelLoadError, require
from ctx_core.models import (
    _SharedModels,
    cache_dir,
    check_model_source,
    resolve_device,
    resolve_embedder,
)

__all__ = [
    "BACKENDS",
    "CPU_BATCH_TOKENS",
    "DEFAULT_CPU_BACKEND",
    "OnnxCrossEncoder",
    "OnnxEmbedder",
    "default_threads",
    "export_onnx",
    "length_batches",
    "load_onnx_cross_encoder",
    "load_onnx_embedder",
    "resolve_backend",
]

logger = logging.getLogger(__name__)

#: The backend names ``backend=`` accepts.
BACKENDS = ("auto", "torch", "onnx", "onnx-int8")

#: What ``backend="auto"`` runs on a CPU when onnxruntime is installed: the fastest
#: variant in ``benchmarks/results/cpu/cpu_backends.json`` that kept DL19 rankings and
#: gives a text the same score whatever else shares its batch (int8's dynamic
#: quantization scales each batch by its own range, so its scores move with the batch,
#: and cached and fresh vectors, or two threads' results, would differ).
DEFAULT_CPU_BACKEND = "onnx"

# Bump when the exported graph or its files change, so old exports are not reused.
_EXPORT_VERSION = 2
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")

#: Padded tokens one ONNX batch may hold. On a CPU the work grows with the padded size:
#: reranking 20 DL19 passages, one batch of 20 took about twice as long as batches of at
#: most 256 padded tokens (one thread, variants interleaved; 512 and 1024 fell between).
#: A batch always holds at least one text.
CPU_BATCH_TOKENS = 256


def length_batches(lengths: Sequence[int], max_items: int, max_tokens: int) -> list[list[int]]:
    """Group indices by length into batches whose padded size stays within ``max_tokens``.

    Indices are taken shortest first; a batch closes when one more text would make
    ``items x longest`` exceed ``max_tokens`` or the batch hold more than ``max_items``.

    Examples:
        >>> length_batches([5, 100, 6, 7], max_items=32, max_tokens=24)
        [[0, 2, 3], [1]]
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    for i in order:
        batch = batches[-1] if batches else None
        if batch and len(batch) < max_items and (len(batch) + 1) * lengths[i] <= max_tokens:
            batch.append(i)
        else:
            batches.append([i])
    return batches


def resolve_backend(backend: str, device: str | None = None, argument: str = "backend") -> str:
    """The backend that ``backend`` (maybe ``"auto"``) names on ``device``.

    Raises:
        ValueError: ``backend`` is not one of `BACKENDS`, or an ONNX backend is
            asked for a device other than the CPU.

    Examples:
        >>> resolve_backend("torch")
        'torch'
        >>> resolve_backend("onnx", "cuda")
        Traceback (most recent call last):
        ...
        ValueError: backend='onnx' runs on the CPU only, got device='cuda'
    """
    if backend not in BACKENDS:
        raise ValueError(f"{argument} must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "torch":
        return backend
    if backend != "auto":
        if device not in (None, "auto", "cpu"):
            raise ValueError(f"{argument}={backend!r} runs on the CPU only, got device={device!r}")
        return backend
    if resolve_device(device) != "cpu":
        return "torch"
    if _onnx_available():
        return DEFAULT_CPU_BACKEND
    return "torch"


def _onnx_available() -> bool:
    return all(importlib.util.find_spec(p) is not None for p in ("onnxruntime", "tokenizers"))


def default_threads() -> int:
    """Threads one ONNX session uses: ``$CTX_NUM_THREADS``, else ``$OMP_NUM_THREADS``, else the cores this process may run on.

    Worker pools (Ray sets ``OMP_NUM_THREADS`` to each worker's CPUs) thus get one share
    each instead of every process starting a thread per core.
    """
    for name in ("CTX_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class _Export:
    folder: Path
    meta: dict[str, Any]

    def model_file(self, quantized: bool) -> Path:
        return self.folder / ("model_int8.onnx" if quantized else "model.onnx")


def export_onnx(model: str | None = None, *, kind: str = "embedder") -> Path:
    """Export a sentence-transformers model to ONNX once; returns the cached folder.

    The folder holds ``model.onnx`` (float32), ``model_int8.onnx`` (int8 weights),
    ``tokenizer.json`` and ``ctx_onnx.json`` (pooling, maximum length, activation). It
    is named for the source folder and its files' sizes and times, so an edited model
    is exported again. Only local models are exported (the packaged MiniLM, or a folder);
    a hub id is loaded through sentence-transformers' own cache first.

    Args:
        model: Model id or path (``None``: the packaged MiniLM for ``kind="embedder"``).
        kind: ``"embedder"`` (outputs the pooled vector) or ``"cross-encoder"`` (outputs
            the logits).

    Raises:
        ModelLoadError: the model cannot be loaded or exported (the cause attached).
    """
    return _export(model, kind).folder


def _source_path(model: str | None, kind: str) -> str:
    if kind == "embedder":
        path = resolve_embedder(model)
    elif kind == "cross-encoder":
        if model is None:
            raise ValueError("model must name a cross-encoder (no cross-encoder ships offline)")
        check_model_source(model, "model")
        path = model
    else:
        raise ValueError(f"kind must be 'embedder' or 'cross-encoder', got {kind!r}")
    local = Path(path).expanduser()
    return str(local.resolve()) if local.exists() else path


def _fingerprint(path: str, kind: str) -> str:
    parts = [kind, str(_EXPORT_VERSION), path]
    folder = Path(path)
    if folder.is_dir():
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                stat = file.stat()
                parts.append(f"{file.relative_to(folder)}:{stat.st_size}:{int(stat.st_mtime)}")
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:12]


def _export(model: str | None, kind: str) -> _Export:
    path = _source_path(model, kind)
    name = Path(path).name if Path(path).exists() else path.replace("/", "--")
    if name == "model":  # the packaged MiniLM's folder is called "model"
        name = "all-MiniLM-L6-v2"
    target = cache_dir() / "onnx" / f"{name}-{kind}-{_fingerprint(path, kind)}"
    meta_file = target / "ctx_onnx.json"
    if meta_file.exists():
        return _Export(target, json.loads(meta_file.read_text(encoding="utf-8")))
    logger.info("Exporting %s once to ONNX in %s (about a minute)", path, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        try:
            meta = _write_export(path, kind, staging)
        except ModelLoadError:
            raise
        except Exception as err:
            raise ModelLoadError(f"could not export {model or path!r} to ONNX: {err}") from err
        try:
            os.replace(staging, target)
        except OSError:
            if not meta_file.exists():
                raise
            # Another process finished the same export first: use theirs.
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return _Export(
        target, json.loads(meta_file.read_text(encoding="utf-8")) if meta_file.exists() else meta
    )


def _write_export(path: str, kind: str, out: Path) -> dict[str, Any]:
    require("torch", "local", "Exporting a model to ONNX")
    require("sentence_transformers", "local", "Exporting a model to ONNX")
    require("onnxruntime", "onnx", "Exporting a model to ONNX")
    import torch

    if kind == "embedder":
        from ctx_core.models import load_sentence_transformer

        st = load_sentence_transformer(path, "cpu")
        network, meta = _embedder_graph(st, torch)
        tokenizer = st.tokenizer
    else:
        from sentence_transformers import CrossEncoder

        try:
            ce = CrossEncoder(path, device="cpu")
        except Exception as err:
            raise ModelLoadError(f"could not load cross-encoder {path!r}: {err}") from err
        network, meta = _cross_encoder_graph(ce, torch)
        tokenizer = ce.tokenizer
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise ModelLoadError(f"{path!r}: the ONNX backend needs a fast (tokenizers) tokenizer")
    backend.save(str(out / "tokenizer.json"))
    sample = tokenizer(["a short text", "and another one"], return_tensors="pt", padding=True)
    inputs = tuple(
        sample.get(name, torch.zeros_like(sample["input_ids"])).to(torch.long) for name in _INPUTS
    )
    axes = {name: {0: "batch", 1: "tokens"} for name in _INPUTS}
    axes["output"] = {0: "batch"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer chatter about constants in the masking code
        torch.onnx.export(
            network.eval(),
            inputs,
            str(out / "model.onnx"),
            input_names=list(_INPUTS),
            output_names=["output"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    _quantize(out / "model.onnx", out / "model_int8.onnx")
    meta["kind"] = kind
    meta["source"] = path
    meta["version"] = _EXPORT_VERSION
    (out / "ctx_onnx.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return meta


def _quantize(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Per-channel weights on the matrix products only: quantizing the embedding tables
    # (Gather) or per-tensor weights cost MiniLM a cosine of 0.91-0.97 with float32;
    # this keeps it at 0.98-0.996. Signed weights (with unsigned activations) take the
    # CPU's VNNI int8 instructions: about twice float32's speed on this project's CPU,
    # where unsigned weights ran slower than float32.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer's advice to pre-process goes to the root logger
    try:
        quantize_dynamic(
            str(source),
            str(target),
            per_channel=True,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul"],
        )
    finally:
        root.setLevel(level)


def _embedder_graph(st: Any, torch: Any) -> tuple[Any, dict[str, Any]]:
    """The transformer and its pooling as one module; the meta the runtime needs."""
    modules = list(st)
    names = [type(m).__name__ for m in modules]
    if (
        not names
        or names[0] != "Transformer"
        or any(n not in ("Transformer", "Pooling", "Normalize") for n in names)
    ):
        raise ModelLoadError(
            f"the ONNX backend exports Transformer + Pooling (+ Normalize) models, not {names}; "
            "use backend='torch'"
        )
    pooling = next((m for m in modules if type(m).__name__ == "Pooling"), None)
    mode = "cls" if pooling is None else str(getattr(pooling, "pooling_mode", "mean"))
    mode = {"mean_tokens": "mean", "cls_token": "cls", "max_tokens": "max"}.get(mode, mode)
    if mode not in ("mean", "cls", "max"):
        raise ModelLoadError(f"the ONNX backend pools by mean, cls or max, not {mode!r}")
    transformer = modules[0].auto_model

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
            if mode == "cls":
                return hidden[:, 0]
            if mode == "max":
                return (hidden - (1 - weights) * 1e9).max(dim=1).values
            return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)

    getter = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
    meta = {
        "max_length": int(st.max_seq_length),
        "dimension": int(getter()),
        "pooling": mode,
        "normalize": "Normalize" in names,
    }
    return Pooled(), meta


def _cross_encoder_graph(ce: Any, torch: Any) -> tuple[Any, dict[str, Any]]:
    activation = type(ce.activation_fn).__name__
    if activation not in ("Sigmoid", "Identity"):
        raise ModelLoadError(
            f"the ONNX backend applies Sigmoid or Identity, not {activation}; use backend='torch'"
        )
    network = ce.model

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = network

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.network(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).logits

    meta = {
        "max_length": int(getattr(ce, "max_seq_length", None) or ce.max_length),
        "num_labels": int(ce.num_labels),
        "activation": activation,
    }
    return Logits(), meta


class _OnnxModel:
    """An exported model's session and tokenizer; thread-safe (no per-call tokenizer state)."""

    #: Components may call this model from several threads at once without a lock.
    thread_safe = True

    def __init__(self, export: _Export, *, quantized: bool, threads: int | None) -> None:
        require("onnxruntime", "onnx", "The ONNX backend")
        require("tokenizers", "onnx", "The ONNX backend")
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or default_threads()
        options.inter_op_num_threads = 1
        # Idle threads sleep instead of spinning: several processes share the cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self.path = export.model_file(quantized)
        self.quantized = quantized
        self.meta = export.meta
        self.max_seq_length = int(export.meta["max_length"])
        self.batch_tokens = CPU_BATCH_TOKENS
        try:
            self.session = ort.InferenceSession(
                str(self.path), options, providers=["CPUExecutionProvider"]
            )
            self.tokenizer = Tokenizer.from_file(str(export.folder / "tokenizer.json"))
        except Exception as err:
            raise ModelLoadError(f"could not load the ONNX model {self.path}: {err}") from err
        # Padding is done here per batch; truncation is a fixed setting, never changed per
        # call, so threads can share the tokenizer.
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_seq_length)
        self._input_names = {i.name for i in self.session.get_inputs()}
        self._counter = Tokenizer.from_file(str(export.folder / "tokenizer.json"))
        self._counter.no_padding()
        self._counter.no_truncation()

    def token_lengths(self, texts: Sequence[Any]) -> list[int]:
        """Tokens of each text (or ``(query, passage)`` pair) before truncation."""
        return [len(e.ids) for e in self._counter.encode_batch(list(texts))]

    def _run(self, items: list[Any], batch_size: int) -> np.ndarray:
        """Tokenize, batch by length, run each batch padded, return outputs in input order."""
        encodings = self.tokenizer.encode_batch(items)
        lengths = [len(e.ids) for e in encodings]
        outputs: list[np.ndarray] = [np.empty(0)] * len(items)
        for indices in length_batches(lengths, batch_size, self.batch_tokens):
            width = max(lengths[i] for i in indices)
            feed = {name: np.zeros((len(indices), width), dtype=np.int64) for name in _INPUTS}
            for row, i in enumerate(indices):
                enc = encodings[i]
                n = lengths[i]
                feed["input_ids"][row, :n] = enc.ids
                feed["attention_mask"][row, :n] = enc.attention_mask
                feed["token_type_ids"][row, :n] = enc.type_ids
            feed = {k: v for k, v in feed.items() if k in self._input_names}
            result = self.session.run(None, feed)[0]
            for row, i in enumerate(indices):
                outputs[i] = result[row]
        return np.stack(outputs).astype(np.float32, copy=False)


class OnnxEmbedder(_OnnxModel):
    """A bi-encoder on ONNX Runtime with the ``encode`` call of sentence-transformers.

    Build it with [`load_onnx_embedder`][ctx_core.onnx_backend.load_onnx_embedder] (one per process, model and variant).
    """

    def get_embedding_dimension(self) -> int:
        """Length of each embedding vector."""
        return int(self.meta["dimension"])

    def encode(
        self,
        sentences: Sequence[str],
        batch_size: int = 32,
        normalize_embeddings: bool = False,
        **_: Any,
    ) -> np.ndarray:
        """Embed ``sentences``: float32, shape ``(len(sentences), dimension)``.

        Vectors are unit length when the model ends in a Normalize module or when
        ``normalize_embeddings`` is set, as with sentence-transformers.
        """
        if not sentences:
            return np.zeros((0, self.get_embedding_dimension()), dtype=np.float32)
        vectors = self._run(list(sentences), batch_size)
        if normalize_embeddings or self.meta.get("normalize"):
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors = vectors / np.maximum(norms, 1e-12)
        return np.asarray(vectors, dtype=np.float32)


class OnnxCrossEncoder(_OnnxModel):
    """A cross-encoder on ONNX Runtime with the ``predict`` call of sentence-transformers.

    Build it with [`load_onnx_cross_encoder`][ctx_core.onnx_backend.load_onnx_cross_encoder].
    """

    def __init__(
        self,
        export: _Export,
        *,
        quantized: bool,
        threads: int | None,
        max_length: int | None = None,
    ) -> None:
        if max_length is not None:
            export = _Export(export.folder, {**export.meta, "max_length": max_length})
        super().__init__(export, quantized=quantized, threads=threads)

    @property
    def max_length(self) -> int:
        """Longest (query + passage) input, in tokens."""
        return self.max_seq_length

    def predict(
        self, pairs: Sequence[tuple[str, str]], batch_size: int = 32, **_: Any
    ) -> np.ndarray:
        """Scores of ``(query, passage)`` pairs, shape ``(len(pairs), num_labels)`` squeezed like sentence-transformers."""
        if not pairs:
            return np.zeros((0,), dtype=np.float32)
        logits = self._run([tuple(p) for p in pairs], batch_size)
        if self.meta.get("activation") == "Sigmoid":
            logits = 1.0 / (1.0 + np.exp(-logits))
        return logits[:, 0] if logits.shape[1] == 1 else logits


_ONNX_MODELS = _SharedModels(keep=8)


def load_onnx_embedder(
    model: str | None = None, *, quantized: bool = True, threads: int | None = None
) -> OnnxEmbedder:
    """The ONNX bi-encoder for ``model``, exported on first use, loaded once per process.

    Args:
        model: Model id or path (``None``: the packaged MiniLM).
        quantized: Int8 weights (``False``: float32).
        threads: Threads of the session (default: [`default_threads`][ctx_core.onnx_backend.default_threads]).
    """
    path = _source_path(model, "embedder")
    key = ("embedder", path, quantized, threads)

    def load() -> OnnxEmbedder:
        return OnnxEmbedder(_export(model, "embedder"), quantized=quantized, threads=threads)

    return _ONNX_MODELS.get(key, load)


def load_onnx_cross_encoder(
    model: str,
    *,
    quantized: bool = True,
    threads: int | None = None,
    max_length: int | None = None,
) -> OnnxCrossEncoder:
    """The ONNX cross-encoder for ``model``, exported on first use, loaded once per process."""
    path = _source_path(model, "cross-encoder")
    key = ("cross-encoder", path, quantized, threads, max_length)

    def load() -> OnnxCrossEncoder:
        return OnnxCrossEncoder(
            _export(model, "cross-encoder"),
            quantized=quantized,
            threads=threads,
            max_length=max_length,
        )

    return _ONNX_MODELS.get(key, load)
