"""Attention backends of the in-context ranker, by name.

==============  =====================================================  =======================
name            what it is                                             where
==============  =====================================================  =======================
``reference``   dense masked attention in plain torch (ground truth)   anywhere; short prompts
``sdpa``        exact block-sparse attention from batched SDPA calls   CPU default; any device
``flex``        FlexAttention with a block mask                        CUDA (compiled); CPU
``triton``      block-sparse Triton kernels, fused candidate scoring   CUDA (CPU: interpreter)
==============  =====================================================  =======================

``"auto"`` picks, in order, the first available of ``triton`` (CUDA with the ``gpu``
extra installed), ``flex`` on CUDA, then ``sdpa``. A new backend subclasses
[`AttentionBackend`][ctx_core.incontext.backends.base.AttentionBackend] and calls [`register_backend`][ctx_core.incontext.backends.register_backend].

Examples:
    >>> from ctx_core.incontext.backends import backend_names, get_backend
    >>> {"reference", "sdpa", "flex", "triton"} <= set(backend_names())
    True
    >>> get_backend("auto", "cpu").name
    'sdpa'
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ctx_core import _registry
from ctx_core.incontext.backends.base import AttentionBackend

__all__ = [
    "AttentionBackend",
    "backend_names",
    "get_backend",
    "register_backend",
]

#: Backends ``"auto"`` tries, first available wins, per device type.
AUTO_ORDER: dict[str, tuple[str, ...]] = {
    "cuda": ("triton", "flex", "sdpa"),
    "cpu": ("sdpa",),
}


def register_backend(name: str, factory: str | Callable[[], AttentionBackend]) -> None:
    """Make a backend available by name (``factory`` may be ``"module:attribute"``)."""
    if not name or name == "auto":
        raise ValueError(f"invalid backend name {name!r}")
    _registry.register("backend", name, factory)


def backend_names() -> list[str]:
    """Names [`get_backend`][ctx_core.incontext.backends.get_backend] accepts (besides ``"auto"``)."""
    return _registry.names("backend")


def _build(name: str) -> AttentionBackend:
    backend = _registry.lookup("backend", name)()
    if not isinstance(backend, AttentionBackend):
        raise TypeError(f"backend {name!r} is not an AttentionBackend: {type(backend).__name__}")
    return backend


def get_backend(backend: str | AttentionBackend = "auto", device: Any = "cpu") -> AttentionBackend:
    """The backend named ``backend`` (or ``"auto"``: the best available on ``device``).

    Raises:
        ValueError: unknown name, or the named backend cannot run on ``device``.
    """
    if isinstance(backend, AttentionBackend):
        return backend
    if not isinstance(backend, str):
        raise TypeError(f"backend must be a name or an AttentionBackend, got {backend!r}")
    device_type = getattr(device, "type", str(device).split(":")[0])
    if backend == "auto":
        for name in AUTO_ORDER.get(device_type, ("sdpa",)):
            if name not in backend_names():
                continue
            try:
                candidate = _build(name)
            except ImportError:
                continue
            if candidate.available(device):
                return candidate
        return _build("sdpa")
    if backend not in backend_names():
        raise ValueError(
            f"unknown attention backend {backend!r}; choose 'auto' or one of "
            f"{', '.join(backend_names())}"
        )
    chosen = _build(backend)
    if not chosen.available(device):
        raise ValueError(f"attention backend {backend!r} cannot run on {device}")
    return chosen
