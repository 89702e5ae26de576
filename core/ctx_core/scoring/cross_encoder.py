"""Cross-encoder relevance: the query and each passage read together by one model."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from ctx_core._registry import Configurable
from ctx_core.errors import ModelLoadError, require
from ctx_core.models import check_model_source, guard_tokenizer, model_lock, resolve_device
from ctx_core.onnx_backend import load_onnx_cross_encoder, resolve_backend
from ctx_core.progress import progress
from ctx_core.scoring.base import BaseScorer
from ctx_core.types import Passage

__all__ = ["CrossEncoderScorer"]

logger = logging.getLogger(__name__)


class CrossEncoderScorer(BaseScorer, Configurable):
    """Scores (query, passage) pairs with a sentence-transformers ``CrossEncoder``.

    Safe to share between threads: the model's tokenizer is used under
    [`model_lock`][ctx_core.models.model_lock].

    No cross-encoder ships offline; pass any Hugging Face id (for example
    ``"cross-encoder/ms-marco-MiniLM-L6-v2"``) or a local folder.

    Args:
        model: Hugging Face id or local path of a cross-encoder.
        device: Device for the model (default: CUDA when available).
        batch_size: Pairs per forward pass.
        max_length: Longest (query + passage) input in tokens; longer pairs are
            truncated with a warning. Default: the model's own limit.
        show_progress: Progress bar (``None``: on a terminal, once scoring has run a
            couple of seconds).
        backend: ``"torch"`` (sentence-transformers), ``"onnx"`` (ONNX Runtime, float32),
            ``"onnx-int8"`` or ``"auto"`` (the measured CPU default when onnxruntime is
            installed; ``"torch"`` on a GPU). ONNX exports the model once into the
            model cache (a local folder, or a hub id sentence-transformers has cached).
        threads: Threads of an ONNX session (default: the cores this process may use).

    Examples:
        >>> scorer = CrossEncoderScorer("cross-encoder/ms-marco-MiniLM-L6-v2")  # doctest: +SKIP
        >>> scorer.score("capital of France", ["Paris is the capital.", "Bananas."])  # doctest: +SKIP
        [0.98, 0.01]
    """

    name = "cross-encoder"

    def __init__(
        self,
        model: str,
        *,
        device: str | None = None,
        batch_size: int = 32,
        max_length: int | None = None,
        show_progress: bool | None = None,
        backend: str = "auto",
        threads: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        check_model_source(model, "model")
        self.backend = backend
        self.threads = threads
        #: The backend that runs (``backend`` with ``"auto"`` resolved).
        self.runtime = resolve_backend(backend, device)
        self.model: Any
        if self.runtime == "torch":
            require("sentence_transformers", "local", "CrossEncoderScorer")
            from sentence_transformers import CrossEncoder

            try:
                self.model = CrossEncoder(
                    model, device=resolve_device(device), max_length=max_length
                )
            except Exception as err:
                raise ModelLoadError(f"could not load cross-encoder {model!r}: {err}") from err
            # Only the tokenizer needs one thread at a time; forward passes may overlap.
            self._lock_whole_predict = not guard_tokenizer(self.model)
        else:
            self.model = load_onnx_cross_encoder(
                model,
                quantized=self.runtime == "onnx-int8",
                threads=threads,
                max_length=max_length,
            )
            self._lock_whole_predict = False  # thread-safe: no per-call tokenizer state
        self.model_name = model
        self.device = device
        self.batch_size = batch_size
        self.show_progress = show_progress
        self._max_length = max_length

    def config(self) -> dict[str, Any]:
        """The model by id or path and the settings as given (``max_length`` ``None``: the model's)."""
        return {
            "type": "CrossEncoderScorer",
            "model": self.model_name,
            "device": self.device,
            "batch_size": self.batch_size,
            "max_length": self._max_length,
            "show_progress": self.show_progress,
            "backend": self.backend,
            "threads": self.threads,
        }

    @property
    def max_length(self) -> int:
        """Longest (query + passage) input, in tokens."""
        # sentence-transformers 6 renamed CrossEncoder.max_length to max_seq_length.
        limit = getattr(self.model, "max_seq_length", None)
        return int(limit if limit is not None else self.model.max_length)

    def _score(self, query: str, passages: list[Passage]) -> list[float]:
        pairs = [(query, p.text) for p in passages]
        self._warn_if_truncated(query, passages)
        # Longest first, so pairs of like length share a batch (little padding) across the
        # whole call; the order is restored at the end.
        order = sorted(range(len(pairs)), key=lambda i: -len(pairs[i][1]))
        size = self.batch_size
        chunks = [order[i : i + size] for i in range(0, len(order), size)]
        show = self.show_progress if len(chunks) > 1 else False
        lock = model_lock(self.model) if self._lock_whole_predict else contextlib.nullcontext()
        scores = [0.0] * len(pairs)
        for chunk in progress(chunks, desc="cross-encoder", show=show, unit="batch"):
            with lock:
                out = self.model.predict(
                    [pairs[i] for i in chunk],
                    batch_size=size,
                    show_progress_bar=False,
                    convert_to_numpy=True,
                )
            for i, value in zip(chunk, out.reshape(len(chunk), -1)[:, -1], strict=True):
                scores[i] = float(value)
        return scores

    def _warn_if_truncated(self, query: str, passages: list[Passage]) -> None:
        counter = getattr(self.model, "token_lengths", None)
        if counter is not None:
            lengths = counter([(query, p.text) for p in passages])
        else:
            # The length check (unpadded, untruncated) and predict (padded, truncated) share
            # the model's tokenizer, whose settings are per object: one thread at a time.
            with model_lock(self.model):
                encoded = self.model.tokenizer(
                    [query] * len(passages),
                    [p.text for p in passages],
                    truncation=False,
                    verbose=False,
                )
            lengths = [len(ids) for ids in encoded["input_ids"]]
        over = [p.id for p, n in zip(passages, lengths, strict=True) if n > self.max_length]
        if over:
            logger.warning(
                "%d passage(s) exceed the cross-encoder's %d tokens with the query and are truncated: %s",
                len(over),
                self.max_length,
                ", ".join(over[:5]) + (" ..." if len(over) > 5 else ""),
            )
