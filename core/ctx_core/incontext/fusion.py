"""Fuse the pointwise work around the matrix products of a decoder's layers (optional, GPU).

Once attention is block-sparse, what a long ranking prompt costs beyond its matrix products
is mostly memory-bound pointwise work in the model's own code: an RMSNorm in float32 makes
about six passes over the activations, the gated MLP's ``act(gate) * up`` three. On an H200
at 80k tokens that is about 10 ms per layer, 200 ms over 20 layers, as much as a quarter of
the matrix products. :func:`compile_norms_and_mlp` hands the forward functions of each
decoder layer's norms and MLP to ``torch.compile`` (one compiled function per module
*class*, shared by all layers, dynamic in the token count), so each norm becomes a single
pass and the MLP's activation product one kernel. The modelling code is not changed: the
modules' ``forward`` is rebound per instance and :func:`restore` undoes it.

Attention and the rotary embedding are left as they are (attention runs in the ranker's
backend).

:func:`chunk_mlp` bounds the other large term of a long prompt's memory: the gated MLP's
intermediate activations (three ``tokens x intermediate_size`` tensors, 6.9 GB for 80k tokens
of a Mistral-7B shape in bf16). The MLP is applied token-wise, so running it over chunks of
tokens gives the same result with a fixed-size intermediate.

Examples:
    >>> import torch
    >>> from transformers import LlamaConfig, LlamaForCausalLM  # doctest: +SKIP
    >>> model = LlamaForCausalLM(LlamaConfig(num_hidden_layers=2))  # doctest: +SKIP
    >>> compile_norms_and_mlp(model, backend="eager")  # doctest: +SKIP
    6
    >>> chunk_mlp(model, tokens=4096)  # doctest: +SKIP
    2
    >>> restore(model)  # doctest: +SKIP
    6
"""

from __future__ import annotations

import types
from typing import Any

__all__ = ["chunk_mlp", "compile_norms_and_mlp", "restore"]

_MARK = "_ctx_compiled_forward"
_CHUNK_MARK = "_ctx_chunked_forward"


def _targets(model: Any) -> list[Any]:
    decoder = getattr(model, "model", model)
    layers = getattr(decoder, "layers", None)
    if layers is None:
        raise ValueError(f"{type(model).__name__} has no decoder layers (.model.layers)")
    found = []
    for layer in layers:
        for name, module in layer.named_children():
            if name == "mlp" or name.endswith("norm") or name.endswith("layernorm"):
                found.append(module)
    return found


def compile_norms_and_mlp(model: Any, *, dynamic: bool = True, backend: str = "inductor") -> int:
    """``torch.compile`` the norms and MLP of every decoder layer; returns how many modules.

    Args:
        model: A Hugging Face decoder (``*ForCausalLM`` or its ``.model``).
        dynamic: Compile for any token count (no recompilation per prompt length).
        backend: ``torch.compile`` backend (``"eager"`` only checks the plumbing).
    """
    import torch

    compiled: dict[type, Any] = {}
    count = 0
    for module in _targets(model):
        if getattr(module, _MARK, False):
            continue
        cls = type(module)
        if cls not in compiled:
            compiled[cls] = torch.compile(cls.forward, dynamic=dynamic, backend=backend)
        module.forward = types.MethodType(compiled[cls], module)
        setattr(module, _MARK, True)
        count += 1
    return count


def chunk_mlp(model: Any, tokens: int = 8192) -> int:
    """Run every decoder layer's MLP over chunks of ``tokens`` tokens; returns how many MLPs.

    The result is the same (the MLP is token-wise); the intermediate activations are bounded
    by ``tokens`` instead of the prompt length. Call it after :func:`compile_norms_and_mlp`
    (it wraps whatever ``forward`` the MLP has); :func:`restore` undoes both.

    Args:
        model: A Hugging Face decoder (``*ForCausalLM`` or its ``.model``).
        tokens: Tokens per chunk (positive).

    Raises:
        ValueError: If ``tokens`` is not positive or the model has no decoder layers.
    """
    if tokens < 1:
        raise ValueError(f"tokens must be positive, got {tokens}")
    decoder = getattr(model, "model", model)
    layers = getattr(decoder, "layers", None)
    if layers is None:
        raise ValueError(f"{type(model).__name__} has no decoder layers (.model.layers)")
    count = 0
    for layer in layers:
        mlp = getattr(layer, "mlp", None)
        if mlp is None or getattr(mlp, _CHUNK_MARK, False):
            continue
        mlp.forward = _chunked(mlp.forward, tokens)
        setattr(mlp, _CHUNK_MARK, True)
        count += 1
    return count


def _chunked(inner: Any, tokens: int) -> Any:
    def forward(hidden: Any) -> Any:
        length = hidden.shape[-2]
        if length <= tokens:
            return inner(hidden)
        first = inner(hidden[..., :tokens, :])
        out = first.new_empty(*hidden.shape[:-1], first.shape[-1])
        out[..., :tokens, :] = first
        del first
        for start in range(tokens, length, tokens):
            out[..., start : start + tokens, :] = inner(hidden[..., start : start + tokens, :])
        return out

    return forward


def restore(model: Any) -> int:
    """Undo :func:`compile_norms_and_mlp` and :func:`chunk_mlp`; returns how many modules."""
    count = 0
    for module in _targets(model):
        marks = [m for m in (_MARK, _CHUNK_MARK) if getattr(module, m, False)]
        if marks:
            del module.forward
            for mark in marks:
                delattr(module, mark)
            count += 1
    return count
