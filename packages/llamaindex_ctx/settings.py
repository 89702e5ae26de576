"""Defaults from LlamaIndex's ``Settings``: the embedding model and LLM a user has set.

LlamaIndex resolves ``Settings.embed_model`` / ``Settings.llm`` to its OpenAI defaults
on first read, which fails without a key or a network; so these helpers read whether
the user has set one without triggering that, and the adapters fall back to the
packaged offline models when not.

Examples:
    >>> from llama_index.core import Settings
    >>> from llamaindex_ctx import CtxEmbedding
    >>> from llamaindex_ctx.settings import settings_embedder
    >>> settings_embedder() is None  # nothing set: the adapters use MiniLM
    True
    >>> Settings.embed_model = CtxEmbedding()
    >>> settings_embedder().model_name
    'all-MiniLM-L6-v2'
    >>> Settings._embed_model = None  # back to unset
"""

from __future__ import annotations

from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.llms import LLM as LlamaLLM
from llama_index.core.settings import Settings

from ctx_core.embeddings import Embedder
from ctx_core.llm import LLM
from llamaindex_ctx.embeddings import CtxEmbedding, LlamaIndexEmbedder
from llamaindex_ctx.llm import CtxLLM, LlamaIndexLLM

__all__ = [
    "core_embedder",
    "core_llm",
    "settings_embed_model",
    "settings_embedder",
    "settings_llm",
    "settings_llm_model",
]


def settings_embed_model() -> BaseEmbedding | None:
    """``Settings.embed_model`` if the user has set one, else ``None`` (never resolved here)."""
    # The private slot is what the property fills on first read; reading it resolves nothing.
    model = getattr(Settings, "_embed_model", None)
    return model if isinstance(model, BaseEmbedding) else None


def settings_llm_model() -> LlamaLLM | None:
    """``Settings.llm`` if the user has set one, else ``None`` (never resolved here)."""
    llm = getattr(Settings, "_llm", None)
    return llm if isinstance(llm, LlamaLLM) else None


def settings_embedder() -> Embedder | None:
    """The user's ``Settings.embed_model`` as a core embedder (``None`` when not set).

    A [`CtxEmbedding`][llamaindex_ctx.embeddings.CtxEmbedding] gives its own core embedder; any other
    LlamaIndex embedding model is wrapped in a ``LlamaIndexEmbedder``.
    """
    model = settings_embed_model()
    if model is None or (type(model) is MockEmbedding and _unset_mock(model)):
        return None
    if isinstance(model, CtxEmbedding):
        return model.embedder
    return LlamaIndexEmbedder(model)


def settings_llm() -> LLM | None:
    """The user's ``Settings.llm`` as a core LLM (``None`` when not set).

    A [`CtxLLM`][llamaindex_ctx.llm.CtxLLM] gives its own core LLM; any other LlamaIndex LLM
    is wrapped in a ``LlamaIndexLLM``.
    """
    llm = settings_llm_model()
    if llm is None:
        return None
    if isinstance(llm, CtxLLM):
        return llm.core_llm
    return LlamaIndexLLM(llm)


def core_llm(llm: Any, argument: str = "llm") -> LLM | None:
    """The core LLM an ``llm`` argument names, or the user's ``Settings.llm`` when it is ``None``.

    A core LLM is used as it is; a LlamaIndex LLM is read through
    [`LlamaIndexLLM`][llamaindex_ctx.llm.LlamaIndexLLM] (a
    [`CtxLLM`][llamaindex_ctx.llm.CtxLLM] gives its own core LLM); a string is a local
    model's id, path or alias (``"smollm2"``), loaded as a
    [`TransformersLLM`][ctx_core.llm.transformers_llm.TransformersLLM].

    Raises:
        TypeError: ``llm`` is none of these; the message names ``argument``.
    """
    if llm is None:
        return settings_llm()
    # Framework models first: a LlamaIndex LLM also has ``complete`` (the core protocol).
    if isinstance(llm, CtxLLM):
        return llm.core_llm
    if isinstance(llm, LlamaLLM):
        return LlamaIndexLLM(llm)
    if isinstance(llm, LLM):
        return llm
    if isinstance(llm, str):
        from ctx_core.llm import TransformersLLM

        return TransformersLLM(llm)
    raise TypeError(
        f"{argument} must be a ctx_core LLM, a LlamaIndex LLM or a model id, "
        f"got {type(llm).__name__}"
    )


def core_embedder(embedder: Any, argument: str = "embedder") -> Embedder | None:
    """The core embedder an ``embedder`` argument names, or ``Settings.embed_model``'s when ``None``.

    A core ``Embedder`` is used as it is; a LlamaIndex embedding model is read through a
    ``LlamaIndexEmbedder`` (a [`CtxEmbedding`][llamaindex_ctx.embeddings.CtxEmbedding]
    gives its own); a string is an embedding model id or path. ``None`` with nothing set
    stays ``None`` (the core then uses the packaged MiniLM).

    Raises:
        TypeError: ``embedder`` is none of these; the message names ``argument``.
    """
    if embedder is None:
        return settings_embedder()
    if isinstance(embedder, Embedder):
        return embedder
    if isinstance(embedder, CtxEmbedding):
        return embedder.embedder
    if isinstance(embedder, BaseEmbedding):
        return LlamaIndexEmbedder(embedder)
    if isinstance(embedder, str):
        return Embedder(embedder)
    raise TypeError(
        f"{argument} must be a ctx_core Embedder, a LlamaIndex embedding model or a model id, "
        f"got {type(embedder).__name__}"
    )


def _unset_mock(model: Any) -> bool:
    # ``Settings.embed_model = None`` stores a 1-dimensional MockEmbedding: LlamaIndex's
    # way of saying "no embeddings", not a model to score with.
    return getattr(model, "embed_dim", None) == 1
